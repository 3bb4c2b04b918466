"""instance_type_offerings_info against moto in process: where a region offers instance types.

moto carries EC2's offerings per zone; in us-east-1 its data, like AWS's, has no t3 in
us-east-1e, a zone that exists and is available.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.taskstack.aws.tests.unit.module_runner import REGION, run_module


def offered(check_mode: bool = False, **args: Any) -> dict:
    result = run_module("instance_type_offerings_info", args, check_mode=check_mode)
    # An _info module answers; the caller (roles/aws_network) decides.
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is False
    return result


def test_every_zone_of_the_region_offers_t3_micro(aws):
    result = offered(instance_types=["t3.micro"])
    assert result["region"] == REGION
    assert result["locations"] == [f"{REGION}a", f"{REGION}b", f"{REGION}c"]
    assert result["offerings"] == {"t3.micro": result["locations"]}


def test_a_zone_without_the_type_is_left_out(ec2):
    import boto3

    zones = boto3.client("ec2", region_name="us-east-1").describe_availability_zones()
    available = {z["ZoneName"] for z in zones["AvailabilityZones"] if z["State"] == "available"}
    result = offered(instance_types=["t3.micro"], region="us-east-1")
    assert "us-east-1e" in available
    assert "us-east-1e" not in result["locations"]
    assert result["locations"] == sorted(result["locations"])
    assert set(result["locations"]) < available


def test_only_the_zones_that_offer_every_type(aws):
    result = offered(instance_types=["t3.micro", "no1.such"], region="us-east-1")
    assert result["locations"] == []
    assert result["offerings"]["no1.such"] == []
    assert result["offerings"]["t3.micro"]


def test_an_unknown_type_is_offered_nowhere_without_failing(aws):
    assert offered(instance_types=["t9.micro"])["locations"] == []


def test_zone_ids_on_request(aws):
    result = offered(instance_types=["t3.micro"], location_type="availability-zone-id")
    assert result["locations"] == ["euw3-az1", "euw3-az2", "euw3-az3"]


def test_check_mode_answers_the_same(aws):
    assert offered(check_mode=True, instance_types=["t3.micro"]) == offered(
        instance_types=["t3.micro"]
    )


def test_an_empty_list_is_refused_before_any_aws_call(no_aws_calls):
    result = run_module("instance_type_offerings_info", {"instance_types": []})
    assert result["failed"] is True
    assert result["msg"].startswith("instance_types is empty")


def test_a_blank_type_is_refused(no_aws_calls):
    result = run_module("instance_type_offerings_info", {"instance_types": ["t3.micro", " "]})
    assert result["failed"] is True
    assert "instance_types holds an empty name" in result["msg"]


def test_a_refusal_names_the_permission(aws, aws_error):
    aws_error("DescribeInstanceTypeOfferings", "UnauthorizedOperation")
    result = run_module("instance_type_offerings_info", {"instance_types": ["t3.micro"]})
    assert result["failed"] is True
    assert "ec2:DescribeInstanceTypeOfferings" in result["msg"]
