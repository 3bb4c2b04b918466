#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""Ensure, remove or audit a monthly AWS cost budget with e-mail alerts."""

from __future__ import annotations

DOCUMENTATION = r"""
module: budget_alert
short_description: Ensure, remove or audit a monthly AWS cost budget with e-mail alerts
description:
  - Manages one monthly C(COST) budget in AWS Budgets with two e-mail notifications, one when
    the actual spend goes above O(actual_threshold) percent of the limit and one when the
    forecasted spend goes above O(forecast_threshold) percent.
  - O(state=present) creates the budget or brings its limit, notifications and e-mail
    subscribers to what is asked; O(state=absent) deletes it; O(state=audit) only checks that a
    budget at least as strict exists and fails otherwise, never creating anything.
  - An existing budget is changed in place with C(UpdateBudget), which receives only the
    fields this module owns (name, limit, time unit and type). Cost filters, cost types or a
    billing view set on the budget by other means go back to AWS's defaults when the limit
    changes; the notifications and their SNS subscribers are kept.
  - AWS Budgets is a global service, its endpoint is in C(us-east-1) whatever O(region) says;
    O(endpoint_url), C(AWS_URL) and C(AWS_ENDPOINT_URL) are still honoured, so the module also
    works against a local emulator.
  - The account id comes from STS C(GetCallerIdentity) unless O(account_id) is given.
  - Values are checked before any call to AWS, a bad one fails with a line saying what to fix.
author:
  - taskstack maintainers (@taskstack)
options:
  name:
    description:
      - Name of the budget, unique in the account.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the budget, V(absent) deletes it.
      - V(audit) changes nothing. It succeeds when a monthly C(COST) budget in O(currency)
        has an actual-spend (C(ACTUAL), C(GREATER_THAN)) notification that fires at or below
        O(limit) x O(actual_threshold) %, for example a 5 USD budget alerting at 80 %, or a
        10 USD one alerting at 40 % (both fire at 4 USD). The budget called O(name) is checked
        first, then every other budget of the account. Forecast alerts and subscribers are not
        required by the audit.
    type: str
    choices: [present, absent, audit]
    default: present
  limit:
    description:
      - Monthly limit of the budget, in O(currency). Must be greater than 0.
    type: float
    default: 5.0
  currency:
    description:
      - Unit of the limit, as AWS Budgets spells it (three upper-case letters).
    type: str
    default: USD
  emails:
    description:
      - E-mail addresses notified by both alerts (at most 10).
      - Required when O(state=present).
      - Only e-mail subscribers are managed; SNS subscribers already on a notification are left
        alone.
    type: list
    elements: str
  actual_threshold:
    description:
      - Percentage of the limit above which the actual spend triggers an alert, in (0, 1000].
    type: float
    default: 80.0
  forecast_threshold:
    description:
      - Percentage of the limit above which the forecasted spend triggers an alert, in (0, 1000].
    type: float
    default: 100.0
  purge_notifications:
    description:
      - With O(state=present), remove the budget's notifications other than the two this module
        manages. A changed threshold is a new notification; the old one goes only when this is
        V(true).
    type: bool
    default: true
  tags:
    description:
      - 'Tags the budget carries (CreateBudget''s C(ResourceTags)), for example
        C({"Project": "taskstack"}).'
      - With O(state=present), a new budget is created with them and an existing one gets those
        it lacks (other tags are left alone).
      - With O(state=absent), the budget is deleted only when it carries all of them; a budget
        of that name without them is not the caller's and is kept, with a warning.
    type: dict
  owner_tags:
    description:
      - 'Tags that mark a budget as the caller''s, for example C({"Project": "taskstack"}).'
      - With O(state=present), an existing budget of this name that does not carry all of them
        is someone else's (or predates the tags). The module fails, naming it, and changes
        nothing. Leave this option out to take such a budget over (it then gets O(tags)).
      - With O(state=absent), a budget without all of them is kept, with a warning. Without this
        option, O(tags) decide.
    type: dict
  claim_tags:
    description:
      - 'Tags that say which of the caller''s stacks the budget serves, for example
        C({"StackRegion": "eu-west-3"}). A budget is global, so one name can be ensured from stacks
        in several regions.'
      - A budget that carries one of these keys with another value serves another stack. With
        O(state=present) the module fails (C(error_code=BudgetClaimed)) and changes nothing;
        with O(state=absent) it keeps the budget, with a warning (RV(kept)).
      - A budget without the key (made before the tag was used) is not claimed. With
        O(state=present) a new budget is created with these tags and an existing one gets those
        it lacks, as with O(tags).
    type: dict
  account_id:
    description:
      - Twelve-digit id of the account owning the budget. When omitted it comes from STS, which
        needs C(sts:GetCallerIdentity).
    type: str
notes:
  - "Permissions: C(budgets:ViewBudget) for reading (every state) and C(budgets:ModifyBudget)
    for creating, updating and deleting, plus C(sts:GetCallerIdentity) unless O(account_id)
    is set. With O(tags): C(budgets:ListTagsForResource), and C(budgets:TagResource) for a
    budget lacking some of them (C(ResourceTags) on CreateBudget needs it too). An access
    denied error names the missing one."
  - Supports check mode and diff mode; check mode reports what would change in RV(differences).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Alert by e-mail at 80 % of 5 USD actual spend and 100 % forecast
  taskstack.aws.budget_alert:
    name: taskstack-monthly
    limit: 5
    emails:
      - ops@example.com

- name: Only check that a strict enough budget exists (never creates one)
  taskstack.aws.budget_alert:
    name: taskstack-monthly
    limit: 5
    actual_threshold: 80
    state: audit

- name: Remove the budget
  taskstack.aws.budget_alert:
    name: taskstack-monthly
    state: absent

- name: Ensure the budget of the stack in eu-west-3, refusing one another region's stack uses
  taskstack.aws.budget_alert:
    name: taskstack-monthly
    limit: 5
    emails:
      - ops@example.com
    tags:
      Project: taskstack
    owner_tags:
      Project: taskstack
    claim_tags:
      StackRegion: eu-west-3

- name: Remove the budget only if it is the project's
  taskstack.aws.budget_alert:
    name: taskstack-monthly
    state: absent
    tags:
      Project: taskstack
"""

RETURN = r"""
budget:
  description:
    - The budget after the run (the one that passed the audit with O(state=audit)); null when
      there is none.
    - RV(budget.notifications[].subscribers) is null where subscribers are not read, with
      O(state=audit), in the diff of O(state=absent), and for notifications the module does not
      manage.
  returned: always
  type: dict
  contains:
    notifications:
      description: The budget's e-mail notifications.
      type: list
      elements: dict
      contains:
        subscribers:
          description: Their e-mail addresses.
          type: list
          elements: str
  sample:
    name: taskstack-monthly
    limit: 5.0
    currency: USD
    time_unit: MONTHLY
    budget_type: COST
    notifications:
      - notification_type: ACTUAL
        comparison_operator: GREATER_THAN
        threshold: 80.0
        threshold_type: PERCENTAGE
        subscribers: [ops@example.com]
kept:
  description: Why a budget of that name was not deleted (it lacks some of O(tags), or another
    stack claims it, see O(claim_tags)).
  returned: with O(state=absent), when such a budget was kept
  type: str
  sample: "budget 'taskstack-monthly' does not carry the tags Project=taskstack: kept"
claimed_by:
  description: The claim tags the budget carries with another value (see O(claim_tags)).
  returned: when the module fails with C(error_code=BudgetClaimed)
  type: dict
  sample: {"StackRegion": "eu-west-3"}
matched_budget:
  description: Name of the budget that passed the audit.
  returned: with O(state=audit), on success
  type: str
  sample: taskstack-monthly
account_id:
  description: Account the budget belongs to.
  returned: always
  type: str
  sample: "123456789012"
differences:
  description: What differs (or differed) between the budget and the request, one line each.
  returned: always
  type: list
  elements: str
  sample: ["limit: 10.0 USD -> 5.0 USD", "add notification ACTUAL > 80%"]
diff:
  description: Before and after states of the budget, with O(state=present) or O(state=absent).
  returned: when diff mode is on
  type: dict
"""

import math
import re
from typing import Any

try:  # noqa: SIM105 - Ansible's optional-import idiom
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing boto3

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.taskstack.aws.plugins.module_utils.stack_aws import (
    account_id_of,
    answer_member,
    aws_errors,
    budgets_client,
    error_code,
    paginate,
    partition_of_region,
)

VIEW = "budgets:ViewBudget"
MODIFY = "budgets:ModifyBudget"
LIST_TAGS = "budgets:ListTagsForResource"
TAG = "budgets:TagResource"
# ResourceTag: key 1-128 characters, value at most 256; keys starting with aws: are AWS's own.
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_EMAILS = 10
MAX_AUDIT_REASONS = 5  # budgets named in an audit failure, to keep it one readable line
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


# ---------------------------------------------------------------- validation (no AWS call)


def validation_errors(params: dict[str, Any]) -> list[str]:
    """Everything wrong with the options, each as 'what is wrong: what to do'."""
    errors = []
    name = params["name"]
    if not name or len(name) > 100 or ":" in name or "\\" in name:
        errors.append(f"name {name!r} is not valid: use 1-100 characters without ':' or '\\'")
    limit = params["limit"]
    if not math.isfinite(limit) or limit <= 0:
        errors.append(f"limit must be greater than 0 (got {limit}): set the monthly amount")
    for option in ("actual_threshold", "forecast_threshold"):
        value = params[option]
        if not math.isfinite(value) or not 0 < value <= 1000:
            errors.append(f"{option} must be a percentage in (0, 1000] (got {value})")
    if not re.fullmatch(r"[A-Z]{3}", params["currency"]):
        errors.append(
            f"currency must be three upper-case letters such as USD (got {params['currency']!r})"
        )
    account_id = params.get("account_id")
    if account_id is not None and not re.fullmatch(r"\d{12}", account_id):
        errors.append(f"account_id must be 12 digits (got {account_id!r})")
    emails = params.get("emails") or []
    bad = [email for email in emails if not EMAIL_RE.match(email)]
    if bad:
        errors.append(f"invalid e-mail address {', '.join(map(repr, bad))}: use name@domain.tld")
    if len(set(emails)) > MAX_EMAILS:
        errors.append(f"AWS Budgets accepts at most {MAX_EMAILS} e-mail subscribers per alert")
    for option in ("tags", "owner_tags", "claim_tags"):
        errors += tag_errors(params.get(option) or {})
    return errors


def tag_errors(tags: dict[str, Any]) -> list[str]:
    """What AWS's ResourceTag would refuse in the tags option."""
    errors = []
    for key, value in tags.items():
        if not 1 <= len(key) <= MAX_TAG_KEY or key.lower().startswith("aws:"):
            errors.append(
                f"tag key {key!r} is not valid: use 1-{MAX_TAG_KEY} characters, not starting "
                "with aws:"
            )
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            errors.append(
                f"tag {key!r} must have a text value of at most {MAX_TAG_VALUE} characters"
            )
    return errors


def missing_tags(wanted: dict[str, str], have: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in wanted.items() if have.get(key) != value}


def other_claims(claim: dict[str, str], have: dict[str, str]) -> dict[str, str]:
    """The claim tags the budget carries with another value: another stack's claim."""
    return {key: have[key] for key, value in claim.items() if key in have and have[key] != value}


def shown_tags(tags: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in tags.items())


# ---------------------------------------------------------------- desired and current state


def notification_key(notification: dict[str, Any]) -> tuple:
    """What identifies a notification for AWS: type, operator, threshold and its type."""
    return (
        notification["NotificationType"],
        notification["ComparisonOperator"],
        round(float(notification["Threshold"]), 6),
        notification.get("ThresholdType", "PERCENTAGE"),
    )


def describe_notification(notification: dict[str, Any]) -> str:
    """'ACTUAL > 80%' style label used in differences and messages."""
    kind, operator, threshold, threshold_type = notification_key(notification)
    symbol = {"GREATER_THAN": ">", "LESS_THAN": "<", "EQUAL_TO": "="}.get(operator, operator)
    unit = "%" if threshold_type == "PERCENTAGE" else ""
    return f"{kind} {symbol} {threshold:g}{unit}"


def desired_notifications(params: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "NotificationType": kind,
            "ComparisonOperator": "GREATER_THAN",
            "Threshold": float(params[option]),
            "ThresholdType": "PERCENTAGE",
        }
        for kind, option in (("ACTUAL", "actual_threshold"), ("FORECASTED", "forecast_threshold"))
    ]


def desired_budget(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "BudgetName": params["name"],
        "BudgetLimit": {"Amount": str(float(params["limit"])), "Unit": params["currency"]},
        "TimeUnit": "MONTHLY",
        "BudgetType": "COST",
    }


def email_subscribers(emails: list[str]) -> list[dict[str, str]]:
    return [{"SubscriptionType": "EMAIL", "Address": email} for email in sorted(set(emails))]


def summarize(budget: dict | None, notifications: list[dict], subscribers: dict) -> dict | None:
    """The budget as returned to the user (snake_case, emails per notification or None)."""
    if budget is None:
        return None
    limit = budget.get("BudgetLimit") or {}
    return {
        "name": budget["BudgetName"],
        "limit": float(limit["Amount"]) if "Amount" in limit else None,
        "currency": limit.get("Unit"),
        "time_unit": budget.get("TimeUnit"),
        "budget_type": budget.get("BudgetType"),
        "notifications": [
            {
                "notification_type": n["NotificationType"],
                "comparison_operator": n["ComparisonOperator"],
                "threshold": float(n["Threshold"]),
                "threshold_type": n.get("ThresholdType", "PERCENTAGE"),
                "subscribers": subscribers.get(notification_key(n)),
            }
            for n in sorted(notifications, key=notification_key)
        ],
    }


# ---------------------------------------------------------------- AWS calls


class Budgets:
    """The Budgets calls this module makes, each with its permission for error messages."""

    def __init__(self, module: AnsibleAWSModule, account_id: str) -> None:
        self.module = module
        self.account_id = account_id
        self.client = budgets_client(module)
        # Put on the budget by the call that creates it (CreateBudget's ResourceTags).
        self.resource_tags: dict[str, str] = module.params.get("tags") or {}
        self.claim_tags: dict[str, str] = module.params.get("claim_tags") or {}
        # Each budget's tags are read once a run: the ownership, the claim and the tags to add
        # are judged on the same answer.
        self.read_tags: dict[str, dict[str, str]] = {}

    def arn(self, name: str) -> str:
        partition = partition_of_region(self.module.region)
        return f"arn:{partition}:budgets::{self.account_id}:budget/{name}"

    def tags(self, name: str) -> dict[str, str]:
        if name not in self.read_tags:
            with aws_errors(self.module, f"read the tags of budget {name!r}", LIST_TAGS):
                found = self.client.list_tags_for_resource(
                    ResourceARN=self.arn(name), aws_retry=True
                )
                # Not .get(): an answer without its tags would read as an untagged budget.
                tags = answer_member(found, "ResourceTags")
            self.read_tags[name] = {tag["Key"]: tag["Value"] for tag in tags}
        return self.read_tags[name]

    def wanted_tags(self) -> dict[str, str]:
        """What the caller's budget carries: its tags and its claim."""
        return {**self.resource_tags, **self.claim_tags}

    def tag(self, name: str, tags: dict[str, str]) -> None:
        with aws_errors(self.module, f"tag budget {name!r}", TAG):
            self.client.tag_resource(
                ResourceARN=self.arn(name),
                ResourceTags=[{"Key": k, "Value": v} for k, v in tags.items()],
                aws_retry=True,
            )
        if name in self.read_tags:
            self.read_tags[name] = {**self.read_tags[name], **tags}

    def get(self, name: str) -> dict | None:
        with aws_errors(self.module, f"read budget {name!r}", VIEW):
            try:
                answer = self.client.describe_budget(
                    AccountId=self.account_id, BudgetName=name, aws_retry=True
                )
            except ClientError as exc:
                if error_code(exc) == "NotFoundException":
                    return None
                raise
            return answer_member(answer, "Budget")

    def list(self) -> list[dict]:
        with aws_errors(self.module, "list the budgets", VIEW):
            try:
                return paginate(self.client, "describe_budgets", AccountId=self.account_id).get(
                    "Budgets", []
                )
            except ClientError as exc:
                if error_code(exc) == "NotFoundException":  # AWS's answer for "no budget at all"
                    return []
                raise

    def notifications(self, name: str) -> list[dict]:
        with aws_errors(self.module, f"read the notifications of budget {name!r}", VIEW):
            result = paginate(
                self.client,
                "describe_notifications_for_budget",
                AccountId=self.account_id,
                BudgetName=name,
            )
        return result.get("Notifications", [])

    def subscribers(self, name: str, notification: dict) -> list[str]:
        """E-mail subscribers of a notification (SNS ones are not this module's)."""
        with aws_errors(self.module, f"read the subscribers of budget {name!r}", VIEW):
            result = paginate(
                self.client,
                "describe_subscribers_for_notification",
                AccountId=self.account_id,
                BudgetName=name,
                Notification=notification,
            )
        return sorted(
            s["Address"] for s in result.get("Subscribers", []) if s["SubscriptionType"] == "EMAIL"
        )

    def create(self, budget: dict, notifications: list[dict], emails: list[str]) -> None:
        with aws_errors(self.module, f"create budget {budget['BudgetName']!r}", MODIFY):
            self.client.create_budget(
                AccountId=self.account_id,
                Budget=budget,
                NotificationsWithSubscribers=[
                    {"Notification": n, "Subscribers": email_subscribers(emails)}
                    for n in notifications
                ],
                **self.resource_tags_argument(),
                aws_retry=True,
            )

    def resource_tags_argument(self) -> dict[str, Any]:
        """CreateBudget's ResourceTags, left out when there are none (it needs TagResource)."""
        wanted = self.wanted_tags()
        if not wanted:
            return {}
        return {"ResourceTags": [{"Key": k, "Value": v} for k, v in wanted.items()]}

    def update(self, new_budget: dict) -> None:
        with aws_errors(self.module, f"update budget {new_budget['BudgetName']!r}", MODIFY):
            self.client.update_budget(
                AccountId=self.account_id, NewBudget=new_budget, aws_retry=True
            )

    def delete(self, name: str) -> None:
        with aws_errors(self.module, f"delete budget {name!r}", MODIFY):
            self.client.delete_budget(AccountId=self.account_id, BudgetName=name, aws_retry=True)

    def create_notification(self, name: str, notification: dict, emails: list[str]) -> None:
        with aws_errors(self.module, f"add a notification to budget {name!r}", MODIFY):
            self.client.create_notification(
                AccountId=self.account_id,
                BudgetName=name,
                Notification=notification,
                Subscribers=email_subscribers(emails),
                aws_retry=True,
            )

    def delete_notification(self, name: str, notification: dict) -> None:
        with aws_errors(self.module, f"remove a notification from budget {name!r}", MODIFY):
            self.client.delete_notification(
                AccountId=self.account_id,
                BudgetName=name,
                Notification=notification,
                aws_retry=True,
            )

    def add_subscriber(self, name: str, notification: dict, email: str) -> None:
        with aws_errors(self.module, f"subscribe {email} to budget {name!r}", MODIFY):
            self.client.create_subscriber(
                AccountId=self.account_id,
                BudgetName=name,
                Notification=notification,
                Subscriber={"SubscriptionType": "EMAIL", "Address": email},
                aws_retry=True,
            )

    def remove_subscriber(self, name: str, notification: dict, email: str) -> None:
        with aws_errors(self.module, f"unsubscribe {email} from budget {name!r}", MODIFY):
            self.client.delete_subscriber(
                AccountId=self.account_id,
                BudgetName=name,
                Notification=notification,
                Subscriber={"SubscriptionType": "EMAIL", "Address": email},
                aws_retry=True,
            )


# ---------------------------------------------------------------- state=present


class Present:
    """Compares the budget with the request, then applies the differences (not in check mode)."""

    def __init__(self, api: Budgets, params: dict[str, Any]) -> None:
        self.api = api
        self.name = params["name"]
        self.emails = sorted(set(params["emails"]))
        self.purge = params["purge_notifications"]
        self.budget = desired_budget(params)
        self.wanted = {notification_key(n): n for n in desired_notifications(params)}
        self.current = api.get(self.name)
        self.have: dict[tuple, dict] = {}
        self.subscribers: dict[tuple, list[str]] = {}
        if self.current is not None:
            self.have = {notification_key(n): n for n in api.notifications(self.name)}
            # Only the notifications that stay need their subscribers compared.
            for key in self.have.keys() & self.wanted.keys():
                self.subscribers[key] = api.subscribers(self.name, self.have[key])

    def budget_changes(self) -> list[str]:
        if self.current is None:
            return [f"create budget {self.name!r}"]
        changes = []
        old, new = self.current.get("BudgetLimit") or {}, self.budget["BudgetLimit"]
        if old.get("Unit") != new["Unit"] or float(old.get("Amount", "nan")) != float(
            new["Amount"]
        ):
            old_text = f"{float(old['Amount'])} {old.get('Unit')}" if "Amount" in old else "none"
            changes.append(f"limit: {old_text} -> {float(new['Amount'])} {new['Unit']}")
        if self.current.get("TimeUnit") != "MONTHLY":
            changes.append(f"time unit: {self.current.get('TimeUnit')} -> MONTHLY")
        return changes

    def notification_changes(self) -> tuple[list[tuple], list[tuple]]:
        """Keys of the notifications to remove and to add."""
        to_add = sorted(self.wanted.keys() - self.have.keys())
        to_remove = sorted(self.have.keys() - self.wanted.keys()) if self.purge else []
        return to_remove, to_add

    def subscriber_changes(self) -> dict[tuple, tuple[list[str], list[str]]]:
        """Per kept notification: e-mails to add and to remove."""
        changes = {}
        for key, current in self.subscribers.items():
            add = sorted(set(self.emails) - set(current))
            remove = sorted(set(current) - set(self.emails))
            if add or remove:
                changes[key] = (add, remove)
        return changes

    def differences(self) -> list[str]:
        lines = self.budget_changes()
        if self.current is None:
            return lines + [
                f"add notification {describe_notification(n)}" for n in self.wanted.values()
            ]
        to_remove, to_add = self.notification_changes()
        lines += [f"remove notification {describe_notification(self.have[k])}" for k in to_remove]
        lines += [f"add notification {describe_notification(self.wanted[k])}" for k in to_add]
        for key, (add, remove) in sorted(self.subscriber_changes().items()):
            label = describe_notification(self.wanted[key])
            lines += [f"notification {label}: subscribe {email}" for email in add]
            lines += [f"notification {label}: unsubscribe {email}" for email in remove]
        return lines

    def before(self) -> dict | None:
        return summarize(self.current, list(self.have.values()), self.subscribers)

    def after(self) -> dict:
        kept = {k: n for k, n in self.have.items() if k not in self.wanted and not self.purge}
        notifications = list(self.wanted.values()) + list(kept.values())
        subscribers: dict[tuple, list[str] | None] = {key: self.emails for key in self.wanted}
        for key in kept:
            subscribers[key] = self.subscribers.get(key)
        return summarize(self.budget, notifications, subscribers)

    def new_budget(self) -> dict[str, Any]:
        """UpdateBudget's NewBudget: only what this module sets, never the read answer sent
        back. That answer can hold both filter styles (CostTypes comes back with the documented
        defaults even beside FilterExpression and Metrics), which UpdateBudget refuses ("Either
        FilterExpression and Metrics or CostFilters and CostTypes, not both"), and members only
        AWS sets (CalculatedSpend, LastUpdatedTime, HealthStatus) or that newer API versions
        add. Without TimePeriod AWS keeps the period or, for a new time unit, starts one."""
        return dict(self.budget)

    def apply(self) -> None:
        api, name = self.api, self.name
        if self.current is None:
            api.create(self.budget, list(self.wanted.values()), self.emails)
            return
        if self.budget_changes():
            api.update(self.new_budget())
        to_remove, to_add = self.notification_changes()
        for key in to_remove:  # first, so that a moved threshold never exceeds AWS's quota
            api.delete_notification(name, self.have[key])
        for key in to_add:
            api.create_notification(name, self.wanted[key], self.emails)
        for key, (add, remove) in self.subscriber_changes().items():
            for email in add:  # before removing: a notification needs at least one subscriber
                api.add_subscriber(name, self.have[key], email)
            for email in remove:
                api.remove_subscriber(name, self.have[key], email)


# ---------------------------------------------------------------- state=audit


def alert_trigger(budget: dict, notification: dict) -> float | None:
    """Amount of actual spend at which a notification fires; None if it is no actual alert."""
    if notification["NotificationType"] != "ACTUAL":
        return None
    if notification["ComparisonOperator"] not in ("GREATER_THAN", "EQUAL_TO"):
        return None
    threshold = float(notification["Threshold"])
    if notification.get("ThresholdType", "PERCENTAGE") == "ABSOLUTE_VALUE":
        return threshold
    return float(budget["BudgetLimit"]["Amount"]) * threshold / 100


def audit_reason(budget: dict, notifications: list[dict], currency: str, ceiling: float):
    """Why a budget does not qualify, or None when it does."""
    name = budget["BudgetName"]
    if budget.get("BudgetType") != "COST" or budget.get("TimeUnit") != "MONTHLY":
        return f"{name!r} is a {budget.get('TimeUnit')} {budget.get('BudgetType')} budget"
    unit = (budget.get("BudgetLimit") or {}).get("Unit")
    if unit != currency:
        return f"{name!r} is in {unit}"
    triggers = [t for n in notifications if (t := alert_trigger(budget, n)) is not None]
    if not triggers:
        return f"{name!r} has no actual-spend alert"
    if min(triggers) > ceiling + 1e-9:
        return f"{name!r} alerts only at {min(triggers):g} {unit}"
    return None


def run_audit(module: AnsibleAWSModule, api: Budgets) -> dict[str, Any]:
    """The first budget (the named one first) that is at least as strict, or a failure."""
    params = module.params
    name, currency = params["name"], params["currency"]
    ceiling = params["limit"] * params["actual_threshold"] / 100
    named = api.get(name)
    candidates = [named] if named else []
    candidates += [b for b in api.list() if b["BudgetName"] != name]
    reasons = [] if named else [f"{name!r} does not exist"]
    for budget in candidates:
        notifications = api.notifications(budget["BudgetName"])
        reason = audit_reason(budget, notifications, currency, ceiling)
        if reason is None:
            return {
                "budget": summarize(budget, notifications, {}),
                "matched_budget": budget["BudgetName"],
            }
        reasons.append(reason)
    shown = reasons[:MAX_AUDIT_REASONS]
    if len(reasons) > MAX_AUDIT_REASONS:
        shown.append(f"{len(reasons) - MAX_AUDIT_REASONS} other budgets do not qualify either")
    module.fail_json(
        msg=(
            f"No monthly COST budget alerts on actual spend at or below {ceiling:g} {currency} "
            f"({params['actual_threshold']:g}% of {params['limit']:g} {currency}): "
            f"{'; '.join(shown)}. Run budget_alert with state=present to create one."
        ),
        account_id=api.account_id,
        differences=[],
        budget=None,
    )


# ---------------------------------------------------------------- state=absent and present


def run_absent(module: AnsibleAWSModule, api: Budgets) -> dict[str, Any]:
    name = module.params["name"]
    current = api.get(name)
    result: dict[str, Any] = {"budget": None}
    owner = module.params.get("owner_tags") or api.resource_tags
    lacking = missing_tags(owner, api.tags(name)) if current and owner else {}
    claimed = other_claims(api.claim_tags, api.tags(name)) if current and api.claim_tags else {}
    if lacking:
        # Same name, not the caller's: deleting it would take someone else's billing alert.
        result["kept"] = f"budget {name!r} does not carry the tags {shown_tags(lacking)}: kept"
        module.warn(f"{result['kept']}; delete it yourself if it is yours")
    elif claimed:
        # The caller's, but another of its stacks still counts on it.
        result["kept"] = (
            f"budget {name!r} carries {shown_tags(claimed)}, not "
            f"{shown_tags({key: api.claim_tags[key] for key in claimed})}: it serves another "
            "stack and is kept"
        )
        module.warn(f"{result['kept']}; delete it from that stack")
    if "kept" in result:
        result["budget"] = summarize(current, [], {})
        return result
    if current is not None:
        result.update(changed=True, differences=[f"delete budget {name!r}"])
        if module._diff:
            before = summarize(current, api.notifications(name), {})
            result["diff"] = {"before": before, "after": {}}
        if not module.check_mode:
            api.delete(name)
    return result


def refuse_if_not_owned(module: AnsibleAWSModule, api: Budgets, present: Present) -> None:
    """A budget of this name without the owner tags is someone else's: never update it."""
    owner = module.params.get("owner_tags") or {}
    if present.current is None or not owner:
        return
    lacking = missing_tags(owner, api.tags(present.name))
    if lacking:
        module.fail_json(
            msg=f"Budget {present.name!r} exists without the tags {shown_tags(lacking)}: it is "
            "not the caller's. Choose another name, or leave owner_tags out to take it over",
            error_code="BudgetNotOwned",
            budget=present.name,
        )


def refuse_if_claimed(module: AnsibleAWSModule, api: Budgets, present: Present) -> None:
    """The caller's budget serving another of its stacks: updating it would take it over."""
    if present.current is None or not api.claim_tags:
        return
    claimed = other_claims(api.claim_tags, api.tags(present.name))
    if claimed:
        ours = {key: api.claim_tags[key] for key in claimed}
        module.fail_json(
            msg=f"Budget {present.name!r} carries {shown_tags(claimed)}, not {shown_tags(ours)}: "
            "it serves another stack. Choose another name, or use it from that stack",
            error_code="BudgetClaimed",
            budget=present.name,
            claimed_by=claimed,
        )


def run_present(module: AnsibleAWSModule, api: Budgets) -> dict[str, Any]:
    present = Present(api, module.params)
    if present.current is not None and present.current.get("BudgetType") != "COST":
        module.fail_json(
            msg=f"Budget {present.name!r} exists but is a {present.current.get('BudgetType')} "
            "budget, not a COST one: delete it or choose another name"
        )
    refuse_if_not_owned(module, api, present)
    refuse_if_claimed(module, api, present)
    differences = present.differences()
    # A budget created by this run gets its tags from CreateBudget itself.
    lacking = {}
    if present.current is not None and api.wanted_tags():
        lacking = missing_tags(api.wanted_tags(), api.tags(present.name))
    differences += [f"tag {key}={value}" for key, value in lacking.items()]
    if differences and not module.check_mode:
        present.apply()
        if lacking:
            api.tag(present.name, lacking)
    result: dict[str, Any] = {
        "changed": bool(differences),
        "differences": differences,
        "budget": present.after() if differences else present.before(),
    }
    if module._diff:
        result["diff"] = {"before": present.before() or {}, "after": present.after()}
    return result


# ---------------------------------------------------------------- main


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent", "audit"]),
            limit=dict(type="float", default=5.0),
            currency=dict(type="str", default="USD"),
            emails=dict(type="list", elements="str"),
            actual_threshold=dict(type="float", default=80.0),
            forecast_threshold=dict(type="float", default=100.0),
            purge_notifications=dict(type="bool", default=True),
            account_id=dict(type="str"),
            tags=dict(type="dict"),
            owner_tags=dict(type="dict"),
            claim_tags=dict(type="dict"),
        ),
        required_if=[("state", "present", ["emails"])],
        supports_check_mode=True,
    )
    params = module.params
    errors = validation_errors(params)
    if errors:
        module.fail_json(msg="; ".join(errors))

    api = Budgets(module, account_id_of(module))
    result: dict[str, Any] = {"changed": False, "account_id": api.account_id, "differences": []}
    if params["state"] == "audit":
        result.update(run_audit(module, api))
    elif params["state"] == "absent":
        result.update(run_absent(module, api))
    else:
        result.update(run_present(module, api))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
