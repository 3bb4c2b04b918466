"""What the integration tests check beyond the harness (embedded/harness.py): the project's
settings for tests, the provisioning phases, resource counts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import emulator as embedded_emulator
from harness import PROJECT_REGION, Emulator, PlaybookRun, Profile, Runner, Stack, free_port

REGION = PROJECT_REGION
PROJECT = "taskstack"
# The account moto answers for (its default), where the tests read the budgets.
ACCOUNT = "123456789012"
NEWEST_UBUNTU_AMI = "ami-0a1b2c3d4e5f60002"  # embedded/amis.json: the 20251022 amd64 image
# The project every test deploys and its alert address, whatever the developer's shell says.
TEST_SETTINGS = {
    "PROJECT_NAME": PROJECT,
    "AWS_REGION": REGION,
    "BUDGET_ALERT_EMAIL": embedded_emulator.PLACEHOLDER_ALERT_EMAIL,
}
# site.yml up to the host: these tests' emulator makes no host containers, so the phases that
# run on the instance (wait, configure, deploy, verify) are covered by molecule/default.
PROVISIONING = (
    "playbooks/preflight.yml",
    "playbooks/provision.yml",
    "playbooks/audit.yml",
    "playbooks/summary.yml",
)


def playbook_env_for(emulator: Emulator) -> dict[str, str]:
    """The environment of a user who ran eval "$(make -s local-env)", and nothing of AWS else."""
    return emulator.playbook_environment(**TEST_SETTINGS)


def project_filter(project: str = PROJECT) -> list[dict]:
    return [{"Name": "tag:Project", "Values": [project]}]


# What count_project_resources returns when the stack is gone, and when it is whole.
NOTHING = dict.fromkeys(
    ("vpc", "subnet", "igw", "route_table", "security_group", "key_pair", "instance"), 0
)
ONE_OF_EACH = dict.fromkeys(NOTHING, 1)


def stack_records(state_dir: Path) -> Path:
    """Where roles/stack_state keeps the project's digests (stack.sha256, one per host) in a
    project state folder."""
    return state_dir / "stack-state" / f"{PROJECT}-{REGION}"


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


@dataclass(frozen=True)
class SharedStack:
    """One provisioning run that several test files read (tests/integration/conftest.py)."""

    emulator: Emulator
    runner: Runner
    # The provisioning run that made it: what site.yml printed on the way.
    run: PlaybookRun


def provision_once(emulator: Emulator, state_dir: Path) -> SharedStack:
    """A fresh emulator and one run of the provisioning phases, for tests that share it."""
    emulator.reset()
    runner = Runner(playbook_env_for(emulator), state_dir)
    run = runner.playbook(*PROVISIONING)
    assert run.returncode == 0, run.output[-3000:]
    return SharedStack(emulator, runner, run)


def put_alarm_by_hand(emulator: Emulator, name: str, tags: dict[str, str] | None = None) -> None:
    """An alarm someone made in the console (a CPU one, threshold 50), with ``tags``."""
    emulator.client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=300,
        EvaluationPeriods=1,
        Threshold=50.0,
        ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": key, "Value": value} for key, value in (tags or {}).items()],
    )


@contextlib.contextmanager
def hosted_stack(
    name: str, work: Path, state: Path, server_settings: Mapping[str, str] | None = None
) -> Iterator[Stack]:
    """An empty emulator with host containers, every port free (never a profile's fixed ones),
    the emulator's state in ``work`` and the project's in ``state``, with ``server_settings``
    in its server's environment (embedded/hosts.py's EMBEDDED_HOST_*); stopped at the end.

    Stopped, not torn down: the emulator's stop removes its host containers, and teardown.yml
    has tests of its own (test_teardown.py, molecule/default, the README's make destroy). A
    teardown here, whose result nobody read, cost 52-107 s per stack (pytest --durations=0)."""
    profile = Profile(name, free_port(), free_port(), free_port(), free_port())
    emulator = Emulator.with_hosts(profile, work, server_settings=dict(server_settings or {}))
    stack = Stack(emulator, state, dict(TEST_SETTINGS))
    stack.up()
    emulator.reset()
    try:
        yield stack
    finally:
        emulator.stop()


def role_only_playbook(role: str) -> str:
    """A playbook running one provisioning role on localhost, as provision.yml runs it."""
    return f"""\
- name: Only the {role.removeprefix("aws_").replace("_", " ")} role, as provision.yml runs it
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/taskstack.aws.aws:
      region: "{{{{ aws_region }}}}"
  roles:
    - role: {role}
"""


def task_status(output: str, task: str) -> str:
    """ok, changed, skipping or fatal: the first result line after the task's header."""
    start = output.index(f"TASK [{task}]")
    for line in output[start:].splitlines()[1:]:
        status = line.split(":", 1)[0]
        if status in ("ok", "changed", "skipping", "fatal"):
            return status
    return "no result"
