"""tag_compliance against moto in process: the project's stack, the default VPC and a neighbour."""

from __future__ import annotations

import pytest
from ansible_collections.taskstack.aws.tests.unit.ec2_stack import (
    STACK_TYPES,
    TAGS,
    tag_specs,
    tags_of,
)
from ansible_collections.taskstack.aws.tests.unit.module_runner import run_module

TAGS_ENV = {"Environment": "dev"}
RULES = {
    "required_tags": TAGS,
    "allowed_values": {"Environment": ["dev", "staging", "prod"]},
}


def audit(**extra) -> dict:
    return run_module(
        "tag_compliance",
        dict(
            {"vpc_filters": {"tag:Project": "taskstack"}, "key_names": ["taskstack-key"]},
            **RULES,
            **extra,
        ),
    )


def enforce(check_mode: bool = False, **extra) -> dict:
    return run_module(
        "tag_compliance",
        dict({"mode": "enforce", "vpc_filters": {"tag:Project": "taskstack"}}, **RULES, **extra),
        check_mode=check_mode,
    )


# ---------------------------------------------------------------- audit


def test_compliant_stack_passes_and_covers_every_type(stack):
    result = audit()
    assert result.get("failed") is not True, result.get("msg")
    assert result["violations"] == []
    assert result["vpc_id"] == stack.vpc
    assert {r["resource_type"] for r in result["resources"]} == STACK_TYPES
    ids = {r["resource_id"] for r in result["resources"]}
    assert {
        stack.subnet,
        stack.route_table,
        stack.igw,
        stack.sg,
        stack.instance,
        stack.key_pair,
    } <= ids


def test_aws_created_defaults_are_skipped_unless_asked(stack, ec2):
    main_rtb = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [stack.vpc]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"][0]["RouteTableId"]
    result = audit(include_vpc_defaults=True)
    assert result["failed"] is True
    found = {(v["resource_type"], v["resource_id"]) for v in result["violations"]}
    default_sg = [
        v["resource_id"] for v in result["violations"] if v["resource_type"] == "security-group"
    ]
    assert ("route-table", main_rtb) in found
    assert len(default_sg) == 1 and default_sg[0] != stack.sg
    assert len(found) == 2


def test_untagged_subnet_is_exactly_one_violation(stack, ec2):
    subnet = ec2.create_subnet(VpcId=stack.vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    result = audit()
    assert result["failed"] is True
    assert result["violations"] == [
        {
            "resource_id": subnet,
            "resource_type": "subnet",
            "missing_keys": ["Project", "Environment"],
            "bad_values": {},
        }
    ]
    assert result["msg"] == (
        f"1 tag violation(s) in {stack.vpc}: subnet {subnet}: missing Project, Environment"
    )


def test_instance_with_bad_environment_value(stack, ec2):
    ec2.create_tags(Resources=[stack.instance], Tags=[{"Key": "Environment", "Value": "qa"}])
    result = audit()
    assert result["failed"] is True
    assert [
        (v["resource_id"], v["bad_values"], v["missing_keys"]) for v in result["violations"]
    ] == [(stack.instance, {"Environment": "qa"}, [])]
    assert f"instance {stack.instance}: Environment=qa not in dev|staging|prod" in result["msg"]


def test_required_keys_without_value(stack, ec2):
    for cidr in ("10.0.2.0/24", "10.0.3.0/24"):  # eleven resources in all
        ec2.create_subnet(VpcId=stack.vpc, CidrBlock=cidr, TagSpecifications=tag_specs("subnet"))
    result = audit(required_keys=["Owner"])
    assert result["failed"] is True
    assert len(result["violations"]) == len(result["resources"])
    assert all(v["missing_keys"] == ["Owner"] for v in result["violations"])
    assert len(result["violations"]) == 11
    assert result["msg"].endswith("... and 1 more (see violations)")  # stays one short line


def test_default_and_other_vpcs_are_never_reported(stack):
    result = audit()
    ids = {r["resource_id"] for r in result["resources"]}
    assert not ids & {
        stack.default_subnet,
        stack.default_instance,
        stack.other_vpc,
        stack.other_subnet,
    }


def test_default_vpc_is_refused(stack, ec2):
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    result = run_module("tag_compliance", dict({"vpc_id": default_vpc["VpcId"]}, **RULES))
    assert result["failed"] is True
    assert (
        result["msg"]
        == f"{default_vpc['VpcId']} is the default VPC: it is never audited nor tagged"
    )


def test_vpc_must_be_found_exactly_once(stack):
    unknown = run_module("tag_compliance", dict({"vpc_id": "vpc-0000000000000000f"}, **RULES))
    assert unknown["failed"] is True
    assert unknown["msg"] == "VPC vpc-0000000000000000f does not exist in region eu-west-3"

    several = run_module(
        "tag_compliance",
        dict({"vpc_filters": {"cidr-block": ["10.0.0.0/16", "10.1.0.0/16"]}}, **RULES),
    )
    assert several["failed"] is True
    assert "must match exactly one non-default VPC" in several["msg"]
    assert stack.vpc in several["msg"] and stack.other_vpc in several["msg"]


def test_missing_key_pair_is_a_warning(stack):
    result = audit(key_names=["taskstack-key", "gone-key"])
    assert result.get("failed") is not True
    assert "gone-key" in str(result["warnings"])


# ---------------------------------------------------------------- enforce


def test_enforce_check_mode_then_fix_then_unchanged(stack, ec2):
    subnet = ec2.create_subnet(VpcId=stack.vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    key_pair = ec2.create_key_pair(KeyName="taskstack-key-2")["KeyPairId"]
    ec2.create_tags(Resources=[stack.sg], Tags=[{"Key": "Environment", "Value": "prod"}])
    keys = {"key_names": ["taskstack-key", "taskstack-key-2"]}

    predicted = enforce(check_mode=True, **keys)
    assert predicted["changed"] is True
    assert predicted["fixed"] == [
        {"resource_id": subnet, "resource_type": "subnet", "added_tags": TAGS},
        {"resource_id": key_pair, "resource_type": "key-pair", "added_tags": TAGS},
    ]
    assert tags_of(ec2, subnet) == {}

    fixed = enforce(**keys)
    assert fixed["changed"] is True
    assert fixed["unfixable"] == []
    assert tags_of(ec2, subnet) == TAGS
    assert tags_of(ec2, key_pair) == TAGS
    assert tags_of(ec2, stack.sg)["Environment"] == "prod"  # an allowed value stays as it is

    again = enforce(**keys)
    assert again["changed"] is False
    assert again["violations"] == []
    assert audit().get("failed") is not True


def test_enforce_adds_missing_keys_but_never_overwrites_a_value(stack, ec2):
    subnet = ec2.create_subnet(VpcId=stack.vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    ec2.create_tags(Resources=[stack.instance], Tags=[{"Key": "Environment", "Value": "qa"}])
    result = enforce(required_keys=["Owner"])
    assert result["failed"] is True
    assert result["changed"] is True
    assert tags_of(ec2, subnet) == TAGS
    assert tags_of(ec2, stack.instance)["Environment"] == "qa"
    unfixable = {v["resource_id"]: v for v in result["unfixable"]}
    assert unfixable[stack.instance]["bad_values"] == {"Environment": "qa"}
    assert unfixable[subnet]["missing_keys"] == ["Owner"]
    assert result["msg"].startswith("added missing tags on 1 resource(s), but")


def test_enforce_never_tags_the_default_or_another_vpc(stack, ec2):
    # Something to fix in the project's VPC, so that enforce does tag.
    subnet = ec2.create_subnet(VpcId=stack.vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    assert audit()["failed"] is True
    fixed = enforce()
    assert fixed["changed"] is True
    assert [f["resource_id"] for f in fixed["fixed"]] == [subnet]
    assert tags_of(ec2, subnet) == TAGS
    assert audit().get("failed") is not True
    for resource in (stack.default_subnet, stack.default_instance, stack.other_subnet):
        assert tags_of(ec2, resource) == {}
    assert tags_of(ec2, stack.other_vpc) == {"Project": "other"}


def test_enforce_with_owner_tags_never_tags_someone_elses_resource(stack, ec2):
    """A colleague's subnets in the project's VPC, one untagged, one with only the Project tag
    (a cost tag): tagged as the project's, teardown would delete them. Only the project's own
    resource, which lost a tag, gets it back."""
    made = {"ManagedBy": "ansible"}
    ec2.create_tags(Resources=[stack.subnet], Tags=[{"Key": "ManagedBy", "Value": "ansible"}])
    ec2.delete_tags(Resources=[stack.subnet], Tags=[{"Key": "Environment"}])
    theirs = ec2.create_subnet(
        VpcId=stack.vpc,
        CidrBlock="10.0.2.0/24",
        TagSpecifications=tag_specs("subnet", tags={"Team": "b"}),
    )["Subnet"]["SubnetId"]
    cost_tagged = ec2.create_subnet(
        VpcId=stack.vpc,
        CidrBlock="10.0.3.0/24",
        TagSpecifications=tag_specs("subnet", tags={"Project": "taskstack"}),
    )["Subnet"]["SubnetId"]
    args = {
        "mode": "enforce",
        "vpc_filters": {"tag:Project": "taskstack"},
        # What the project's subnet lost; the rest of the stack has it.
        "required_tags": {"Environment": "dev"},
        "owner_tags": {"Project": "taskstack", **made},
    }

    for check_mode in (True, False):
        result = run_module("tag_compliance", args, check_mode=check_mode)
        assert result["failed"] is True
        assert result["fixed"] == [
            {"resource_id": stack.subnet, "resource_type": "subnet", "added_tags": TAGS_ENV}
        ]
        unfixable = {v["resource_id"]: v for v in result["unfixable"]}
        assert set(unfixable) == {theirs, cost_tagged}
        assert all(v["not_owned"] for v in unfixable.values())
        assert (
            f"subnet {theirs}: without the owner tags, not tagged (tag it by hand if it is the "
            "owner's); missing Environment" in (result["msg"])
        )
    assert tags_of(ec2, theirs) == {"Team": "b"}
    assert tags_of(ec2, cost_tagged) == {"Project": "taskstack"}
    assert tags_of(ec2, stack.subnet) == {**TAGS, **made}


def test_enforce_denied_names_create_tags(stack, ec2, restricted_credentials):
    ec2.create_subnet(VpcId=stack.vpc, CidrBlock="10.0.2.0/24")
    keys = restricted_credentials(["ec2:Describe*"])
    result = enforce(**keys)
    assert result["failed"] is True
    assert "the credentials need the ec2:CreateTags permission" in result["msg"]


def test_audit_denied_names_describe_permission(stack, restricted_credentials):
    keys = restricted_credentials(["sts:GetCallerIdentity"])
    result = audit(**keys)
    assert result["failed"] is True
    assert "ec2:DescribeVpcs" in result["msg"]


# ---------------------------------------------------------------- refused before any call


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            {"required_tags": {"Environment": "test"}, "allowed_values": {"Environment": ["dev"]}},
            "required_tags.Environment='test' is not in allowed_values.Environment ['dev']",
        ),
        ({"required_tags": {"aws:cloudformation": "x"}}, "'aws:' is reserved"),
        ({"required_keys": []}, "no rule given"),
        ({"vpc_filters": {}, "required_keys": ["Owner"]}, "vpc_filters is empty"),
    ],
)
def test_bad_rules_fail_before_any_aws_call(no_aws_calls, args, expected):
    where = {} if "vpc_filters" in args else {"vpc_id": "vpc-1"}
    result = run_module("tag_compliance", dict(where, **args))
    assert result["failed"] is True
    assert expected in result["msg"]


def test_vpc_id_and_filters_are_exclusive(aws):
    result = run_module(
        "tag_compliance",
        dict({"vpc_id": "vpc-1", "vpc_filters": {"tag:Project": "taskstack"}}, **RULES),
    )
    assert result["failed"] is True
    assert "mutually exclusive" in result["msg"]
