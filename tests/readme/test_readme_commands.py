"""README's first command, tried as a new user would: a clean clone, `make demo`, `make destroy`.

Run by `make test-readme` (part of `make test`), not by the plain pytest run: it takes minutes
and needs the Docker engine and the image kit. It uses its own ports so that a demo already
running on the defaults is left alone.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "embedded"))
import harness  # noqa: E402  (embedded/harness.py: the port map)

PROFILE = harness.PROFILES["readme"]


def new_user_environment() -> dict[str, str]:
    """A shell with no project, AWS or Ansible settings of the developer's."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "ANSIBLE_", "EMBEDDED_", "MOLECULE_", "VIRTUAL_ENV"))
    }
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".venv" not in p)
    return {**env, **PROFILE.make_environment()}


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("new-user") / "project"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(target)], check=True)
    return target


def tail(run: subprocess.CompletedProcess[str]) -> str:
    """What a user would look at: the end of make's output, then the end of its errors."""
    return f"{run.stdout[-3000:]}\n--- stderr ---\n{run.stderr[-1500:]}"


def make(clone: Path, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", target],
        cwd=clone,
        env=new_user_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )


def test_make_demo_ends_with_the_app_answering_and_make_destroy_leaves_nothing(clone: Path):
    demo = make(clone, "demo")
    try:
        assert demo.returncode == 0, tail(demo)
        assert f"Web page:  {PROFILE.web_url}/" in demo.stdout

        status, page = get(f"{PROFILE.web_url}/")
        assert status == 200 and b"<title>Task List</title>" in page
        status, body = get(f"{PROFILE.api_url}/api/tasks")
        assert status == 200
        assert {"id": 1, "title": "Apprendre Docker", "done": False} in json.loads(body)
    finally:
        destroy = make(clone, "destroy")

    assert destroy.returncode == 0, tail(destroy)
    assert harness.host_containers(PROFILE.emulator_port) == []
    assert not port_open(PROFILE.emulator_port), "the emulator still runs after make destroy"
