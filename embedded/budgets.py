"""AWS Budgets calls moto 5.2 lacks, added to moto the way AWS documents them.

moto keeps each budget as the dict it was given plus its notifications and their subscribers,
but it has no UpdateBudget and no subscriber calls, and it matches notifications by exact dict
equality without AWS's checks. `install()` patches moto's budgets backend and response class
(in process for the unit tests, in embedded/server.py for the emulator) so that:

- UpdateBudget replaces the budget, with AWS's validation: one filter style only (CreateBudget
  too), no member the Budget data type lacks, none that only AWS sets (HealthStatus);
- DescribeSubscribersForNotification, CreateSubscriber and DeleteSubscriber exist;
- CreateNotification, DeleteNotification and DescribeNotificationsForBudget answer
  NotFoundException, DuplicateRecordException and CreationLimitExceededException like AWS;
- CreateBudget keeps its ResourceTags, and TagResource, UntagResource and ListTagsForResource
  exist for a budget's ARN (arn:aws:budgets::<account>:budget/<name>), with the ResourceTag
  limits (key 1-128 characters, value at most 256, at most 200 tags, no "aws:" key); the tags go
  with the budget when it is deleted.

Sources (AWS Billing and Cost Management API Reference, and botocore's budgets service model,
which carries the same text):
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_UpdateBudget.html
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_Notification.html
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_CreateSubscriber.html
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_DeleteSubscriber.html
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_Budget.html
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_TagResource.html
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_ResourceTag.html
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from moto.budgets.exceptions import BudgetMissingLimit, DuplicateRecordException, NotFoundException
from moto.budgets.models import Budget, BudgetsBackend, Notification
from moto.budgets.responses import BudgetsResponse
from moto.core.exceptions import JsonRESTError
from moto.core.utils import unix_time, utcnow

# Notification: "A budget can have up to ten notifications." and "A notification can have one
# SNS subscriber and up to 10 email subscribers, for a total of 11 subscribers."
MAX_NOTIFICATIONS = 10
MAX_SUBSCRIBERS = {"EMAIL": 10, "SNS": 1}
# DescribeSubscribersForNotification's MaxResults: "The maximum is 100."
MAX_RESULTS = 100
# Budget.TimePeriod: without an end date AWS sets "06/15/87 00:00 UTC".
END_OF_TIME = 3706473600
# UpdateBudget: "Either FilterExpression and Metrics or CostFilters and CostTypes, not both or a
# different combination."
NEW_FILTERS = ("FilterExpression", "Metrics")
OLD_FILTERS = ("CostFilters", "CostTypes")
# UpdateBudget: "You can change every part of a budget except for the budgetName and the
# calculatedSpend. When you modify a budget, the calculatedSpend drops to zero".
NOT_STORED_ON_UPDATE = ("CalculatedSpend", "LastUpdatedTime")
# Budget.HealthStatus: "The current operational state of a Billing View derived resource", with
# its own LastUpdatedTime: AWS reports it, a caller cannot set it.
READ_ONLY_ON_UPDATE = ("HealthStatus",)
# Members of the Budget data type (botocore's service model lists the same ones): anything else
# in NewBudget is not part of AWS's API.
BUDGET_MEMBERS = (
    "BudgetName",
    "BudgetLimit",
    "PlannedBudgetLimits",
    "CostFilters",
    "CostTypes",
    "TimeUnit",
    "TimePeriod",
    "CalculatedSpend",
    "BudgetType",
    "LastUpdatedTime",
    "AutoAdjustData",
    "FilterExpression",
    "Metrics",
    "BillingViewArn",
    "HealthStatus",
)
# ResourceTag: Key 1-128 characters, Value 0-256; TagResource's ResourceTags: at most 200.
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_TAGS = 200
BUDGET_ARN_RE = re.compile(r"^arn:aws[a-z-]*:budgets::(\d{12}):budget/(.+)$")
# Where a budget keeps its tags: moto's Budget object has no place for them.
TAGS_ATTRIBUTE = "embedded_tags"
MARKER = "_embedded_budgets_installed"
# Read before install() replaces it (install() runs once, see MARKER).
MOTO_CREATE_BUDGET = BudgetsBackend.create_budget


class InvalidParameterException(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterException", message)


class CreationLimitExceededException(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("CreationLimitExceededException", message)


class InvalidNextTokenException(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidNextTokenException", message)


# ---------------------------------------------------------------- lookups and checks


def notification_identity(details: dict[str, Any]) -> tuple:
    """What names a notification: NotificationState is AWS's output (OK or ALARM), and a
    notification given without ThresholdType is a PERCENTAGE one (the Notification data type:
    "Thresholds are always a percentage" unless ABSOLUTE_VALUE is asked)."""
    return (
        details["NotificationType"],
        details["ComparisonOperator"],
        float(details["Threshold"]),
        details.get("ThresholdType") or "PERCENTAGE",
    )


def label(identity: tuple) -> str:
    """'ACTUAL GREATER_THAN 80.0 PERCENTAGE' for error messages."""
    return " ".join(str(part) for part in identity)


def check_notification(details: Any) -> None:
    """Notification's required members (botocore checks them too, raw HTTP clients may not)."""
    required = ("NotificationType", "ComparisonOperator", "Threshold")
    if not isinstance(details, dict) or any(key not in details for key in required):
        raise InvalidParameterException(
            "Notification requires NotificationType, ComparisonOperator and Threshold"
        )


def check_subscriber(subscriber: Any) -> None:
    """Subscriber: SubscriptionType SNS or EMAIL, and an Address that "can't contain line
    breaks"."""
    if not isinstance(subscriber, dict) or subscriber.get("SubscriptionType") not in (
        MAX_SUBSCRIBERS
    ):
        raise InvalidParameterException("Subscriber SubscriptionType must be SNS or EMAIL")
    address = subscriber.get("Address") or ""
    if not address or "\n" in address or "\r" in address:
        raise InvalidParameterException(
            "Subscriber Address must be a non-empty SNS topic ARN or e-mail without line breaks"
        )


def check_subscriber_count(subscribers: list[dict[str, str]]) -> None:
    for kind, limit in MAX_SUBSCRIBERS.items():
        count = sum(1 for s in subscribers if s["SubscriptionType"] == kind)
        if count > limit:
            raise CreationLimitExceededException(
                f"A notification can have at most {limit} {kind} subscriber(s), got {count}"
            )


def check_new_subscribers(subscribers: Any) -> None:
    """CreateNotification's Subscribers: 1 to 11 items, at most 10 EMAIL and 1 SNS."""
    if not isinstance(subscribers, list) or not subscribers:
        raise InvalidParameterException("A notification needs at least one subscriber")
    for subscriber in subscribers:
        check_subscriber(subscriber)
    check_subscriber_count(subscribers)


def find_budget(backend: BudgetsBackend, account_id: str, name: str, doing: str) -> Budget:
    budget = backend.budgets[account_id].get(name)
    if budget is None:
        raise NotFoundException(f"Unable to {doing}: {name} - the budget doesn't exist.")
    return budget


def find_notification(budget: Budget, details: Any, doing: str) -> Notification:
    check_notification(details)
    wanted = notification_identity(details)
    for notification in budget.notifications:
        if notification_identity(notification.details) == wanted:
            return notification
    name = budget.budget["BudgetName"]
    raise NotFoundException(f"Unable to {doing}: {name} - the notification doesn't exist.")


def period_start(time_unit: str, now: datetime) -> float:
    """Budget.TimePeriod: without a start date, AWS "defaults to the start of your chosen time
    period (DAILY, MONTHLY, QUARTERLY, ANNUALLY, or CUSTOM)". `now` is naive UTC, as moto's
    unix_time expects."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if time_unit == "DAILY":
        return unix_time(day)
    if time_unit == "QUARTERLY":
        return unix_time(day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1))
    if time_unit == "ANNUALLY":
        return unix_time(day.replace(month=1, day=1))
    return unix_time(day.replace(day=1))


def check_new_budget(new_budget: Any) -> None:
    """UpdateBudget's documented rules for NewBudget."""
    required = ("BudgetName", "TimeUnit", "BudgetType")
    if not isinstance(new_budget, dict) or any(not new_budget.get(key) for key in required):
        raise InvalidParameterException("NewBudget requires BudgetName, TimeUnit and BudgetType")
    # "Only one of BudgetLimit or PlannedBudgetLimits can be present in the syntax at one time."
    if "BudgetLimit" in new_budget and "PlannedBudgetLimits" in new_budget:
        raise InvalidParameterException(
            "Only one of BudgetLimit or PlannedBudgetLimits can be present"
        )
    # Budget.BudgetLimit: "required for cost or usage budgets" (or planned/auto-adjusted ones).
    limits = ("BudgetLimit", "PlannedBudgetLimits", "AutoAdjustData")
    if new_budget["BudgetType"] in ("COST", "USAGE") and not any(k in new_budget for k in limits):
        raise BudgetMissingLimit()
    check_filter_style(new_budget)
    check_members(new_budget)


def check_filter_style(budget: dict[str, Any]) -> None:
    """UpdateBudget and CreateBudget: "only one set of filter and metric selections can be
    present in the syntax at one time"."""
    if any(k in budget for k in NEW_FILTERS) and any(k in budget for k in OLD_FILTERS):
        raise InvalidParameterException(
            "Either FilterExpression and Metrics or CostFilters and CostTypes, not both or a "
            "different combination"
        )


def check_members(new_budget: dict[str, Any]) -> None:
    """Members that are not the Budget data type's, or that only AWS sets. botocore refuses the
    unknown ones before sending; other clients (raw HTTP, older SDKs) reach the service."""
    unknown = sorted(k for k in new_budget if k not in BUDGET_MEMBERS)
    if unknown:
        raise InvalidParameterException(
            f"NewBudget has members the Budget data type does not define: {', '.join(unknown)}"
        )
    read_only = sorted(k for k in new_budget if k in READ_ONLY_ON_UPDATE)
    if read_only:
        raise InvalidParameterException(
            f"NewBudget cannot set {', '.join(read_only)}: AWS reports it, remove it from the "
            "request"
        )


# ---------------------------------------------------------------- backend operations


def update_budget(self: BudgetsBackend, account_id: str, new_budget: dict[str, Any]) -> None:
    """NewBudget is "the budget that you want to update your budget to": it replaces the
    stored one (the name, which identifies it, cannot change)."""
    check_new_budget(new_budget)
    budget = find_budget(self, account_id, new_budget["BudgetName"], "update budget")
    stored = {k: v for k, v in new_budget.items() if k not in NOT_STORED_ON_UPDATE}
    if "TimePeriod" not in stored:
        old = budget.budget
        same_unit = old.get("TimeUnit") == stored["TimeUnit"] and "TimePeriod" in old
        stored["TimePeriod"] = (
            old["TimePeriod"]
            if same_unit
            else {
                "Start": period_start(stored["TimeUnit"], utcnow()),
                "End": END_OF_TIME,
            }
        )
    stored["LastUpdatedTime"] = unix_time()
    budget.budget = stored


def create_budget(
    self: BudgetsBackend,
    account_id: str,
    budget: dict[str, Any],
    notifications: list[dict[str, Any]],
    tags: list[dict[str, str]] | None = None,
) -> None:
    """CreateBudget with the filter rule, the notification and subscriber limits of
    CreateNotification, and its ResourceTags."""
    check_filter_style(budget)
    new_tags = checked_tags(tags or [])
    if len(notifications) > MAX_NOTIFICATIONS:
        raise CreationLimitExceededException(
            f"A budget can have at most {MAX_NOTIFICATIONS} notifications"
        )
    seen: set[tuple] = set()
    for item in notifications:
        check_notification(item.get("Notification"))
        check_new_subscribers(item.get("Subscribers"))
        identity = notification_identity(item["Notification"])
        if identity in seen:
            raise DuplicateRecordException("notification", label(identity))
        seen.add(identity)
    MOTO_CREATE_BUDGET(self, account_id, budget, notifications)
    setattr(self.budgets[account_id][budget["BudgetName"]], TAGS_ATTRIBUTE, new_tags)


# ---------------------------------------------------------------- tags


def checked_tags(tags: Any) -> dict[str, str]:
    """ResourceTags as a dict, refused like AWS when they break ResourceTag's limits."""
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise InvalidParameterException(f"ResourceTags must be a list of at most {MAX_TAGS} tags")
    found: dict[str, str] = {}
    for tag in tags:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not 1 <= len(key) <= MAX_TAG_KEY or len(value) > MAX_TAG_VALUE:
            raise InvalidParameterException(
                f"Tag keys have 1 to {MAX_TAG_KEY} characters, values at most {MAX_TAG_VALUE}"
            )
        # Keys starting with aws: are reserved for AWS's own tags, on every service.
        if key.lower().startswith("aws:"):
            raise InvalidParameterException(f"Tag key {key} uses the reserved prefix aws:")
        found[key] = value
    return found


def budget_of_arn(backend: BudgetsBackend, arn: str) -> Budget:
    match = BUDGET_ARN_RE.match(arn or "")
    if match is None:
        raise InvalidParameterException(f"{arn} is not the ARN of a budget")
    return find_budget(backend, match.group(1), match.group(2), "find the resource")


def list_tags_for_resource(self: BudgetsBackend, arn: str) -> dict[str, str]:
    return dict(getattr(budget_of_arn(self, arn), TAGS_ATTRIBUTE, {}))


def tag_resource(self: BudgetsBackend, arn: str, tags: Any) -> None:
    budget = budget_of_arn(self, arn)
    merged = {**getattr(budget, TAGS_ATTRIBUTE, {}), **checked_tags(tags)}
    if len(merged) > MAX_TAGS:
        raise InvalidParameterException(f"A budget can have at most {MAX_TAGS} tags")
    setattr(budget, TAGS_ATTRIBUTE, merged)


def untag_resource(self: BudgetsBackend, arn: str, keys: list[str]) -> None:
    budget = budget_of_arn(self, arn)
    kept = {k: v for k, v in getattr(budget, TAGS_ATTRIBUTE, {}).items() if k not in keys}
    setattr(budget, TAGS_ATTRIBUTE, kept)


def create_notification(
    self: BudgetsBackend,
    account_id: str,
    budget_name: str,
    notification: dict[str, Any],
    subscribers: list[dict[str, str]],
) -> None:
    budget = find_budget(self, account_id, budget_name, "create notification")
    check_notification(notification)
    check_new_subscribers(subscribers)
    identity = notification_identity(notification)
    if any(notification_identity(n.details) == identity for n in budget.notifications):
        raise DuplicateRecordException("notification", label(identity))
    if len(budget.notifications) >= MAX_NOTIFICATIONS:
        raise CreationLimitExceededException(
            f"Budget {budget_name} already has {MAX_NOTIFICATIONS} notifications"
        )
    budget.add_notification(details=notification, subscribers=list(subscribers))


def delete_notification(
    self: BudgetsBackend, account_id: str, budget_name: str, notification: dict[str, Any]
) -> None:
    """DeleteNotification: "Deleting a notification also deletes the subscribers"."""
    budget = find_budget(self, account_id, budget_name, "delete notification")
    found = find_notification(budget, notification, "delete notification")
    budget.notifications.remove(found)


def describe_notifications_for_budget(
    self: BudgetsBackend, account_id: str, budget_name: str
) -> list[dict[str, Any]]:
    budget = find_budget(self, account_id, budget_name, "describe notifications")
    return budget.get_notifications()


def describe_subscribers_for_notification(
    self: BudgetsBackend,
    account_id: str,
    budget_name: str,
    notification: dict[str, Any],
    max_results: int | None,
    next_token: str | None,
) -> tuple[list[dict[str, str]], str | None]:
    """One page of subscribers; the token is the index of the next one."""
    budget = find_budget(self, account_id, budget_name, "describe subscribers")
    subscribers = find_notification(budget, notification, "describe subscribers").subscribers
    if max_results is not None and not 1 <= max_results <= MAX_RESULTS:
        raise InvalidParameterException(f"MaxResults must be between 1 and {MAX_RESULTS}")
    start = 0
    if next_token:
        if not next_token.isdigit() or int(next_token) >= len(subscribers):
            raise InvalidNextTokenException("The pagination token is invalid.")
        start = int(next_token)
    end = start + (max_results or MAX_RESULTS)
    return list(subscribers[start:end]), (str(end) if end < len(subscribers) else None)


def subscriber_target(
    backend: BudgetsBackend,
    account_id: str,
    budget_name: str,
    notification: dict[str, Any],
    subscriber: dict[str, str],
    doing: str,
) -> tuple[Budget, Notification]:
    """The budget and notification a subscriber call names, once the subscriber is checked."""
    budget = find_budget(backend, account_id, budget_name, doing)
    found = find_notification(budget, notification, doing)
    check_subscriber(subscriber)
    return budget, found


def create_subscriber(
    self: BudgetsBackend,
    account_id: str,
    budget_name: str,
    notification: dict[str, Any],
    subscriber: dict[str, str],
) -> None:
    """CreateSubscriber: "You must create the associated budget and notification before"."""
    where = (account_id, budget_name, notification, subscriber)
    _, found = subscriber_target(self, *where, "create subscriber")
    if subscriber in found.subscribers:
        raise DuplicateRecordException("subscriber", subscriber["Address"])
    check_subscriber_count([*found.subscribers, subscriber])
    found.subscribers.append(dict(subscriber))


def delete_subscriber(
    self: BudgetsBackend,
    account_id: str,
    budget_name: str,
    notification: dict[str, Any],
    subscriber: dict[str, str],
) -> None:
    """DeleteSubscriber: "Deleting the last subscriber to a notification also deletes the
    notification"."""
    where = (account_id, budget_name, notification, subscriber)
    budget, found = subscriber_target(self, *where, "delete subscriber")
    if subscriber not in found.subscribers:
        raise NotFoundException(
            f"Unable to delete subscriber: {budget_name} - the subscriber doesn't exist."
        )
    found.subscribers.remove(subscriber)
    if not found.subscribers:
        budget.notifications.remove(found)


BACKEND_OPERATIONS = (
    update_budget,
    create_budget,
    create_notification,
    delete_notification,
    describe_notifications_for_budget,
    describe_subscribers_for_notification,
    create_subscriber,
    delete_subscriber,
    list_tags_for_resource,
    tag_resource,
    untag_resource,
)


# ---------------------------------------------------------------- JSON responses


def respond_update_budget(self: BudgetsResponse) -> str:
    self.backend.update_budget(self._get_param("AccountId"), self._get_param("NewBudget"))
    return json.dumps({})


def respond_describe_subscribers_for_notification(self: BudgetsResponse) -> str:
    subscribers, next_token = self.backend.describe_subscribers_for_notification(
        self._get_param("AccountId"),
        self._get_param("BudgetName"),
        self._get_param("Notification"),
        self._get_param("MaxResults"),
        self._get_param("NextToken"),
    )
    answer: dict[str, Any] = {"Subscribers": subscribers}
    if next_token:
        answer["NextToken"] = next_token
    return json.dumps(answer)


def subscriber_call(operation: str) -> Any:
    """CreateSubscriber and DeleteSubscriber take the same four parameters."""

    def respond(self: BudgetsResponse) -> str:
        getattr(self.backend, operation)(
            self._get_param("AccountId"),
            self._get_param("BudgetName"),
            self._get_param("Notification"),
            self._get_param("Subscriber"),
        )
        return json.dumps({})

    return respond


def respond_create_budget(self: BudgetsResponse) -> str:
    """moto's CreateBudget, which drops ResourceTags."""
    self.backend.create_budget(
        account_id=self._get_param("AccountId"),
        budget=self._get_param("Budget"),
        notifications=self._get_param("NotificationsWithSubscribers", []),
        tags=self._get_param("ResourceTags", []),
    )
    return json.dumps({})


def respond_list_tags_for_resource(self: BudgetsResponse) -> str:
    tags = self.backend.list_tags_for_resource(self._get_param("ResourceARN"))
    return json.dumps({"ResourceTags": [{"Key": k, "Value": v} for k, v in tags.items()]})


def respond_tag_resource(self: BudgetsResponse) -> str:
    self.backend.tag_resource(self._get_param("ResourceARN"), self._get_param("ResourceTags"))
    return json.dumps({})


def respond_untag_resource(self: BudgetsResponse) -> str:
    self.backend.untag_resource(
        self._get_param("ResourceARN"), self._get_param("ResourceTagKeys", [])
    )
    return json.dumps({})


RESPONSES = {
    "create_budget": respond_create_budget,
    "list_tags_for_resource": respond_list_tags_for_resource,
    "tag_resource": respond_tag_resource,
    "untag_resource": respond_untag_resource,
    "update_budget": respond_update_budget,
    "describe_subscribers_for_notification": respond_describe_subscribers_for_notification,
    "create_subscriber": subscriber_call("create_subscriber"),
    "delete_subscriber": subscriber_call("delete_subscriber"),
}


def install() -> None:
    """Patch moto's budgets backend and responses; safe to call more than once."""
    if getattr(BudgetsBackend, MARKER, False):
        return
    for function in BACKEND_OPERATIONS:
        setattr(BudgetsBackend, function.__name__, function)
    for name, function in RESPONSES.items():
        setattr(BudgetsResponse, name, function)
    setattr(BudgetsBackend, MARKER, True)
