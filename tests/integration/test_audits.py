"""playbooks/audit.yml: the billing alert exists (checked when the play runs alone; in site.yml
preflight ensured it), the tagging rules hold."""

from __future__ import annotations

import json

import pytest
from harness import Emulator, Runner
from stack_testing import SharedStack, project_filter

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(provisioned_stack: SharedStack) -> Runner:
    assert "tagging rules: 0 violation(s)" in provisioned_stack.run.output
    return provisioned_stack.runner


@pytest.fixture
def stack_emulator(provisioned_stack: SharedStack) -> Emulator:
    """The shared stack's own emulator (not the session's, which other tests reset)."""
    return provisioned_stack.emulator


def test_site_leaves_a_monthly_cost_budget_with_e_mail_alerts(stack, stack_emulator):
    budgets = stack_emulator.client("budgets", region="us-east-1")
    budget = budgets.describe_budget(AccountId="123456789012", BudgetName="taskstack-monthly-cost")
    assert budget["Budget"]["BudgetLimit"] == {"Amount": "15.0", "Unit": "USD"}
    assert budget["Budget"]["TimeUnit"] == "MONTHLY"
    assert budget["Budget"]["BudgetType"] == "COST"
    notifications = budgets.describe_notifications_for_budget(
        AccountId="123456789012", BudgetName="taskstack-monthly-cost"
    )["Notifications"]
    assert sorted((n["NotificationType"], n["Threshold"]) for n in notifications) == [
        ("ACTUAL", 80.0),
        ("FORECASTED", 100.0),
    ]


def enforce_tags(stack: Runner):
    # Only the project's tags are enforced: Name has no value enforce could know.
    return stack.playbook(
        "playbooks/audit.yml",
        "-e",
        "aws_tag_audit_mode=enforce",
        "-e",
        '{"aws_tag_audit_required_keys": []}',
    )


def subnet_tags(ec2, subnet_id: str) -> dict[str, str]:
    found = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0].get("Tags", [])
    return {t["Key"]: t["Value"] for t in found}


def test_enforce_puts_back_the_projects_tags_and_never_tags_someone_elses(stack, stack_emulator):
    """A tag taken off the project's subnet is found by the audit and put back by enforce. A
    subnet someone else made in the project's VPC is found too, but never tagged: tagged as the
    project's, the next teardown would delete it."""
    ec2 = stack_emulator.client("ec2")
    (vpc,) = ec2.describe_vpcs(Filters=project_filter())["Vpcs"]
    (ours,) = ec2.describe_subnets(Filters=project_filter())["Subnets"]
    ec2.delete_tags(Resources=[ours["SubnetId"]], Tags=[{"Key": "Environment"}])

    audit = stack.playbook("playbooks/audit.yml")
    assert audit.returncode != 0
    error = [line for line in audit.output.splitlines() if line.startswith("[ERROR]")][-1]
    assert ours["SubnetId"] in error
    assert error.count("subnet-") == 1  # exactly that one resource

    enforce = enforce_tags(stack)
    assert enforce.returncode == 0, enforce.output[-3000:]
    assert enforce.changed == 1
    assert subnet_tags(ec2, ours["SubnetId"])["Environment"] == "dev"
    again = enforce_tags(stack)
    assert again.returncode == 0, again.output[-3000:]
    assert again.changed == 0

    stray = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.9.0/24")["Subnet"]["SubnetId"]
    try:
        refused = enforce_tags(stack)
        assert refused.returncode != 0
        assert refused.changed == 0
        assert (
            f"subnet {stray}: without the owner tags, not tagged (tag it by hand if it is the "
            "owner's)" in " ".join(refused.output.split())
        ), refused.output[-3000:]
        assert subnet_tags(ec2, stray) == {}
    finally:
        ec2.delete_subnet(SubnetId=stray)


def test_enforce_without_the_projects_owner_tags_is_refused(stack):
    """Without Project and ManagedBy among the required tags, enforce could not tell the
    project's resources from someone else's in the VPC: one line, before any tag is written."""
    run = stack.playbook(
        "playbooks/audit.yml",
        "-e",
        "aws_tag_audit_mode=enforce",
        "-e",
        json.dumps({"aws_tag_audit_required_tags": {"Environment": "dev"}}),
        "-e",
        '{"aws_tag_audit_required_keys": []}',
    )
    assert run.returncode != 0
    assert (
        "aws_tag_audit_mode=enforce needs Project and ManagedBy in aws_tag_audit_required_tags "
        "(it has Environment)" in " ".join(run.output.split())
    ), run.output[-3000:]
    assert run.changed == 0
