"""budget_alert changes an existing budget in place, with the granular calls AWS documents.

The calls are answered by moto plus embedded/budgets.py (the ``aws`` fixture), the same Budgets
behaviour as the embedded emulator's.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from ansible_collections.taskstack.aws.tests.unit.module_runner import ACCOUNT_ID, run_module

NAME = "taskstack-monthly"
EMAIL = "ops@example.com"
TOPIC = {"SubscriptionType": "SNS", "Address": "arn:aws:sns:us-east-1:123456789012:alerts"}
MUTATING = {
    "CreateBudget",
    "UpdateBudget",
    "DeleteBudget",
    "CreateNotification",
    "DeleteNotification",
    "CreateSubscriber",
    "DeleteSubscriber",
}


def budgets():
    return boto3.client("budgets", region_name="us-east-1")


def present(**extra: Any) -> dict[str, Any]:
    return dict({"name": NAME, "emails": [EMAIL]}, **extra)


def stored_budget() -> dict[str, Any]:
    return budgets().describe_budget(AccountId=ACCOUNT_ID, BudgetName=NAME)["Budget"]


def stored_subscribers() -> dict[str, list[dict[str, str]]]:
    """Subscribers per notification type, sorted by address (AWS promises no order)."""
    client = budgets()
    found = client.describe_notifications_for_budget(AccountId=ACCOUNT_ID, BudgetName=NAME)
    return {
        n["NotificationType"]: sorted(
            client.describe_subscribers_for_notification(
                AccountId=ACCOUNT_ID, BudgetName=NAME, Notification=n
            )["Subscribers"],
            key=lambda s: s["Address"],
        )
        for n in found["Notifications"]
    }


@pytest.fixture
def writes(aws, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The mutating Budgets operations the module sends, in order (recorded before moto)."""
    import botocore.client

    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def record(self, operation_name, api_params):
        if operation_name in MUTATING:
            calls.append(operation_name)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return calls


@pytest.fixture
def managed_budget(writes: list[str]) -> dict[str, Any]:
    """A budget made by the module, then changed behind its back in what it does not own: the
    cost types, and an SNS subscriber on the actual-spend alert. Returns the stored budget."""
    run_module("budget_alert", present())
    client = budgets()
    changed = {
        k: v for k, v in stored_budget().items() if k not in ("CalculatedSpend", "LastUpdatedTime")
    }
    changed["CostTypes"] = dict(changed["CostTypes"], IncludeTax=False, IncludeSupport=False)
    client.update_budget(AccountId=ACCOUNT_ID, NewBudget=changed)
    actual = next(
        n
        for n in client.describe_notifications_for_budget(AccountId=ACCOUNT_ID, BudgetName=NAME)[
            "Notifications"
        ]
        if n["NotificationType"] == "ACTUAL"
    )
    client.create_subscriber(
        AccountId=ACCOUNT_ID, BudgetName=NAME, Notification=actual, Subscriber=TOPIC
    )
    writes.clear()
    return stored_budget()


def test_a_changed_limit_is_one_update_budget_that_keeps_the_rest(managed_budget, writes):
    result = run_module("budget_alert", present(limit=8))
    assert result["changed"] is True
    assert result["differences"] == ["limit: 5.0 USD -> 8.0 USD"]
    assert writes == ["UpdateBudget"]  # not deleted and recreated: its history stays
    after = stored_budget()
    assert float(after["BudgetLimit"]["Amount"]) == 8.0
    for field in ("CostTypes", "TimePeriod", "TimeUnit", "BudgetType"):
        assert after[field] == managed_budget[field], field
    # notifications and every subscriber, SNS included, are untouched
    assert stored_subscribers()["ACTUAL"] == [
        TOPIC,
        {"SubscriptionType": "EMAIL", "Address": EMAIL},
    ]
    assert run_module("budget_alert", present(limit=8))["changed"] is False


def test_changed_e_mails_subscribe_and_unsubscribe_on_each_alert(managed_budget, writes):
    emails = ["new@example.com", "second@example.com"]
    result = run_module("budget_alert", present(emails=emails))
    assert result["changed"] is True
    for label in ("ACTUAL > 80%", "FORECASTED > 100%"):
        assert f"notification {label}: subscribe new@example.com" in result["differences"]
        assert f"notification {label}: unsubscribe {EMAIL}" in result["differences"]
    # adds come before removals: a notification whose last subscriber goes is deleted by AWS
    assert writes == ["CreateSubscriber"] * 2 + ["DeleteSubscriber"] + ["CreateSubscriber"] * 2 + [
        "DeleteSubscriber"
    ]
    addresses = {kind: [s["Address"] for s in subs] for kind, subs in stored_subscribers().items()}
    assert addresses == {"ACTUAL": [TOPIC["Address"], *emails], "FORECASTED": emails}
    assert run_module("budget_alert", present(emails=emails))["changed"] is False


def test_replacing_the_only_e_mail_keeps_the_notification(writes):
    run_module("budget_alert", present())
    run_module("budget_alert", present(emails=["new@example.com"]))
    assert set(stored_subscribers()) == {"ACTUAL", "FORECASTED"}
    assert all(
        subs == [{"SubscriptionType": "EMAIL", "Address": "new@example.com"}]
        for subs in stored_subscribers().values()
    )


def test_check_mode_reports_subscriber_changes_and_writes_nothing(managed_budget, writes):
    result = run_module("budget_alert", present(emails=["new@example.com"]), check_mode=True)
    assert result["changed"] is True
    assert "notification ACTUAL > 80%: subscribe new@example.com" in result["differences"]
    assert writes == []
    assert stored_subscribers()["FORECASTED"] == [{"SubscriptionType": "EMAIL", "Address": EMAIL}]


def test_limit_threshold_and_e_mail_change_together(managed_budget, writes):
    result = run_module(
        "budget_alert", present(limit=10, forecast_threshold=120, emails=["new@example.com"])
    )
    assert result["changed"] is True
    assert writes[0] == "UpdateBudget"
    assert "DeleteBudget" not in writes and "CreateBudget" not in writes
    subscribers = stored_subscribers()
    forecast = budgets().describe_notifications_for_budget(AccountId=ACCOUNT_ID, BudgetName=NAME)
    thresholds = {n["NotificationType"]: n["Threshold"] for n in forecast["Notifications"]}
    assert thresholds == {"ACTUAL": 80.0, "FORECASTED": 120.0}
    assert [s["Address"] for s in subscribers["FORECASTED"]] == ["new@example.com"]
    assert [s["Address"] for s in subscribers["ACTUAL"]] == [TOPIC["Address"], "new@example.com"]
    again = run_module(
        "budget_alert", present(limit=10, forecast_threshold=120, emails=["new@example.com"])
    )
    assert again["changed"] is False
