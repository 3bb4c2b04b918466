"""docker_engine's version floors (tasks/verify.yml), run on this machine against a stand-in
`docker` command: what the app's compose.yaml needs is refused in one line before the deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PLAYBOOK = """\
- name: Check the engine and Compose versions only
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run the docker_engine role's version checks
      ansible.builtin.include_role:
        name: docker_engine
        tasks_from: verify
"""
FAKE_DOCKER = """#!/bin/sh
case "$1 $2" in
  "compose version") echo "{compose}" ;;
  "version --format") echo "{engine}" ;;
  *) echo "unexpected: $*" >&2; exit 3 ;;
esac
"""


def verify(tmp_path: Path, engine: str, compose: str, *extra: str) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER.format(engine=engine, compose=compose))
    docker.chmod(0o755)
    playbook = tmp_path / "verify.yml"
    playbook.write_text(PLAYBOOK)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{VENV_BIN}:{os.environ['PATH']}",
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "TASKSTACK_MITOGEN": "0",
    }
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(playbook), *extra],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


PROJECT_FLOORS = (
    "-e",
    "docker_engine_min_version=25.0",
    "-e",
    "docker_engine_compose_min_version=2.20.2",
)


def test_an_engine_older_than_the_floor_is_one_line_naming_the_setting(tmp_path):
    run = verify(tmp_path, "24.0.7", "2.27.0", *PROJECT_FLOORS)
    assert run.returncode != 0
    lines = [
        line
        for line in run.stdout.splitlines()
        if "msg:" in line and "docker_engine_min_version=25.0" in line
    ]
    assert len(lines) == 1, run.stdout[-2000:]
    assert "the Docker Engine on the host is 24.0.7" in lines[0], lines[0]


def test_a_compose_older_than_the_floor_is_refused(tmp_path):
    run = verify(tmp_path, "26.1.5", "2.19.1", *PROJECT_FLOORS)
    assert run.returncode != 0
    assert "Compose v2 2.20.2 or newer is required" in run.stdout, run.stdout[-2000:]


def test_recent_versions_pass_and_no_floor_asks_nothing_of_the_engine(tmp_path):
    run = verify(tmp_path, "26.1.5", "2.26.1", *PROJECT_FLOORS)
    assert run.returncode == 0, run.stdout[-2000:]
    anything = verify(tmp_path / "any", "1.0.0", "2.26.1")
    assert anything.returncode == 0, anything.stdout[-2000:]
