"""Bad input: each one refused before anything is created, with one line that says what to fix."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from harness import REPO_ROOT, Emulator

pytestmark = pytest.mark.slow

PROJECT_RULES = yaml.safe_load(
    (REPO_ROOT / "inventory" / "group_vars" / "all" / "security.yml").read_text()
)["aws_security_group_rules"]


def firewall(name: str, **changes: object) -> dict[str, list[dict]]:
    """The project's firewall rules (inventory/group_vars) with one rule changed."""
    rules = [dict(rule, **changes) if rule["name"] == name else rule for rule in PROJECT_RULES]
    assert rules != PROJECT_RULES, f"no rule named {name}"
    return {"aws_security_group_rules": rules}


ROOT_IDENTITY = (
    '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    "<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:root</Arn>"
    "<UserId>123456789012</UserId><Account>123456789012</Account></GetCallerIdentityResult>"
    "<ResponseMetadata><RequestId>root-test</RequestId></ResponseMetadata>"
    "</GetCallerIdentityResponse>"
)


class RootIdentityProxy(BaseHTTPRequestHandler):
    """Forwards to the emulator, but answers STS GetCallerIdentity as the account's root user.

    The emulator cannot hand out root credentials, so this stands in for them.
    """

    upstream = ""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if b"Action=GetCallerIdentity" in body:
            self.reply(200, ROOT_IDENTITY.encode(), "text/xml")
            return
        request = urllib.request.Request(
            self.upstream + self.path,
            data=body,
            method="POST",
            headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                self.reply(response.status, response.read(), response.headers["Content-Type"])
        except urllib.error.HTTPError as error:
            self.reply(error.code, error.read(), error.headers["Content-Type"])

    def reply(self, status: int, payload: bytes, content_type: str | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type or "text/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def root_endpoint(fresh_emulator: Emulator) -> Iterator[str]:
    handler = type("Handler", (RootIdentityProxy,), {"upstream": fresh_emulator.url})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


NO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}

BAD_INPUTS = [
    # (id, extra vars or None, environment overrides, what the error line must say)
    (
        "malformed-vpc-cidr",
        {"aws_network_vpc_cidr": "10.0.0.0/33"},
        {},
        "aws_network_vpc_cidr=10.0.0.0/33 is not a valid network CIDR",
    ),
    (
        "vpc-cidr-not-a-network",
        {"aws_network_vpc_cidr": "banana"},
        {},
        "aws_network_vpc_cidr=banana is not a valid network CIDR",
    ),
    (
        "vpc-cidr-with-host-bits",
        {"aws_network_vpc_cidr": "10.0.0.1/16"},
        {},
        "with the host bits at zero",
    ),
    (
        "subnet-outside-the-vpc",
        {"aws_network_subnet_cidr": "10.1.1.0/24"},
        {},
        "aws_network_subnet_cidr=10.1.1.0/24 is outside aws_network_vpc_cidr=10.0.0.0/16",
    ),
    (
        "ssh-open-to-the-world",
        firewall("ssh", cidrs=["0.0.0.0/0"]),
        {},
        "SSH would be open to the world",
    ),
    ("unknown-region", None, {"AWS_REGION": "xx-nowhere-1"}, "Unknown AWS region 'xx-nowhere-1'"),
    ("missing-credentials", None, NO_CREDENTIALS, "No AWS credentials found"),
    (
        "invalid-instance-type",
        {"aws_instance_type": "t3micro"},
        {},
        "aws_instance_type='t3micro' is not an EC2 instance type name",
    ),
    (
        "uppercase-instance-type",
        {"aws_instance_type": "T3.MICRO"},
        {},
        "is not an EC2 instance type name",
    ),
    (
        "budget-limit-zero",
        {"aws_budget_limit_usd": 0},
        {},
        "the monthly limit must be greater than 0 USD",
    ),
    (
        "malformed-e-mail",
        None,
        {"BUDGET_ALERT_EMAIL": "not-an-address"},
        "give at least one valid e-mail address",
    ),
    (
        "environment-outside-the-set",
        {"project_environment": "qa"},
        {},
        "project_environment='qa' is not one of dev, staging, prod",
    ),
    ("duplicated-port", firewall("api", port=80), {}, "ports must be distinct"),
    ("empty-project-name", None, {"PROJECT_NAME": ""}, "project_name='' is not usable"),
    (
        "vpc-cidr-larger-than-aws-allows",
        {"aws_network_vpc_cidr": "10.0.0.0/8"},
        {},
        "with a prefix between /16 and /28",
    ),
    (
        "malformed-ssh-cidr",
        firewall("ssh", cidrs=["203.0.113.300/32"]),
        {},
        "aws_security_group_rules (rule ssh) holds '203.0.113.300/32', which is not an IPv4 CIDR",
    ),
    (
        "overlapping-ssh-cidrs",
        firewall("ssh", cidrs=["203.0.113.0/24", "203.0.113.7/32"]),
        {},
        "aws_security_group_rules (rule ssh) lists 203.0.113.7/32 twice, inside another",
    ),
    (
        "port-out-of-range",
        firewall("web", port=70000),
        {},
        "ports must be distinct numbers from 1 to 65535",
    ),
    (
        "budget-limit-negative",
        {"aws_budget_limit_usd": -5},
        {},
        "the monthly limit must be greater than 0 USD",
    ),
    (
        "git-url-that-does-not-exist",
        {"app_deploy_source": "git", "app_deploy_git_repo": "/nonexistent/taskapp.git"},
        {},
        "app_deploy_git_repo=/nonexistent/taskapp.git cannot be read",
    ),
    (
        "git-version-that-does-not-exist",
        {
            "app_deploy_source": "git",
            "app_deploy_git_repo": str(REPO_ROOT),
            "app_deploy_git_version": "no-such-branch",
        },
        {},
        "app_deploy_git_version=no-such-branch is neither a branch nor a tag",
    ),
    (
        "app-folder-without-compose-file",
        {"app_deploy_local_source": str(REPO_ROOT / "roles")},
        {},
        f"app_deploy_local_source={REPO_ROOT / 'roles'} has no compose.yaml",
    ),
    (
        "security-group-name-aws-rejects",
        {"aws_security_group_name": "sg-web"},
        {},
        "aws_security_group_name='sg-web' is not a valid group name",
    ),
    (
        "name-tag-aws-rejects",
        {"aws_network_vpc_name": "aws:vpc"},
        {},
        "aws_network_vpc_name='aws:vpc' is not a usable Name tag",
    ),
    (
        "key-pair-name-aws-rejects",
        {"aws_key_pair_name": "deploy/key"},
        {},
        "aws_key_pair_name='deploy/key' is not a usable key pair name",
    ),
    (
        "misspelt-setting",
        {"aws_network_vpc_cidrr": "10.9.0.0/16"},
        {},
        "aws_network_vpc_cidrr: not a setting of role aws_network; check the spelling",
    ),
    (
        "setting-of-the-wrong-type",
        {"aws_budget_limit_usd": "five"},
        {},
        "aws_budget_limit_usd must be a float",
    ),
    (
        "setting-outside-its-choices",
        {"app_deploy_source": "svn"},
        {},
        "value of app_deploy_source must be one of: local, git, got: svn",
    ),
    (
        "project-name-aws-rejects",
        None,
        {"PROJECT_NAME": "My Project!"},
        "project_name='My Project!' is not usable",
    ),
    # Issue 15: values that used to get through and build a stack.
    (
        "ssh-open-to-the-world-in-two-halves",
        firewall("ssh", cidrs=["0.0.0.0/1", "128.0.0.0/1"]),
        {},
        "SSH would be open to the world (0.0.0.0/1, 128.0.0.0/1 on port 22)",
    ),
    (
        "ssh-open-to-a-slash-8",
        firewall("ssh", cidrs=["10.0.0.0/8"]),
        {},
        "SSH would be open to 16777216 addresses",
    ),
    (
        "ssh-cidrs-as-a-string",
        firewall("ssh", cidrs="203.0.113.7/32"),
        {},
        "aws_security_group_rules (rule ssh) must list its networks, like [203.0.113.7/32]",
    ),
    (
        "region-the-inventory-does-not-search",
        {"aws_region": "us-east-1"},
        {},
        "aws_region='us-east-1' but the inventory searches 'eu-west-3'",
    ),
    (
        "extra-tags-as-a-list",
        {"project_extra_tags": ["Owner=alice"]},
        {},
        "project_extra_tags must be a mapping of tag names to values",
    ),
    (
        "tag-key-with-the-reserved-prefix",
        {"project_extra_tags": {"aws:owner": "alice"}},
        {},
        'project_extra_tags has "aws:owner": "alice", which AWS refuses',
    ),
    (
        "tag-value-of-300-characters",
        {"project_extra_tags": {"Owner": "a" * 300}},
        {},
        "values of at most 256",
    ),
    (
        "environment-with-a-newline",
        {"project_environment": "dev\nprod"},
        {},
        "project_environment='dev\\nprod' is not one of dev, staging, prod",
    ),
    # (The runner sets project_state_dir itself, last: a folder under it stands for it here;
    # tests/validate covers project_state_dir.)
    (
        "key-folder-inside-a-file",
        {"aws_key_pair_dir": str(REPO_ROOT / "README.md" / "keys")},
        {},
        f"aws_key_pair_dir={REPO_ROOT / 'README.md' / 'keys'} cannot hold the run's files",
    ),
]


def assert_nothing_created(emulator: Emulator) -> None:
    ec2 = emulator.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"]
    assert vpcs == []
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert (
        ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["taskstack-sg"]}])[
            "SecurityGroups"
        ]
        == []
    )
    budgets = emulator.client("budgets", region="us-east-1")
    assert budgets.describe_budgets(AccountId="123456789012").get("Budgets", []) == []


def error_line(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("[ERROR]")]
    assert errors, output[-3000:]
    return errors[-1]


@pytest.mark.parametrize(
    ("extra_vars", "env", "expected"),
    [pytest.param(v, e, x, id=name) for name, v, e, x in BAD_INPUTS],
)
def test_bad_input_is_refused_before_anything_is_created(
    extra_vars, env, expected, run_playbook, fresh_emulator
):
    args = ("-e", json.dumps(extra_vars)) if extra_vars else ()
    run = run_playbook("site.yml", *args, env=env)
    assert run.returncode != 0
    assert expected in error_line(run.output)
    assert_nothing_created(fresh_emulator)


def test_root_credentials_are_refused(run_playbook, fresh_emulator, root_endpoint):
    run = run_playbook("site.yml", env={"AWS_ENDPOINT_URL": root_endpoint})
    assert run.returncode != 0
    assert "Refusing the root user of account 123456789012" in error_line(run.output)
    assert_nothing_created(fresh_emulator)


@pytest.mark.parametrize("project", ["*", "other-*", "othe?-project", ""])
def test_teardown_refuses_a_wildcard_project_name_and_deletes_nothing(
    project, run_playbook, fresh_emulator, ec2
):
    """EC2 tag filters read * and ? as wildcards: such a name would select other projects."""
    tags = [{"Key": "Project", "Value": "other-project"}, {"Key": "Name", "Value": "other-vpc"}]
    vpc = ec2.create_vpc(
        CidrBlock="10.9.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}]
    )["Vpc"]["VpcId"]
    run = run_playbook("teardown.yml", env={"PROJECT_NAME": project})
    assert run.returncode != 0
    assert f"project_name='{project}' is not usable" in error_line(run.output)
    assert [v["VpcId"] for v in ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]] == [vpc]
