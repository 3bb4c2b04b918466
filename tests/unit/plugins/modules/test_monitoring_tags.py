"""monitoring_tags against moto in process: the project's alarms and topic are tagged, another
owner's are refused before anything changes."""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.taskstack.aws.tests.unit.module_runner import (
    ACCOUNT_ID,
    REGION,
    run_module,
)
from ansible_collections.taskstack.aws.tests.unit.monitoring import put_cpu_alarm

OWNER = {"Project": "taskstack"}
TAGS = {"Project": "taskstack", "Environment": "dev", "ManagedBy": "ansible"}
ALARM = "taskstack-cpu-high"
TOPIC = "taskstack-alarms"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{TOPIC}"
ALARM_ARN = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{ALARM}"


@pytest.fixture
def cloudwatch(aws):
    return boto3.client("cloudwatch", region_name=REGION)


@pytest.fixture
def sns(aws):
    return boto3.client("sns", region_name=REGION)


def put_alarm(cloudwatch, name: str = ALARM, tags: dict[str, str] | None = None) -> None:
    put_cpu_alarm(name, tags)


def tags_of_alarm(cloudwatch, arn: str = ALARM_ARN) -> dict[str, str]:
    answer = cloudwatch.list_tags_for_resource(ResourceARN=arn)
    return {tag["Key"]: tag["Value"] for tag in answer["Tags"]}


def tags_of_topic(sns) -> dict[str, str]:
    answer = sns.list_tags_for_resource(ResourceArn=TOPIC_ARN)
    return {tag["Key"]: tag["Value"] for tag in answer["Tags"]}


def tag(check_mode: bool = False, **args) -> dict:
    args = {"alarms": [ALARM], "topics": [TOPIC], "tags": TAGS, "owner_tags": OWNER} | args
    return run_module("monitoring_tags", args, check_mode=check_mode)


def test_nothing_there_is_no_change_and_names_the_arns(cloudwatch, sns):
    result = tag()
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is False
    assert [(r["kind"], r["arn"], r["exists"]) for r in result["resources"]] == [
        ("alarm", ALARM_ARN, False),
        ("topic", TOPIC_ARN, False),
    ]


def test_an_untagged_alarm_made_by_the_caller_is_tagged_once(cloudwatch, sns):
    put_alarm(cloudwatch, tags=OWNER)
    sns.create_topic(Name=TOPIC, Tags=[{"Key": "Project", "Value": "taskstack"}])

    rehearsed = tag(check_mode=True)
    assert rehearsed["changed"] is True
    assert rehearsed["added"][ALARM_ARN] == {"Environment": "dev", "ManagedBy": "ansible"}
    assert tags_of_alarm(cloudwatch) == OWNER  # check mode changed nothing

    first = tag()
    assert first["changed"] is True
    assert tags_of_alarm(cloudwatch) == TAGS
    assert tags_of_topic(sns) == TAGS
    again = tag()
    assert again["changed"] is False and again["added"] == {}


def test_tags_the_resource_has_besides_are_kept(cloudwatch, sns):
    put_alarm(cloudwatch, tags=OWNER | {"Team": "web"})
    assert tag(topics=[])["changed"] is True
    assert tags_of_alarm(cloudwatch) == TAGS | {"Team": "web"}


@pytest.mark.parametrize("kind", ["alarm", "topic"])
def test_a_name_of_another_owner_is_refused_and_left_as_it_was(cloudwatch, sns, kind):
    if kind == "alarm":
        put_alarm(cloudwatch, tags={"Project": "billing"})
    else:
        sns.create_topic(Name=TOPIC)
    result = tag()
    assert result.get("failed") is True
    assert result["error_code"] == "ResourceNotOwned"
    assert "exists without the tags Project=taskstack: it is not the caller's" in result["msg"]
    if kind == "alarm":
        assert tags_of_alarm(cloudwatch) == {"Project": "billing"}
    else:
        assert tags_of_topic(sns) == {}


def test_without_owner_tags_a_resource_is_taken_over(cloudwatch, sns):
    sns.create_topic(Name=TOPIC)
    result = tag(alarms=[], owner_tags=None)
    assert result["changed"] is True
    assert tags_of_topic(sns) == TAGS


def test_an_empty_name_is_refused_before_any_call(no_aws_calls):
    result = tag(alarms=[" "])
    assert result.get("failed") is True
    assert result["msg"] == "alarms and topics must not hold an empty name: remove it"


def test_a_refused_tag_call_names_the_permission(cloudwatch, sns, aws_error):
    put_alarm(cloudwatch, tags=OWNER)
    aws_error("TagResource", "AccessDenied")
    result = tag(topics=[])
    assert result.get("failed") is True
    assert "the credentials need the cloudwatch:TagResource permission" in result["msg"]
