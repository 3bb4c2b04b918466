"""The Budgets calls embedded/budgets.py adds to moto, through boto3, against AWS's documentation.

Every error code asserted here is also checked to be one botocore's service model lists for that
operation, so the emulator never answers an error AWS cannot send.
"""

from __future__ import annotations

import calendar
import datetime
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import Config
from botocore.exceptions import ClientError
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "embedded"))
import budgets as embedded_budgets  # noqa: E402 - embedded/ is found through sys.path

ACCOUNT_ID = "123456789012"  # moto's default account

NAME = "taskstack-monthly"
EMAIL = "ops@example.com"
ACTUAL_80 = {
    "NotificationType": "ACTUAL",
    "ComparisonOperator": "GREATER_THAN",
    "Threshold": 80.0,
    "ThresholdType": "PERCENTAGE",
}
FORECAST_100 = dict(ACTUAL_80, NotificationType="FORECASTED", Threshold=100.0)


def email(address: str = EMAIL) -> dict[str, str]:
    return {"SubscriptionType": "EMAIL", "Address": address}


def cost_budget(**extra: Any) -> dict[str, Any]:
    return dict(
        {
            "BudgetName": NAME,
            "BudgetLimit": {"Amount": "5.0", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        },
        **extra,
    )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    """moto in process with the emulator's Budgets calls installed, as embedded/server.py runs."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    embedded_budgets.install()
    with mock_aws():
        yield


@pytest.fixture
def client(aws):
    return boto3.client("budgets", region_name="us-east-1")


@pytest.fixture
def unchecked(aws):
    """A client that sends what botocore would refuse, as a raw HTTP client could."""
    return boto3.client(
        "budgets", region_name="us-east-1", config=Config(parameter_validation=False)
    )


@pytest.fixture
def budget(client) -> dict[str, Any]:
    """A monthly 5 USD budget with one ACTUAL > 80% alert to EMAIL; returns what was sent."""
    sent = cost_budget()
    client.create_budget(
        AccountId=ACCOUNT_ID,
        Budget=sent,
        NotificationsWithSubscribers=[{"Notification": ACTUAL_80, "Subscribers": [email()]}],
    )
    return sent


def fails_with(client, operation: str, code: str, call: Callable[[], Any]) -> str:
    """Run ``call``, expect AWS error ``code`` (documented for ``operation``); its message."""
    documented = {
        shape.name for shape in client.meta.service_model.operation_model(operation).error_shapes
    }
    assert code in documented, f"{code} is not an error AWS documents for {operation}"
    with pytest.raises(ClientError) as raised:
        call()
    assert raised.value.response["Error"]["Code"] == code
    return raised.value.response["Error"]["Message"]


def stored(client) -> dict[str, Any]:
    return client.describe_budget(AccountId=ACCOUNT_ID, BudgetName=NAME)["Budget"]


def subscribers(client, notification: dict[str, Any] = ACTUAL_80) -> list[dict[str, str]]:
    return client.describe_subscribers_for_notification(
        AccountId=ACCOUNT_ID, BudgetName=NAME, Notification=notification
    )["Subscribers"]


def notifications(client) -> list[dict[str, Any]]:
    return client.describe_notifications_for_budget(AccountId=ACCOUNT_ID, BudgetName=NAME)[
        "Notifications"
    ]


def test_install_twice_changes_nothing(client, budget):
    embedded_budgets.install()
    assert subscribers(client) == [email()]


# ---------------------------------------------------------------- UpdateBudget


def test_update_budget_replaces_the_limit_and_keeps_the_rest(client, budget):
    before = stored(client)
    new = {k: v for k, v in before.items() if k not in ("CalculatedSpend", "LastUpdatedTime")}
    new["BudgetLimit"] = {"Amount": "9.0", "Unit": "USD"}
    client.update_budget(AccountId=ACCOUNT_ID, NewBudget=new)
    after = stored(client)
    assert after["BudgetLimit"] == {"Amount": "9.0", "Unit": "USD"}
    for field in ("TimeUnit", "BudgetType", "CostTypes", "TimePeriod"):
        assert after[field] == before[field]
    assert after["LastUpdatedTime"] >= before["LastUpdatedTime"]
    # "the calculatedSpend drops to zero until AWS has new usage data"
    assert after["CalculatedSpend"]["ActualSpend"]["Amount"] == "0"
    # notifications and their subscribers belong to the budget, not to UpdateBudget
    assert notifications(client) == [ACTUAL_80]
    assert subscribers(client) == [email()]


def test_update_budget_ignores_calculated_spend(client, budget):
    spent = {"ActualSpend": {"Amount": "3", "Unit": "USD"}}
    client.update_budget(AccountId=ACCOUNT_ID, NewBudget=cost_budget(CalculatedSpend=spent))
    assert stored(client)["CalculatedSpend"]["ActualSpend"]["Amount"] == "0"


def test_update_budget_to_another_time_unit_starts_a_new_period(client, budget):
    client.update_budget(AccountId=ACCOUNT_ID, NewBudget=cost_budget(TimeUnit="ANNUALLY"))
    start = stored(client)["TimePeriod"]["Start"]
    year = datetime.datetime.now(datetime.UTC).year
    assert calendar.timegm(start.utctimetuple()) == calendar.timegm((year, 1, 1, 0, 0, 0))


def test_update_budget_of_an_unknown_budget_is_not_found(client, budget):
    message = fails_with(
        client,
        "UpdateBudget",
        "NotFoundException",
        lambda: client.update_budget(
            AccountId=ACCOUNT_ID, NewBudget=cost_budget(BudgetName="renamed")
        ),
    )
    assert "renamed" in message


@pytest.mark.parametrize(
    "extra",
    [
        {"FilterExpression": {"Dimensions": {"Key": "SERVICE", "Values": ["EC2"]}}},
        {"Metrics": ["UnblendedCost"]},
    ],
)
@pytest.mark.parametrize(
    "old_style",
    [
        {"CostTypes": {"IncludeTax": True}},
        {"CostFilters": {"Service": ["Amazon Elastic Compute Cloud - Compute"]}},
    ],
)
def test_update_budget_refuses_both_filter_styles(client, budget, extra, old_style):
    # "Either FilterExpression and Metrics or CostFilters and CostTypes, not both"
    message = fails_with(
        client,
        "UpdateBudget",
        "InvalidParameterException",
        lambda: client.update_budget(
            AccountId=ACCOUNT_ID, NewBudget=cost_budget(**extra, **old_style)
        ),
    )
    assert "not both" in message


def test_update_budget_accepts_the_new_filter_style_alone(client, budget):
    new = cost_budget(
        FilterExpression={"Dimensions": {"Key": "SERVICE", "Values": ["EC2"]}},
        Metrics=["UnblendedCost"],
    )
    client.update_budget(AccountId=ACCOUNT_ID, NewBudget=new)
    assert stored(client)["Metrics"] == ["UnblendedCost"]


def test_create_budget_refuses_both_filter_styles(client):
    # CreateBudget documents the same rule as UpdateBudget
    both = cost_budget(Metrics=["UnblendedCost"], CostTypes={"IncludeTax": True})
    message = fails_with(
        client,
        "CreateBudget",
        "InvalidParameterException",
        lambda: client.create_budget(AccountId=ACCOUNT_ID, Budget=both),
    )
    assert "not both" in message


def test_a_budget_read_back_is_not_a_valid_new_budget(client, budget):
    # The read answer of a COST budget carries CostTypes (their documented defaults) even when it
    # was set up with Metrics: sent back as it is, it mixes both filter styles.
    client.update_budget(AccountId=ACCOUNT_ID, NewBudget=cost_budget(Metrics=["UnblendedCost"]))
    read = stored(client)
    assert "CostTypes" in read and "Metrics" in read
    echoed = {k: v for k, v in read.items() if k not in embedded_budgets.NOT_STORED_ON_UPDATE}
    fails_with(
        client,
        "UpdateBudget",
        "InvalidParameterException",
        lambda: client.update_budget(AccountId=ACCOUNT_ID, NewBudget=echoed),
    )


def test_update_budget_refuses_the_read_only_health_status(client, budget):
    health = {"Status": "HEALTHY"}
    message = fails_with(
        client,
        "UpdateBudget",
        "InvalidParameterException",
        lambda: client.update_budget(
            AccountId=ACCOUNT_ID, NewBudget=cost_budget(HealthStatus=health)
        ),
    )
    assert "HealthStatus" in message


def test_update_budget_refuses_members_aws_does_not_define(client, budget):
    # botocore cannot even serialize them; a raw HTTP client (here: the body rewritten just
    # before it is signed) reaches the service with them.
    def add_member(request, **_kwargs) -> None:
        body = json.loads(request.body)
        body["NewBudget"]["Owner"] = "someone"
        request.data = json.dumps(body).encode()

    client.meta.events.register("before-sign.budgets.UpdateBudget", add_member)
    message = fails_with(
        client,
        "UpdateBudget",
        "InvalidParameterException",
        lambda: client.update_budget(AccountId=ACCOUNT_ID, NewBudget=cost_budget()),
    )
    assert "Owner" in message


def test_the_emulator_knows_every_member_of_botocores_budget(client):
    members = client.meta.service_model.shape_for("Budget").members
    assert set(embedded_budgets.BUDGET_MEMBERS) == set(members)


def test_update_budget_refuses_a_limit_and_planned_limits(client, budget):
    planned = {"1735689600": {"Amount": "5", "Unit": "USD"}}
    fails_with(
        client,
        "UpdateBudget",
        "InvalidParameterException",
        lambda: client.update_budget(
            AccountId=ACCOUNT_ID, NewBudget=cost_budget(PlannedBudgetLimits=planned)
        ),
    )


@pytest.mark.parametrize("missing", ["BudgetLimit", "BudgetType", "TimeUnit"])
def test_update_budget_needs_its_required_fields(client, unchecked, budget, missing):
    # BudgetLimit is "required for cost or usage budgets"; botocore itself refuses a NewBudget
    # without BudgetType or TimeUnit, a raw HTTP client (``unchecked``) does not.
    new = {k: v for k, v in cost_budget().items() if k != missing}
    fails_with(
        client,
        "UpdateBudget",
        "InvalidParameterException",
        lambda: unchecked.update_budget(AccountId=ACCOUNT_ID, NewBudget=new),
    )


# ---------------------------------------------------------------- DescribeSubscribersForNotif.


def test_describe_subscribers_matches_a_notification_as_aws_names_it(client, budget):
    # NotificationState is AWS's output; a notification without ThresholdType is a percentage
    named = {k: v for k, v in ACTUAL_80.items() if k != "ThresholdType"}
    assert subscribers(client, dict(named, NotificationState="OK")) == [email()]


def test_describe_subscribers_pages_through_every_subscriber(client, budget):
    for address in ("b@example.com", "c@example.com"):
        client.create_subscriber(
            AccountId=ACCOUNT_ID, BudgetName=NAME, Notification=ACTUAL_80, Subscriber=email(address)
        )
    first = client.describe_subscribers_for_notification(
        AccountId=ACCOUNT_ID, BudgetName=NAME, Notification=ACTUAL_80, MaxResults=2
    )
    assert len(first["Subscribers"]) == 2
    assert first["NextToken"]
    pages = client.get_paginator("describe_subscribers_for_notification").paginate(
        AccountId=ACCOUNT_ID,
        BudgetName=NAME,
        Notification=ACTUAL_80,
        PaginationConfig={"PageSize": 1},
    )
    found = [s["Address"] for page in pages for s in page["Subscribers"]]
    assert found == [EMAIL, "b@example.com", "c@example.com"]


def test_describe_subscribers_refuses_a_made_up_token(client, budget):
    fails_with(
        client,
        "DescribeSubscribersForNotification",
        "InvalidNextTokenException",
        lambda: client.describe_subscribers_for_notification(
            AccountId=ACCOUNT_ID, BudgetName=NAME, Notification=ACTUAL_80, NextToken="x"
        ),
    )


def test_describe_subscribers_refuses_more_than_100_per_page(client, unchecked, budget):
    fails_with(
        client,
        "DescribeSubscribersForNotification",
        "InvalidParameterException",
        lambda: unchecked.describe_subscribers_for_notification(
            AccountId=ACCOUNT_ID, BudgetName=NAME, Notification=ACTUAL_80, MaxResults=101
        ),
    )


@pytest.mark.parametrize(
    ("budget_name", "notification"), [("missing", ACTUAL_80), (NAME, FORECAST_100)]
)
def test_describe_subscribers_of_an_unknown_budget_or_notification(
    client, budget, budget_name, notification
):
    fails_with(
        client,
        "DescribeSubscribersForNotification",
        "NotFoundException",
        lambda: client.describe_subscribers_for_notification(
            AccountId=ACCOUNT_ID, BudgetName=budget_name, Notification=notification
        ),
    )


# ---------------------------------------------------------------- CreateSubscriber


def subscriber_call(operation: str, client, subscriber: dict[str, str], **where: Any):
    """CreateSubscriber or DeleteSubscriber on the ACTUAL > 80% alert unless ``where`` says."""
    arguments = dict({"BudgetName": NAME, "Notification": ACTUAL_80}, **where)
    call = getattr(client, operation)
    return lambda: call(AccountId=ACCOUNT_ID, Subscriber=subscriber, **arguments)


def create_subscriber(client, subscriber: dict[str, str], **where: Any) -> Callable[[], Any]:
    return subscriber_call("create_subscriber", client, subscriber, **where)


def test_create_subscriber_adds_one(client, budget):
    create_subscriber(client, email("new@example.com"))()
    sns = {"SubscriptionType": "SNS", "Address": "arn:aws:sns:us-east-1:123456789012:alerts"}
    create_subscriber(client, sns)()
    assert subscribers(client) == [email(), email("new@example.com"), sns]


def test_create_subscriber_twice_is_a_duplicate(client, budget):
    fails_with(
        client, "CreateSubscriber", "DuplicateRecordException", create_subscriber(client, email())
    )


def test_create_subscriber_beyond_ten_e_mails_is_refused(client, budget):
    for number in range(9):
        create_subscriber(client, email(f"ops{number}@example.com"))()
    assert len(subscribers(client)) == 10
    fails_with(
        client,
        "CreateSubscriber",
        "CreationLimitExceededException",
        create_subscriber(client, email("eleventh@example.com")),
    )


def test_create_subscriber_beyond_one_sns_topic_is_refused(client, budget):
    topic = "arn:aws:sns:us-east-1:123456789012:"
    create_subscriber(client, {"SubscriptionType": "SNS", "Address": topic + "a"})()
    fails_with(
        client,
        "CreateSubscriber",
        "CreationLimitExceededException",
        create_subscriber(client, {"SubscriptionType": "SNS", "Address": topic + "b"}),
    )


@pytest.mark.parametrize(
    "subscriber",
    [
        email("ops@example.com\nBcc: someone@example.com"),  # "can't contain line breaks"
        {"SubscriptionType": "SMS", "Address": "+33100000000"},
    ],
)
def test_create_subscriber_refuses_an_invalid_subscriber(client, budget, subscriber):
    fails_with(
        client,
        "CreateSubscriber",
        "InvalidParameterException",
        create_subscriber(client, subscriber),
    )


@pytest.mark.parametrize(
    "where", [{"BudgetName": "missing"}, {"Notification": FORECAST_100}], ids=["budget", "alert"]
)
def test_create_subscriber_needs_the_budget_and_the_notification(client, budget, where):
    fails_with(
        client,
        "CreateSubscriber",
        "NotFoundException",
        create_subscriber(client, email("new@example.com"), **where),
    )


# ---------------------------------------------------------------- DeleteSubscriber


def delete_subscriber(client, subscriber: dict[str, str], **where: Any) -> Callable[[], Any]:
    return subscriber_call("delete_subscriber", client, subscriber, **where)


def test_delete_subscriber_removes_one(client, budget):
    create_subscriber(client, email("new@example.com"))()
    delete_subscriber(client, email())()
    assert subscribers(client) == [email("new@example.com")]


def test_deleting_the_last_subscriber_deletes_the_notification(client, budget):
    # DeleteSubscriber: "Deleting the last subscriber to a notification also deletes the
    # notification."
    delete_subscriber(client, email())()
    assert notifications(client) == []


@pytest.mark.parametrize(
    ("subscriber", "where"),
    [
        (email("stranger@example.com"), {}),
        (email(), {"BudgetName": "missing"}),
        (email(), {"Notification": FORECAST_100}),
    ],
    ids=["subscriber", "budget", "alert"],
)
def test_delete_subscriber_of_something_unknown_is_not_found(client, budget, subscriber, where):
    fails_with(
        client,
        "DeleteSubscriber",
        "NotFoundException",
        delete_subscriber(client, subscriber, **where),
    )


# ---------------------------------------------------------------- notifications, as AWS checks them


def create_notification(client, notification: dict[str, Any], **where: Any):
    arguments = dict({"BudgetName": NAME, "Subscribers": [email()]}, **where)
    return lambda: client.create_notification(
        AccountId=ACCOUNT_ID, Notification=notification, **arguments
    )


def test_create_notification_twice_is_a_duplicate(client, budget):
    fails_with(
        client,
        "CreateNotification",
        "DuplicateRecordException",
        create_notification(client, dict(ACTUAL_80, Threshold=80)),
    )


def test_a_budget_has_at_most_ten_notifications(client, budget):
    for threshold in range(1, 10):
        create_notification(client, dict(ACTUAL_80, Threshold=float(threshold)))()
    fails_with(
        client,
        "CreateNotification",
        "CreationLimitExceededException",
        create_notification(client, FORECAST_100),
    )


def test_create_notification_with_eleven_e_mails_is_refused(client, unchecked, budget):
    many = [email(f"ops{number}@example.com") for number in range(11)]
    fails_with(
        client,
        "CreateNotification",
        "CreationLimitExceededException",
        create_notification(unchecked, FORECAST_100, Subscribers=many),
    )


def test_create_notification_on_an_unknown_budget_is_not_found(client, budget):
    fails_with(
        client,
        "CreateNotification",
        "NotFoundException",
        create_notification(client, FORECAST_100, BudgetName="missing"),
    )


def test_delete_notification_takes_its_subscribers_along(client, budget):
    client.delete_notification(AccountId=ACCOUNT_ID, BudgetName=NAME, Notification=ACTUAL_80)
    assert notifications(client) == []
    create_notification(client, ACTUAL_80, Subscribers=[email("new@example.com")])()
    assert subscribers(client) == [email("new@example.com")]


def test_delete_notification_of_an_unknown_one_is_not_found(client, budget):
    fails_with(
        client,
        "DeleteNotification",
        "NotFoundException",
        lambda: client.delete_notification(
            AccountId=ACCOUNT_ID, BudgetName=NAME, Notification=FORECAST_100
        ),
    )


def test_describe_notifications_of_an_unknown_budget_is_not_found(client, budget):
    fails_with(
        client,
        "DescribeNotificationsForBudget",
        "NotFoundException",
        lambda: client.describe_notifications_for_budget(
            AccountId=ACCOUNT_ID, BudgetName="missing"
        ),
    )


def test_create_budget_refuses_the_same_notification_twice(client):
    twice = [{"Notification": ACTUAL_80, "Subscribers": [email()]}] * 2
    fails_with(
        client,
        "CreateBudget",
        "DuplicateRecordException",
        lambda: client.create_budget(
            AccountId=ACCOUNT_ID, Budget=cost_budget(), NotificationsWithSubscribers=twice
        ),
    )


# ---------------------------------------------------------------- tags (ResourceTags)

ARN = f"arn:aws:budgets::{ACCOUNT_ID}:budget/{NAME}"
PROJECT_TAGS = [{"Key": "Project", "Value": "taskstack"}, {"Key": "ManagedBy", "Value": "ansible"}]


def tags_of(client, arn: str = ARN) -> dict[str, str]:
    found = client.list_tags_for_resource(ResourceARN=arn)["ResourceTags"]
    return {tag["Key"]: tag["Value"] for tag in found}


def test_create_budget_keeps_its_resource_tags(client):
    client.create_budget(AccountId=ACCOUNT_ID, Budget=cost_budget(), ResourceTags=PROJECT_TAGS)
    assert tags_of(client) == {"Project": "taskstack", "ManagedBy": "ansible"}


def test_tag_and_untag_resource_change_the_budgets_tags(client, budget):
    assert tags_of(client) == {}
    client.tag_resource(ResourceARN=ARN, ResourceTags=PROJECT_TAGS)
    client.untag_resource(ResourceARN=ARN, ResourceTagKeys=["ManagedBy"])
    assert tags_of(client) == {"Project": "taskstack"}


def test_the_tags_go_with_the_budget(client):
    client.create_budget(AccountId=ACCOUNT_ID, Budget=cost_budget(), ResourceTags=PROJECT_TAGS)
    client.delete_budget(AccountId=ACCOUNT_ID, BudgetName=NAME)
    client.create_budget(AccountId=ACCOUNT_ID, Budget=cost_budget())
    assert tags_of(client) == {}


def test_tags_of_an_unknown_budget_are_not_found(client):
    fails_with(client, "ListTagsForResource", "NotFoundException", lambda: tags_of(client))


@pytest.mark.parametrize(
    "arn", ["taskstack", f"arn:aws:ec2:eu-west-3:{ACCOUNT_ID}:key-pair/key-0123456789abcdef0"]
)
def test_a_resource_that_is_not_a_budget_is_refused(client, budget, arn):
    fails_with(
        client, "ListTagsForResource", "InvalidParameterException", lambda: tags_of(client, arn)
    )


@pytest.mark.parametrize(
    "tag",
    [
        pytest.param({"Key": "aws:createdBy", "Value": "x"}, id="reserved-prefix"),
        pytest.param({"Key": "Project", "Value": "x" * 257}, id="value-too-long"),
    ],
)
def test_tag_resource_refuses_what_resource_tag_forbids(client, unchecked, budget, tag):
    fails_with(
        client,
        "TagResource",
        "InvalidParameterException",
        lambda: unchecked.tag_resource(ResourceARN=ARN, ResourceTags=[tag]),
    )
