"""budget_alert's owner_tags: a budget of the same name that is someone else's is never taken.

moto in process with embedded/budgets.py (the ``aws`` fixture), as in test_budget_alert_tags.
"""

from __future__ import annotations

import boto3
from ansible_collections.taskstack.aws.tests.unit.module_runner import ACCOUNT_ID, run_module

NAME = "taskstack-monthly"
OWNER = {"Project": "taskstack"}
TAGS = {"Project": "taskstack", "ManagedBy": "ansible"}


def budgets():
    return boto3.client("budgets", region_name="us-east-1")


def create_foreign_budget(tags: list[dict] | None = None) -> None:
    budgets().create_budget(
        AccountId=ACCOUNT_ID,
        Budget={
            "BudgetName": NAME,
            "BudgetLimit": {"Amount": "50", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        },
        **({"ResourceTags": tags} if tags else {}),
    )


def stored_limit() -> str:
    return budgets().describe_budget(AccountId=ACCOUNT_ID, BudgetName=NAME)["Budget"][
        "BudgetLimit"
    ]["Amount"]


def present(**extra) -> dict:
    return dict(
        {"name": NAME, "emails": ["ops@example.com"], "tags": TAGS, "owner_tags": OWNER}, **extra
    )


def test_a_budget_without_the_owner_tags_is_refused_and_left_as_it_is(aws):
    create_foreign_budget()
    for check_mode in (True, False):
        result = run_module("budget_alert", present(), check_mode=check_mode)
        assert result["failed"] is True
        assert result["error_code"] == "BudgetNotOwned"
        assert result["msg"] == (
            f"Budget {NAME!r} exists without the tags Project=taskstack: it is not the caller's. "
            "Choose another name, or leave owner_tags out to take it over"
        )
    assert float(stored_limit()) == 50.0


def test_a_budget_of_another_project_is_refused(aws):
    create_foreign_budget([{"Key": "Project", "Value": "other"}])
    assert run_module("budget_alert", present())["error_code"] == "BudgetNotOwned"


def test_without_owner_tags_the_budget_is_taken_over(aws):
    create_foreign_budget()
    result = run_module("budget_alert", present(owner_tags=None))
    assert result["changed"] is True
    assert float(stored_limit()) == 5.0


def test_the_callers_own_budget_is_updated(aws):
    assert run_module("budget_alert", present())["changed"] is True
    result = run_module("budget_alert", present(limit=9.0))
    assert result["changed"] is True
    assert float(stored_limit()) == 9.0


def test_absent_keeps_a_budget_without_the_owner_tags(aws):
    create_foreign_budget([{"Key": "ManagedBy", "Value": "ansible"}])
    result = run_module(
        "budget_alert", {"name": NAME, "state": "absent", "tags": TAGS, "owner_tags": OWNER}
    )
    assert result["changed"] is False
    assert "kept" in result
    assert float(stored_limit()) == 50.0
