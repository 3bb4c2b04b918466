"""A first run as a new user makes it: the first thing printed says what to set, in one line.

Without credentials and without the emulator, no request leaves the machine: botocore stops
at signing (and instance metadata is switched off), so these runs reach no AWS endpoint.
Runs that need an answer from AWS use the session's emulator; runs that need AWS to refuse a
call to credentials it accepts use an emulator that enforces IAM policies.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from harness import VENV_BIN, Emulator, PlaybookRun, Runner
from stack_testing import (
    playbook_env_for,
)
from test_bad_input import assert_nothing_created

pytestmark = pytest.mark.slow

NO_CREDENTIALS_LINE = (
    "No AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
    "or run `aws sso login`"
)
CHECK_MODE_LINE = "site.yml cannot run with --check"
# playbooks/tasks/require_instance.yml, first in every playbook that targets the instance.
NO_INSTANCE_LINE = (
    "inventory/aws_ec2.yml finds 0 running instance(s) tagged Project=taskstack in eu-west-3, "
    "expected 1"
)
PHASES_ON_THE_INSTANCE = ["playbooks/configure.yml", "playbooks/deploy.yml", "playbooks/verify.yml"]
# Ansible's banners and one line per task before the first check fails.
MOST_LINES_BEFORE_THE_ERROR = 20


@pytest.fixture
def new_user(tmp_path: Path, state_dir: Path) -> Runner:
    """A shell with nothing of AWS in it: no keys, no profile, no ~/.aws, no endpoint."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "EMBEDDED_", "ANSIBLE_", "BUDGET_", "PROJECT_"))
    }
    env.update(
        HOME=str(home),
        PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        ANSIBLE_NOCOLOR="1",
        # Off an EC2 machine botocore would otherwise ask 169.254.169.254 for credentials.
        AWS_EC2_METADATA_DISABLED="true",
    )
    return Runner(env, state_dir)


def errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("[ERROR]")]


def lines_before_the_error(output: str) -> list[str]:
    lines = output.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("[ERROR]"))
    return [line for line in lines[:first] if line.strip()]


def assert_one_quiet_inventory_line(before: list[str], what: str = "") -> None:
    """The dynamic inventory cannot ask AWS either: one warning line, not a dozen."""
    warnings = [line for line in before if line.startswith("[WARNING]")]
    assert len(warnings) == 1, "\n".join(before)
    assert f"inventory/aws_ec2.yml: no hosts, AWS could not be asked: {what}" in warnings[0]
    assert not any("Failed to parse" in line or "caused by" in line for line in before)


@pytest.mark.parametrize("playbook", ["site.yml", "teardown.yml"])
def test_without_credentials_the_first_error_says_so(new_user: Runner, playbook: str):
    run = new_user.playbook(playbook, interleaved=True)
    assert run.returncode != 0
    first = errors(run.output)[0]
    assert NO_CREDENTIALS_LINE in first, run.output[-3000:]
    # Nothing else first: not the alert address, not botocore's versions.
    assert "BUDGET_ALERT_EMAIL" not in run.output
    assert "boto3_version" not in run.output
    before = lines_before_the_error(run.output)
    assert_one_quiet_inventory_line(before)
    assert len(before) < MOST_LINES_BEFORE_THE_ERROR, "\n".join(before)


def test_with_credentials_but_no_alert_address_the_first_error_names_it(
    runner: Runner, fresh_emulator: Emulator
):
    run = runner.playbook("site.yml", env={"BUDGET_ALERT_EMAIL": ""}, interleaved=True)
    assert run.returncode != 0
    first = errors(run.output)[0]
    assert "give at least one valid e-mail address for the billing alerts" in first
    assert "set BUDGET_ALERT_EMAIL in the environment" in first
    assert "[WARNING]" not in "\n".join(lines_before_the_error(run.output))
    assert_nothing_created(fresh_emulator)


def test_check_mode_of_site_is_refused_before_any_aws_call(new_user: Runner):
    """No credentials at all: the refusal comes before anything that would need them."""
    run = new_user.playbook("site.yml", "--check", interleaved=True)
    assert run.returncode != 0
    all_errors = errors(run.output)
    assert len(all_errors) == 1 and CHECK_MODE_LINE in all_errors[0], run.output[-3000:]
    assert "playbooks/preflight.yml --check" in all_errors[0]
    assert len(lines_before_the_error(run.output)) < MOST_LINES_BEFORE_THE_ERROR


def test_check_mode_of_site_creates_nothing(runner: Runner, fresh_emulator: Emulator):
    run = runner.playbook("site.yml", "--check")
    assert run.returncode != 0
    assert CHECK_MODE_LINE in errors(run.output)[0]
    assert "has no attribute" not in run.output
    assert_nothing_created(fresh_emulator)


def test_preflight_alone_runs_in_check_mode_and_creates_nothing(
    runner: Runner, fresh_emulator: Emulator
):
    """What the refusal points to: every check, the budget only reported."""
    run = runner.playbook("playbooks/preflight.yml", "--check")
    assert run.returncode == 0, run.output[-3000:]
    assert "Ensure the monthly cost budget" in run.output
    assert_nothing_created(fresh_emulator)


# Check mode of teardown.yml: tests/integration/test_teardown.py (on its full stack).


# ---------------------------------------------------------------- a phase run alone


def assert_the_no_instance_line(run: PlaybookRun) -> None:
    """The run stops on one line, not "no hosts matched" and a green recap."""
    assert run.returncode != 0, run.output[-3000:]
    all_errors = errors(run.output)
    assert len(all_errors) == 1, run.output[-3000:]
    assert NO_INSTANCE_LINE in all_errors[0]
    assert "if a warning above is about the inventory" in all_errors[0]
    assert "check PROJECT_NAME and AWS_REGION in the environment" in all_errors[0]
    assert "`ansible-playbook site.yml` (or playbooks/provision.yml)" in all_errors[0]
    assert "skipping: no hosts matched" not in run.output


@pytest.mark.parametrize("playbook", PHASES_ON_THE_INSTANCE)
def test_a_phase_on_the_instance_run_alone_without_one_fails_in_one_line(
    runner: Runner, fresh_emulator: Emulator, playbook: str
):
    run = runner.playbook(playbook, interleaved=True)
    assert_the_no_instance_line(run)
    assert "[WARNING]" not in "\n".join(lines_before_the_error(run.output))


def test_a_phase_run_alone_without_credentials_points_at_the_inventory_warning(
    new_user: Runner,
):
    run = new_user.playbook("playbooks/configure.yml", interleaved=True)
    assert_the_no_instance_line(run)
    before = lines_before_the_error(run.output)
    assert_one_quiet_inventory_line(before, "no AWS credentials (Unable to locate credentials)")
    assert "(playbooks/preflight.yml) says what to fix" in "\n".join(before)


# ---------------------------------------------------------------- AWS refuses, or rejects


@pytest.fixture
def iam_runner(iam_emulator: Emulator, state_dir: Path) -> Runner:
    """The emulator that enforces IAM policies, emptied, and its administrator."""
    iam_emulator.reset()
    return Runner(playbook_env_for(iam_emulator), state_dir)


def user_without_permissions(emulator: Emulator) -> dict[str, str]:
    """Credentials AWS accepts (GetCallerIdentity answers) that may call nothing else."""
    iam = emulator.client("iam", region="us-east-1")
    iam.create_user(UserName="no-permissions")
    key = iam.create_access_key(UserName="no-permissions")["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


def test_an_inventory_that_aws_refuses_is_reported_not_hidden(
    iam_emulator: Emulator, iam_runner: Runner
):
    """DescribeInstances refused: the credentials check would pass, so the inventory's own
    error is what says it, as ansible-core reports it; then the phase stops on one line."""
    run = iam_runner.playbook(
        "playbooks/configure.yml", env=user_without_permissions(iam_emulator), interleaved=True
    )
    assert_the_no_instance_line(run)
    before = " ".join(" ".join(lines_before_the_error(run.output)).split())
    assert "AWS could not be asked" not in before
    # ansible-core names a collection's inventory plugin by its Python module here.
    plugin = "ansible_collections.taskstack.aws.plugins.inventory.aws_ec2_or_empty"
    assert f"Failed to parse inventory with '{plugin}' plugin" in before
    assert "is not authorized to perform: ec2:DescribeInstances" in before


def test_credentials_that_aws_rejects_are_one_warning_then_the_credentials_check(
    iam_runner: Runner,
):
    unknown_key = {"AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY000000", "AWS_SECRET_ACCESS_KEY": "nope"}
    run = iam_runner.playbook("site.yml", env=unknown_key, interleaved=True)
    assert run.returncode != 0
    first = errors(run.output)[0]
    assert "AWS rejected the credentials while trying to identify the caller" in first
    before = lines_before_the_error(run.output)
    assert_one_quiet_inventory_line(before, "AWS rejected the credentials (")
    assert len(before) < MOST_LINES_BEFORE_THE_ERROR, "\n".join(before)
