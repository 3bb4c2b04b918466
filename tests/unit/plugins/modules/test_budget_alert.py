"""budget_alert against moto in process.

moto 5.2 lacks UpdateBudget and the subscriber calls; the ``aws`` fixture adds them the way AWS
documents them (embedded/budgets.py, as the embedded emulator does), so every test runs the path
taken on real AWS. ``full_budgets_api`` records which of those calls the module made.
"""

from __future__ import annotations

import json

import boto3
import pytest
from ansible_collections.taskstack.aws.tests.unit.module_runner import ACCOUNT_ID, run_module

NAME = "taskstack-monthly"
EMAIL = "ops@example.com"


def budgets():
    return boto3.client("budgets", region_name="us-east-1")


def stored_budget(name: str = NAME) -> dict:
    return budgets().describe_budget(AccountId=ACCOUNT_ID, BudgetName=name)["Budget"]


def stored_notifications(name: str = NAME) -> set[tuple]:
    found = budgets().describe_notifications_for_budget(AccountId=ACCOUNT_ID, BudgetName=name)
    return {(n["NotificationType"], n["Threshold"]) for n in found["Notifications"]}


def budget_names() -> list[str]:
    return [b["BudgetName"] for b in budgets().describe_budgets(AccountId=ACCOUNT_ID)["Budgets"]]


def present(**extra) -> dict:
    return dict({"name": NAME, "emails": [EMAIL]}, **extra)


def make_budget(name: str, limit: str, notifications: list[tuple[str, float, str]]) -> None:
    """A budget created behind the module's back: (type, threshold, threshold type) alerts."""
    budgets().create_budget(
        AccountId=ACCOUNT_ID,
        Budget={
            "BudgetName": name,
            "BudgetLimit": {"Amount": limit, "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        },
        NotificationsWithSubscribers=[
            {
                "Notification": {
                    "NotificationType": kind,
                    "ComparisonOperator": "GREATER_THAN",
                    "Threshold": threshold,
                    "ThresholdType": threshold_type,
                },
                "Subscribers": [{"SubscriptionType": "EMAIL", "Address": EMAIL}],
            }
            for kind, threshold, threshold_type in notifications
        ],
    )


@pytest.fixture
def full_budgets_api(aws, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the UpdateBudget, subscriber and DeleteBudget calls made, in order."""
    from moto.budgets.responses import BudgetsResponse

    calls: list[str] = []

    def recorded(name: str):
        original = getattr(BudgetsResponse, name)

        def record(self):
            calls.append(name)
            return original(self)

        return record

    for name in ("update_budget", "create_subscriber", "delete_subscriber", "delete_budget"):
        monkeypatch.setattr(BudgetsResponse, name, recorded(name))
    return calls


# ---------------------------------------------------------------- present


def test_check_mode_predicts_creation_without_creating(aws):
    result = run_module("budget_alert", present(), check_mode=True)
    assert result["changed"] is True
    assert result["differences"][0] == f"create budget {NAME!r}"
    assert result["budget"]["limit"] == 5.0
    assert budget_names() == []


def test_create_then_second_run_unchanged(aws):
    result = run_module("budget_alert", present())
    assert result["changed"] is True
    assert result["account_id"] == ACCOUNT_ID
    stored = stored_budget()
    assert (float(stored["BudgetLimit"]["Amount"]), stored["TimeUnit"], stored["BudgetType"]) == (
        5.0,
        "MONTHLY",
        "COST",
    )
    assert stored_notifications() == {("ACTUAL", 80.0), ("FORECASTED", 100.0)}

    again = run_module("budget_alert", present())
    assert again["changed"] is False
    assert again["differences"] == []
    # the subscribers are read and compared (moto alone could not list them)
    assert [n["subscribers"] for n in again["budget"]["notifications"]] == [[EMAIL], [EMAIL]]
    assert "DescribeSubscribersForNotification" not in json.dumps(again.get("warnings", []))


def test_update_limit_and_threshold_on_emulator(aws):
    run_module("budget_alert", present())
    result = run_module("budget_alert", present(limit=7.5, actual_threshold=50))
    assert result["changed"] is True
    assert "limit: 5.0 USD -> 7.5 USD" in result["differences"]
    assert "add notification ACTUAL > 50%" in result["differences"]
    assert "remove notification ACTUAL > 80%" in result["differences"]
    assert float(stored_budget()["BudgetLimit"]["Amount"]) == 7.5
    assert stored_notifications() == {("ACTUAL", 50.0), ("FORECASTED", 100.0)}
    assert run_module("budget_alert", present(limit=7.5, actual_threshold=50))["changed"] is False


def test_threshold_change_alone_reconciles_notifications(aws):
    run_module("budget_alert", present())
    result = run_module("budget_alert", present(forecast_threshold=120))
    assert result["differences"] == [
        "remove notification FORECASTED > 100%",
        "add notification FORECASTED > 120%",
    ]
    assert stored_notifications() == {("ACTUAL", 80.0), ("FORECASTED", 120.0)}


def test_check_mode_update_reports_diff_and_changes_nothing(aws):
    run_module("budget_alert", present())
    result = run_module("budget_alert", present(limit=9), check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["differences"] == ["limit: 5.0 USD -> 9.0 USD"]
    assert result["diff"]["before"]["limit"] == 5.0
    assert result["diff"]["after"]["limit"] == 9.0
    assert float(stored_budget()["BudgetLimit"]["Amount"]) == 5.0


def test_real_aws_path_updates_in_place_and_reconciles_subscribers(full_budgets_api):
    run_module("budget_alert", present())
    same = run_module("budget_alert", present())
    assert same["changed"] is False
    assert same["budget"]["notifications"][0]["subscribers"] == [EMAIL]

    result = run_module("budget_alert", present(limit=6, emails=["new@example.com"]))
    assert result["changed"] is True
    assert "notification ACTUAL > 80%: subscribe new@example.com" in result["differences"]
    assert f"notification ACTUAL > 80%: unsubscribe {EMAIL}" in result["differences"]
    assert "update_budget" in full_budgets_api
    assert "delete_budget" not in full_budgets_api  # updated in place, history kept
    assert full_budgets_api.count("create_subscriber") == 2
    assert full_budgets_api.count("delete_subscriber") == 2
    assert float(stored_budget()["BudgetLimit"]["Amount"]) == 6.0

    final = run_module("budget_alert", present(limit=6, emails=["new@example.com"]))
    assert final["changed"] is False
    subscribers = {
        n["notification_type"]: n["subscribers"] for n in final["budget"]["notifications"]
    }
    assert subscribers == {"ACTUAL": ["new@example.com"], "FORECASTED": ["new@example.com"]}


def test_a_usage_budget_of_the_same_name_is_not_taken_over(aws):
    budgets().create_budget(
        AccountId=ACCOUNT_ID,
        Budget={
            "BudgetName": NAME,
            "BudgetLimit": {"Amount": "100", "Unit": "GBP"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "USAGE",
        },
    )
    result = run_module("budget_alert", present())
    assert result["failed"] is True
    assert result["msg"] == (
        f"Budget {NAME!r} exists but is a USAGE budget, not a COST one: "
        "delete it or choose another name"
    )


def test_budgets_calls_go_to_us_east_1_whatever_the_region(aws):
    result = run_module("budget_alert", present(region="ap-southeast-2"))
    assert result["changed"] is True
    assert stored_notifications()  # visible through the us-east-1 endpoint


# ---------------------------------------------------------------- absent


def test_absent_deletes_then_is_unchanged(aws):
    run_module("budget_alert", present())
    check = run_module("budget_alert", {"name": NAME, "state": "absent"}, check_mode=True)
    assert check["changed"] is True
    assert budget_names() == [NAME]

    result = run_module("budget_alert", {"name": NAME, "state": "absent"}, diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"]["name"] == NAME
    assert budget_names() == []
    assert run_module("budget_alert", {"name": NAME, "state": "absent"})["changed"] is False


# ---------------------------------------------------------------- audit


def test_audit_passes_on_the_managed_budget(aws):
    run_module("budget_alert", present())
    result = run_module("budget_alert", {"name": NAME, "state": "audit"})
    assert result.get("failed") is not True
    assert result["changed"] is False
    assert result["matched_budget"] == NAME


def test_audit_fails_without_budget_and_creates_nothing(aws):
    result = run_module("budget_alert", {"name": NAME, "state": "audit"})
    assert result["failed"] is True
    assert "No monthly COST budget alerts on actual spend at or below 4 USD" in result["msg"]
    assert f"{NAME!r} does not exist" in result["msg"]
    assert "\n" not in result["msg"]
    assert budget_names() == []


def test_audit_accepts_another_budget_that_is_at_least_as_strict(aws):
    make_budget("company-wide", "10", [("ACTUAL", 40.0, "PERCENTAGE")])  # fires at 4 USD
    result = run_module("budget_alert", {"name": NAME, "state": "audit"})
    assert result.get("failed") is not True
    assert result["matched_budget"] == "company-wide"


def test_audit_rejects_a_too_loose_budget(aws):
    make_budget(NAME, "50", [("ACTUAL", 80.0, "PERCENTAGE"), ("FORECASTED", 100.0, "PERCENTAGE")])
    result = run_module("budget_alert", {"name": NAME, "state": "audit"})
    assert result["failed"] is True
    assert f"{NAME!r} alerts only at 40 USD" in result["msg"]


def test_audit_needs_an_actual_spend_alert(aws):
    make_budget(NAME, "5", [("FORECASTED", 50.0, "PERCENTAGE")])
    result = run_module("budget_alert", {"name": NAME, "state": "audit"})
    assert result["failed"] is True
    assert "has no actual-spend alert" in result["msg"]


# ---------------------------------------------------------------- refused before any call


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"limit": 0}, "limit must be greater than 0 (got 0.0)"),
        ({"limit": -3}, "limit must be greater than 0 (got -3.0)"),
        ({"emails": ["not-an-address"]}, "invalid e-mail address 'not-an-address'"),
        ({"emails": ["ops@example"]}, "invalid e-mail address 'ops@example'"),
        ({"actual_threshold": 0}, "actual_threshold must be a percentage in (0, 1000]"),
        ({"forecast_threshold": 1001}, "forecast_threshold must be a percentage in (0, 1000]"),
        ({"currency": "usd"}, "currency must be three upper-case letters"),
        ({"name": "a:b"}, "name 'a:b' is not valid"),
    ],
)
def test_bad_values_fail_before_any_aws_call(no_aws_calls, args, expected):
    result = run_module("budget_alert", present(**args))
    assert result["failed"] is True
    assert expected in result["msg"]
    assert "\n" not in result["msg"]


def test_present_requires_emails(no_aws_calls):
    result = run_module("budget_alert", {"name": NAME})
    assert result["failed"] is True
    assert "emails" in result["msg"]


# ---------------------------------------------------------------- access denied (moto's IAM)


def test_budgets_json_access_denied_names_view_permission(aws, aws_error):
    # what real AWS Budgets answers (moto's IAM layer answers in XML, see the tests below)
    aws_error("DescribeBudget", "AccessDeniedException", status=400)
    result = run_module("budget_alert", present())
    assert result["failed"] is True
    assert "budgets:ViewBudget" in result["msg"]


def test_read_denied_names_view_permission(restricted_credentials):
    keys = restricted_credentials(["sts:GetCallerIdentity"])
    result = run_module("budget_alert", present(**keys))
    assert result["failed"] is True
    assert result["msg"].startswith(f"Access denied while trying to read budget {NAME!r}")
    assert "budgets:ViewBudget" in result["msg"]


def test_write_denied_names_modify_permission(restricted_credentials):
    keys = restricted_credentials(["sts:GetCallerIdentity", "budgets:Describe*"])
    result = run_module("budget_alert", present(**keys))
    assert result["failed"] is True
    assert "budgets:ModifyBudget" in result["msg"]
    restricted = boto3.client(
        "budgets",
        region_name="us-east-1",
        aws_access_key_id=keys["access_key"],
        aws_secret_access_key=keys["secret_key"],
    )
    assert restricted.describe_budgets(AccountId=ACCOUNT_ID)["Budgets"] == []


def test_sts_denied_names_get_caller_identity(aws, aws_error):
    # moto never denies GetCallerIdentity (AWS rarely does: only SCPs or endpoint policies can)
    aws_error("GetCallerIdentity", "AccessDenied")
    result = run_module("budget_alert", present())
    assert result["failed"] is True
    assert "sts:GetCallerIdentity" in result["msg"]


def test_account_id_option_skips_sts(restricted_credentials):
    keys = restricted_credentials(["budgets:*"])
    result = run_module("budget_alert", present(account_id=ACCOUNT_ID, **keys))
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is True
