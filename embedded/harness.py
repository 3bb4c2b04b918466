#!/usr/bin/env python3
"""The one harness that drives the stack on the embedded default: the integration tests,
Molecule's whole-stack scenario (molecule/default) and the benchmark (bench/) all use it.

It starts, configures and stops an emulator through embedded/emulator.py, gives playbooks the
environment of a user who ran `eval "$(make -s local-env)"` (emulator.playbook_environment,
nothing of the caller's own AWS or Ansible settings), runs playbooks from the project root the
way that user would, and tears down as `make destroy` does: teardown.yml, then
embedded/playbooks/host_leftovers.yml when the emulator makes host containers.

Each user of the stack has a profile: the ports it publishes, away from a user's demo, so that
a `make demo` keeps running beside any of them. This file is the only port map.

Usage: harness.py [--profile NAME] {up|site|playbook|down|env} [ansible-playbook args]
  up        set up the machine (Docker, the image kit), start the emulator with host containers
  site      run site.yml; the last line is STACK-CHANGED=<n> (for Molecule's idempotence step)
  playbook  run the playbooks given, same output
  down      teardown.yml and the host container check, then stop the emulator
  env       print the playbook environment's emulator settings
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import emulator
import hosts

REPO_ROOT = emulator.REPO_ROOT
# The tools of the interpreter running the harness: the project's .venv in every caller.
VENV_BIN = Path(sys.executable).parent
STATE_ROOT = REPO_ROOT / ".state"
# The project's default region (inventory/group_vars/all), for clients that look at its stack.
PROJECT_REGION = "eu-west-3"
HOST_LEFTOVERS = "embedded/playbooks/host_leftovers.yml"
PLAYBOOK_TIMEOUT_S = 900

# Settings of the caller's shell that would change what a playbook does: a real AWS profile,
# another emulator's endpoint, Molecule's or the benchmark's Ansible settings, a project name,
# the strategy's off switch (TASKSTACK_MITOGEN).
CALLER_SETTINGS = (
    "ANSIBLE_",
    "AWS_",
    "EMBEDDED_",
    "MOLECULE_",
    "BENCH_",
    "PROJECT_",
    "TASKSTACK_",
)
# Keep the user's ~/.aws out, and botocore away from instance metadata off an EC2 machine.
ISOLATION = {
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
    "ANSIBLE_NOCOLOR": "1",
}
RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.M,
)


@dataclass(frozen=True)
class Profile:
    """The ports one user of the stack publishes on 127.0.0.1: the emulator and the host."""

    name: str
    emulator_port: int
    ssh_port: int
    http_port: int
    api_port: int

    def published_ports(self) -> dict[int, int]:
        """Instance port -> port on 127.0.0.1: SSH, the web page and the API (the ports the
        default firewall rules open; any other opened port gets a free one from Docker)."""
        ports = (self.ssh_port, self.http_port, self.api_port)
        return dict(zip(hosts.DEFAULT_PUBLISHED_PORTS, ports, strict=True))

    def host_ports(self) -> dict[str, str]:
        """The setting the emulator publishes its hosts' ports by (EMBEDDED_HOST_PORTS)."""
        ports = {str(guest): local for guest, local in self.published_ports().items()}
        return {"EMBEDDED_HOST_PORTS": json.dumps(ports)}

    def make_environment(self) -> dict[str, str]:
        """What `make demo` and `make destroy` read to use these ports."""
        return {"EMULATOR_PORT": str(self.emulator_port), **self.host_ports()}

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / self.name


# The demo's ports are the emulator's and the hosts' defaults; every other profile keeps away
# from them and from each other, so any of them runs beside a user's `make demo`.
DEMO = Profile("demo", emulator.DEFAULT_PORT, *hosts.DEFAULT_PUBLISHED_PORTS.values())
PROFILES = {
    profile.name: profile
    for profile in (
        DEMO,
        Profile("molecule", 4576, 2223, 8081, 8001),
        Profile("readme", 4586, 2224, 8082, 8002),
        Profile("resilience", 4596, 2225, 8083, 8003),
        Profile("bench", 4606, 2226, 8084, 8004),
    )
}


def free_port() -> int:
    """A port nobody listens on, for an emulator without host containers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def host_containers(emulator_port: int) -> list[str]:
    """Every host container (running or not) of the emulator started on this port."""
    listing = subprocess.run(
        ["docker", "ps", "--all", "--quiet", "--filter", f"label={hosts.LABEL}={emulator_port}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return listing.stdout.split()


def caller_environment() -> dict[str, str]:
    """The caller's environment without any setting that would change what a playbook does."""
    return {key: value for key, value in os.environ.items() if not key.startswith(CALLER_SETTINGS)}


@contextmanager
def process_environment(settings: Mapping[str, str]) -> Iterator[None]:
    """os.environ as the caller's cleaned environment plus settings, for emulator.py's functions
    that read it (and hand it to the server); restored afterwards."""
    saved = dict(os.environ)
    clean = caller_environment()
    os.environ.clear()
    os.environ.update(clean, **settings)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@dataclass
class Emulator:
    """One emulator: its port, its state folder and how it is started."""

    port: int
    state_dir: Path
    # The profile whose ports its host containers are published on; None: no host container.
    hosts: Profile | None = None
    enforce_iam: bool = False
    # AWS's EC2 lifecycle, DependencyViolation and throttling (embedded/realism.py): what the
    # stack meets on AWS, so every user of the harness rehearses against it.
    realistic: bool = True
    # More settings for the server process (the benchmark's host size and request log, the
    # realistic mode's timings: EMBEDDED_PENDING_S, EMBEDDED_SHUTTING_DOWN_S, ...).
    server_settings: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def with_hosts(cls, profile: Profile, state_dir: Path | None = None, **options) -> Emulator:
        return cls(profile.emulator_port, state_dir or profile.state_dir, profile, **options)

    @property
    def url(self) -> str:
        return emulator.endpoint_url(self.port)

    def start(self) -> str:
        settings = {**(self.hosts.host_ports() if self.hosts else {}), **self.server_settings}
        with process_environment(settings):
            return emulator.start(
                self.port, self.state_dir, self.hosts is not None, self.enforce_iam, self.realistic
            )

    def stop(self) -> str:
        return emulator.stop(self.port, self.state_dir)

    def reset(self) -> str:
        return emulator.reset(self.port, self.state_dir)

    def running(self) -> bool:
        try:
            emulator.status(self.port, self.state_dir)
        except emulator.EmulatorError:
            return False
        return True

    def outbox(self) -> list[dict[str, Any]]:
        """The e-mails sent so far, oldest first (embedded/alarms.py)."""
        path = emulator.outbox_file(self.state_dir)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def client(self, service: str, region: str = PROJECT_REGION):
        """A client for a caller's own setup and inspection, which outlasts the throttling."""
        import boto3  # only the callers that look at AWS resources need it

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.url,
            config=patient_retries(),
            **emulator_credentials(),
        )

    def playbook_environment(self, **extra: str) -> dict[str, str]:
        """The environment of a user who ran eval "$(make -s local-env)" for this emulator, and
        nothing of AWS or Ansible of the caller's own; `extra` settings on top."""
        return {
            **caller_environment(),
            **ISOLATION,
            **emulator.playbook_environment(self.port, self.state_dir),
            **extra,
        }


def patient_retries():
    """botocore's retries with 10 attempts, as many as amazon.aws's AWSRetry makes, not its 3.

    The realistic mode throttles a share of EC2 calls (2 %): with 3 attempts, one call in about
    125,000 fails, and a suite makes enough calls for that to fail a test now and then, in the
    setup of a test about something else. The playbooks meet the throttling with their own
    retries; what a test builds or reads for itself is not what it tests.
    """
    from botocore.config import Config

    return Config(retries={"mode": "standard", "total_max_attempts": 10})


def emulator_credentials() -> dict[str, str]:
    """The emulator's fake credentials as boto3 arguments (with IAM: the administrator)."""
    return {key.lower(): value for key, value in emulator.FAKE_CREDENTIALS.items()}


@dataclass
class PlaybookRun:
    returncode: int
    output: str
    stdout: str = ""

    def recap(self) -> dict[str, dict[str, int]]:
        return {
            match["host"]: {key: int(match[key]) for key in ("ok", "changed", "failed")}
            for match in RECAP_LINE.finditer(self.output)
        }

    @property
    def changed(self) -> int:
        return sum(host["changed"] for host in self.recap().values())

    def error_lines(self) -> list[str]:
        """The messages of failed tasks ("msg: ..." lines of the yaml callback)."""
        return [line.strip() for line in self.output.splitlines() if "msg:" in line]


@dataclass
class Runner:
    """Runs playbooks and ansible commands from the project root, as a user would."""

    env: dict[str, str]
    # The project's .state folder (keys, secrets) for these runs.
    state_dir: Path

    def argv(self, tool: str, *args: str) -> list[str]:
        return [str(VENV_BIN / tool), *args, "-e", f"project_state_dir={self.state_dir}"]

    def command(
        self,
        tool: str,
        *args: str,
        env: Mapping[str, str] | None = None,
        interleaved: bool = False,
    ) -> PlaybookRun:
        """``interleaved``: output is stdout and stderr in the order a terminal shows them
        (warnings and errors go to stderr); otherwise stdout, then stderr."""
        result = subprocess.run(
            self.argv(tool, *args),
            cwd=REPO_ROOT,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if interleaved else subprocess.PIPE,
            text=True,
            check=False,
            timeout=PLAYBOOK_TIMEOUT_S,
        )
        if interleaved:
            return PlaybookRun(result.returncode, result.stdout)
        return PlaybookRun(result.returncode, result.stdout + result.stderr, result.stdout)

    def playbook(
        self,
        *playbooks_and_args: str,
        env: Mapping[str, str] | None = None,
        interleaved: bool = False,
    ) -> PlaybookRun:
        return self.command(
            "ansible-playbook", *playbooks_and_args, env=env, interleaved=interleaved
        )


@dataclass
class Stack:
    """An emulator and the playbook runs against it: the stack's whole life."""

    emulator: Emulator
    # The project's .state folder (keys, secrets) for these runs.
    project_state_dir: Path
    # Settings on top of the playbook environment (the tests' project name and region).
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_profile(cls, name: str) -> Stack:
        """The profile's stack with host containers, its state under .state/<profile>/."""
        profile = PROFILES[name]
        emu = Emulator.with_hosts(profile, profile.state_dir / "emulator")
        return cls(emu, profile.state_dir / "project")

    @property
    def runner(self) -> Runner:
        """Built on each use: where the hosts are published is known once the emulator runs."""
        return Runner(self.emulator.playbook_environment(**self.extra_env), self.project_state_dir)

    def up(self) -> str:
        return self.emulator.start()

    def site(self, *args: str, env: Mapping[str, str] | None = None) -> PlaybookRun:
        return self.runner.playbook("site.yml", *args, env=env)

    def teardown(self, *args: str, env: Mapping[str, str] | None = None) -> PlaybookRun:
        """teardown.yml, then (with host containers) the check that none is left, in one run:
        what `make destroy` runs."""
        leftovers = (HOST_LEFTOVERS,) if self.emulator.hosts else ()
        return self.runner.playbook("teardown.yml", *leftovers, *args, env=env)

    def down(self) -> PlaybookRun | None:
        """The teardown while the emulator runs, then the emulator stopped whatever happened."""
        try:
            return self.teardown() if self.emulator.running() else None
        finally:
            self.emulator.stop()


def prepare_machine() -> int:
    """What `make demo` sets up before the emulator starts: the Docker engine, the image kit."""
    for step in ("embedded/prerequisites.sh", "tests/images/build.sh"):
        if subprocess.run([step], cwd=REPO_ROOT, check=False).returncode != 0:
            return 1
    return 0


def report(run: PlaybookRun | None) -> int:
    """The run's output, then its changed count on a line of its own (Molecule reads it)."""
    if run is None:
        print("emulator not running: nothing to run against")
        return 0
    print(run.output)
    print(f"STACK-CHANGED={run.changed}")
    return run.returncode


def main(argv: list[str] | None = None) -> int:
    ports = ", ".join(
        f"{p.name} {p.emulator_port}/{p.ssh_port}/{p.http_port}/{p.api_port}"
        for p in PROFILES.values()
    )
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=f"Ports (emulator/SSH/web/API) of each profile: {ports}.",
    )
    # The demo's ports are the user's own: no harness command takes them over.
    others = sorted(set(PROFILES) - {DEMO.name})
    parser.add_argument("--profile", choices=others, default="molecule")
    parser.add_argument("command", choices=["up", "site", "playbook", "down", "env"])
    args, rest = parser.parse_known_args(argv)
    stack = Stack.of_profile(args.profile)
    try:
        if args.command == "up":
            if prepare_machine() != 0:
                return 1
            print(stack.up())
            return 0
        if args.command == "site":
            return report(stack.site(*rest))
        if args.command == "playbook":
            return report(stack.runner.playbook(*rest))
        if args.command == "down":
            return report(stack.down())
        for key, value in sorted(stack.runner.env.items()):
            if key.startswith(("AWS_", "EMBEDDED_", "BUDGET_", "ANSIBLE_INVENTORY")):
                print(f"{key}={value}")
        return 0
    except emulator.EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
