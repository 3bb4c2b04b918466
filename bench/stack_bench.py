#!/usr/bin/env python3
"""Benchmark of the stack on the embedded default: converge, rerun, teardown, AWS calls,
the project's strategy (Mitogen) against Ansible's linear one, the configure phase against
Ansible's defaults, and the app under load on a t3.micro-sized host.

Each run starts from nothing: site.yml (first converge), site.yml again three times (the rerun
as users run it, first; then with the linear strategy and with every role run:
stack_state_enabled=false, these two in turn), the load test, playbooks/configure.yml
with the project's ansible.cfg, the same without Mitogen and with Ansible's defaults,
teardown.yml; then (unless --no-user-data) a whole first converge with the host prepared by
user data (aws_instance_bootstrap=user_data), (unless --no-linear) one with the linear strategy
and (unless --no-fresh-defaults) one with Ansible's defaults, each followed by its teardown.
Figures are the median, min and max over the runs. See bench/README.md.

Usage: stack_bench.py [--runs N] [--quick] [--output FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import benchlib
from benchlib import summary

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path.insert(0, str(REPO_ROOT / "embedded"))
import harness  # noqa: E402  (embedded/harness.py: the emulator, its environment, the runs)

# Away from the defaults (4566, 2222, 8080, 8000) and the test suites' ports.
PROFILE = harness.PROFILES["bench"]
WEB_URL = f"{PROFILE.web_url}/"
API_URL = f"{PROFILE.api_url}/api/tasks"
# Only what Ansible needs to find this project's files and reach a new host whose key it has
# never seen; everything else (pipelining, forks, gathering, caching, SSH arguments) is
# Ansible's default.
DEFAULTS_CONFIG = """\
[defaults]
inventory = {root}/inventory/aws_ec2.yml
roles_path = {root}/roles
collections_path = {root}/collections
host_key_checking = False
"""
SEED_TASKS = 100
# The project's ansible.cfg with its strategy plugin told to use Ansible's linear strategy
# (plugins/strategy/mitogen_or_linear.py): everything else stays the project's.
LINEAR = {"TASKSTACK_MITOGEN": "0"}


@dataclass
class TimedRun:
    label: str
    returncode: int
    started: float
    ended: float
    events: list[dict[str, Any]]
    to_http_200_s: float | None = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def windows(self) -> list[benchlib.Window]:
        return benchlib.phase_windows(self.events, self.started)

    def record(self, requests: list[dict[str, Any]]) -> dict[str, Any]:
        calls = benchlib.calls_by_phase(requests, self.windows, until=self.ended)
        return {
            "seconds": self.seconds,
            "to_http_200_s": self.to_http_200_s,
            "returncode": self.returncode,
            "changed": benchlib.changed_count(self.events),
            "phases_s": benchlib.phase_seconds(self.windows),
            "package_s": benchlib.package_seconds(self.events, self.windows),
            "calls": calls,
            "calls_total": benchlib.total_calls(calls),
            "actions": benchlib.actions_in(requests, self.started, self.ended),
            "slowest_tasks": [
                [name, round(s, 2)]
                for name, s in benchlib.task_seconds(self.events, self.ended)[:12]
            ],
        }


class FirstOk:
    """Polls URLs in the background; remembers when all of them had answered 200 once."""

    def __init__(self, urls: list[str], interval: float = 0.5) -> None:
        self.urls = urls
        self.interval = interval
        self.first: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set() and len(self.first) < len(self.urls):
            for url in self.urls:
                if url not in self.first and http_status(url) == 200:
                    self.first[url] = time.time()
            self._stop.wait(self.interval)

    def __enter__(self) -> FirstOk:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def all_ok_at(self) -> float | None:
        return max(self.first.values()) if len(self.first) == len(self.urls) else None


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except (urllib.error.URLError, OSError, ValueError):
        return None


@dataclass
class Stack:
    """One emulator (with host containers) on the benchmark's ports, and playbook runs on it."""

    state_dir: Path
    host_cpus: str
    host_memory: str

    @property
    def request_log(self) -> Path:
        return self.state_dir / "requests.jsonl"

    @property
    def harness_stack(self) -> harness.Stack:
        server = {
            "EMBEDDED_HOST_CPUS": self.host_cpus,
            "EMBEDDED_HOST_MEMORY": self.host_memory,
            "EMBEDDED_REQUEST_LOG": str(self.request_log),
        }
        emulator = harness.Emulator.with_hosts(PROFILE, self.state_dir, server_settings=server)
        return harness.Stack(emulator, self.state_dir / "project", benchlib.timer_settings())

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("timing", "logs", "cp"):
            (self.state_dir / sub).mkdir(exist_ok=True)
        try:
            self.harness_stack.up()
        except harness.emulator.EmulatorError as exc:
            raise SystemExit(f"emulator did not start: {exc}") from exc

    def stop(self) -> None:
        self.harness_stack.emulator.stop()

    def playbook(
        self,
        playbook: str,
        label: str,
        config: Path | None = None,
        poll: bool = False,
        extra_env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> TimedRun:
        timing = self.state_dir / "timing" / f"{label}.jsonl"
        timing.unlink(missing_ok=True)
        env = {"BENCH_TIMING_FILE": str(timing), **(extra_env or {})}
        # Every run starts with cold SSH connections: a master left by the previous run (or by
        # the other configuration) would otherwise be reused and skew the comparison.
        env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(self.state_dir / "cp" / label)
        if config is not None:
            env["ANSIBLE_CONFIG"] = str(config)
        how = " (Ansible's defaults)" if config else ""
        how += " (linear strategy)" if extra_env == LINEAR else ""
        how += f" {' '.join(args)}" if args else ""
        log(f"{label}: ansible-playbook {playbook}{how}")
        runner = self.harness_stack.runner
        poller_context = FirstOk([WEB_URL, API_URL]) if poll else None
        with poller_context or contextlib.nullcontext() as poller:
            started = time.time()
            result = runner.playbook(playbook, *args, env=env)
            ended = time.time()
        (self.state_dir / "logs" / f"{label}.log").write_text(result.output)
        events = benchlib.read_json_lines(timing)
        run = TimedRun(label, result.returncode, started, ended, events)
        if poller is not None and (ok_at := poller.all_ok_at()) is not None:
            run.to_http_200_s = ok_at - started
        log(f"{label}: {run.seconds:.1f} s, rc={run.returncode}")
        if result.returncode != 0:
            raise RuntimeError(f"{label} failed: see {self.state_dir / 'logs' / f'{label}.log'}")
        return run

    def host_container(self) -> str:
        ids = harness.host_containers(PROFILE.emulator_port)
        if len(ids) != 1:
            raise RuntimeError(f"expected one host container, found {len(ids)}")
        return ids[0]


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def seed_tasks(api_url: str, count: int) -> int:
    with urllib.request.urlopen(api_url, timeout=10) as response:
        existing = len(json.loads(response.read()))
    for n in range(existing, count):
        body = json.dumps({"title": f"benchmark task {n + 1}"}).encode()
        request = urllib.request.Request(
            api_url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        urllib.request.urlopen(request, timeout=10).close()
    return max(existing, count)


def hey(
    url: str,
    rate: int,
    seconds: int,
    host: str | None = None,
    per_worker: int = benchlib.PER_WORKER_RATE,
) -> dict[str, Any]:
    """hey at a fixed rate; with `host`, each app container's CPU use over the run."""
    workers, per_worker = benchlib.hey_workers(rate, per_worker)
    command = ["hey", "-z", f"{seconds}s", "-c", str(workers), "-q", str(per_worker), "-t", "10"]
    # CPU time read from the cgroup files before and after: asking the host's dockerd for
    # `docker stats` during the run would itself take CPU and show in the latency tail.
    containers = app_containers(host) if host else {}
    before = cpu_seconds(containers)
    started = time.monotonic()
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    elapsed = time.monotonic() - started
    after = cpu_seconds(containers)
    return {
        "rate": rate,
        "workers": workers,
        "cpu_percent": {
            name: round(100 * (after[name] - before[name]) / elapsed, 1)
            for name in before
            if name in after
        },
        "load_average": os.getloadavg()[0],
        **benchlib.parse_hey(output),
    }


def app_containers(host: str) -> dict[str, Path]:
    """Each app service's cpuacct.usage file on this machine (cgroup v1; {} elsewhere)."""
    outer = docker("inspect", "-f", "{{.Id}}", host).strip()
    listing = docker("exec", host, "docker", "ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}")
    files = {}
    for line in listing.splitlines():
        inner, _, name = line.partition(" ")
        path = Path(f"/sys/fs/cgroup/cpuacct/docker/{outer}/{inner}/cpuacct.usage")
        if path.is_file():
            files[benchlib.service_of_container(name)] = path
    return files


def cpu_seconds(files: dict[str, Path]) -> dict[str, float]:
    return {name: int(path.read_text()) / 1e9 for name, path in files.items()}


def load_test(stack: Stack, rates: list[int], seconds: int) -> dict[str, Any]:
    """GET /api/tasks with SEED_TASKS tasks at each fixed rate, then each service's memory.

    Two paths: the published port on 127.0.0.1 (what a user of the embedded default reaches,
    through the machine's docker-proxy) and the host container's own address (no userland
    proxy: the kernel's DNAT into the app's container, as a client reaches an EC2 instance).
    """
    tasks = seed_tasks(API_URL, SEED_TASKS)
    host = stack.host_container()
    paths = {
        "published": API_URL,
        "host_address": f"http://{host_address(host)}:8000/api/tasks",
    }
    log(f"load: {tasks} tasks, warm-up at 50/s")
    hey(API_URL, 50, 5)
    results: dict[str, dict[str, Any]] = {name: {} for name in paths}
    for rate in rates:
        for name, url in paths.items():
            r = results[name][str(rate)] = hey(url, rate, seconds, host)
            log(
                f"load {name}: {rate}/s -> p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
                f"errors {r['errors']}"
            )
    # The same rate in bursts of 20 (20 workers at 10/s): how much of the latency is the
    # arrival pattern rather than the rate.
    results["host_address_bursts_of_20"] = {
        "200": hey(paths["host_address"], 200, seconds, host, per_worker=10)
    }
    burst = results["host_address_bursts_of_20"]["200"]
    log(f"load bursts of 20: 200/s -> p50 {burst['p50_ms']} ms, p99 {burst['p99_ms']} ms")
    inner = docker(
        "exec", host, "docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}"
    )
    memory = {
        benchlib.service_of_container(name): mib
        for name, mib in benchlib.parse_docker_stats(inner).items()
    }
    outer = docker("stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}", host)
    return {
        "tasks": tasks,
        "rates": results["host_address"],
        "rates_published_port": results["published"],
        "rates_bursts_of_20": results["host_address_bursts_of_20"],
        "memory_mib": memory,
        "services_total_mib": sum(memory.values()),
        "host_container_mib": host_memory(host) or sum(benchlib.parse_docker_stats(outer).values()),
        "limits": host_limits(host),
    }


def host_memory(host: str) -> float | None:
    """The host container's whole resident memory (its cgroup; the app's containers are nested
    in it), read from this machine's cgroup v1 files; None where they are not there."""
    full_id = docker("inspect", "-f", "{{.Id}}", host).strip()
    stat = Path(f"/sys/fs/cgroup/memory/docker/{full_id}/memory.stat")
    if not stat.is_file():
        return None
    values = dict(line.split() for line in stat.read_text().splitlines())
    return int(values.get("total_rss", 0)) / 2**20


def host_address(host: str) -> str:
    return docker(
        "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", host
    ).split()[0]


APP_CGROUPS_SCRIPT = (
    "for c in $(docker ps -q); do "
    "awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' "
    "/proc/$(docker inspect -f '{{.State.Pid}}' $c)/cgroup; done"
)


def host_limits(host: str) -> dict[str, Any]:
    """The host container's size and where the app's containers sit (inside its cgroup?)."""
    inspect = json.loads(docker("inspect", host))[0]["HostConfig"]
    # The memory cgroup of each app container's main process: /docker/<host>/<app container>
    # when the app is inside the host container's limits.
    parent = docker("exec", host, "sh", "-c", APP_CGROUPS_SCRIPT)
    return {
        "cpus": inspect.get("NanoCpus", 0) / 1e9,
        "memory_mib": inspect.get("Memory", 0) / 2**20,
        "app_cgroups": sorted(set(parent.split())),
    }


# The configurations compared: (name, ANSIBLE_CONFIG or None for the project's, environment).
def configurations(defaults: Path) -> list[tuple[str, Path | None, dict[str, str] | None]]:
    return [("defaults", defaults, None), ("project", None, None), ("project_linear", None, LINEAR)]


def rotated(items: list[Any], by: int) -> list[Any]:
    """The same items starting at another place: each run begins with another configuration."""
    by %= len(items)
    return items[by:] + items[:by]


def configure_set(stack: Stack, label: str, defaults: Path, turn: int) -> dict[str, float]:
    """playbooks/configure.yml on the converged host with each configuration, in turn."""
    seconds = {}
    for name, config, env in rotated(configurations(defaults), turn):
        run = stack.playbook(
            "playbooks/configure.yml", f"{label}-configure-{name}", config, extra_env=env
        )
        seconds[name] = benchlib.phase_seconds(run.windows).get("configure", run.seconds)
        seconds[f"{name}_process"] = run.seconds
    return seconds


# A rerun that runs every role: roles/stack_state's fast path off.
EVERY_ROLE = ("-e", "stack_state_enabled=false")
# The host prepared by cloud-init at launch instead of over SSH (issue 19).
USER_DATA = ("-e", "aws_instance_bootstrap=user_data")


def reruns(stack: Stack, label: str, turn: int) -> dict[str, TimedRun]:
    """site.yml again: as users run it (first), then with the linear strategy and with every
    role run (no fast path), these two in turn (benchlib.rerun_order)."""
    how = {"rerun": (None, ()), "rerun-linear": (LINEAR, ()), "rerun-full": (None, EVERY_ROLE)}
    runs = {}
    for name in benchlib.rerun_order(turn):
        env, args = how[name]
        runs[name] = stack.playbook("site.yml", f"{label}-{name}", extra_env=env, args=args)
    return runs


def one_run(stack: Stack, index: int, args: argparse.Namespace, defaults: Path) -> dict[str, Any]:
    label = f"run{index}"
    requests = lambda: benchlib.read_json_lines(stack.request_log)  # noqa: E731
    record: dict[str, Any] = {"run": index}
    converge = stack.playbook("site.yml", f"{label}-converge", poll=True)
    again = reruns(stack, label, turn=index)
    if args.rates:
        record["load"] = load_test(stack, args.rates, args.load_seconds)
    pairs = [
        configure_set(stack, f"{label}-{n}", defaults, turn=index + n)
        for n in range(args.config_repeats)
    ]
    teardown = stack.playbook("teardown.yml", f"{label}-teardown")
    log_now = requests()
    record.update(
        converge=converge.record(log_now),
        rerun=again["rerun"].record(log_now),
        rerun_linear=again["rerun-linear"].record(log_now),
        rerun_full=again["rerun-full"].record(log_now),
        teardown=teardown.record(log_now),
        configure_rerun=pairs,
    )
    if args.user_data:
        fresh = stack.playbook("site.yml", f"{label}-converge-user-data", poll=True, args=USER_DATA)
        stack.playbook("teardown.yml", f"{label}-teardown-user-data")
        record["converge_user_data"] = fresh.record(requests())
    if args.linear:
        fresh = stack.playbook("site.yml", f"{label}-converge-linear", poll=True, extra_env=LINEAR)
        stack.playbook("teardown.yml", f"{label}-teardown-linear", extra_env=LINEAR)
        record["converge_linear"] = fresh.record(requests())
    if args.fresh_defaults:
        fresh = stack.playbook("site.yml", f"{label}-converge-defaults", defaults, poll=True)
        stack.playbook("teardown.yml", f"{label}-teardown-defaults")
        record["converge_defaults"] = fresh.record(requests())
    return record


def figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's figures, each as median/min/max over the runs."""

    def over(path: list[str]) -> dict[str, Any]:
        values = []
        for run in runs:
            value: Any = run
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, int | float):
                values.append(float(value))
        return summary(values)

    phases = list(runs[0]["converge"]["phases_s"])
    out: dict[str, Any] = {
        "rerun_linear_s": over(["rerun_linear", "seconds"]),
        "rerun_linear_changed": summary(r["rerun_linear"]["changed"] for r in runs),
        "first_converge_s": over(["converge", "seconds"]),
        "first_converge_to_http_200_s": over(["converge", "to_http_200_s"]),
        "first_converge_phase_s": {p: over(["converge", "phases_s", p]) for p in phases},
        "rerun_s": over(["rerun", "seconds"]),
        "rerun_phase_s": {p: over(["rerun", "phases_s", p]) for p in phases},
        "rerun_ratio": summary(r["rerun"]["seconds"] / r["converge"]["seconds"] for r in runs),
        "rerun_changed": summary(r["rerun"]["changed"] for r in runs),
        "rerun_full_s": over(["rerun_full", "seconds"]),
        "rerun_full_phase_s": {p: over(["rerun_full", "phases_s", p]) for p in phases},
        "rerun_full_changed": summary(
            r["rerun_full"]["changed"] for r in runs if "rerun_full" in r
        ),
        "teardown_s": over(["teardown", "seconds"]),
        "aws_calls": {},
    }
    for kind in ("converge", "rerun", "teardown"):
        calls = {
            phase: {k: over([kind, "calls", phase, k]) for k in ("read", "mutating")}
            for phase in runs[0][kind]["calls"]
        }
        calls["total"] = {k: over([kind, "calls_total", k]) for k in ("read", "mutating")}
        out["aws_calls"][kind] = calls
    pairs = [pair for run in runs for pair in run["configure_rerun"]]
    if pairs:
        out["configure_rerun_s"] = compared(pairs)
    out.update(fresh_configure(runs))
    linear = [r for r in runs if "converge_linear" in r]
    if linear:
        out["first_converge_linear_s"] = over(["converge_linear", "seconds"])
        out["first_converge_linear_phase_s"] = {
            p: over(["converge_linear", "phases_s", p]) for p in phases
        }
        out["rerun_linear_ratio"] = summary(
            r["rerun_linear"]["seconds"] / r["converge_linear"]["seconds"] for r in linear
        )
    with_user_data = [r for r in runs if "converge_user_data" in r]
    if with_user_data:
        out["first_converge_user_data_s"] = over(["converge_user_data", "seconds"])
        out["first_converge_user_data_to_http_200_s"] = over(
            ["converge_user_data", "to_http_200_s"]
        )
        out["first_converge_user_data_phase_s"] = {
            p: over(["converge_user_data", "phases_s", p]) for p in phases
        }
    if any("converge_defaults" in r for r in runs):
        out["first_converge_defaults_s"] = over(["converge_defaults", "seconds"])
    loads = [r["load"] for r in runs if "load" in r]
    if loads:
        out["load"] = {
            rate: {
                key: summary(load["rates"][rate][key] for load in loads)
                for key in ("p50_ms", "p99_ms", "errors", "requests_per_s")
            }
            for rate in loads[0]["rates"]
        }
        out["load_published_port"] = {
            rate: {
                key: summary(load["rates_published_port"][rate][key] for load in loads)
                for key in ("p50_ms", "p99_ms", "errors", "requests_per_s")
            }
            for rate in loads[0]["rates_published_port"]
        }
        out["load_bursts_of_20"] = {
            rate: {
                key: summary(load["rates_bursts_of_20"][rate][key] for load in loads)
                for key in ("p50_ms", "p99_ms", "errors", "requests_per_s")
            }
            for rate in loads[0]["rates_bursts_of_20"]
        }
        out["memory_mib"] = {
            service: summary(load["memory_mib"].get(service, 0.0) for load in loads)
            for service in loads[0]["memory_mib"]
        }
        out["memory_mib"]["services_total"] = summary(load["services_total_mib"] for load in loads)
        out["memory_mib"]["host_container"] = summary(load["host_container_mib"] for load in loads)
    return out


def fresh_configure(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The configure phase of the runs from nothing (a fresh host), by configuration: whole,
    apt's tasks alone, and all but apt's tasks. Empty when only the project's ran."""
    fresh, packages = [], []
    for run in runs:
        keys = {
            name: key
            for name, key in FRESH_RUNS.items()
            if key in run and "configure" in run[key]["phases_s"]
        }
        fresh.append({name: run[key]["phases_s"]["configure"] for name, key in keys.items()})
        apt = {name: run[key].get("package_s", {}) for name, key in keys.items()}
        packages.append({name: seconds.get("configure", 0.0) for name, seconds in apt.items()})
    pairs = [(f, p) for f, p in zip(fresh, packages, strict=True) if "project" in f]
    if not any(len(f) > 1 for f, _ in pairs):
        return {}
    out = {"configure_fresh_s": compared([f for f, _ in pairs])}
    # Timing files from before the timer recorded actions count no apt task: no split then.
    if all(seconds > 0 for _, p in pairs for seconds in p.values()):
        out["configure_fresh_package_s"] = compared([p for _, p in pairs])
        out["configure_fresh_without_package_s"] = compared(
            [{name: f[name] - p[name] for name in f} for f, p in pairs]
        )
    return out


# The runs from nothing whose configure phase (a fresh host) is compared, by configuration.
FRESH_RUNS = {
    "project": "converge",
    "project_linear": "converge_linear",
    "defaults": "converge_defaults",
}


def compared(samples: list[dict[str, float]]) -> dict[str, Any]:
    """Each configuration's seconds, and how many times slower the others are than the project's
    (pairs measured in the same run only)."""
    names = [n for n, _, _ in configurations(Path())]
    out: dict[str, Any] = {
        name: summary(s[name] for s in samples if name in s)
        for name in names
        if any(name in s for s in samples)
    }
    for name in names:
        if name != "project" and name in out:
            out[f"ratio_{name}_over_project"] = summary(
                s[name] / s["project"] for s in samples if name in s and "project" in s
            )
    return out


def machine() -> dict[str, Any]:
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    engine = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kib / 2**20, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "docker": engine,
        "commit": git("rev-parse", "--short", "HEAD"),
        # Others edit the tree while benchmarks run: which playbooks and roles differed.
        "uncommitted": git("status", "--short", "--", "site.yml", "playbooks", "roles").split("\n"),
        "load_average_at_start": os.getloadavg(),
    }


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument(
        "--quick", action="store_true", help="one run, no converge with Ansible's defaults"
    )
    parser.add_argument(
        "--rates",
        type=lambda s: [int(r) for r in s.split(",") if r],
        default=[50, 200, 500],
        help="requests per second for the load test, comma-separated; empty to skip",
    )
    parser.add_argument("--load-seconds", type=int, default=10)
    parser.add_argument(
        "--config-repeats",
        type=int,
        default=2,
        help="configure.yml runs per configuration on the converged host, per run",
    )
    parser.add_argument(
        "--no-fresh-defaults",
        dest="fresh_defaults",
        action="store_false",
        help="skip the whole first converge with Ansible's defaults",
    )
    parser.add_argument(
        "--no-user-data",
        dest="user_data",
        action="store_false",
        help="skip the whole first converge with the host prepared by user data",
    )
    parser.add_argument(
        "--no-linear",
        dest="linear",
        action="store_false",
        help="skip the whole first converge with the linear strategy",
    )
    parser.add_argument("--host-cpus", default="2", help="host container CPUs (t3.micro: 2)")
    parser.add_argument("--host-memory", default="1g", help="host container memory (t3.micro)")
    parser.add_argument("--state-dir", type=Path, default=REPO_ROOT / ".state" / "bench")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.fresh_defaults, args.linear, args.config_repeats = 1, False, False, 1
        args.user_data = False
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rates and not shutil.which("hey"):
        print("error: the load test needs hey: apt-get install -y hey", file=sys.stderr)
        return 1
    stack = Stack(args.state_dir, args.host_cpus, args.host_memory)
    if args.state_dir.exists():
        shutil.rmtree(args.state_dir / "timing", ignore_errors=True)
        (args.state_dir / "requests.jsonl").unlink(missing_ok=True)
    stack.start()
    defaults = args.state_dir / "ansible-defaults.cfg"
    defaults.write_text(DEFAULTS_CONFIG.format(root=REPO_ROOT))
    started = time.time()
    info = machine()
    runs: list[dict[str, Any]] = []
    try:
        for index in range(1, args.runs + 1):
            runs.append(one_run(stack, index, args, defaults))
    finally:
        if not runs or len(runs) < args.runs:
            with contextlib.suppress(Exception):
                stack.playbook("teardown.yml", "cleanup-teardown")
        stack.stop()
    results = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "command": "make bench  # .venv/bin/python bench/stack_bench.py " + " ".join(argv or []),
        "machine": info,
        "settings": {
            "runs": args.runs,
            "rates": args.rates,
            "load_seconds": args.load_seconds,
            "config_repeats": args.config_repeats,
            "fresh_defaults": args.fresh_defaults,
            "linear": args.linear,
            "user_data": args.user_data,
            "host": {"cpus": args.host_cpus, "memory": args.host_memory},
            "defaults_config": DEFAULTS_CONFIG.format(root="<repo>"),
        },
        "figures": figures(runs),
        "runs": runs,
        "duration_s": time.time() - started,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    import report

    table = report.markdown(results)
    args.output.with_suffix(".md").write_text(table)
    print(table)
    log(f"results in {args.output} and {args.output.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
