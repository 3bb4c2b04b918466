"""An existing budget changed by a rerun is updated in place on the emulator (embedded/budgets.py
served by embedded/server.py): UpdateBudget and the subscriber calls, never delete-and-recreate.
"""

from __future__ import annotations

import pytest
from harness import Emulator, Runner

pytestmark = pytest.mark.slow

ACCOUNT = "123456789012"
BUDGET = "taskstack-monthly-cost"
TOPIC = {"SubscriptionType": "SNS", "Address": "arn:aws:sns:us-east-1:123456789012:alerts"}


def addresses(budgets, notification: dict) -> list[str]:
    found = budgets.describe_subscribers_for_notification(
        AccountId=ACCOUNT, BudgetName=BUDGET, Notification=notification
    )["Subscribers"]
    return sorted(s["Address"] for s in found)


def test_limit_threshold_and_e_mail_changes_update_the_budget_in_place(
    runner: Runner, fresh_emulator: Emulator
):
    first = runner.playbook("playbooks/preflight.yml")
    assert first.returncode == 0, first.output[-3000:]
    budgets = fresh_emulator.client("budgets", region="us-east-1")
    (actual,) = [
        n
        for n in budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=BUDGET)[
            "Notifications"
        ]
        if n["NotificationType"] == "ACTUAL"
    ]
    # Added behind the module's back: a recreated budget would lose it.
    budgets.create_subscriber(
        AccountId=ACCOUNT, BudgetName=BUDGET, Notification=actual, Subscriber=TOPIC
    )

    changes = ("-e", "aws_budget_limit_usd=7", "-e", "aws_budget_forecast_threshold_percent=120")
    env = {"BUDGET_ALERT_EMAIL": "new@example.com"}
    second = runner.playbook("playbooks/preflight.yml", *changes, env=env)
    assert second.returncode == 0, second.output[-3000:]
    assert second.changed >= 1

    budget = budgets.describe_budget(AccountId=ACCOUNT, BudgetName=BUDGET)["Budget"]
    assert budget["BudgetLimit"] == {"Amount": "7.0", "Unit": "USD"}
    notifications = budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=BUDGET)[
        "Notifications"
    ]
    assert sorted((n["NotificationType"], n["Threshold"]) for n in notifications) == [
        ("ACTUAL", 80.0),
        ("FORECASTED", 120.0),
    ]
    for notification in notifications:
        expected = ["new@example.com"]
        if notification["NotificationType"] == "ACTUAL":
            expected = [TOPIC["Address"], "new@example.com"]
        assert addresses(budgets, notification) == expected

    third = runner.playbook("playbooks/preflight.yml", *changes, env=env)
    assert third.returncode == 0, third.output[-3000:]
    assert third.changed == 0, third.output[-3000:]
