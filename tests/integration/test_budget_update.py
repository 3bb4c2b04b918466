"""An existing budget changed by a rerun is updated in place on the emulator (embedded/budgets.py
served by embedded/server.py): UpdateBudget and the subscriber calls, never delete-and-recreate.

Before each change the budget is edited behind the project's back the way an account's owner
would: filters set in the Budgets console (the new FilterExpression/Metrics style, so that the
read answer holds both filter styles) and an SNS topic subscribed to the actual-spend alert.
A recreated budget would lose the topic; an UpdateBudget that sent the read answer back would be
refused ("Either FilterExpression and Metrics or CostFilters and CostTypes, not both").
"""

from __future__ import annotations

from typing import Any

import pytest
from emulator import PLACEHOLDER_ALERT_EMAIL
from harness import Emulator, Runner
from stack_testing import ACCOUNT

pytestmark = pytest.mark.slow

BUDGET = "taskstack-monthly-cost"
TOPIC = {"SubscriptionType": "SNS", "Address": "arn:aws:sns:us-east-1:123456789012:alerts"}
CONSOLE_FILTERS = {
    "FilterExpression": {"Dimensions": {"Key": "REGION", "Values": ["eu-west-3"]}},
    "Metrics": ["UnblendedCost"],
}
EMAIL_ENV = "BUDGET_ALERT_EMAIL"


def notifications(budgets) -> dict[str, dict[str, Any]]:
    found = budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=BUDGET)
    return {n["NotificationType"]: n for n in found["Notifications"]}


def addresses(budgets, notification: dict) -> list[str]:
    found = budgets.describe_subscribers_for_notification(
        AccountId=ACCOUNT, BudgetName=BUDGET, Notification=notification
    )["Subscribers"]
    return sorted(s["Address"] for s in found)


def edit_behind_the_projects_back(budgets) -> None:
    """Console filters on the budget and an SNS topic on its actual-spend alert (kept if there)."""
    read = budgets.describe_budget(AccountId=ACCOUNT, BudgetName=BUDGET)["Budget"]
    kept = ("BudgetName", "BudgetLimit", "TimeUnit", "BudgetType", "TimePeriod")
    budgets.update_budget(
        AccountId=ACCOUNT, NewBudget=dict({k: read[k] for k in kept}, **CONSOLE_FILTERS)
    )
    actual = notifications(budgets)["ACTUAL"]
    if TOPIC["Address"] not in addresses(budgets, actual):
        budgets.create_subscriber(
            AccountId=ACCOUNT, BudgetName=BUDGET, Notification=actual, Subscriber=TOPIC
        )


# Applied in this order, each on top of the ones before: one first converge for all three.
CHANGES = {
    "limit": (("-e", "aws_budget_limit_usd=20"), {}),
    # The forecast alert: a new actual threshold would be a new notification, without the topic.
    "threshold": (("-e", "aws_budget_forecast_threshold_percent=120"), {}),
    "e-mail": ((), {EMAIL_ENV: "new@example.com"}),
}


def test_each_changed_setting_updates_the_budget_in_place(runner: Runner, fresh_emulator: Emulator):
    first = runner.playbook("playbooks/preflight.yml")
    assert first.returncode == 0, first.output[-3000:]
    budgets = fresh_emulator.client("budgets", region="us-east-1")
    period = budgets.describe_budget(AccountId=ACCOUNT, BudgetName=BUDGET)["Budget"]["TimePeriod"]

    extra_vars: tuple[str, ...] = ()
    env: dict[str, str] = {}
    for change, (more_vars, more_env) in CHANGES.items():
        extra_vars, env = (*extra_vars, *more_vars), {**env, **more_env}
        edit_behind_the_projects_back(budgets)
        run = runner.playbook("playbooks/preflight.yml", *extra_vars, env=env)
        assert run.returncode == 0, "\n".join(run.error_lines()) or run.output[-3000:]
        assert run.changed >= 1, f"{change}: {run.output[-3000:]}"
        assert_budget_as_set(budgets, extra_vars, env, period)

    # Every compared field (limit, thresholds, subscribers) now equals the settings.
    again = runner.playbook("playbooks/preflight.yml", *extra_vars, env=env)
    assert again.returncode == 0, again.output[-3000:]
    assert again.changed == 0, again.output[-3000:]


def assert_budget_as_set(
    budgets, extra_vars: tuple[str, ...], env: dict[str, str], period: dict
) -> None:
    budget = budgets.describe_budget(AccountId=ACCOUNT, BudgetName=BUDGET)["Budget"]
    limit = "20.0" if "aws_budget_limit_usd=20" in extra_vars else "15.0"
    assert budget["BudgetLimit"] == {"Amount": limit, "Unit": "USD"}
    assert budget["TimePeriod"] == period
    found = notifications(budgets)
    forecast = 120.0 if "aws_budget_forecast_threshold_percent=120" in extra_vars else 100.0
    assert {kind: n["Threshold"] for kind, n in found.items()} == {
        "ACTUAL": 80.0,
        "FORECASTED": forecast,
    }
    email = env.get(EMAIL_ENV, PLACEHOLDER_ALERT_EMAIL)
    # The topic subscribed behind the project's back is still there: the same budget.
    assert addresses(budgets, found["ACTUAL"]) == sorted([TOPIC["Address"], email])
    assert addresses(budgets, found["FORECASTED"]) == [email]
