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


class Writes(list):
    """The names of the mutating Budgets operations sent, in order; beside them, the NewBudget
    of each UpdateBudget."""

    def __init__(self) -> None:
        super().__init__()
        self.new_budgets: list[dict[str, Any]] = []


@pytest.fixture
def writes(aws, monkeypatch: pytest.MonkeyPatch) -> Writes:
    """The mutating Budgets operations the module sends (recorded before moto)."""
    import botocore.client

    calls = Writes()
    original = botocore.client.BaseClient._make_api_call

    def record(self, operation_name, api_params):
        if operation_name in MUTATING:
            calls.append(operation_name)
        if operation_name == "UpdateBudget":
            calls.new_budgets.append(api_params["NewBudget"])
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return calls


# What the Budgets console writes today: the new filter style. The read answer then holds both
# styles (CostTypes comes back with its documented defaults).
CONSOLE_FILTERS = {
    "FilterExpression": {"Dimensions": {"Key": "REGION", "Values": ["eu-west-3"]}},
    "Metrics": ["UnblendedCost"],
}
OWNED = {"BudgetName", "BudgetLimit", "TimeUnit", "BudgetType"}


@pytest.fixture
def managed_budget(writes: Writes) -> dict[str, Any]:
    """A budget made by the module, then changed behind its back in what it does not own: its
    filters, as the console sets them, and an SNS subscriber on the actual-spend alert. Returns
    the stored budget."""
    run_module("budget_alert", present())
    client = budgets()
    changed = {k: v for k, v in stored_budget().items() if k in OWNED | {"TimePeriod"}}
    client.update_budget(AccountId=ACCOUNT_ID, NewBudget=dict(changed, **CONSOLE_FILTERS))
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
    writes.new_budgets.clear()
    return stored_budget()


def test_a_changed_limit_is_one_update_budget_of_the_owned_fields(managed_budget, writes):
    assert "Metrics" in managed_budget and "CostTypes" in managed_budget  # both styles read
    result = run_module("budget_alert", present(limit=8))
    assert result.get("changed") is True, result.get("msg")
    assert result["differences"] == ["limit: 5.0 USD -> 8.0 USD"]
    assert writes == ["UpdateBudget"]  # not deleted and recreated: its history stays
    assert [set(new) for new in writes.new_budgets] == [OWNED]  # never the read answer echoed
    after = stored_budget()
    assert float(after["BudgetLimit"]["Amount"]) == 8.0
    for field in ("TimePeriod", "TimeUnit", "BudgetType"):
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


def test_members_only_aws_sets_are_never_sent_back(writes, monkeypatch):
    """A read answer with the members newer API versions add (billing views): HealthStatus is
    AWS's to set, UpdateBudget refuses it."""
    import botocore.client

    run_module("budget_alert", present())

    original = botocore.client.BaseClient._make_api_call

    def newer_answer(self, operation_name, api_params):
        answer = original(self, operation_name, api_params)
        if operation_name == "DescribeBudget":
            answer["Budget"].update(
                BillingViewArn=f"arn:aws:billing::{ACCOUNT_ID}:billingview/primary",
                HealthStatus={"Status": "HEALTHY"},
            )
        return answer

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", newer_answer)
    result = run_module("budget_alert", present(limit=9))
    assert result.get("changed") is True, result.get("msg")
    assert [set(new) for new in writes.new_budgets] == [OWNED]
    assert float(stored_budget()["BudgetLimit"]["Amount"]) == 9.0
