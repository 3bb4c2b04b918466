"""Resource-level IAM as AWS evaluates it (embedded/iam_enforcement.py), against the
deployer policy (iam/deployer-policy.json) and a few small policies.

Resources are made with moto in process; each request is given to the enforcement as the
emulator's server would (EC2 query parameters, Budgets JSON body), as the deployer of project
"taskstack" in eu-west-3.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "embedded"))
import iam_enforcement as iam  # noqa: E402 - embedded/ is found through sys.path

REGION = "eu-west-3"
PROJECT = "taskstack"
CANONICAL = "099720109477"
# An AWS Marketplace seller's account: its images may bill by the hour.
MARKETPLACE = "679593333241"
DEPLOYER_TAGS: dict[str, iam.Value] = {
    "aws:principaltag/project": PROJECT,
    "aws:principaltag/deployregion": REGION,
}
POLICIES = [
    json.loads((ROOT / "iam" / n).read_text())
    for n in ("deployer-policy.json", "deployer-policy-alarms.json")
]
# The deployer's two managed policies, as one document.
POLICY = dict(POLICIES[0], Statement=POLICIES[0]["Statement"] + POLICIES[1]["Statement"])


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, str]]:
    """The project's VPC, subnet, security group and key pair, another project's key pair,
    and two images: one of Canonical's and one of a Marketplace seller's. One moto for the
    module (its first EC2 call takes seconds): tests only add resources of their own."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        ours = [{"ResourceType": "", "Tags": [{"Key": "Project", "Value": PROJECT}]}]

        def spec(kind: str, project: str = PROJECT) -> list[dict[str, Any]]:
            return [{"ResourceType": kind, "Tags": [{"Key": "Project", "Value": project}]}]

        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=spec("vpc"))["Vpc"]
        subnet = ec2.create_subnet(
            VpcId=vpc["VpcId"], CidrBlock="10.0.1.0/24", TagSpecifications=spec("subnet")
        )["Subnet"]
        group = ec2.create_security_group(
            GroupName="web",
            Description="web",
            VpcId=vpc["VpcId"],
            TagSpecifications=spec("security-group"),
        )
        ec2.create_key_pair(KeyName="taskstack-key", TagSpecifications=spec("key-pair"))
        ec2.create_key_pair(KeyName="other-key", TagSpecifications=spec("key-pair", "other"))
        amis = ec2_backends[DEFAULT_ACCOUNT_ID][REGION].amis
        canonical, marketplace = list(amis)[:2]
        amis[canonical].owner_id = CANONICAL
        amis[marketplace].owner_id = MARKETPLACE
        assert ours  # the tags every resource above carries
        yield {
            "vpc": vpc["VpcId"],
            "subnet": subnet["SubnetId"],
            "group": group["GroupId"],
            "canonical": canonical,
            "marketplace": marketplace,
        }


def query(**params: str) -> dict[str, list[str]]:
    """EC2 query parameters as moto's server hands them over (lists of strings)."""
    return {name.replace("_", "."): [value] for name, value in params.items()}


def allowed(
    action: str,
    data: dict[str, list[str]] | None = None,
    body: str = "",
    policy: dict[str, Any] = POLICY,
) -> bool:
    operation = action.split(":", 1)[1]
    if action.startswith("budgets:"):
        operation, action = action.split(":", 1)[1], iam.iam_action("budgets", operation)
    request = iam.Request(operation, REGION, DEFAULT_ACCOUNT_ID, data or {}, body)
    return all(d.allowed for d in iam.decide([policy], action, request, DEPLOYER_TAGS))


def run_instances(stack: dict[str, str], **changes: str) -> dict[str, list[str]]:
    """RunInstances as roles/aws_instance sends it (amazon.aws.ec2_instance), with changes."""
    params = {
        "ImageId": stack["canonical"],
        "InstanceType": "t3.micro",
        "KeyName": "taskstack-key",
        "MinCount": "1",
        "MaxCount": "1",
        "NetworkInterface_1_DeviceIndex": "0",
        "NetworkInterface_1_SubnetId": stack["subnet"],
        "NetworkInterface_1_SecurityGroupId_1": stack["group"],
        "BlockDeviceMapping_1_DeviceName": "/dev/sda1",
        "BlockDeviceMapping_1_Ebs_VolumeType": "gp3",
        "BlockDeviceMapping_1_Ebs_Encrypted": "true",
        "MetadataOptions_HttpTokens": "required",
        "TagSpecification_1_ResourceType": "instance",
        "TagSpecification_1_Tag_1_Key": "Project",
        "TagSpecification_1_Tag_1_Value": PROJECT,
        "TagSpecification_2_ResourceType": "volume",
        "TagSpecification_2_Tag_1_Key": "Project",
        "TagSpecification_2_Tag_1_Value": PROJECT,
    }
    params.update(changes)
    return query(**{k: v for k, v in params.items() if v != "-"})


# ---------------------------------------------------------------- Budgets


def test_describe_budgets_is_authorized_on_every_budget_not_on_one_name() -> None:
    """AWS checks budgets:ViewBudget on budget/* for DescribeBudgets (it lists them all)."""
    only_ours = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "budgets:ViewBudget",
                "Resource": "arn:aws:budgets::*:budget/${aws:PrincipalTag/Project}-*",
            }
        ],
    }
    one = json.dumps({"AccountId": DEFAULT_ACCOUNT_ID, "BudgetName": "taskstack-monthly"})
    every = json.dumps({"AccountId": DEFAULT_ACCOUNT_ID})
    assert allowed("budgets:DescribeBudget", body=one, policy=only_ours)
    assert not allowed("budgets:DescribeBudgets", body=every, policy=only_ours)
    assert allowed("budgets:DescribeBudgets", body=every)


def test_the_deployer_changes_only_its_projects_budget() -> None:
    ours = {"AccountId": DEFAULT_ACCOUNT_ID, "Budget": {"BudgetName": "taskstack-monthly"}}
    theirs = {"AccountId": DEFAULT_ACCOUNT_ID, "Budget": {"BudgetName": "finance-monthly"}}
    assert allowed("budgets:CreateBudget", body=json.dumps(ours))
    assert not allowed("budgets:CreateBudget", body=json.dumps(theirs))
    assert not allowed("budgets:DeleteBudget", body=json.dumps(theirs["Budget"]))
    update = {"AccountId": DEFAULT_ACCOUNT_ID, "NewBudget": theirs["Budget"]}
    assert not allowed("budgets:UpdateBudget", body=json.dumps(update))
    update["NewBudget"] = ours["Budget"]
    assert allowed("budgets:UpdateBudget", body=json.dumps(update))


def test_creating_a_budget_with_tags_also_needs_tag_resource() -> None:
    """The SAR: "Creating a budget with tags also requires the 'budgets:TagResource'
    permission"."""
    modify_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "budgets:ModifyBudget",
                "Resource": "arn:aws:budgets::*:budget/*",
            }
        ],
    }
    budget = {"AccountId": DEFAULT_ACCOUNT_ID, "Budget": {"BudgetName": "taskstack-monthly"}}
    tagged = dict(budget, ResourceTags=[{"Key": "Project", "Value": PROJECT}])
    assert allowed("budgets:CreateBudget", body=json.dumps(budget), policy=modify_only)
    assert not allowed("budgets:CreateBudget", body=json.dumps(tagged), policy=modify_only)
    assert allowed("budgets:CreateBudget", body=json.dumps(tagged))


def test_the_tag_calls_are_authorized_on_the_budget_their_arn_names() -> None:
    def tag(name: str) -> str:
        arn = f"arn:aws:budgets::{DEFAULT_ACCOUNT_ID}:budget/{name}"
        return json.dumps({"ResourceARN": arn, "ResourceTags": [{"Key": "k", "Value": "v"}]})

    assert allowed("budgets:TagResource", body=tag("taskstack-monthly"))
    assert not allowed("budgets:TagResource", body=tag("finance-monthly"))


# ---------------------------------------------------------------- CloudWatch alarms, SNS

TOPIC_ARN = f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:taskstack-alarms"
RECOVER = f"arn:aws:automate:{REGION}:ec2:recover"


def alarm(name: str = "taskstack-cpu-high", actions: list[str] | None = None, **extra) -> str:
    """PutMetricAlarm's JSON body as amazon.aws.cloudwatch_metric_alarm sends it."""
    body = {"AlarmName": name, "MetricName": "CPUUtilization", "Namespace": "AWS/EC2"}
    return json.dumps(body | {"AlarmActions": [TOPIC_ARN] if actions is None else actions} | extra)


def test_the_deployer_changes_only_its_projects_alarms() -> None:
    assert allowed("cloudwatch:PutMetricAlarm", body=alarm())
    assert not allowed("cloudwatch:PutMetricAlarm", body=alarm("billing-cpu-high"))
    assert allowed("cloudwatch:DeleteAlarms", body=json.dumps({"AlarmNames": ["taskstack-x"]}))
    theirs = json.dumps({"AlarmNames": ["taskstack-cpu-high", "billing-cpu-high"]})
    assert not allowed("cloudwatch:DeleteAlarms", body=theirs)
    arn = f"arn:aws:cloudwatch:{REGION}:{DEFAULT_ACCOUNT_ID}:alarm:"
    tags = [{"Key": "Project", "Value": PROJECT}]
    assert allowed(
        "cloudwatch:TagResource",
        body=json.dumps({"ResourceARN": arn + "taskstack-x", "Tags": tags}),
    )
    assert not allowed(
        "cloudwatch:TagResource", body=json.dumps({"ResourceARN": arn + "b", "Tags": tags})
    )


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        ([RECOVER, TOPIC_ARN], True),
        ([], True),
        ([f"arn:aws:automate:{REGION}:ec2:terminate"], False),
        ([f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:billing-alarms"], False),
    ],
    ids=["recover-and-notify", "no-action", "terminate", "another-topic"],
)
def test_an_alarm_may_only_recover_the_instance_or_notify_the_project(
    actions: list[str], expected: bool
) -> None:
    """cloudwatch:AlarmActions: no alarm that terminates or stops instances, or that tells
    another topic."""
    assert allowed("cloudwatch:PutMetricAlarm", body=alarm(actions=actions)) is expected


def test_an_alarm_with_an_ec2_action_needs_the_callers_ec2_reads_and_cloudwatchs_role() -> None:
    """CloudWatch's API reference (PutMetricAlarm): EC2 permissions for alarms with EC2
    actions, and iam:CreateServiceLinkedRole for AWSServiceRoleForCloudWatchEvents."""
    alarms_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "cloudwatch:PutMetricAlarm", "Resource": "*"}],
    }
    assert allowed("cloudwatch:PutMetricAlarm", body=alarm(), policy=alarms_only)
    assert not allowed(
        "cloudwatch:PutMetricAlarm", body=alarm(actions=[RECOVER]), policy=alarms_only
    )
    assert allowed("cloudwatch:PutMetricAlarm", body=alarm(actions=[RECOVER]))


def test_creating_an_alarm_or_a_topic_with_tags_also_needs_tag_resource() -> None:
    tags = [{"Key": "Project", "Value": PROJECT}]
    put_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["cloudwatch:PutMetricAlarm", "sns:CreateTopic"],
                "Resource": "*",
            }
        ],
    }
    assert not allowed("cloudwatch:PutMetricAlarm", body=alarm(Tags=tags), policy=put_only)
    assert allowed("cloudwatch:PutMetricAlarm", body=alarm(Tags=tags))
    create = query(
        Name="taskstack-alarms", Tags_member_1_Key="Project", Tags_member_1_Value=PROJECT
    )
    assert allowed("sns:CreateTopic", create, policy=put_only) is False
    assert allowed("sns:CreateTopic", create)
    assert allowed("sns:CreateTopic", query(Name="taskstack-alarms"), policy=put_only)


def test_the_deployer_changes_only_its_projects_topic_and_subscribes_only_e_mail() -> None:
    assert not allowed("sns:CreateTopic", query(Name="billing-alarms"))
    assert allowed("sns:DeleteTopic", query(TopicArn=TOPIC_ARN))
    assert not allowed("sns:DeleteTopic", query(TopicArn=TOPIC_ARN.replace("taskstack", "billing")))
    mail = query(TopicArn=TOPIC_ARN, Protocol="email", Endpoint="ops@example.com")
    assert allowed("sns:Subscribe", mail)
    hook = query(TopicArn=TOPIC_ARN, Protocol="https", Endpoint="https://example.com/hook")
    assert not allowed("sns:Subscribe", hook)
    # No resource type in the SAR: bound to the deployer's region only.
    assert allowed("sns:Unsubscribe", query(SubscriptionArn=TOPIC_ARN + ":1234"))


# ---------------------------------------------------------------- RunInstances


def test_the_project_launch_is_allowed(stack: dict[str, str]) -> None:
    assert allowed("ec2:RunInstances", run_instances(stack))


def test_a_launch_with_user_data_and_its_later_read_are_allowed(stack: dict[str, str]) -> None:
    """aws_instance_bootstrap=user_data: the same launch with the document (base64), and the
    read of the document of an instance launched before (aws_instance's user_data.yml)."""
    assert allowed("ec2:RunInstances", run_instances(stack, UserData="I2Nsb3VkLWNvbmZpZwo="))
    ec2 = boto3.client("ec2", region_name=REGION)
    instance = ec2.run_instances(ImageId=stack["canonical"], MinCount=1, MaxCount=1)
    read = query(InstanceId=instance["Instances"][0]["InstanceId"], Attribute="userData")
    assert allowed("ec2:DescribeInstanceAttribute", read)


@pytest.mark.parametrize(
    "changes",
    [
        {"InstanceType": "m5.24xlarge"},
        {"BlockDeviceMapping_1_Ebs_Encrypted": "false"},
        {"BlockDeviceMapping_1_Ebs_Encrypted": "-"},  # the account's default: unencrypted
        {"BlockDeviceMapping_1_Ebs_VolumeType": "io2"},
        {"MetadataOptions_HttpTokens": "optional"},
        {"MetadataOptions_HttpTokens": "-"},  # RunInstances' default is optional (IMDSv1)
        {"ImageId": "marketplace"},
        {"KeyName": "other-key"},
        {"TagSpecification_1_Tag_1_Value": "other"},
    ],
    ids=[
        "instance-type",
        "unencrypted",
        "default-encryption",
        "volume-type",
        "imdsv1",
        "imds-default",
        "image-owner",
        "other-projects-key",
        "other-project-tag",
    ],
)
def test_a_launch_outside_the_bounds_is_denied(
    stack: dict[str, str], changes: dict[str, str]
) -> None:
    if changes.get("ImageId") == "marketplace":
        changes = {"ImageId": stack["marketplace"]}
    assert not allowed("ec2:RunInstances", run_instances(stack, **changes))


def test_each_resource_of_a_launch_is_checked_on_its_own(stack: dict[str, str]) -> None:
    """The resource types, ARNs and keys come from the SAR: image ARNs have no account, the
    instance carries ec2:InstanceType, the image ec2:Owner but no aws:RequestTag."""
    resources = iam.touched_resources(
        "ec2:RunInstances", run_instances(stack), REGION, DEFAULT_ACCOUNT_ID
    )
    by_type = {r.resource_type: r for r in resources}
    assert set(by_type) == {
        "image",
        "instance",
        "key-pair",
        "network-interface",
        "security-group",
        "subnet",
        "volume",
    }
    assert by_type["image"].arn == f"arn:aws:ec2:{REGION}::image/{stack['canonical']}"
    assert by_type["instance"].arn == f"arn:aws:ec2:{REGION}:{DEFAULT_ACCOUNT_ID}:instance/*"
    assert by_type["instance"].keys["ec2:instancetype"] == "t3.micro"
    assert by_type["image"].keys == {"ec2:owner": CANONICAL}
    assert by_type["subnet"].keys["aws:resourcetag/project"] == PROJECT
    assert by_type["volume"].keys["ec2:encrypted"] == "true"


# ---------------------------------------------------------------- tags and key pairs


def test_the_project_tag_of_an_existing_resource_cannot_change(stack: dict[str, str]) -> None:
    retag = query(ResourceId_1=stack["vpc"], Tag_1_Key="Project", Tag_1_Value="other")
    untag = query(ResourceId_1=stack["vpc"], Tag_1_Key="Project")
    other_tag = query(ResourceId_1=stack["vpc"], Tag_1_Key="Owner", Tag_1_Value="ops")
    assert not allowed("ec2:CreateTags", retag)
    assert not allowed("ec2:DeleteTags", untag)
    assert allowed("ec2:CreateTags", other_tag)
    assert allowed("ec2:DeleteTags", query(ResourceId_1=stack["vpc"], Tag_1_Key="Owner"))


def test_tagging_on_create_needs_create_tags_with_the_create_action(
    stack: dict[str, str],
) -> None:
    create = query(
        CidrBlock="10.1.0.0/16",
        TagSpecification_1_ResourceType="vpc",
        TagSpecification_1_Tag_1_Key="Project",
        TagSpecification_1_Tag_1_Value=PROJECT,
    )
    request = iam.Request("CreateVpc", REGION, DEFAULT_ACCOUNT_ID, create)
    decisions = iam.decide([POLICY], "ec2:CreateVpc", request, DEPLOYER_TAGS)
    assert [(d.action, d.allowed) for d in decisions] == [
        ("ec2:CreateVpc", True),
        ("ec2:CreateTags", True),
    ]
    no_tagging = {
        "Version": "2012-10-17",
        "Statement": [dict(s) for s in POLICY["Statement"] if s["Sid"] != "TagOnCreate"],
    }
    assert not allowed("ec2:CreateVpc", create, policy=no_tagging)


def test_only_the_projects_own_key_pair_can_be_deleted(stack: dict[str, str]) -> None:
    assert allowed("ec2:DeleteKeyPair", query(KeyName="taskstack-key"))
    assert not allowed("ec2:DeleteKeyPair", query(KeyName="other-key"))
    # amazon.aws.ec2_key's temporary fingerprint key: untagged, no longer deletable.
    assert not allowed("ec2:DeleteKeyPair", query(KeyName="ansible-0d1e"))


def test_key_pair_tags_are_changed_only_on_the_projects_key(stack: dict[str, str]) -> None:
    key_id = ec2_backends[DEFAULT_ACCOUNT_ID][REGION].key_pairs["taskstack-key"].id
    other_id = ec2_backends[DEFAULT_ACCOUNT_ID][REGION].key_pairs["other-key"].id
    name_tag = {"Tag_1_Key": "Name", "Tag_1_Value": "taskstack-key"}
    assert allowed("ec2:CreateTags", query(ResourceId_1=key_id, **name_tag))
    assert allowed("ec2:DeleteTags", query(ResourceId_1=key_id, Tag_1_Key="Name"))
    assert not allowed("ec2:CreateTags", query(ResourceId_1=other_id, **name_tag))


@pytest.mark.parametrize(
    "action",
    [
        "ec2:StartInstances",
        "ec2:StopInstances",
        "ec2:ModifyInstanceMetadataOptions",
    ],
)
def test_rerun_actions_reach_only_the_projects_instance(action: str, stack: dict[str, str]) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    launch = {"ImageId": stack["canonical"], "MinCount": 1, "MaxCount": 1}
    ours = ec2.run_instances(
        **launch,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Project", "Value": PROJECT}]}
        ],
    )["Instances"][0]["InstanceId"]
    theirs = ec2.run_instances(**launch)["Instances"][0]["InstanceId"]
    assert allowed(action, query(InstanceId_1=ours, InstanceId=ours))
    assert not allowed(action, query(InstanceId_1=theirs, InstanceId=theirs))


@pytest.mark.parametrize(
    "action",
    [
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupIngress",
    ],
)
def test_rule_changes_reach_only_the_projects_group(action: str, stack: dict[str, str]) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    default = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])[
        "SecurityGroups"
    ][0]["GroupId"]
    assert allowed(action, query(GroupId=stack["group"]))
    assert not allowed(action, query(GroupId=default))


@pytest.mark.parametrize("action", ["ec2:ReplaceRoute", "ec2:DeleteRoute"])
def test_route_changes_reach_only_the_projects_table(action: str, stack: dict[str, str]) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    main = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [stack["vpc"]]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"][0]["RouteTableId"]
    ours = ec2.create_route_table(
        VpcId=stack["vpc"],
        TagSpecifications=[
            {"ResourceType": "route-table", "Tags": [{"Key": "Project", "Value": PROJECT}]}
        ],
    )["RouteTable"]["RouteTableId"]
    route = {"DestinationCidrBlock": "0.0.0.0/0"}
    assert allowed(action, query(RouteTableId=ours, **route))
    assert not allowed(action, query(RouteTableId=main, **route))


def test_reads_and_the_region_are_checked_on_every_call() -> None:
    assert allowed("ec2:DescribeInstanceTypeOfferings")
    elsewhere = iam.Request("DescribeVpcs", "eu-west-1", DEFAULT_ACCOUNT_ID)
    create = iam.Request(
        "CreateVpc",
        "eu-west-1",
        DEFAULT_ACCOUNT_ID,
        query(
            TagSpecification_1_ResourceType="vpc",
            TagSpecification_1_Tag_1_Key="Project",
            TagSpecification_1_Tag_1_Value=PROJECT,
        ),
    )
    assert all(
        d.allowed for d in iam.decide([POLICY], "ec2:DescribeVpcs", elsewhere, DEPLOYER_TAGS)
    )
    with mock_aws():
        decided = iam.decide([POLICY], "ec2:CreateVpc", create, DEPLOYER_TAGS)
    assert not all(d.allowed for d in decided)


# ---------------------------------------------------------------- the evaluation rules


@pytest.mark.parametrize(
    ("operator", "key", "expected", "context", "met"),
    [
        ("StringEquals", "ec2:InstanceType", "t3.micro", {}, False),
        ("StringEqualsIfExists", "ec2:InstanceType", "t3.micro", {}, True),
        ("StringNotEquals", "ec2:InstanceType", "t3.micro", {}, True),
        ("Null", "aws:ResourceTag/Project", "true", {}, True),
        ("Null", "aws:ResourceTag/Project", "false", {}, False),
        ("Bool", "ec2:Encrypted", "true", {"ec2:encrypted": "false"}, False),
        (
            "ForAnyValue:StringEquals",
            "aws:TagKeys",
            "Project",
            {"aws:tagkeys": ["A", "Project"]},
            True,
        ),
        ("ForAnyValue:StringEquals", "aws:TagKeys", "Project", {}, False),
        (
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            ["Name"],
            {"aws:tagkeys": ["Name", "Project"]},
            False,
        ),
        ("ForAllValues:StringEquals", "aws:TagKeys", ["Name"], {}, True),
        (
            "StringLike",
            "aws:RequestTag/Name",
            "taskstack-*",
            {"aws:requesttag/name": "taskstack-web"},
            True,
        ),
    ],
)
def test_condition_operators_follow_iam(
    operator: str, key: str, expected: Any, context: dict[str, iam.Value], met: bool
) -> None:
    assert iam.condition_met(operator, key, expected, context) is met


def test_an_operator_the_emulator_does_not_know_never_helps_the_request() -> None:
    numeric = {"NumericLessThan": {"ec2:VolumeSize": "20"}}
    allow = {"Effect": "Allow", "Action": "ec2:*", "Resource": "*", "Condition": numeric}
    deny = dict(allow, Effect="Deny")
    context: dict[str, iam.Value] = {"ec2:volumesize": "8"}
    assert not iam.statement_applies(allow, "ec2:RunInstances", "*", context)
    assert iam.statement_applies(deny, "ec2:RunInstances", "*", context)


# ---------------------------------------------------------------- IAM's quotas


def policy_of_size(chars: int) -> str:
    """A valid policy document of exactly ``chars`` characters without white space."""
    base = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::"}],
    }
    padding = chars - len(json.dumps(base, separators=(",", ":")))
    base["Statement"][0]["Resource"] = "arn:aws:s3:::" + "x" * padding
    return json.dumps(base, indent=2)


def test_a_managed_policy_above_iams_quota_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """6,144 characters without white space (IAM and AWS STS quotas); moto accepts any size."""
    from botocore.exceptions import ClientError
    from moto.iam.models import IAMBackend

    for name in ("create_policy", "create_policy_version"):
        monkeypatch.setattr(IAMBackend, name, getattr(IAMBackend, name))  # put back after
    iam.install_policy_quota()
    with mock_aws():
        client = boto3.client("iam", region_name="us-east-1")
        arn = client.create_policy(PolicyName="fits", PolicyDocument=policy_of_size(6144))[
            "Policy"
        ]["Arn"]
        with pytest.raises(ClientError, match="Cannot exceed quota for PolicySize: 6144"):
            client.create_policy(PolicyName="too-large", PolicyDocument=policy_of_size(6145))
        with pytest.raises(ClientError, match="LimitExceeded"):
            client.create_policy_version(PolicyArn=arn, PolicyDocument=policy_of_size(6145))
