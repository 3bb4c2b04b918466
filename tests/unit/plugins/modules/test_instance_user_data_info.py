"""instance_user_data_info against moto in process: the user data an instance was launched with."""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
import pytest
from ansible_collections.taskstack.aws.tests.unit.ec2_stack import run_instance
from ansible_collections.taskstack.aws.tests.unit.module_runner import REGION, run_module

DOCUMENT = "#cloud-config\npackage_update: true\nwrite_files:\n- path: /etc/motd\n  content: é\n"


@pytest.fixture
def subnet(aws) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]


def read(check_mode: bool = False, **args: Any) -> dict:
    return run_module("instance_user_data_info", args, check_mode=check_mode)


def test_the_document_the_instance_was_launched_with(subnet):
    ec2 = boto3.client("ec2", region_name=REGION)
    instance = run_instance(ec2, subnet, None, UserData=DOCUMENT)
    result = read(instance_id=instance)
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is False
    assert result["user_data"] == DOCUMENT
    # The digest of the bytes, as Ansible's hash('sha256') gives for the same text.
    assert result["sha256"] == hashlib.sha256(DOCUMENT.encode()).hexdigest()


def test_an_instance_without_user_data_answers_empty(subnet):
    instance = run_instance(boto3.client("ec2", region_name=REGION), subnet, None)
    result = read(instance_id=instance)
    assert (result["user_data"], result["sha256"]) == ("", "")


def test_check_mode_answers_the_same(subnet):
    instance = run_instance(boto3.client("ec2", region_name=REGION), subnet, None, UserData="x")
    assert read(check_mode=True, instance_id=instance) == read(instance_id=instance)


def test_an_instance_that_does_not_exist_is_one_line(aws):
    result = read(instance_id="i-0123456789abcdef0")
    assert result["failed"] is True
    assert "\n" not in result["msg"]
    assert "i-0123456789abcdef0" in result["msg"]


@pytest.mark.parametrize(
    "instance_id", ["", "i-123", "vpc-0123456789abcdef0", "i-0123456789ABCDEF0"]
)
def test_a_malformed_id_is_refused_before_any_call(no_aws_calls, instance_id):
    result = read(instance_id=instance_id)
    assert result["failed"] is True
    assert "is not an instance id: write i- followed by 8 or 17" in result["msg"]
