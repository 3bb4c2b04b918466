"""The collection's filters: the price table, the roles' settings and the cloud-config document."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.taskstack.aws.plugins.filter.cloud_config import cloud_config
from ansible_collections.taskstack.aws.plugins.filter.ec2_monthly_cost import ec2_monthly_cost
from ansible_collections.taskstack.aws.plugins.filter.ipv4_cidr import ipv4_cidr
from ansible_collections.taskstack.aws.plugins.filter.role_settings import role_settings
from ansible_collections.taskstack.aws.plugins.filter.settings_errors import settings_errors

ROLES = Path(__file__).resolve().parents[4] / "roles"


def test_a_t3_micro_in_paris_costs_what_the_price_list_says():
    cost = ec2_monthly_cost("t3.micro", "eu-west-3", 10)
    assert cost["instance_hourly_usd"] == 0.0118
    assert cost["instance_usd"] == 8.61  # 0.0118 x 730
    assert cost["public_ipv4_usd"] == 3.65
    assert cost["volume_usd"] == 0.93
    assert cost["total_usd"] == 13.19


def test_each_t3_size_doubles_the_price():
    hourly = [
        ec2_monthly_cost(f"t3.{size}", "us-east-1")["instance_hourly_usd"]
        for size in ("nano", "micro", "small", "medium", "large")
    ]
    assert hourly == [0.0052, 0.0104, 0.0208, 0.0416, 0.0832]


@pytest.mark.parametrize(
    ("instance_type", "region"),
    [("t3a.micro", "eu-west-3"), ("m5.large", "eu-west-3"), ("t3.micro", "cn-north-1")],
)
def test_what_the_table_lacks_is_not_guessed(instance_type, region):
    cost = ec2_monthly_cost(instance_type, region, 10)
    assert (cost["instance_hourly_usd"], cost["instance_usd"], cost["total_usd"]) == (
        None,
        None,
        None,
    )


def test_wrong_arguments_are_one_filter_error():
    with pytest.raises(AnsibleFilterError, match="needs an instance type and a region"):
        ec2_monthly_cost(None, "eu-west-3")
    with pytest.raises(AnsibleFilterError, match="volume_gb='ten' is not a number"):
        ec2_monthly_cost("t3.micro", "eu-west-3", "ten")


def test_role_settings_reads_options_without_defaults_and_vars_names():
    settings = role_settings(["aws_network", "aws_budget"], str(ROLES))
    network = settings["aws_network"]
    assert "aws_network_vpc_cidr" in network["options"]
    assert "default" not in network["options"]["aws_network_vpc_cidr"]
    assert "aws_network__existing_vpc" in network["internal"]
    assert "aws_budget__limit_max_usd" in settings["aws_budget"]["internal"]


def test_role_settings_of_a_role_that_does_not_exist_is_one_error(tmp_path):
    with pytest.raises(AnsibleFilterError, match="cannot read"):
        role_settings(["no_such_role"], str(tmp_path))


def test_a_cidr_is_read_as_aws_writes_it():
    assert ipv4_cidr("10.0.0.0/16") == {
        "valid": True,
        "network": "10.0.0.0/16",
        "prefix": 16,
        "size": 65536,
        "inside": [],
        "example_subnet": "10.0.1.0/24",
    }
    host = ipv4_cidr("203.0.113.7/24")
    assert (host["valid"], host["network"], host["size"]) == (True, "203.0.113.0/24", 256)
    assert ipv4_cidr("10.0.0.0/26")["example_subnet"] == "10.0.0.0/26"
    assert ipv4_cidr("0.0.0.0/0")["size"] == 2**32


# What ansible.utils' ipv4 gave back changed (netmask, leading zeros, a space), or refused.
@pytest.mark.parametrize(
    "value",
    [
        "10.0.0.0",
        "10.0.0.0/255.255.0.0",
        "10.0.0.0/016",
        "203.0.113.07/32",
        "10.0.0.0/16 ",
        " 10.0.0.0/16",
        "10.0/16",
        "10.0.0.0/33",
        "::1/128",
        167772160,
        ["10.0.0.0/16"],
        None,
    ],
)
def test_what_is_not_written_as_aws_writes_a_cidr_is_no_network(value):
    assert ipv4_cidr(value) == {
        "valid": False,
        "network": "",
        "prefix": -1,
        "size": 0,
        "inside": [],
        "example_subnet": "",
    }


def test_the_networks_that_hold_a_cidr_are_named_in_their_order():
    within = ["10.0.0.0/8", "192.168.0.0/16", "10.1.0.0/16", "10.1.2.0/24", "bad", "10.1.2.3/16"]
    assert ipv4_cidr("10.1.2.0/24", within=within)["inside"] == [
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.2.0/24",
        "10.1.2.3/16",
    ]
    assert ipv4_cidr("10.0.0.0/8", within=["10.0.0.0/16"])["inside"] == []
    assert ipv4_cidr("bad", within=["0.0.0.0/0"])["inside"] == []


def test_within_that_is_not_a_list_is_one_filter_error():
    with pytest.raises(AnsibleFilterError, match="within must be a list"):
        ipv4_cidr("10.0.0.0/16", within="10.0.0.0/8")


KNOWN = {
    "aws_network": {
        "options": {"aws_network_vpc_cidr": {}, "aws_network_tags": {}},
        "internal": ["aws_network__vpc"],
    },
    "aws_budget": {"options": {"aws_budget_limit_usd": {}}, "internal": []},
}


def test_a_name_with_a_roles_prefix_that_it_does_not_know_is_one_message_per_role():
    names = [
        "aws_network_vpc_cidr",
        "aws_network__vpc",
        "aws_budget_limit_usdd",
        "aws_network_vpc_cidrr",
        "aws_network_tag",
        "project_name",
    ]
    assert settings_errors(names, KNOWN, "unknown") == [
        "aws_network_tag, aws_network_vpc_cidrr: not a setting of role aws_network; check the"
        " spelling against roles/aws_network/meta/argument_specs.yml (known: aws_network_tags,"
        " aws_network_vpc_cidr).",
        "aws_budget_limit_usdd: not a setting of role aws_budget; check the spelling against"
        " roles/aws_budget/meta/argument_specs.yml (known: aws_budget_limit_usd).",
    ]
    assert settings_errors(["aws_network_vpc_cidr", "aws_budget_limit_usd"], KNOWN, "unknown") == []


def test_each_spec_error_goes_to_the_role_whose_setting_it_names():
    errors = [
        "argument 'aws_budget_limit_usd' is of type str and we were unable to convert to float:"
        " could not convert string to float: 'ten'",
        "argument 'aws_network_tags' is of type list and we were unable to convert to dict: no",
        "value of aws_network_vpc_cidr must be one of: a, b, got: c",
        "something no setting is named in",
    ]
    assert settings_errors(errors, KNOWN, "spec") == [
        "aws_network_tags must be a dict (it is a list that does not convert); value of"
        " aws_network_vpc_cidr must be one of: a, b, got: c (role aws_network).",
        "aws_budget_limit_usd must be a float (it is a str that does not convert)"
        " (role aws_budget).",
        "something no setting is named in.",
    ]
    assert settings_errors([], KNOWN, "spec") == []


@pytest.mark.parametrize(
    ("items", "known", "kind", "message"),
    [
        ("aws_network_x", KNOWN, "unknown", "list of strings"),
        ([1], KNOWN, "unknown", "list of strings"),
        ([], ["aws_network"], "unknown", "what role_settings returns"),
        ([], KNOWN, "other", "kind must be unknown or spec"),
    ],
)
def test_settings_errors_of_something_else_is_one_filter_error(items, known, kind, message):
    with pytest.raises(AnsibleFilterError, match=message):
        settings_errors(items, known, kind)


def test_cloud_config_joins_the_parts_in_cloud_inits_order():
    document = cloud_config(
        [
            {"runcmd": ["set -e"], "package_update": True},
            {"packages": ["unattended-upgrades"], "runcmd": [["sshd", "-t"]]},
            None,
            {"write_files": [{"path": "/etc/a", "content": "one\ntwo\n"}], "runcmd": ["b"]},
            {"bootcmd": [["true"]]},
        ]
    )
    assert document.startswith("#cloud-config\n")
    parsed = yaml.safe_load(document)
    assert list(parsed) == ["bootcmd", "package_update", "packages", "write_files", "runcmd"]
    assert parsed["runcmd"] == ["set -e", ["sshd", "-t"], "b"]
    assert parsed["write_files"][0]["content"] == "one\ntwo\n"
    # A multi-line value reads as written (a literal block), not as an escaped string.
    assert "  content: |\n    one\n    two\n" in document


def test_cloud_config_of_no_parts_is_no_user_data():
    assert cloud_config([]) == ""
    assert cloud_config([None, {}]) == ""


@pytest.mark.parametrize("parts", ["packages: [a]", [["a"]]])
def test_cloud_config_of_something_else_is_one_filter_error(parts):
    with pytest.raises(AnsibleFilterError, match="cloud_config: "):
        cloud_config(parts)
