"""The collection's filters: the price table, the roles' settings and the cloud-config document."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.taskstack.aws.plugins.filter.cloud_config import cloud_config
from ansible_collections.taskstack.aws.plugins.filter.ec2_monthly_cost import ec2_monthly_cost
from ansible_collections.taskstack.aws.plugins.filter.role_settings import role_settings

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
