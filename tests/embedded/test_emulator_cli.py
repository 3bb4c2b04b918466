"""embedded/emulator.py, the lifecycle of the embedded default's moto server, without Docker.

A real server is started on a free port in a temporary state folder; host containers are not
asked for (--hosts is covered by tests/integration/test_resilience.py and molecule/default).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EMULATOR = REPO_ROOT / "embedded" / "emulator.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def emulator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EMULATOR), *args], capture_output=True, text=True, check=False
    )


def exports(shell: str) -> dict[str, str]:
    pairs = (
        line.removeprefix("export ").partition("=")
        for line in shell.splitlines()
        if line.startswith("export ")
    )
    return {key: json.loads(value) for key, _, value in pairs}


@pytest.fixture
def where(tmp_path: Path) -> Iterator[list[str]]:
    """--port and --state-dir of one emulator, stopped after the test whatever happened."""
    args = ["--port", str(free_port()), "--state-dir", str(tmp_path / "emulator")]
    yield args
    emulator("stop", *args)


def test_start_status_env_reset_stop(where: list[str]):
    started = emulator("start", *where)
    assert started.returncode == 0, started.stderr
    assert "emulator started on http://127.0.0.1:" in started.stdout

    again = emulator("start", *where)
    assert again.returncode == 0 and "already running" in again.stdout

    assert "running on" in emulator("status", *where).stdout

    env = exports(emulator("env", *where).stdout)
    assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{where[1]}"
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert "EMBEDDED_HOST_PORTS" not in env, "no host settings without --hosts"
    # The embedded overlay comes after the production inventory, whose group_vars it overrides.
    assert env["ANSIBLE_INVENTORY"] == (
        f"{REPO_ROOT}/inventory/aws_ec2.yml,{REPO_ROOT}/embedded/inventory/overlay.yml"
    )

    ec2 = boto3.client(
        "ec2",
        region_name="eu-west-3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ubuntu = ec2.describe_images(Owners=["099720109477"])["Images"]
    assert any("ubuntu-noble-24.04-amd64-server" in image["Name"] for image in ubuntu)
    ec2.create_vpc(CidrBlock="10.9.0.0/16")

    assert emulator("reset", *where).returncode == 0
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"]
    assert vpcs == []
    assert ec2.describe_images(Owners=["099720109477"])["Images"], "the AMI seed comes back"

    stopped = emulator("stop", *where)
    assert "emulator stopped" in stopped.stdout
    assert emulator("stop", *where).stdout.strip() == "emulator not running"


def test_env_unsets_what_would_leak_to_the_emulator(where: list[str]):
    shell = emulator("env", *where).stdout
    unset = next(line for line in shell.splitlines() if line.startswith("unset "))
    assert {"AWS_PROFILE", "AWS_SESSION_TOKEN"} <= set(unset.split()[1:])


def test_status_and_reset_say_what_to_do_when_nothing_runs(where: list[str]):
    status = emulator("status", *where)
    assert status.returncode == 1
    assert (
        status.stderr.strip() == "error: emulator not running: start it with `make emulator-start`"
    )

    reset = emulator("reset", *where)
    assert reset.returncode == 1
    assert reset.stderr.startswith("error: cannot reset the emulator on http://127.0.0.1:")


def test_start_refuses_a_port_another_program_holds(where: list[str]):
    with socket.socket() as other:
        other.bind(("127.0.0.1", int(where[1])))
        other.listen()
        started = emulator("start", *where)
    assert started.returncode == 1
    assert f"port {where[1]} on 127.0.0.1 is taken by another program" in started.stderr


def test_commands_without_a_port_find_the_emulator_of_their_state_folder(
    where: list[str], monkeypatch: pytest.MonkeyPatch
):
    """`EMULATOR_PORT=4586 make demo`, then `make destroy` in a shell without EMULATOR_PORT."""
    monkeypatch.delenv("EMULATOR_PORT", raising=False)
    port, state_dir = where[1], where[3]
    assert emulator("start", *where).returncode == 0

    status = emulator("status", "--state-dir", state_dir)
    assert status.returncode == 0 and f"running on http://127.0.0.1:{port} " in status.stdout
    shell = exports(emulator("env", "--state-dir", state_dir).stdout)
    assert shell["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"

    assert "emulator stopped" in emulator("stop", "--state-dir", state_dir).stdout
    assert not (Path(state_dir) / "moto.port").exists()
    assert emulator("status", "--state-dir", state_dir).returncode == 1


def run_in_bash(script: str, env: dict[str, str]) -> dict[str, str]:
    """The environment left after ``script`` in a bash whose environment is ``env``."""
    shown = subprocess.run(
        ["bash", "-c", f"{script}\nenv -0"], env=env, capture_output=True, text=True, check=True
    ).stdout
    return dict(item.partition("=")[::2] for item in shown.split("\0") if item)


def test_unset_env_takes_back_everything_env_exported(tmp_path: Path):
    # Nothing is started: `env` reads what `start --hosts` would have written (no Docker here,
    # and no `stop`, which would look for host containers).
    state_dir = tmp_path / "emulator"
    state_dir.mkdir()
    where = ["--port", str(free_port()), "--state-dir", str(state_dir)]
    (state_dir / "hosts.json").write_text(
        json.dumps(
            {
                "EMBEDDED_HOST_ADDRESS": "127.0.0.1",
                "EMBEDDED_HOST_PORTS": '{"22": 2222, "80": 8080, "8000": 8000}',
                "EMBEDDED_HOST_IMAGE_ARCHIVES": "/var/cache/taskstack/images/python.tar",
            }
        )
    )
    tool = f"{sys.executable} {EMULATOR} {{}} {' '.join(where)}"
    user = {"PATH": "/usr/bin:/bin", "HOME": str(state_dir), "AWS_REGION": "eu-west-3"}

    local = run_in_bash(f'eval "$({tool.format("env")})"', user)
    assert local["EMBEDDED_HOST_ADDRESS"] == "127.0.0.1" and "AWS_ENDPOINT_URL" in local

    back = run_in_bash(
        f'eval "$({tool.format("env")})"\neval "$({tool.format("unset-env")})"', user
    )
    left = {key for key in back if key.startswith(("AWS_", "EMBEDDED_", "BUDGET_", "ANSIBLE_"))}
    assert left == {"AWS_REGION"}, "only the user's own setting stays"
    assert back["PATH"].startswith(str(REPO_ROOT / ".venv" / "bin")), "the same tools stay first"


def test_unset_env_keeps_the_users_own_credentials_and_address():
    mixed = {
        "PATH": "/usr/bin:/bin",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "AWS_ACCESS_KEY_ID": "AKIAREALUSERKEY",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "BUDGET_ALERT_EMAIL": "ops@company.test",
        "EMBEDDED_HOST_ADDRESS": "127.0.0.1",
    }
    printed = subprocess.run(
        [sys.executable, str(EMULATOR), "unset-env"],
        env=mixed,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed.splitlines() == [
        "unset AWS_ENDPOINT_URL AWS_SECRET_ACCESS_KEY EMBEDDED_HOST_ADDRESS"
    ]


def test_unset_env_prints_nothing_when_nothing_is_set():
    printed = subprocess.run(
        [sys.executable, str(EMULATOR), "unset-env"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed.strip() == ""
