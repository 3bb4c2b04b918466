"""budget_alert's tags: the budget is created with them, and deleted only when it has them.

Runs against moto in process with embedded/budgets.py (the ``aws`` fixture), which keeps
CreateBudget's ResourceTags and adds TagResource and ListTagsForResource.
"""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.taskstack.aws.tests.unit.module_runner import ACCOUNT_ID, run_module

NAME = "taskstack-monthly"
ARN = f"arn:aws:budgets::{ACCOUNT_ID}:budget/{NAME}"
TAGS = {"Project": "taskstack", "ManagedBy": "ansible"}


def budgets():
    return boto3.client("budgets", region_name="us-east-1")


def tags_of_budget() -> dict[str, str]:
    found = budgets().list_tags_for_resource(ResourceARN=ARN)["ResourceTags"]
    return {tag["Key"]: tag["Value"] for tag in found}


def budget_names() -> list[str]:
    return [b["BudgetName"] for b in budgets().describe_budgets(AccountId=ACCOUNT_ID)["Budgets"]]


def present(**extra) -> dict:
    return dict({"name": NAME, "emails": ["ops@example.com"], "tags": TAGS}, **extra)


def absent(**extra) -> dict:
    return dict({"name": NAME, "state": "absent", "tags": {"Project": "taskstack"}}, **extra)


def test_a_new_budget_carries_the_tags_and_a_second_run_is_unchanged(aws):
    assert run_module("budget_alert", present())["changed"] is True
    assert tags_of_budget() == TAGS
    assert run_module("budget_alert", present())["changed"] is False


def test_an_untagged_budget_gets_the_missing_tags_check_mode_first(aws):
    run_module("budget_alert", present(tags=None))
    assert tags_of_budget() == {}

    check = run_module("budget_alert", present(), check_mode=True)
    assert check["changed"] is True
    assert sorted(check["differences"]) == ["tag ManagedBy=ansible", "tag Project=taskstack"]
    assert tags_of_budget() == {}

    assert run_module("budget_alert", present())["changed"] is True
    assert tags_of_budget() == TAGS


def test_absent_deletes_a_budget_that_carries_the_tags(aws):
    run_module("budget_alert", present())
    assert run_module("budget_alert", absent())["changed"] is True
    assert budget_names() == []
    assert run_module("budget_alert", absent())["changed"] is False


@pytest.mark.parametrize("tags", [None, {"Project": "other"}], ids=["untagged", "other-project"])
def test_absent_keeps_a_budget_without_the_tags_and_says_so(aws, tags):
    run_module("budget_alert", present(tags=tags))

    result = run_module("budget_alert", absent())

    assert result.get("failed") is not True, result
    assert result["changed"] is False
    assert result["kept"] == f"budget {NAME!r} does not carry the tags Project=taskstack: kept"
    assert budget_names() == [NAME]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"aws:createdBy": "me"}, "tag key 'aws:createdBy' is not valid"),
        ({"Project": "x" * 257}, "tag 'Project' must have a text value of at most 256"),
    ],
)
def test_bad_tags_fail_before_any_aws_call(no_aws_calls, tags, expected):
    result = run_module("budget_alert", present(tags=tags))
    assert result["failed"] is True
    assert expected in result["msg"]
