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
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PORTS = {
    "EMULATOR_PORT": "4586",
    "EMBEDDED_HOST_SSH_PORT": "2224",
    "EMBEDDED_HOST_HTTP_PORT": "8082",
    "EMBEDDED_HOST_API_PORT": "8002",
}


def new_user_environment() -> dict[str, str]:
    """A shell with no project, AWS or Ansible settings of the developer's."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "ANSIBLE_", "EMBEDDED_", "MOLECULE_", "VIRTUAL_ENV"))
    }
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".venv" not in p)
    return {**env, **PORTS}


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def port_open(port: str) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", int(port))) == 0


def host_containers() -> list[str]:
    listing = subprocess.run(
        [
            "docker",
            "ps",
            "--all",
            "--quiet",
            "--filter",
            f"label=org.taskstack.embedded-host={PORTS['EMULATOR_PORT']}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return listing.stdout.split()


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
        assert f"Web page:  http://127.0.0.1:{PORTS['EMBEDDED_HOST_HTTP_PORT']}/" in demo.stdout

        status, page = get(f"http://127.0.0.1:{PORTS['EMBEDDED_HOST_HTTP_PORT']}/")
        assert status == 200 and b"<title>Task List</title>" in page
        status, body = get(f"http://127.0.0.1:{PORTS['EMBEDDED_HOST_API_PORT']}/api/tasks")
        assert status == 200
        assert {"id": 1, "title": "Apprendre Docker", "done": False} in json.loads(body)
    finally:
        destroy = make(clone, "destroy")

    assert destroy.returncode == 0, tail(destroy)
    assert host_containers() == []
    assert not port_open(PORTS["EMULATOR_PORT"]), "the emulator still runs after make destroy"
