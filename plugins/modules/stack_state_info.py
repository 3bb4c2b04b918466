#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""One digest of a stack's live EC2 state, its settings and the code that converges it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: stack_state_info
short_description: Digest a stack's live EC2 state, its settings and the code that converges it
description:
  - Reads, in one process, every EC2 resource of the region that carries all of O(tags) (VPCs,
    subnets, route tables, internet gateways, security groups with their rules, instances that
    are not terminated, their volumes and network interfaces, key pairs) with the DNS
    attributes of the VPCs, and returns one SHA-256 digest of that state together with
    O(inputs_digest) and the files under O(sources).
  - Recorded after a converge that succeeded, the digest tells a later run that nothing it
    would check has changed since, neither in AWS nor in the settings or the code. Any change
    gives another digest (a security group rule, a tag, an instance stopped, a resource that
    lost the tags or was deleted), and the caller then converges in full.
  - Fields that change by themselves (the free addresses of a subnet) are left out.
  - Never changes anything.
author:
  - taskstack maintainers (@taskstack)
options:
  tags:
    description:
      - 'The tags (key and value) that mark the stack''s resources, all of them, for example
        C({"Project": "taskstack", "Environment": "dev"}).'
    type: dict
    required: true
  inputs_digest:
    description:
      - A digest of the settings the stack is converged from, computed by the caller in a
        task with C(no_log), since they may hold a password. Mixed into both digests.
    type: str
    default: ""
  sources:
    description:
      - Files and folders on the controller whose content is part of the digest (the roles and
        modules that converge the stack). A missing path counts as missing, not as an error.
    type: list
    elements: path
    default: []
  include_monitoring:
    description:
      - Also digest the CloudWatch alarms and SNS topics that carry all of O(tags), found
        through the Resource Groups Tagging API. For each alarm, its configuration (not its
        state) and tags count; for each topic, its tags and subscriptions (protocol and address,
        not whether they are confirmed). An alarm deleted or changed by hand then reads as a
        change.
      - AWS may take a moment to list a resource just tagged there; a digest recorded right
        after the alarms were made can miss them, and the next run then converges once more.
    type: bool
    default: false
  exclude:
    description:
      - Names of files and folders under O(sources) that do not count (shell patterns, matched
        against each part of the path below a source).
    type: list
    elements: str
    default:
      [__pycache__, '*.pyc', .pytest_cache, .ruff_cache, .mypy_cache, .venv, node_modules, .git,
       .env, .state]
notes:
  - "Permissions: C(ec2:DescribeVpcs), C(ec2:DescribeVpcAttribute), C(ec2:DescribeSubnets),
    C(ec2:DescribeRouteTables), C(ec2:DescribeInternetGateways), C(ec2:DescribeSecurityGroups),
    C(ec2:DescribeInstances), C(ec2:DescribeVolumes), C(ec2:DescribeNetworkInterfaces),
    C(ec2:DescribeKeyPairs); with O(include_monitoring=true), C(tag:GetResources),
    C(cloudwatch:DescribeAlarms) and C(sns:ListSubscriptionsByTopic)."
  - Supports check mode (it changes nothing anyway).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Digest the stack tagged Project=taskstack, its settings and its roles
  taskstack.aws.stack_state_info:
    tags:
      Project: taskstack
      Environment: dev
    inputs_digest: "{{ {'instance_type': 't3.micro'} | to_json | hash('sha256') }}"
    sources:
      - roles/aws_network
      - roles/aws_instance
  register: stack

- name: Show how many resources the digest covers
  ansible.builtin.debug:
    msg: "{{ stack.resource_count }} resources, digest {{ stack.digest }}"
"""

RETURN = r"""
digest:
  description: SHA-256 (hex) of the resources' state, O(inputs_digest) and the content of
    O(sources).
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
settings_digest:
  description: SHA-256 (hex) of O(inputs_digest) and the content of O(sources) alone, for digests of
    other state converged from the same settings (M(taskstack.aws.host_state_info)'s salt).
  returned: always
  type: str
  sample: 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752
resource_count:
  description: How many resources carry all of O(tags), for each EC2 resource type read (and
    C(cloudwatch:alarm) and C(sns) with O(include_monitoring=true)).
  returned: always
  type: dict
  sample: {vpc: 1, subnet: 1, route-table: 1, internet-gateway: 1, security-group: 1, instance: 1,
    volume: 1, network-interface: 1, key-pair: 1}
region:
  description: The region that was read.
  returned: always
  type: str
  sample: eu-west-3
"""

import copy
import fnmatch
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.taskstack.aws.plugins.module_utils.cloudwatch_alarms import (
    describe_alarms,
)
from ansible_collections.taskstack.aws.plugins.module_utils.ec2_resources import (
    KINDS,
    Resource,
    ec2_tagged,
)
from ansible_collections.taskstack.aws.plugins.module_utils.stack_aws import (
    answer_member,
    aws_client,
    aws_errors,
    boto3_tags_to_dict,
    error_code,
    paginate,
)

try:
    from ansible_collections.amazon.aws.plugins.module_utils.common import (
        AMAZON_AWS_COLLECTION_VERSION,
    )
except ImportError:  # an amazon.aws too old to say: the digest then only covers our code
    AMAZON_AWS_COLLECTION_VERSION = "unknown"

# Fields AWS changes without anyone touching the resource, by path: left out of the digest, or
# a converged stack would never read as unchanged. An instance's metadata options read
# "pending" for a while after launch, then "applied".
VOLATILE_FIELDS = {
    "subnet": [("AvailableIpAddressCount",)],
    "instance": [("MetadataOptions", "State")],
}
# Caches and tool folders under the sources: they change without the code changing.
DEFAULT_EXCLUDE = [
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".venv",
    "node_modules",
    ".git",
    ".env",
    ".state",
]
# An alarm's state changes with the metric, and its timestamps with it: not its configuration.
ALARM_STATE_FIELDS = (
    "StateValue",
    "StateReason",
    "StateReasonData",
    "StateUpdatedTimestamp",
    "StateTransitionedTimestamp",
    "EvaluationState",
)
MONITORING_TYPES = ["cloudwatch:alarm", "sns"]
VPC_ATTRIBUTES = {
    "enableDnsSupport": "EnableDnsSupport",
    "enableDnsHostnames": "EnableDnsHostnames",
}


def stable_state(resource: Resource) -> dict[str, Any]:
    state = copy.deepcopy(resource.raw)
    for *parents, field in VOLATILE_FIELDS.get(resource.resource_type, []):
        holder = state
        for parent in parents:
            holder = holder.get(parent) if isinstance(holder, dict) else None
        if isinstance(holder, dict):
            holder.pop(field, None)
    return state


def vpc_attributes(module: AnsibleAWSModule, ec2, vpc_id: str) -> dict[str, Any]:
    """The DNS settings of a VPC, which DescribeVpcs does not return."""
    values = {}
    with aws_errors(module, f"read the DNS attributes of {vpc_id}", "ec2:DescribeVpcAttribute"):
        for attribute, member in VPC_ATTRIBUTES.items():
            answer = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute, aws_retry=True)
            values[attribute] = answer.get(member, {}).get("Value")
    return values


def live_state(module: AnsibleAWSModule, ec2, tags: dict[str, str]) -> list[dict[str, Any]]:
    state = []
    for resource in ec2_tagged(module, ec2, tags):
        entry = {"type": resource.resource_type, "state": normalized(stable_state(resource))}
        if resource.resource_type == "vpc":
            entry["attributes"] = vpc_attributes(module, ec2, resource.resource_id)
        state.append(entry)
    return sorted(state, key=canonical)


def excluded(path: Path, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in path.parts for pattern in patterns)


def file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:  # unreadable now: it counts as such, and differs from its content
        return f"unreadable: {exc.strerror}"


def source_digests(paths: list[str], exclude: list[str]) -> dict[str, str]:
    """SHA-256 of every file under each path, by path; "missing" for a path that is not there."""
    digests = {}
    for given in paths:
        root = Path(given)
        if root.is_dir():
            files = sorted(
                p
                for p in root.rglob("*")
                if p.is_file() and not excluded(p.relative_to(root), exclude)
            )
        elif root.is_file():
            files = [root]
        else:
            digests[given] = "missing"
            continue
        for path in files:
            digests[str(path)] = file_digest(path)
    return digests


def normalized(value: Any) -> Any:
    """``value`` with every list sorted: EC2 promises no order for tags, rules, routes..."""
    if isinstance(value, dict):
        return {key: normalized(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted((normalized(item) for item in value), key=canonical)
    return value


def canonical(value: Any) -> str:
    # default=str: botocore answers hold datetimes.
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def sha256_of(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def tagged_monitoring(module: AnsibleAWSModule, tags: dict[str, str]) -> dict[str, dict]:
    """ARN -> tags of the alarms and topics carrying all of ``tags``."""
    tagging = aws_client(module, "resourcegroupstaggingapi")
    filters = [{"Key": key, "Values": [value]} for key, value in tags.items()]
    with aws_errors(module, "list the tagged alarms and topics", "tag:GetResources"):
        found = paginate(
            tagging, "get_resources", TagFilters=filters, ResourceTypeFilters=MONITORING_TYPES
        )
    return {
        m["ResourceARN"]: boto3_tags_to_dict(m.get("Tags"))
        for m in answer_member(found, "ResourceTagMappingList")
    }


def alarm_states(module: AnsibleAWSModule, names: list[str]) -> list[dict[str, Any]]:
    alarms = describe_alarms(module, aws_client(module, "cloudwatch"), names)
    return [{k: v for k, v in a.items() if k not in ALARM_STATE_FIELDS} for a in alarms]


def topic_subscriptions(module: AnsibleAWSModule, sns, arn: str) -> list[list[str]] | None:
    """The topic's (protocol, endpoint) pairs; None for a topic that no longer exists, which the
    tagging API may still list for minutes after its deletion ("previously tagged")."""
    with aws_errors(module, f"read the subscriptions of {arn}", "sns:ListSubscriptionsByTopic"):
        try:
            answer = paginate(sns, "list_subscriptions_by_topic", TopicArn=arn)
        except Exception as exc:
            if error_code(exc) != "NotFound":
                raise
            return None
    found = answer_member(answer, "Subscriptions")
    return sorted([s.get("Protocol", ""), s.get("Endpoint", "")] for s in found)


def monitoring_state(module: AnsibleAWSModule, tags: dict[str, str]) -> list[dict[str, Any]]:
    tagged = tagged_monitoring(module, tags)
    alarm_arns = {arn.partition(":alarm:")[2]: arn for arn in tagged if ":alarm:" in arn}
    state: list[dict[str, Any]] = [
        {
            "type": "cloudwatch:alarm",
            "state": normalized(alarm),
            "tags": tagged.get(alarm["AlarmArn"], {}),
        }
        for alarm in (alarm_states(module, sorted(alarm_arns)) if alarm_arns else [])
    ]
    topics = [arn for arn in tagged if arn.split(":")[2] == "sns"]
    sns = aws_client(module, "sns") if topics else None
    for arn in topics:
        subscriptions = topic_subscriptions(module, sns, arn)
        if subscriptions is None:
            continue
        state.append(
            {"type": "sns", "arn": arn, "tags": tagged[arn], "subscriptions": subscriptions}
        )
    return state


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            tags=dict(type="dict", required=True),
            inputs_digest=dict(type="str", default="", no_log=False),
            sources=dict(type="list", elements="path", default=[]),
            include_monitoring=dict(type="bool", default=False),
            exclude=dict(type="list", elements="str", default=DEFAULT_EXCLUDE),
        ),
        supports_check_mode=True,
    )
    # Tag values are strings: a value written as a YAML number still matches.
    tags = {str(key): str(value) for key, value in module.params["tags"].items()}
    if not tags:
        module.fail_json(msg="tags is empty: give the tags that mark the stack's resources")
    ec2 = aws_client(module, "ec2")
    resources = live_state(module, ec2, tags)
    kinds = list(KINDS)
    if module.params["include_monitoring"]:
        resources = sorted(resources + monitoring_state(module, tags), key=canonical)
        kinds += MONITORING_TYPES
    settings = {
        "inputs": module.params["inputs_digest"],
        "sources": source_digests(module.params["sources"], module.params["exclude"]),
        "amazon.aws": AMAZON_AWS_COLLECTION_VERSION,
    }
    settings_digest = sha256_of(settings)
    counts = Counter(entry["type"] for entry in resources)
    module.exit_json(
        changed=False,
        digest=sha256_of({"resources": resources, "settings": settings_digest}),
        settings_digest=settings_digest,
        resource_count={kind: counts.get(kind, 0) for kind in kinds},
        region=ec2.meta.region_name,
    )


if __name__ == "__main__":
    main()
