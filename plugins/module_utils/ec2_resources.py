# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The EC2 resource types a project's stack is made of, and how to list them.

Shared by tag_compliance (the rules on the stack in a VPC) and tagged_resources_info (what still
carries the project's tags anywhere in the region): both must agree on what a resource of the
stack is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.taskstack.aws.plugins.module_utils.stack_aws import (
    answer_member,
    aws_errors,
    boto3_tags_to_dict,
    paginate,
)

LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]
# A shutting-down instance still exists: after a teardown it is a leftover.
EXISTING_INSTANCE_STATES = [*LIVE_INSTANCE_STATES, "shutting-down"]


@dataclass(frozen=True)
class Kind:
    """How to list one EC2 resource type."""

    name: str  # EC2 resource type, as DescribeTags spells it
    operation: str
    result_key: str
    id_key: str
    permission: str


KINDS = {
    kind.name: kind
    for kind in (
        Kind("vpc", "describe_vpcs", "Vpcs", "VpcId", "ec2:DescribeVpcs"),
        Kind("subnet", "describe_subnets", "Subnets", "SubnetId", "ec2:DescribeSubnets"),
        Kind(
            "route-table",
            "describe_route_tables",
            "RouteTables",
            "RouteTableId",
            "ec2:DescribeRouteTables",
        ),
        Kind(
            "internet-gateway",
            "describe_internet_gateways",
            "InternetGateways",
            "InternetGatewayId",
            "ec2:DescribeInternetGateways",
        ),
        Kind(
            "security-group",
            "describe_security_groups",
            "SecurityGroups",
            "GroupId",
            "ec2:DescribeSecurityGroups",
        ),
        Kind(
            "instance", "describe_instances", "Reservations", "InstanceId", "ec2:DescribeInstances"
        ),
        Kind("volume", "describe_volumes", "Volumes", "VolumeId", "ec2:DescribeVolumes"),
        Kind(
            "network-interface",
            "describe_network_interfaces",
            "NetworkInterfaces",
            "NetworkInterfaceId",
            "ec2:DescribeNetworkInterfaces",
        ),
        Kind("key-pair", "describe_key_pairs", "KeyPairs", "KeyPairId", "ec2:DescribeKeyPairs"),
    )
}


@dataclass
class Resource:
    resource_id: str
    resource_type: str
    tags: dict[str, str]
    name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def public(self) -> dict[str, Any]:
        result = {"resource_id": self.resource_id, "resource_type": self.resource_type}
        if self.name:
            result["name"] = self.name
        return result


def resource_from(kind: Kind, item: dict[str, Any]) -> Resource:
    tags = boto3_tags_to_dict(item.get("Tags") or item.get("TagSet"))
    name = tags.get("Name") or item.get("KeyName") or item.get("GroupName")
    return Resource(item[kind.id_key], kind.name, tags, name, item)


def describe(module: AnsibleAWSModule, ec2, kind_name: str, **kwargs: Any) -> list[Resource]:
    """Every resource of one kind matching the request (instances flattened)."""
    kind = KINDS[kind_name]
    with aws_errors(module, f"list {kind.name}s", kind.permission):
        if kind.name == "key-pair":  # no paginator for DescribeKeyPairs
            items = answer_member(ec2.describe_key_pairs(aws_retry=True, **kwargs), "KeyPairs")
        else:
            items = paginate(ec2, kind.operation, **kwargs).get(kind.result_key, [])
    if kind.name == "instance":
        items = [instance for reservation in items for instance in reservation["Instances"]]
    return [resource_from(kind, item) for item in items]


def ec2_tagged(module: AnsibleAWSModule, ec2, tags: dict[str, str]) -> list[Resource]:
    """The stack's EC2 types, listed one by one: only what still exists."""
    tag_filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in tags.items()]
    found: list[Resource] = []
    for kind in KINDS:
        filters = list(tag_filters)
        if kind == "instance":
            filters.append({"Name": "instance-state-name", "Values": EXISTING_INSTANCE_STATES})
        found += describe(module, ec2, kind, Filters=filters)
    return found
