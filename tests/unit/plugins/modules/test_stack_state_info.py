"""stack_state_info against moto in process: one digest that moves with any change that matters."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.taskstack.aws.tests.unit.ec2_stack import TAGS, Stack, tag_specs
from ansible_collections.taskstack.aws.tests.unit.module_runner import run_module
from ansible_collections.taskstack.aws.tests.unit.monitoring import put_cpu_alarm, tag_list


def digest(check_mode: bool = False, **args) -> dict:
    result = run_module("stack_state_info", {"tags": TAGS, **args}, check_mode=check_mode)
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is False
    return result


def test_the_digest_of_an_unchanged_stack_is_stable_and_counts_it(stack: Stack):
    first = digest()
    assert first["region"] == "eu-west-3"
    assert digest(check_mode=True)["digest"] == first["digest"]
    assert set(first["resource_count"]) >= {"vpc", "subnet", "security-group", "instance"}
    assert first["resource_count"]["vpc"] == 1


def test_a_new_firewall_rule_changes_the_digest(ec2, stack: Stack):
    before = digest()["digest"]
    ec2.authorize_security_group_ingress(
        GroupId=stack.sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 3306,
                "ToPort": 3306,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    assert digest()["digest"] != before


def test_a_changed_tag_changes_the_digest(ec2, stack: Stack):
    before = digest()["digest"]
    ec2.create_tags(Resources=[stack.vpc], Tags=[{"Key": "Owner", "Value": "someone"}])
    assert digest()["digest"] != before


def test_a_stopped_instance_changes_the_digest(ec2, stack: Stack):
    before = digest()["digest"]
    ec2.stop_instances(InstanceIds=[stack.instance])
    assert digest()["digest"] != before


def test_dns_settings_of_the_vpc_change_the_digest(ec2, stack: Stack):
    before = digest()["digest"]
    ec2.modify_vpc_attribute(VpcId=stack.vpc, EnableDnsHostnames={"Value": True})
    assert digest()["digest"] != before


def test_a_resource_that_loses_the_tags_changes_the_digest(ec2, stack: Stack):
    before = digest()
    ec2.delete_tags(Resources=[stack.sg], Tags=[{"Key": "Project"}])
    after = digest()
    assert after["digest"] != before["digest"]
    assert (
        after["resource_count"]["security-group"] == before["resource_count"]["security-group"] - 1
    )


def test_free_addresses_of_a_subnet_do_not_change_the_digest(ec2, stack: Stack):
    before = digest()["digest"]
    # An interface of someone else in the subnet takes an address: AvailableIpAddressCount moves.
    ec2.create_network_interface(SubnetId=stack.subnet)
    assert digest()["digest"] == before


def test_metadata_options_settling_after_launch_do_not_change_the_digest(
    stack: Stack, aws_answer, ec2
):
    applied = digest()["digest"]
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in TAGS.items()]
    answer = ec2.describe_instances(Filters=filters)
    # What AWS answers for a while after RunInstances: the options are not applied yet.
    answer["Reservations"][0]["Instances"][0]["MetadataOptions"]["State"] = "pending"
    aws_answer("DescribeInstances", answer)
    assert digest()["digest"] == applied
    answer["Reservations"][0]["Instances"][0]["MetadataOptions"]["HttpPutResponseHopLimit"] = 5
    assert digest()["digest"] != applied


def test_resources_without_all_the_tags_are_not_read(ec2, stack: Stack):
    before = digest()["digest"]
    ec2.create_vpc(
        CidrBlock="10.9.0.0/16", TagSpecifications=tag_specs("vpc", tags={"Project": "taskstack"})
    )
    assert digest()["digest"] == before


def test_inputs_and_source_files_are_part_of_the_digest(stack: Stack, tmp_path: Path):
    role = tmp_path / "role"
    (role / "tasks").mkdir(parents=True)
    (role / "tasks" / "main.yml").write_text("---\n")
    base = digest(inputs_digest="settings-1", sources=[str(role)])["digest"]
    assert digest(inputs_digest="settings-2", sources=[str(role)])["digest"] != base
    (role / "tasks" / "main.yml").write_text("--- # changed\n")
    assert digest(inputs_digest="settings-1", sources=[str(role)])["digest"] != base


def test_a_missing_source_counts_as_missing_not_as_an_error(stack: Stack, tmp_path: Path):
    key = tmp_path / "keys" / "taskstack-key"
    absent = digest(sources=[str(key)])["digest"]
    key.parent.mkdir()
    key.write_text("key")
    assert digest(sources=[str(key)])["digest"] != absent


def test_an_empty_account_has_a_digest_too(aws):
    result = digest()
    assert set(result["resource_count"].values()) == {0}
    assert len(result["digest"]) == 64


@pytest.mark.parametrize("tags", [{}])
def test_empty_tags_are_refused_before_any_aws_call(no_aws_calls, tags):
    result = run_module("stack_state_info", {"tags": tags})
    assert result["failed"] is True
    assert result["msg"] == "tags is empty: give the tags that mark the stack's resources"


def test_a_refused_read_names_the_permission(stack: Stack, aws_error):
    aws_error("DescribeVpcAttribute", "UnauthorizedOperation")
    result = run_module("stack_state_info", {"tags": TAGS})
    assert result["failed"] is True
    assert "ec2:DescribeVpcAttribute" in result["msg"]


def test_the_order_aws_lists_things_in_does_not_change_the_digest(stack: Stack, aws_answer, ec2):
    before = digest()["digest"]
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in TAGS.items()]
    answer = ec2.describe_vpcs(Filters=filters)
    answer["Vpcs"][0]["Tags"].reverse()  # EC2 promises no order for tags, rules, routes...
    aws_answer("DescribeVpcs", answer)
    assert digest()["digest"] == before


def test_caches_and_env_files_under_the_sources_do_not_count(stack: Stack, tmp_path: Path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "compose.yaml").write_text("services: {}\n")
    before = digest(sources=[str(app)])["digest"]
    (app / ".env").write_text("PASSWORD=x\n")
    (app / "__pycache__").mkdir()
    (app / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"pyc")
    assert digest(sources=[str(app)])["digest"] == before


# ---------------------------------------------------------------- alarms and their topic


@pytest.fixture
def monitoring(stack: Stack):
    """The project's CPU alarm and alarm topic, tagged like the stack, one e-mail subscriber;
    another project's alarm beside them."""
    import boto3

    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-3")
    sns = boto3.client("sns", region_name="eu-west-3")
    topic = sns.create_topic(Name="taskstack-alarms", Tags=tag_list(TAGS))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")

    def put_alarm(name: str, threshold: float = 80.0, alarm_tags: dict | None = None) -> None:
        put_cpu_alarm(
            name,
            TAGS if alarm_tags is None else alarm_tags,
            Threshold=threshold,
            Dimensions=[{"Name": "InstanceId", "Value": stack.instance}],
            AlarmActions=[topic],
        )

    put_alarm("taskstack-cpu-high")
    put_alarm("billing-cpu-high", alarm_tags={"Project": "billing"})
    return cloudwatch, sns, topic, put_alarm


def test_the_alarms_and_topic_count_only_when_asked(monitoring):
    without = digest()
    counted = digest(include_monitoring=True)
    assert "cloudwatch:alarm" not in without["resource_count"]
    assert counted["resource_count"]["cloudwatch:alarm"] == 1  # not billing's
    assert counted["resource_count"]["sns"] == 1
    assert counted["digest"] != without["digest"]
    assert digest(include_monitoring=True)["digest"] == counted["digest"]


def test_an_alarm_changed_or_deleted_by_hand_changes_the_digest(monitoring):
    cloudwatch, _sns, _topic, put_alarm = monitoring
    before = digest(include_monitoring=True)["digest"]
    put_alarm("taskstack-cpu-high", threshold=95.0)
    changed = digest(include_monitoring=True)["digest"]
    assert changed != before
    cloudwatch.delete_alarms(AlarmNames=["taskstack-cpu-high"])
    assert digest(include_monitoring=True)["digest"] not in (before, changed)


def test_an_alarm_going_off_does_not_change_the_digest(monitoring):
    cloudwatch, _sns, _topic, _put = monitoring
    before = digest(include_monitoring=True)["digest"]
    cloudwatch.set_alarm_state(
        AlarmName="taskstack-cpu-high", StateValue="ALARM", StateReason="test: CPU high"
    )
    assert digest(include_monitoring=True)["digest"] == before


def test_a_new_subscriber_changes_the_digest(monitoring):
    _cloudwatch, sns, topic, _put = monitoring
    before = digest(include_monitoring=True)["digest"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="someone@example.org")
    assert digest(include_monitoring=True)["digest"] != before


def test_alarms_and_a_topic_deleted_but_still_in_the_tagging_api_count_as_gone(
    monitoring, tagging_lists_deleted
):
    """AWS's tagging API lists deleted resources for a while: the digest right after a teardown
    is that of no alarm and no topic, not a failure to read the topic's subscriptions."""
    cloudwatch, sns, topic, _put = monitoring
    assert digest(include_monitoring=True)["resource_count"]["sns"] == 1
    cloudwatch.delete_alarms(AlarmNames=["taskstack-cpu-high", "billing-cpu-high"])
    sns.delete_topic(TopicArn=topic)
    assert topic in tagging_lists_deleted
    after = digest(include_monitoring=True)
    assert after["resource_count"]["cloudwatch:alarm"] == 0
    assert after["resource_count"]["sns"] == 0
