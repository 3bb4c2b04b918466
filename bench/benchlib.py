"""The benchmark's logic that needs no stack: statistics, phases, AWS call counts, tool output.

bench/stack_bench.py runs the stack and feeds what it records through these functions; the
tests in tests/bench/ exercise them on recorded samples.
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# AWS names its read-only API actions with these verbs (DescribeVpcs, GetBudget, ListTags...).
READ_PREFIXES = ("Describe", "Get", "List")
# Requests sent before the first play: ansible-playbook parses the dynamic inventory
# (inventory/aws_ec2.yml), which calls DescribeInstances.
STARTUP_PHASE = "startup"


def summary(values: Iterable[float]) -> dict[str, Any]:
    """Median, min and max of a figure over the runs, with the runs themselves."""
    runs = list(values)
    if not runs:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {
        "median": statistics.median(runs),
        "min": min(runs),
        "max": max(runs),
        "runs": runs,
    }


def call_kind(action: str) -> str:
    """ "read" for Describe/Get/List calls, "mutating" for the rest, "unknown" without a name."""
    if not action:
        return "unknown"
    return "read" if action.startswith(READ_PREFIXES) else "mutating"


def timer_settings() -> dict[str, str]:
    """The Ansible settings that turn on the bench_timer callback (bench/callback_plugins); it
    writes to the file named by BENCH_TIMING_FILE."""
    return {
        "ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).resolve().parent / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "bench_timer",
    }


# The reruns after each first converge, by name: as users run it, with Ansible's linear
# strategy, and with every role run (stack_state's fast path off).
USER_RERUN = "rerun"
OTHER_RERUNS = ("rerun-linear", "rerun-full")


def rerun_order(turn: int) -> list[str]:
    """The user's rerun first, always: it is what a user runs next, and only it shows what the
    first converge left for the next run to redo (a check that did not record that it passed,
    say). The other two swap places from one run to the next."""
    shift = turn % len(OTHER_RERUNS)
    return [USER_RERUN, *OTHER_RERUNS[shift:], *OTHER_RERUNS[:shift]]


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def phase_of_file(playbook_file: str) -> str:
    """site.yml imports one playbook per phase: playbooks/deploy.yml is the "deploy" phase."""
    return Path(playbook_file).stem or "unknown"


@dataclass(frozen=True)
class Window:
    phase: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def phase_windows(events: list[dict[str, Any]], started: float) -> list[Window]:
    """Time windows of each phase of one ansible-playbook run, from the timer callback's events.

    `started` is when the process was launched: what comes before the first play is startup.
    Plays of the same file in a row (wait_for_host.yml has three) make one window.
    """
    plays = [e for e in events if e["event"] == "play"]
    ends = [e["time"] for e in events if e["event"] == "end"]
    if not plays:
        return []
    finish = ends[-1] if ends else max(e["time"] for e in events)
    windows = [Window(STARTUP_PHASE, started, plays[0]["time"])]
    for play, following in zip(plays, [*plays[1:], None], strict=True):
        phase = phase_of_file(play.get("file", ""))
        end = following["time"] if following else finish
        if windows[-1].phase == phase:
            windows[-1] = Window(phase, windows[-1].start, end)
        else:
            windows.append(Window(phase, play["time"], end))
    return windows


def phase_seconds(windows: list[Window]) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for window in windows:
        seconds[window.phase] = seconds.get(window.phase, 0.0) + window.seconds
    return seconds


def changed_count(events: list[dict[str, Any]]) -> int:
    return sum(1 for e in events if e["event"] == "changed")


def empty_counts() -> dict[str, int]:
    return {"read": 0, "mutating": 0, "unknown": 0}


def calls_by_phase(
    requests: list[dict[str, Any]], windows: list[Window], until: float | None = None
) -> dict[str, dict[str, int]]:
    """AWS calls of one run counted per phase and kind; requests outside the run are ignored.

    A request belongs to the window it falls in; requests after the last play and before
    `until` (the process exit) go to the last phase.
    """
    counts = {w.phase: empty_counts() for w in windows}
    if not windows:
        return counts
    last = until if until is not None else windows[-1].end
    for request in requests:
        at = request["time"]
        if at < windows[0].start or at > last:
            continue
        window = next((w for w in windows if w.start <= at < w.end), windows[-1])
        counts[window.phase][call_kind(request.get("action", ""))] += 1
    return counts


def total_calls(per_phase: dict[str, dict[str, int]]) -> dict[str, int]:
    total = empty_counts()
    for counts in per_phase.values():
        for kind, count in counts.items():
            total[kind] += count
    return total


def actions_in(requests: list[dict[str, Any]], start: float, end: float) -> dict[str, int]:
    """How many times each action was called between two times (for the profile notes)."""
    counts: dict[str, int] = {}
    for request in requests:
        if start <= request["time"] <= end:
            name = f"{request.get('service', '')}:{request.get('action', '')}"
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


# The package manager's tasks: their time is apt's own work (lists, downloads, dpkg) on any
# configuration, the floor of a fresh host's configure phase.
PACKAGE_ACTIONS = frozenset({"ansible.builtin.apt", "ansible.legacy.apt", "apt"})


def package_seconds(events: list[dict[str, Any]], windows: list[Window]) -> dict[str, float]:
    """Per phase, the wall time of the tasks that run the package manager (PACKAGE_ACTIONS),
    each until the next task or play starts."""
    marks = [e for e in events if e["event"] in ("task", "play", "end")]
    seconds = {w.phase: 0.0 for w in windows}
    for mark, following in itertools.pairwise(marks):
        if mark["event"] != "task" or mark.get("action") not in PACKAGE_ACTIONS:
            continue
        phase = next((w.phase for w in windows if w.start <= mark["time"] < w.end), None)
        if phase is not None:
            seconds[phase] += following["time"] - mark["time"]
    return seconds


def task_seconds(events: list[dict[str, Any]], finish: float) -> list[tuple[str, float]]:
    """Each task's wall time (start of the next task or play), slowest first."""
    marks = [e for e in events if e["event"] in ("task", "play", "end")]
    durations: dict[str, float] = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        if mark["event"] != "task":
            continue
        end = following["time"] if following else finish
        durations[mark["name"]] = durations.get(mark["name"], 0.0) + end - mark["time"]
    return sorted(durations.items(), key=lambda item: -item[1])


# hey's summary: "  99% in 0.0120 secs", "  [200]\t2000 responses", error lines "  [3]\tGet ...".
LATENCY_LINE = re.compile(r"^\s*(\d+)%\s+in\s+([\d.]+)\s+secs", re.M)
STATUS_LINE = re.compile(r"^\s*\[(\d{3})\]\s+(\d+)\s+responses", re.M)
RATE_LINE = re.compile(r"^\s*Requests/sec:\s+([\d.]+)", re.M)
ERROR_SECTION = re.compile(r"^Error distribution:\n((?:\s+\[\d+\].*\n?)*)", re.M)
ERROR_LINE = re.compile(r"^\s+\[(\d+)\]\s+(.*)$", re.M)


def parse_hey(output: str) -> dict[str, Any]:
    """Latency percentiles (ms), responses by status, transport errors, achieved rate."""
    percentiles = {int(p): float(s) * 1000 for p, s in LATENCY_LINE.findall(output)}
    statuses = {int(code): int(n) for code, n in STATUS_LINE.findall(output)}
    section = ERROR_SECTION.search(output)
    errors = (
        {msg.strip(): int(n) for n, msg in ERROR_LINE.findall(section.group(1))} if section else {}
    )
    rate = RATE_LINE.search(output)
    not_ok = sum(n for code, n in statuses.items() if not 200 <= code < 300)
    return {
        "p50_ms": percentiles.get(50),
        "p99_ms": percentiles.get(99),
        "requests_per_s": float(rate.group(1)) if rate else None,
        "responses": sum(statuses.values()),
        "statuses": statuses,
        "transport_errors": errors,
        "errors": not_ok + sum(errors.values()),
    }


# hey starts every worker's ticker at the same moment, so the workers fire together: c
# workers at q/s each send bursts of c requests every 1/q s, not one request every 1/(c*q) s.
# Few workers at 50/s each keep the bursts small (4 requests every 20 ms at 200/s) while
# each worker's 20 ms interval stays far above the API's few milliseconds per request.
PER_WORKER_RATE = 50


def hey_workers(rate: int, max_per_worker: int = PER_WORKER_RATE) -> tuple[int, int]:
    """(-c workers, -q per-worker rate) whose product is the rate: hey limits each worker."""
    workers = max(1, -(-rate // max_per_worker))
    while rate % workers:
        workers += 1
    return workers, rate // workers


UNITS = {
    "B": 1 / 2**20,
    "KIB": 1 / 2**10,
    "MIB": 1.0,
    "GIB": 2**10,
    "KB": 1e3 / 2**20,
    "MB": 1e6 / 2**20,
    "GB": 1e9 / 2**20,
}
SIZE = re.compile(r"^\s*([\d.]+)\s*([A-Za-z]+)\s*$")


def mebibytes(size: str) -> float:
    """docker stats sizes ("45.3MiB", "1GiB", "812kB") in MiB."""
    match = SIZE.match(size)
    if not match or match.group(2).upper() not in UNITS:
        raise ValueError(f"not a size: {size!r}")
    return float(match.group(1)) * UNITS[match.group(2).upper()]


def parse_docker_stats(output: str) -> dict[str, float]:
    """`docker stats --no-stream --format '{{.Name}}\\t{{.MemUsage}}'` as {name: MiB used}."""
    memory: dict[str, float] = {}
    for line in output.splitlines():
        name, _, usage = line.partition("\t")
        if usage:
            memory[name.strip()] = mebibytes(usage.split("/")[0])
    return memory


def service_of_container(name: str, project: str = "taskapp") -> str:
    """Compose names containers <project>-<service>-<n>: "taskapp-api-1" is the api."""
    parts = name.split("-")
    if len(parts) >= 3 and parts[0] == project:
        return "-".join(parts[1:-1])
    return name
