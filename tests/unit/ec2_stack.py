"""A project's stack in moto, for the modules that audit or list it.

The stack (a VPC with one of each resource type, all tagged) plus untagged resources in the
default VPC and another project's VPC, which the modules must never report nor touch.
"""

from __future__ import annotations

from dataclasses import dataclass

TAGS = {"Project": "taskstack", "Environment": "dev"}
STACK_TYPES = {
    "vpc",
    "subnet",
    "route-table",
    "internet-gateway",
    "security-group",
    "instance",
    "volume",
    "network-interface",
    "key-pair",
}


def tag_specs(*types: str, tags: dict[str, str] | None = None) -> list[dict]:
    tags = TAGS if tags is None else tags
    return [
        {"ResourceType": t, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        for t in types
    ]


def tags_of(ec2, resource_id: str) -> dict[str, str]:
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
    return {t["Key"]: t["Value"] for t in found}


@dataclass
class Stack:
    vpc: str
    subnet: str
    route_table: str
    igw: str
    sg: str
    instance: str
    key_pair: str
    default_subnet: str
    default_instance: str
    other_vpc: str
    other_subnet: str


def run_instance(ec2, subnet: str, tags: dict[str, str] | None, **extra) -> str:
    image = ec2.register_image(
        Name=f"test-image-{subnet}",
        RootDeviceName="/dev/sda1",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}],
    )["ImageId"]
    specs = tag_specs("instance", "volume", tags=tags) if tags else []
    kwargs = {"TagSpecifications": specs} if specs else {}
    return ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        SubnetId=subnet,
        **kwargs,
        **extra,
    )["Instances"][0]["InstanceId"]


def tag_instance_interfaces(ec2, instance: str) -> None:
    """What the project does after ec2_instance, which does not tag the interface."""
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance]}]
    )["NetworkInterfaces"]
    ec2.create_tags(
        Resources=[e["NetworkInterfaceId"] for e in enis],
        Tags=[{"Key": k, "Value": v} for k, v in TAGS.items()],
    )


def build_stack(ec2) -> Stack:
    """A compliant project stack, plus untagged resources in the default VPC and another VPC."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=tag_specs("vpc"))["Vpc"][
        "VpcId"
    ]
    subnet = ec2.create_subnet(
        VpcId=vpc, CidrBlock="10.0.1.0/24", TagSpecifications=tag_specs("subnet")
    )["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway(TagSpecifications=tag_specs("internet-gateway"))
    igw_id = igw["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc)
    route_table = ec2.create_route_table(VpcId=vpc, TagSpecifications=tag_specs("route-table"))
    rtb = route_table["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
    sg = ec2.create_security_group(
        GroupName="taskstack-web",
        Description="web",
        VpcId=vpc,
        TagSpecifications=tag_specs("security-group"),
    )["GroupId"]
    key = ec2.create_key_pair(KeyName="taskstack-key", TagSpecifications=tag_specs("key-pair"))
    instance = run_instance(ec2, subnet, TAGS, SecurityGroupIds=[sg])
    tag_instance_interfaces(ec2, instance)

    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    default_subnet = ec2.create_subnet(VpcId=default_vpc["VpcId"], CidrBlock="172.31.200.0/24")
    default_subnet_id = default_subnet["Subnet"]["SubnetId"]
    default_instance = run_instance(ec2, default_subnet_id, None)

    other_vpc = ec2.create_vpc(
        CidrBlock="10.1.0.0/16", TagSpecifications=tag_specs("vpc", tags={"Project": "other"})
    )["Vpc"]["VpcId"]
    other_subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    return Stack(
        vpc,
        subnet,
        rtb,
        igw_id,
        sg,
        instance,
        key["KeyPairId"],
        default_subnet_id,
        default_instance,
        other_vpc,
        other_subnet,
    )
