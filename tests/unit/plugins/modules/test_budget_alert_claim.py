"""budget_alert's claim_tags: a budget is global, and one stack's never serves another's region.

moto in process with embedded/budgets.py (the ``aws`` fixture), as in test_budget_alert_tags.
"""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.taskstack.aws.tests.unit.module_runner import ACCOUNT_ID, run_module

NAME = "taskstack-monthly"
ARN = f"arn:aws:budgets::{ACCOUNT_ID}:budget/{NAME}"
TAGS = {"Project": "taskstack", "ManagedBy": "ansible"}
OWNER = {"Project": "taskstack"}
HERE = {"StackRegion": "us-east-1"}
THERE = {"StackRegion": "eu-west-3"}


def budgets():
    return boto3.client("budgets", region_name="us-east-1")


def tags_of_budget() -> dict[str, str]:
    found = budgets().list_tags_for_resource(ResourceARN=ARN)["ResourceTags"]
    return {tag["Key"]: tag["Value"] for tag in found}


def budget_names() -> list[str]:
    return [b["BudgetName"] for b in budgets().describe_budgets(AccountId=ACCOUNT_ID)["Budgets"]]


def stored_limit() -> float:
    answer = budgets().describe_budget(AccountId=ACCOUNT_ID, BudgetName=NAME)
    return float(answer["Budget"]["BudgetLimit"]["Amount"])


def present(claim: dict[str, str] | None, **extra) -> dict:
    request = {"name": NAME, "emails": ["ops@example.com"], "tags": TAGS, "owner_tags": OWNER}
    return dict(request, claim_tags=claim, **extra)


def absent(claim: dict[str, str] | None) -> dict:
    return {"name": NAME, "state": "absent", "tags": OWNER, "claim_tags": claim}


def test_a_new_budget_carries_the_claim_and_a_second_run_is_unchanged(aws):
    assert run_module("budget_alert", present(THERE))["changed"] is True
    assert tags_of_budget() == {**TAGS, **THERE}
    assert run_module("budget_alert", present(THERE))["changed"] is False


def test_a_budget_another_region_claims_is_refused_and_left_as_it_is(aws):
    run_module("budget_alert", present(THERE))
    for check_mode in (True, False):
        result = run_module("budget_alert", present(HERE, limit=50.0), check_mode=check_mode)
        assert result["failed"] is True
        assert result["error_code"] == "BudgetClaimed"
        assert result["claimed_by"] == THERE
        assert result["msg"] == (
            f"Budget {NAME!r} carries StackRegion=eu-west-3, not StackRegion=us-east-1: it "
            "serves another stack. Choose another name, or use it from that stack"
        )
    assert stored_limit() == 5.0
    assert tags_of_budget() == {**TAGS, **THERE}


def test_taking_over_another_owners_budget_does_not_take_another_regions(aws):
    """owner_tags left out (aws_budget_adopt) takes a budget of no owner, not a claimed one."""
    run_module("budget_alert", present(THERE))
    result = run_module("budget_alert", present(HERE, owner_tags=None))
    assert result["error_code"] == "BudgetClaimed"


def test_a_budget_made_before_the_claim_gets_it_check_mode_first(aws):
    run_module("budget_alert", present(None))
    assert tags_of_budget() == TAGS

    check = run_module("budget_alert", present(HERE), check_mode=True)
    assert check["changed"] is True
    assert check["differences"] == ["tag StackRegion=us-east-1"]
    assert tags_of_budget() == TAGS

    assert run_module("budget_alert", present(HERE))["changed"] is True
    assert tags_of_budget() == {**TAGS, **HERE}
    assert run_module("budget_alert", present(HERE))["changed"] is False


def test_absent_keeps_a_budget_another_region_claims_and_says_so(aws):
    run_module("budget_alert", present(THERE))
    for check_mode in (True, False):
        result = run_module("budget_alert", absent(HERE), check_mode=check_mode)
        assert result["changed"] is False
        assert result["differences"] == []
        kept = (
            f"budget {NAME!r} carries StackRegion=eu-west-3, not StackRegion=us-east-1: it "
            "serves another stack and is kept"
        )
        assert result["kept"] == kept
        assert f"{kept}; delete it from that stack" in str(result["warnings"])
    assert budget_names() == [NAME]


@pytest.mark.parametrize("made_with", [THERE, None], ids=["claimed-here", "made-before-claims"])
def test_absent_deletes_the_budget_of_its_own_region_or_of_none(aws, made_with):
    run_module("budget_alert", present(made_with))
    result = run_module("budget_alert", absent(THERE))
    assert result["changed"] is True
    assert "kept" not in result
    assert budget_names() == []


def test_a_bad_claim_tag_fails_before_any_aws_call(no_aws_calls):
    result = run_module("budget_alert", present({"aws:region": "eu-west-3"}))
    assert result["failed"] is True
    assert result["msg"] == (
        "tag key 'aws:region' is not valid: use 1-128 characters, not starting with aws:"
    )
