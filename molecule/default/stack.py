"""Drives the whole stack on the embedded default for the Molecule scenario.

Molecule runs its playbooks with its own ansible.cfg and inventory; site.yml must run the way a
user runs it (the project's ansible.cfg, inventory/aws_ec2.yml, `make local-env`'s exports).
This wrapper gives it exactly that: its own emulator and ports, so a user's `make demo` on the
default ports keeps running beside the tests.

Usage: stack.py {up|site|playbook FILE|down|env} [ansible-playbook args]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(REPO_ROOT / ".venv" / "bin" / "python")
EMULATOR = [PYTHON, str(REPO_ROOT / "embedded" / "emulator.py")]
STATE_DIR = REPO_ROOT / ".state" / "molecule-default"
# Ports of this scenario, away from the defaults a user's demo uses (4566, 2222, 8080, 8000).
PORTS = {
    "EMULATOR_PORT": "4576",
    "EMBEDDED_HOST_SSH_PORT": "2223",
    "EMBEDDED_HOST_HTTP_PORT": "8081",
    "EMBEDDED_HOST_API_PORT": "8001",
}
CHANGED = re.compile(r"^\S+\s*:\s*ok=\d+\s+changed=(\d+)", re.M)


def clean_environment() -> dict[str, str]:
    """The caller's environment without Molecule's Ansible settings or any AWS settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ANSIBLE_", "AWS_", "EMBEDDED_", "MOLECULE_"))
    }
    env.update(PORTS)
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def emulator(command: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *EMULATOR,
            command,
            "--port",
            PORTS["EMULATOR_PORT"],
            "--state-dir",
            str(STATE_DIR),
            *extra,
        ],
        env=clean_environment(),
        capture_output=True,
        text=True,
        check=False,
    )


def stack_environment() -> dict[str, str]:
    """What `eval "$(make -s local-env)"` gives a user, for this scenario's emulator."""
    exports = emulator("env")
    if exports.returncode != 0:
        raise SystemExit(exports.stderr)
    env = clean_environment()
    for line in exports.stdout.splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = json.loads(value)  # emulator.py quotes each value as a JSON string
    env["PROJECT_STATE_DIR"] = str(STATE_DIR)
    return env


def up() -> int:
    for step in (["embedded/prerequisites.sh"], ["tests/images/build.sh"]):
        if subprocess.run(step, cwd=REPO_ROOT, check=False).returncode != 0:
            return 1
    started = emulator("start", "--hosts")
    print(started.stdout + started.stderr)
    return started.returncode


def playbook(*args: str) -> int:
    """Runs ansible-playbook from the project root; prints STACK-CHANGED=<n> for Molecule."""
    command = [
        str(REPO_ROOT / ".venv" / "bin" / "ansible-playbook"),
        *args,
        "-e",
        f"project_state_dir={STATE_DIR}",
    ]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=stack_environment(), capture_output=True, text=True, check=False
    )
    print(result.stdout + result.stderr)
    print(f"STACK-CHANGED={sum(int(n) for n in CHANGED.findall(result.stdout))}")
    return result.returncode


def down() -> int:
    status = emulator("status")
    code = playbook("teardown.yml") if status.returncode == 0 else 0
    stopped = emulator("stop")
    print(stopped.stdout + stopped.stderr)
    return code or stopped.returncode


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    command, args = argv[0], argv[1:]
    if command == "up":
        return up()
    if command == "site":
        return playbook("site.yml", *args)
    if command == "playbook":
        return playbook(*args)
    if command == "down":
        return down()
    if command == "env":
        for key, value in sorted(stack_environment().items()):
            if key.startswith(("AWS_", "EMBEDDED_", "BUDGET_", "PROJECT_")):
                print(f"{key}={value}")
        return 0
    print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
