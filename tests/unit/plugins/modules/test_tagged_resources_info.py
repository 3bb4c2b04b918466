"""tagged_resources_info against moto in process: what is left of a project, anywhere."""

from __future__ import annotations

import boto3
from ansible_collections.taskstack.aws.tests.unit.ec2_stack import (
    STACK_TYPES,
    TAGS,
    run_instance,
    tag_specs,
)
from ansible_collections.taskstack.aws.tests.unit.module_runner import REGION, run_module
from ansible_collections.taskstack.aws.tests.unit.monitoring import put_cpu_alarm, tag_list


def leftovers(check_mode: bool = False) -> dict:
    result = run_module(
        "tagged_resources_info", {"tags": {"Project": "taskstack"}}, check_mode=check_mode
    )
    # An _info module answers; the caller (roles/aws_teardown/tasks/leftovers.yml) decides.
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is False
    return result


def test_leftovers_lists_the_whole_stack(stack):
    result = leftovers()
    assert {r["resource_type"] for r in result["resources"]} == STACK_TYPES
    assert stack.other_vpc not in {r["resource_id"] for r in result["resources"]}


def test_leftovers_in_check_mode_are_the_same(stack):
    assert leftovers(check_mode=True)["resources"] == leftovers()["resources"]


def test_leftovers_passes_on_an_empty_account(aws):
    assert leftovers()["resources"] == []


def test_leftovers_finds_one_remaining_resource(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    instance = run_instance(ec2, subnet, TAGS)
    ec2.terminate_instances(InstanceIds=[instance])  # gone, even if its tags still show
    ec2.create_key_pair(KeyName="taskstack-key", TagSpecifications=tag_specs("key-pair"))
    result = leftovers()
    assert [(r["resource_type"], r["name"]) for r in result["resources"]] == [
        ("key-pair", "taskstack-key")
    ]


def test_leftovers_finds_other_types_through_describe_tags(ec2):
    allocation = ec2.allocate_address(Domain="vpc", TagSpecifications=tag_specs("elastic-ip"))
    result = leftovers()
    assert [r["resource_id"] for r in result["resources"]] == [allocation["AllocationId"]]


def test_a_refused_tagging_api_is_a_warning(ec2, aws_error):
    ec2.create_key_pair(KeyName="taskstack-key", TagSpecifications=tag_specs("key-pair"))
    aws_error("GetResources", "AccessDeniedException")
    result = leftovers()
    assert [r["resource_type"] for r in result["resources"]] == ["key-pair"]
    assert "tag:GetResources" in str(result["warnings"])
    assert "only the EC2 types listed one by one were checked" in str(result["warnings"])


def test_empty_tags_are_refused_before_any_aws_call(no_aws_calls):
    result = run_module("tagged_resources_info", {"tags": {}})
    assert result["failed"] is True
    assert result["msg"] == "tags is empty: give the tags that mark the project's resources"


def test_alarms_and_a_topic_deleted_but_still_in_the_tagging_api_are_not_left(
    ec2, tagging_lists_deleted
):
    """AWS's tagging API lists deleted resources for a while ("previously tagged"): right after
    the teardown deleted them, the audit does not count them as left; live ones still count."""
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="taskstack-alarms", Tags=tag_list(TAGS))["TopicArn"]
    put_cpu_alarm("taskstack-cpu-high", TAGS)
    put_cpu_alarm("taskstack-disk-low", TAGS)
    kinds = sorted(r["resource_type"] for r in leftovers()["resources"])
    assert kinds == ["cloudwatch:alarm", "cloudwatch:alarm", "sns:sns"]
    boto3.client("cloudwatch", region_name=REGION).delete_alarms(AlarmNames=["taskstack-cpu-high"])
    sns.delete_topic(TopicArn=topic)
    assert topic in tagging_lists_deleted
    assert [r["resource_id"] for r in leftovers()["resources"]] == ["taskstack-disk-low"]


def test_a_refused_lookup_of_the_tagged_topics_keeps_them_listed_with_a_warning(ec2, aws_error):
    sns = boto3.client("sns", region_name=REGION)
    sns.create_topic(Name="taskstack-alarms", Tags=tag_list(TAGS))
    aws_error("GetTopicAttributes", "AuthorizationError")
    result = leftovers()
    assert [r["resource_type"] for r in result["resources"]] == ["sns:sns"]
    assert "sns:GetTopicAttributes" in str(result["warnings"])
