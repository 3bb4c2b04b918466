"""Helpers for the integration tests: the emulator, playbook runs, resource counts."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "embedded"))
import emulator as embedded_emulator

REPO_ROOT = Path(__file__).resolve().parents[2]
EMULATOR_SCRIPT = REPO_ROOT / "embedded" / "emulator.py"
VENV_BIN = Path(sys.executable).parent
REGION = "eu-west-3"
PROJECT = "devops"
# site.yml up to the host: these tests' emulator makes no host containers, so the phases that
# run on the instance (wait, configure, deploy, verify) are covered by molecule/default.
PROVISIONING = (
    "playbooks/preflight.yml",
    "playbooks/provision.yml",
    "playbooks/audit.yml",
    "playbooks/summary.yml",
)
RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.M,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Emulator:
    port: int
    state_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, name: str, *options: str) -> str:
        result = subprocess.run(
            [
                sys.executable,
                str(EMULATOR_SCRIPT),
                name,
                "--port",
                str(self.port),
                "--state-dir",
                str(self.state_dir),
                *options,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def client(self, service: str, region: str = REGION):
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


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


def playbook_env_for(emulator: Emulator) -> dict[str, str]:
    """The environment of a user who ran eval "$(make -s local-env)", and nothing of AWS else."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "EMBEDDED_"))
    }
    env.update(embedded_emulator.playbook_environment(emulator.port, emulator.state_dir))
    env.update(
        # Keep the user's real AWS configuration out of the tests.
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        ANSIBLE_NOCOLOR="1",
        AWS_EC2_METADATA_DISABLED="true",
        BUDGET_ALERT_EMAIL="billing-alerts@example.com",
        PROJECT_NAME=PROJECT,
        AWS_REGION=REGION,
    )
    return env


@dataclass
class Runner:
    """Runs playbooks and ansible commands from the project root, as a user would."""

    env: dict[str, str]
    state_dir: Path

    def command(
        self,
        tool: str,
        *args: str,
        env: dict[str, str] | None = None,
        interleaved: bool = False,
    ) -> PlaybookRun:
        """``interleaved``: output is stdout and stderr in the order a terminal shows them
        (warnings and errors go to stderr); otherwise stdout, then stderr."""
        result = subprocess.run(
            [str(VENV_BIN / tool), *args, "-e", f"project_state_dir={self.state_dir}"],
            cwd=REPO_ROOT,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if interleaved else subprocess.PIPE,
            text=True,
            check=False,
            timeout=900,
        )
        if interleaved:
            return PlaybookRun(result.returncode, result.stdout)
        return PlaybookRun(result.returncode, result.stdout + result.stderr, result.stdout)

    def playbook(
        self,
        playbook: str,
        *args: str,
        env: dict[str, str] | None = None,
        interleaved: bool = False,
    ) -> PlaybookRun:
        return self.command("ansible-playbook", playbook, *args, env=env, interleaved=interleaved)


def project_filter(project: str = PROJECT) -> list[dict]:
    return [{"Name": "tag:Project", "Values": [project]}]


# What count_project_resources returns when the stack is gone, and when it is whole.
NOTHING = dict.fromkeys(
    ("vpc", "subnet", "igw", "route_table", "security_group", "key_pair", "instance"), 0
)
ONE_OF_EACH = dict.fromkeys(NOTHING, 1)


def count_project_resources(ec2_client) -> dict[str, int]:
    """How many resources of each kind carry the project's tag (instances: not terminated)."""
    tagged = project_filter()
    live = [
        {
            "Name": "instance-state-name",
            "Values": ["pending", "running", "stopping", "stopped", "shutting-down"],
        }
    ]
    reservations = ec2_client.describe_instances(Filters=tagged + live)["Reservations"]
    return {
        "vpc": len(ec2_client.describe_vpcs(Filters=tagged)["Vpcs"]),
        "subnet": len(ec2_client.describe_subnets(Filters=tagged)["Subnets"]),
        "igw": len(ec2_client.describe_internet_gateways(Filters=tagged)["InternetGateways"]),
        "route_table": len(ec2_client.describe_route_tables(Filters=tagged)["RouteTables"]),
        "security_group": len(
            ec2_client.describe_security_groups(Filters=tagged)["SecurityGroups"]
        ),
        "key_pair": len(ec2_client.describe_key_pairs(Filters=tagged)["KeyPairs"]),
        "instance": sum(len(r["Instances"]) for r in reservations),
    }


def provision_once(emulator: Emulator, state_dir: Path) -> tuple[Runner, PlaybookRun]:
    """A fresh emulator and one run of the provisioning phases, for tests that share it."""
    emulator.command("reset")
    runner = Runner(playbook_env_for(emulator), state_dir)
    run = runner.playbook(*PROVISIONING)
    assert run.returncode == 0, run.output[-3000:]
    return runner, run
