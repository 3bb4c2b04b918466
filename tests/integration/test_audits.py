"""playbooks/audit.yml: the billing alert exists (checked when the play runs alone; in site.yml
preflight ensured it), the tagging rules hold."""

from __future__ import annotations

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


def test_an_untagged_resource_in_the_vpc_is_found_then_fixed_by_enforce(stack, stack_emulator):
    ec2 = stack_emulator.client("ec2")
    (vpc,) = ec2.describe_vpcs(Filters=project_filter())["Vpcs"]
    stray = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.9.0/24")["Subnet"]["SubnetId"]

    audit = stack.playbook("playbooks/audit.yml")
    assert audit.returncode != 0
    error = [line for line in audit.output.splitlines() if line.startswith("[ERROR]")][-1]
    assert stray in error
    assert error.count("subnet-") == 1  # exactly that one resource

    enforce = enforce_tags(stack)
    assert enforce.returncode == 0, enforce.output[-3000:]
    assert enforce.changed == 1
    tags = {
        t["Key"]: t["Value"] for t in ec2.describe_subnets(SubnetIds=[stray])["Subnets"][0]["Tags"]
    }
    assert tags == {"Project": "taskstack", "Environment": "dev", "ManagedBy": "ansible"}

    again = enforce_tags(stack)
    assert again.returncode == 0, again.output[-3000:]
    assert again.changed == 0
    ec2.delete_subnet(SubnetId=stray)
