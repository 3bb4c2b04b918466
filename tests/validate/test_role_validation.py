"""The fast layer of the roles: each bad setting is refused with one clear line, no AWS needed.

preflight's checks that need no AWS (aws_preflight's `project` and `settings`, then each role's
`validate` entry point, in playbooks/preflight.yml's order) run on localhost for every case
below, in one ansible-playbook process (tests/validate/validate_cases.yml). No emulator, no
AWS, no Docker: a wrong check is caught here in seconds, not in the emulator tests
(tests/integration/test_bad_input.py runs one refusal of each stage end to end, with "nothing
created", and the refusals that need AWS or the run's environment).

A case is (id, settings, expected): the settings override the project's group_vars as `-e`
would; expected is a fragment of the one failure line, or None when the settings must pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from checks_env import checks_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
NOT_A_POLICY = HERE / "not_a_policy.json"
# 6,145 characters without white space: one more than IAM's quota for a managed policy.
TOO_LARGE_POLICY = HERE / "too_large_policy.json"

Case = tuple[str, dict[str, Any], str | None]

PROJECT_RULES: list[dict[str, Any]] = yaml.safe_load(
    (REPO_ROOT / "inventory" / "group_vars" / "all" / "security.yml").read_text()
)["aws_security_group_rules"]
HTTPS = {"name": "https", "port": 443, "cidrs": ["0.0.0.0/0"], "description": "HTTPS"}


def firewall(*rules: dict[str, Any], **changes: dict[str, Any]) -> dict[str, Any]:
    """The project's firewall rules with some changed by name (e.g. api={"port": 80}) and
    `rules` appended."""
    changed = [dict(rule, **changes.get(rule["name"], {})) for rule in PROJECT_RULES]
    return {"aws_security_group_rules": changed + list(rules)}


SECURITY_GROUP_CASES: list[Case] = [
    (
        "ssh-open-to-the-world",
        firewall(ssh={"cidrs": ["0.0.0.0/0"]}),
        "SSH would be open to the world",
    ),
    (
        "ssh-open-to-the-world-accepted",
        {
            **firewall(ssh={"cidrs": ["0.0.0.0/0"]}),
            "aws_security_group_allow_ssh_from_anywhere_i_accept_the_risk": True,
        },
        None,
    ),
    (
        "operator-is-the-whole-world",
        {"aws_security_group_operator_cidrs": ["0.0.0.0/0"]},
        "SSH would be open to the world",
    ),
    ("ssh-from-one-address", firewall(ssh={"cidrs": ["203.0.113.7/32"]}), None),
    (
        "ssh-open-to-the-world-in-two-halves",
        firewall(ssh={"cidrs": ["0.0.0.0/1", "128.0.0.0/1"]}),
        "SSH would be open to the world (0.0.0.0/1, 128.0.0.0/1 on port 22)",
    ),
    (
        "ssh-open-to-a-slash-8",
        firewall(ssh={"cidrs": ["10.0.0.0/8"]}),
        "SSH would be open to 16777216 addresses (10.0.0.0/8 on port 22), more than"
        " aws_security_group_ssh_max_addresses=256",
    ),
    (
        "ssh-open-to-two-small-networks-too-many-together",
        firewall(ssh={"cidrs": ["203.0.113.0/24", "198.51.100.0/25"]}),
        "SSH would be open to 384 addresses",
    ),
    ("ssh-open-to-an-office-slash-24", firewall(ssh={"cidrs": ["203.0.113.0/24"]}), None),
    (
        "ssh-open-to-a-slash-16-with-a-larger-limit",
        {
            **firewall(ssh={"cidrs": ["10.1.0.0/16"]}),
            "aws_security_group_ssh_max_addresses": 65536,
        },
        None,
    ),
    (
        "ssh-cidrs-as-a-string",
        firewall(ssh={"cidrs": "203.0.113.7/32"}),
        "aws_security_group_rules (rule ssh) must list its networks, like [203.0.113.7/32]:"
        ' got "203.0.113.7/32".',
    ),
    (
        "operator-cidrs-as-a-string",
        {"aws_security_group_operator_cidrs": "203.0.113.7/32"},
        "aws_security_group_operator_cidrs must list its networks",
    ),
    ("duplicated-port", firewall(api={"port": 80}), "ports must be distinct"),
    ("port-of-ssh", firewall(web={"port": 22}), "ports must be distinct"),
    (
        "port-out-of-range",
        firewall(web={"port": 70000}),
        "ports must be distinct whole numbers from 1 to 65535",
    ),
    (
        "port-zero",
        firewall(api={"port": 0}),
        "ports must be distinct whole numbers from 1 to 65535",
    ),
    ("other-ports", firewall(web={"port": 8080}, api={"port": 8443}), None),
    ("https-added", firewall(HTTPS), None),
    (
        "same-port-other-protocol",
        firewall({"name": "dns-udp", "port": 53, "protocol": "udp"}, {"name": "dns", "port": 53}),
        None,
    ),
    # Each is port 22 at AWS (int() reads it so) without being compared as SSH's rule.
    *(
        (
            f"ssh-port-spelt-{label}",
            firewall(HTTPS, {"name": "ssh2", "port": port, "cidrs": ["0.0.0.0/0"]}),
            "ports must be distinct whole numbers from 1 to 65535, written without sign, spaces",
        )
        for label, port in [
            ("with-a-leading-zero", "022"),
            ("with-a-space", " 22"),
            ("with-a-sign", "+22"),
            ("with-an-underscore", "2_2"),
            ("as-a-decimal", "22.0"),
            ("with-a-newline", "22\n"),
        ]
    ),
    ("rule-without-port", firewall({"name": "https"}), "needs its own name and a port"),
    ("rule-named-twice", firewall(dict(HTTPS, name="web")), "needs its own name and a port"),
    (
        "malformed-ssh-cidr",
        firewall(ssh={"cidrs": ["203.0.113.300/32"]}),
        "aws_security_group_rules (rule ssh) holds '203.0.113.300/32', which is not an IPv4 CIDR",
    ),
    (
        "overlapping-ssh-cidrs",
        firewall(ssh={"cidrs": ["203.0.113.0/24", "203.0.113.7/32"]}),
        "aws_security_group_rules (rule ssh) lists 203.0.113.7/32 twice, inside another",
    ),
    (
        "api-cidr-with-host-bits",
        firewall(api={"cidrs": ["203.0.113.7/24"]}),
        "aws_security_group_rules (rule api) lists 203.0.113.7/24 twice, inside another of its"
        " networks or with host bits set",
    ),
    (
        "closed-ports",
        {"aws_security_group_rules": [r for r in PROJECT_RULES if r["name"] == "ssh"]},
        None,
    ),
    (
        "security-group-name-aws-rejects",
        {"aws_security_group_name": "sg-web"},
        "aws_security_group_name='sg-web' is not a valid group name",
    ),
]

# aws_preflight's settings check: misspelt names, wrong types, values outside their choices.
SETTINGS_CASES: list[Case] = [
    (
        "misspelt-setting",
        {"aws_network_vpc_cidrr": "10.9.0.0/16"},
        "aws_network_vpc_cidrr: not a setting of role aws_network; check the spelling",
    ),
    (
        "setting-of-the-wrong-type",
        {"aws_budget_limit_usd": "five"},
        "aws_budget_limit_usd must be a float",
    ),
    (
        "setting-outside-its-choices",
        {"app_deploy_source": "svn"},
        "value of app_deploy_source must be one of: local, git, got: svn",
    ),
    (
        "bootstrap-not-in-the-list",
        {"aws_instance_bootstrap": "cloud-init"},
        "value of aws_instance_bootstrap must be one of: ansible, user_data, got: cloud-init",
    ),
    # Issue 15's red team: fresh inputs that got through or read badly.
    (
        "budget-limit-given-as-true",
        {"aws_budget_limit_usd": True},
        "aws_budget_limit_usd must be a float",
    ),
    # A string where the spec says int: the settings check lets it through (Ansible converts
    # it), and the firewall check still sees SSH open to the world.
    (
        "ssh-port-given-as-a-string",
        firewall(ssh={"port": "22", "cidrs": ["0.0.0.0/0"]}),
        "SSH would be open to the world (0.0.0.0/0 on port 22)",
    ),
    (
        "alert-addresses-as-a-string",
        {"aws_budget_emails": "ops@example.com"},
        "aws_budget_emails must be a list",
    ),
]

# Issue 15's red team, the other values refused without AWS.
RED_TEAM_CASES: list[Case] = [
    (
        "one-tag-more-than-aws-allows",
        {"project_extra_tags": {f"Team{n}": "x" for n in range(47)}},
        "project_extra_tags has 47 tags: with the project's own and Name each resource would "
        "carry 51, over AWS's 50 per resource; keep at most 46",
    ),
    (
        "vpc-cidr-in-multicast-space",
        {"aws_network_vpc_cidr": "224.0.0.0/16", "aws_network_subnet_cidr": "224.0.1.0/24"},
        "aws_network_vpc_cidr=224.0.0.0/16 lies in a range AWS does not allow for a VPC",
    ),
    (
        "vpc-cidr-in-loopback-space",
        {"aws_network_vpc_cidr": "127.0.0.0/16", "aws_network_subnet_cidr": "127.0.1.0/24"},
        "aws_network_vpc_cidr=127.0.0.0/16",
    ),
    (
        "ssh-address-without-a-prefix",
        firewall(ssh={"cidrs": ["203.0.113.7"]}),
        "aws_security_group_rules (rule ssh) holds '203.0.113.7', which is not an IPv4 CIDR",
    ),
]

# The other roles.
CASES: list[Case] = [
    ("project-defaults", {}, None),
    # aws_preflight: project
    ("empty-project-name", {"project_name": ""}, "project_name='' is not usable"),
    (
        "project-name-aws-rejects",
        {"project_name": "My Project!"},
        "project_name='My Project!' is not usable",
    ),
    (
        "project-name-the-inventory-does-not-see",
        {"project_name": "other"},
        "project_name='other' but the inventory looks for 'taskstack'",
    ),
    (
        "environment-outside-the-set",
        {"project_environment": "qa"},
        "project_environment='qa' is not one of dev, staging, prod",
    ),
    ("environment-in-the-set", {"project_environment": "prod"}, None),
    (
        "environment-with-a-newline",
        {"project_environment": "dev\nprod"},
        "project_environment='dev\\nprod' is not one of dev, staging, prod",
    ),
    (
        "region-the-inventory-does-not-search",
        {"aws_region": "us-east-1"},
        "aws_region='us-east-1' but the inventory searches 'eu-west-3': set AWS_REGION=us-east-1",
    ),
    (
        "extra-tags-as-a-list",
        {"project_extra_tags": ["Owner=alice"]},
        "project_extra_tags must be a mapping of tag names to values, like"
        ' {"Owner": "alice", "CostCenter": "42"}: got ["Owner=alice"].',
    ),
    ("extra-tags", {"project_extra_tags": {"Owner": "alice", "CostCenter": "42"}}, None),
    (
        "extra-tag-with-the-reserved-prefix",
        {"project_extra_tags": {"aws:owner": "alice"}},
        'project_extra_tags has "aws:owner": "alice", which AWS refuses',
    ),
    (
        "extra-tag-value-too-long",
        {"project_extra_tags": {"Owner": "a" * 300}},
        "which AWS refuses: keys of 1 to 128 characters, not starting with aws:, values of at"
        " most 256",
    ),
    (
        "extra-tag-replacing-the-project-tag",
        {"project_extra_tags": {"project": "other"}},
        "project_extra_tags sets project, but Project, Environment and ManagedBy are the"
        " project's own",
    ),
    (
        "more-tags-than-aws-allows",
        {"project_extra_tags": {f"Tag{i}": "x" for i in range(48)}},
        "project_extra_tags has 48 tags: with the project's own and Name each resource"
        " would carry 52",
    ),
    (
        "state-folder-that-is-a-file",
        {"project_state_dir": str(REPO_ROOT / "README.md")},
        f"project_state_dir={REPO_ROOT / 'README.md'} cannot hold the run's files:"
        f" {REPO_ROOT / 'README.md'} is not a folder",
    ),
    (
        "key-folder-inside-a-file",
        {"aws_key_pair_dir": str(REPO_ROOT / "README.md" / "keys")},
        f"aws_key_pair_dir={REPO_ROOT / 'README.md' / 'keys'} cannot hold the run's files:"
        f" {REPO_ROOT / 'README.md'} is not a writable folder",
    ),
    # aws_network
    (
        "malformed-vpc-cidr",
        {"aws_network_vpc_cidr": "10.0.0.0/33"},
        "aws_network_vpc_cidr=10.0.0.0/33 is not a valid network CIDR",
    ),
    (
        "vpc-cidr-not-a-network",
        {"aws_network_vpc_cidr": "banana"},
        "aws_network_vpc_cidr=banana is not a valid network CIDR",
    ),
    (
        "vpc-cidr-with-host-bits",
        {"aws_network_vpc_cidr": "10.0.0.1/16"},
        "with the host bits at zero",
    ),
    (
        "vpc-cidr-larger-than-aws-allows",
        {"aws_network_vpc_cidr": "10.0.0.0/8"},
        "with a prefix between /16 and /28",
    ),
    (
        "subnet-outside-the-vpc",
        {"aws_network_subnet_cidr": "10.1.1.0/24"},
        "aws_network_subnet_cidr=10.1.1.0/24 is outside aws_network_vpc_cidr=10.0.0.0/16",
    ),
    (
        "other-network",
        {"aws_network_vpc_cidr": "172.16.0.0/20", "aws_network_subnet_cidr": "172.16.4.0/28"},
        None,
    ),
    (
        "name-tag-aws-rejects",
        {"aws_network_vpc_name": "aws:vpc"},
        "aws_network_vpc_name='aws:vpc' is not a usable Name tag",
    ),
    # aws_key_pair
    (
        "key-pair-name-aws-rejects",
        {"aws_key_pair_name": "deploy/key"},
        "aws_key_pair_name='deploy/key' is not a usable key pair name",
    ),
    # aws_instance
    (
        "invalid-instance-type",
        {"aws_instance_type": "t3micro"},
        "aws_instance_type='t3micro' is not an EC2 instance type name",
    ),
    (
        "uppercase-instance-type",
        {"aws_instance_type": "T3.MICRO"},
        "is not an EC2 instance type name",
    ),
    ("other-instance-type", {"aws_instance_type": "m7g.2xlarge"}, None),
    (
        "malformed-image-id",
        {"aws_instance_ami_id": "ami-xyz"},
        "aws_instance_ami_id='ami-xyz' is not an image id",
    ),
    ("given-image-id", {"aws_instance_ami_id": "ami-0123456789abcdef0"}, None),
    (
        "root-volume-too-small",
        {"aws_instance_root_volume_size_gb": 7},
        "aws_instance_root_volume_size_gb=7: use 8 to 16384",
    ),
    # host_user_data (aws_instance_bootstrap=user_data)
    ("user-data-bootstrap", {"aws_instance_bootstrap": "user_data"}, None),
    (
        "user-data-over-16-kb",
        {
            "aws_instance_bootstrap": "user_data",
            # 17,000 characters of labels in /etc/docker/daemon.json, a file of the document.
            "docker_engine_daemon_options": {"labels": ["x" * 100] * 170},
        },
        "over the 16384 bytes AWS accepts as user data: shorten the host settings",
    ),
    (
        "user-data-with-dockers-repository",
        {"aws_instance_bootstrap": "user_data", "docker_engine_source": "docker"},
        "docker_engine_source=docker cannot be installed by user data",
    ),
    # aws_budget
    (
        "budget-limit-zero",
        {"aws_budget_limit_usd": 0},
        "the monthly limit must be greater than 0 USD",
    ),
    (
        "budget-limit-negative",
        {"aws_budget_limit_usd": -5},
        "the monthly limit must be greater than 0 USD",
    ),
    (
        "malformed-e-mail",
        {"aws_budget_emails": ["not-an-address"]},
        "give at least one valid e-mail address",
    ),
    ("no-e-mail", {"aws_budget_emails": []}, "give at least one valid e-mail address"),
    # BUDGET_ALERT_EMAIL is split at commas (inventory/group_vars/all/budget.yml): these are the
    # lists it gives for the values a user wrote.
    (
        "eleven-alert-addresses",
        {"aws_budget_emails": [f"ops{n}@example.com" for n in range(11)]},
        "aws_budget_emails has 11 addresses: AWS Budgets notifies at most 10 per alert",
    ),
    (
        "alert-addresses-separated-by-semicolons",
        {"aws_budget_emails": ["alice@example.com;bob@example.com"]},
        "separate the addresses with commas",
    ),
    (
        "alert-address-with-a-display-name",
        {"aws_budget_emails": ["Ops <ops@example.com>"]},
        '"Ops <ops@example.com>" is not an e-mail address; write name@domain.tld',
    ),
    (
        "budget-of-a-billion",
        {"aws_budget_limit_usd": 1000000000},
        "the monthly limit must be greater than 0 USD and at most 1000 USD",
    ),
    (
        "actual-threshold-of-zero",
        {"aws_budget_actual_threshold_percent": 0},
        "aws_budget_actual_threshold_percent=0: a threshold is a percentage of aws_budget_limit",
    ),
    (
        "forecast-threshold-above-what-aws-accepts",
        {"aws_budget_forecast_threshold_percent": 5000},
        "aws_budget_forecast_threshold_percent=5000: a threshold is a percentage",
    ),
    ("several-e-mails", {"aws_budget_emails": ["a@example.com", "b.c@example.org"]}, None),
    # aws_alarms
    (
        "alarm-cpu-threshold-100",
        {"aws_alarms_cpu_threshold_percent": 100},
        "aws_alarms_cpu_threshold_percent=100: the CPU alarm fires above this average",
    ),
    (
        "alarm-cpu-threshold-true",
        {"aws_alarms_cpu_threshold_percent": True},
        "must be greater than 0 and below 100",
    ),
    ("alarm-cpu-threshold-decimal", {"aws_alarms_cpu_threshold_percent": 62.5}, None),
    (
        "alarm-cpu-threshold-over-100",
        {"aws_alarms_cpu_threshold_percent": 150},
        "aws_alarms_cpu_threshold_percent=150: the CPU alarm fires above this average percentage",
    ),
    (
        "alarm-window-of-no-period",
        {"aws_alarms_cpu_evaluation_periods": 0},
        "a whole number from 1 to 288 (one day)",
    ),
    (
        "alarm-tags-without-the-project",
        {"aws_alarms_tags": {"Team": "web"}},
        "aws_alarms_tags must hold Project=taskstack and ManagedBy=ansible",
    ),
    (
        "network-tags-as-one-string",
        {"aws_network_tags": "Project=taskstack,ManagedBy=ansible"},
        "aws_network_tags must hold Project=taskstack and ManagedBy=ansible (teardown and the"
        ' ownership checks find the stack by them): got "Project=taskstack,ManagedBy=ansible";',
    ),
    (
        # What teardown would then refuse to delete as not made by the project.
        "network-tags-without-managed-by",
        {"aws_network_tags": {"Project": "taskstack", "Environment": "dev", "Owner": "me"}},
        "aws_network_tags must hold Project=taskstack and ManagedBy=ansible",
    ),
    (
        "alarm-window-too-long",
        {"aws_alarms_cpu_evaluation_periods": 289},
        "aws_alarms_cpu_evaluation_periods=289: the number of 5-minute periods",
    ),
    ("alarm-window-one-period", {"aws_alarms_cpu_evaluation_periods": 1}, None),
    (
        "alarm-addresses-in-one-string",
        {"aws_alarms_emails": "ops@example.com"},
        "give a list of one or more e-mail addresses",
    ),
    (
        "alarm-address-malformed",
        {"aws_alarms_emails": ["ops@example"]},
        "give a list of one or more e-mail addresses",
    ),
    (
        "alarm-topic-name-with-a-dot",
        {"aws_alarms_topic_name": "taskstack.alarms"},
        "a topic name is 1-256 letters, digits, - or _",
    ),
    (
        "alarms-of-one-name",
        {"aws_alarms_status_check_name": "x", "aws_alarms_cpu_name": "x"},
        "the two alarms need different names",
    ),
    # app_deploy
    (
        "app-folder-without-compose-file",
        {"app_deploy_local_source": str(REPO_ROOT / "roles")},
        f"app_deploy_local_source={REPO_ROOT / 'roles'} has no compose.yaml",
    ),
    (
        "early-service-not-in-compose-file",
        {"app_deploy_early_services": ["cache"]},
        "app_deploy_early_services lists cache, not a service",
    ),
    (
        "early-service-that-builds",
        {"app_deploy_early_services": ["db", "api"]},
        "app_deploy_early_services lists api, not a service",
    ),
    (
        "early-service-that-starts-a-built-one",
        {"app_deploy_early_services": ["web"]},
        "app_deploy_early_services lists web, not a service",
    ),
    ("no-early-services", {"app_deploy_early_services": []}, None),
    (
        "git-source-without-repository",
        {"app_deploy_source": "git"},
        "app_deploy_source=git needs app_deploy_git_repo",
    ),
    (
        "git-url-that-does-not-exist",
        {"app_deploy_source": "git", "app_deploy_git_repo": "/nonexistent/taskapp.git"},
        "app_deploy_git_repo=/nonexistent/taskapp.git cannot be read",
    ),
    (
        "git-version-that-does-not-exist",
        {
            "app_deploy_source": "git",
            "app_deploy_git_repo": str(REPO_ROOT),
            "app_deploy_git_version": "no-such-branch",
        },
        "app_deploy_git_version=no-such-branch is neither a branch nor a tag",
    ),
    (
        "git-version-that-is-a-commit",
        {
            "app_deploy_source": "git",
            "app_deploy_git_repo": str(REPO_ROOT),
            "app_deploy_git_version": "0123abc",
        },
        None,
    ),
    (
        "app-folder-on-a-system-folder",
        {"app_deploy_dir": "/etc"},
        "app_deploy_dir=/etc is not a dedicated folder",
    ),
]

# aws_deployer_iam runs in its own playbook (playbooks/deployer_iam.yml), not in preflight.
DEPLOYER_CASES: list[Case] = [
    ("deployer-defaults", {}, None),
    (
        "deployer-name-iam-rejects",
        {"aws_deployer_iam_user_name": "deploy er"},
        "aws_deployer_iam_user_name='deploy er' is not a valid IAM name",
    ),
    (
        "deployer-region-that-is-not-one",
        {"aws_deployer_iam_region": "paris"},
        "aws_deployer_iam_region='paris' is not a region name",
    ),
    (
        "deployer-policy-file-missing",
        {"aws_deployer_iam_policy_file": "/nonexistent/policy.json"},
        "aws_deployer_iam_policy_file=/nonexistent/policy.json does not exist",
    ),
    (
        "deployer-policy-file-not-json",
        {"aws_deployer_iam_policy_file": str(REPO_ROOT / "README.md")},
        f"{REPO_ROOT / 'README.md'} is not valid JSON",
    ),
    (
        "deployer-policy-file-not-a-policy",
        {"aws_deployer_iam_policy_file": str(NOT_A_POLICY)},
        f"{NOT_A_POLICY} is not an IAM policy document",
    ),
    (
        "deployer-policy-file-above-iams-quota",
        {"aws_deployer_iam_extra_policy_files": [str(TOO_LARGE_POLICY)]},
        f"{TOO_LARGE_POLICY} has 6145 characters without white space, above IAM's 6144",
    ),
]

ALL_CASES = SETTINGS_CASES + SECURITY_GROUP_CASES + CASES + RED_TEAM_CASES + DEPLOYER_CASES
DEPLOYER_IDS = {i for i, _, _ in DEPLOYER_CASES}
# The settings check costs about 1 s of CPU per case, more than all the roles' checks together
# (measured): it runs on its own cases and on the project's defaults (a value it wrongly refused
# shows there). The other cases give values of the right type, which it lets through.
SETTINGS_IDS = {i for i, _, _ in SETTINGS_CASES} | {"project-defaults", "deployer-defaults"}


def preflight_validate_roles() -> list[str]:
    """The roles whose `validate` preflight runs, read from playbooks/preflight.yml itself."""
    play = yaml.safe_load((REPO_ROOT / "playbooks" / "preflight.yml").read_text())[0]
    for task in play["tasks"]:
        include = task.get("ansible.builtin.include_role", {})
        if include.get("tasks_from") == "validate":
            return list(task["loop"])
    raise AssertionError("playbooks/preflight.yml no longer runs the roles' validate tasks")


def inventory(roles: list[str]) -> dict[str, Any]:
    """One host per case; the cases that reach app_deploy's run_once git check go one at a time."""
    hosts: dict[str, dict[str, Any]] = {}
    for case_id, settings, _ in ALL_CASES:
        assert case_id not in hosts, f"case id {case_id} is used twice"
        hosts[case_id] = {
            **settings,
            "validate_roles": ["aws_deployer_iam"] if case_id in DEPLOYER_IDS else roles,
            "validate_settings": case_id in SETTINGS_IDS,
            "ansible_python_interpreter": sys.executable,
        }
    alone = {i: v for i, v in hosts.items() if v.get("app_deploy_source") == "git"}
    together = {i: v for i, v in hosts.items() if i not in alone}
    return {"cases": {"hosts": together, "children": {"one_at_a_time": {"hosts": alone}}}}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("validate")
    cases = work / "cases.yml"
    cases.write_text(yaml.safe_dump(inventory(preflight_validate_roles())))
    results_file = work / "results.json"
    env = checks_environment()
    started = time.monotonic()
    run = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(REPO_ROOT / "inventory" / "aws_ec2.yml"),
            "-i",
            str(cases),
            "-e",
            f"validate_results_file={results_file}",
            # Every case runs the checks: no digest of settings that passed them is read or kept.
            "-e",
            "aws_preflight_record_dir=",
            str(HERE / "validate_cases.yml"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(f"{len(ALL_CASES)} cases in one ansible-playbook run: {time.monotonic() - started:.1f} s")
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    return json.loads(results_file.read_text())


@pytest.mark.parametrize(
    ("settings", "expected"), [pytest.param(v, x, id=i) for i, v, x in ALL_CASES]
)
def test_settings_are_refused_with_one_clear_line_or_accepted(
    request: pytest.FixtureRequest,
    results: dict[str, Any],
    settings: dict[str, Any],
    expected: str | None,
) -> None:
    result = results[request.node.callspec.id]
    assert isinstance(result, dict), f"the case did not run to its end: {result}"
    if expected is None:
        assert not result["failed"], f"refused: {result}"
        return
    assert result["failed"], f"accepted {settings}"
    assert expected in result["msg"], result
    assert "\n" not in result["msg"].strip(), f"not one line: {result['msg']}"


def test_every_role_validate_entry_point_is_run_here() -> None:
    """A role that gains a validate.yml is checked here too, or this says which one is not."""
    with_validate = {p.parent.parent.name for p in REPO_ROOT.glob("roles/*/tasks/validate.yml")}
    assert with_validate <= set(preflight_validate_roles()) | {"aws_deployer_iam"}
