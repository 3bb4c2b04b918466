"""Bad input: each one refused before anything is created, with one line that says what to fix."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from harness import REPO_ROOT, Emulator, Runner, free_port
from stack_testing import NEWEST_UBUNTU_AMI, playbook_env_for, put_alarm_by_hand

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
def root_endpoint(account: SharedAccount) -> Iterator[str]:
    handler = type("Handler", (RootIdentityProxy,), {"upstream": account.emulator.url})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


NO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}

# A value that only a role's `validate` or preflight's `settings` refuses (no AWS read) is a case
# of tests/validate/test_role_validation.py, which runs the same tasks in the same order in
# seconds: here, one such refusal per stage proves end to end that the stage stops site.yml
# before anything is created (misspelt-setting: settings; malformed-vpc-cidr and
# ssh-open-to-the-world: validate). The others need the run: credentials and region (identity),
# the environment's PROJECT_NAME and BUDGET_ALERT_EMAIL (how a value set there reaches the
# checks, an empty one included; what the checks make of other values is a validate case), and
# the reads against the account (each role's `check`).
BAD_INPUTS = [
    # (id, extra vars or None, environment overrides, what the error line must say)
    (
        "malformed-vpc-cidr",
        {"aws_network_vpc_cidr": "10.0.0.0/33"},
        {},
        "aws_network_vpc_cidr=10.0.0.0/33 is not a valid network CIDR",
    ),
    (
        "ssh-open-to-the-world",
        firewall("ssh", cidrs=["0.0.0.0/0"]),
        {},
        "SSH would be open to the world",
    ),
    # The operator's networks reach the firewall's checks in preflight, not only in provision.
    (
        "operator-is-the-whole-world",
        {"aws_preflight_operator_cidrs": ["0.0.0.0/0"]},
        {},
        "SSH would be open to the world (0.0.0.0/0 on port 22)",
    ),
    ("unknown-region", None, {"AWS_REGION": "xx-nowhere-1"}, "Unknown AWS region 'xx-nowhere-1'"),
    ("missing-credentials", None, NO_CREDENTIALS, "No AWS credentials found"),
    (
        "malformed-e-mail",
        None,
        {"BUDGET_ALERT_EMAIL": "not-an-address"},
        "give at least one valid e-mail address",
    ),
    ("empty-project-name", None, {"PROJECT_NAME": ""}, "project_name='' is not usable"),
    (
        "misspelt-setting",
        {"aws_network_vpc_cidrr": "10.9.0.0/16"},
        {},
        "aws_network_vpc_cidrr: not a setting of role aws_network; check the spelling",
    ),
    # Issue 15: values checked against AWS (one read each) before the first change.
    (
        "instance-type-that-does-not-exist",
        {"aws_instance_type": "t3.24xlarge"},
        {},
        "aws_instance_type=t3.24xlarge is not offered in any zone of eu-west-3",
    ),
    (
        "instance-type-of-another-world",
        {"aws_instance_type": "x9.large"},
        {},
        "aws_instance_type=x9.large is not offered in any zone of eu-west-3",
    ),
    (
        "image-that-does-not-exist",
        {"aws_instance_ami_id": "ami-0123456789abcdef0"},
        {},
        "aws_instance_ami_id=ami-0123456789abcdef0 does not exist in this region",
    ),
    (
        "zone-of-another-region",
        {"aws_network_availability_zone": "us-east-1a"},
        {},
        "aws_network_availability_zone=us-east-1a is not an available zone of eu-west-3 "
        "(its zones: eu-west-3a, eu-west-3b, eu-west-3c)",
    ),
    (
        "zone-that-does-not-exist",
        {"aws_network_availability_zone": "eu-west-3z"},
        {},
        "aws_network_availability_zone=eu-west-3z is not an available zone of eu-west-3",
    ),
    (
        "zone-without-the-instance-type",
        # c5a.large is offered in eu-west-3a and eu-west-3c only (AWS's offerings, as moto has them)
        {
            "aws_instance_type": "c5a.large",
            "aws_network_availability_zone": "eu-west-3b",
            "aws_budget_allow_over_limit": True,
        },
        {},
        "The zone eu-west-3b does not offer aws_instance_type=c5a.large "
        "(zones of eu-west-3 that do: eu-west-3a, eu-west-3c)",
    ),
    (
        "region-of-another-partition",
        None,
        {"AWS_REGION": "cn-north-1"},
        # The emulator's account is a commercial one, whose keys China's STS does not know.
        "AWS rejected the credentials in cn-north-1 (InvalidClientTokenId): that region is in "
        "the aws-cn partition, whose accounts are separate",
    ),
    (
        "region-of-the-us-government",
        None,
        {"AWS_REGION": "us-gov-west-1"},
        "that region is in the aws-us-gov partition",
    ),
    (
        "instance-dearer-than-the-budget",
        {"aws_instance_type": "t3.large"},
        {},
        "aws_instance_type=t3.large costs 0.0944 USD an hour on demand in eu-west-3, about 68.91 "
        "USD a month (730 hours), above aws_budget_limit_usd=15.0: choose a smaller type, raise "
        "aws_budget_limit_usd to at least 69, or set aws_budget_allow_over_limit=true",
    ),
    (
        "budget-below-the-default-instance",
        {"aws_budget_limit_usd": 5},
        {},
        "aws_instance_type=t3.micro costs 0.0118 USD an hour on demand in eu-west-3, about 8.61 "
        "USD a month",
    ),
    (
        "instance-type-without-a-price",
        {"aws_instance_type": "t3a.micro"},
        {},
        "aws_instance_type=t3a.micro in eu-west-3 is not in the project's price table",
    ),
]


# Issue 15, red team: fresh inputs of the same classes that got through or read badly (those
# refused without AWS or the environment are cases of tests/validate).
RED_TEAM_BAD_INPUTS = [
    pytest.param(
        None,
        {"AWS_REGION": "", "AWS_DEFAULT_REGION": "us-east-1"},
        "aws_region=''",
        id="empty-region",
    ),
    pytest.param(
        None,
        {"AWS_SECRET_ACCESS_KEY": ""},
        "AWS_SECRET_ACCESS_KEY",
        id="empty-secret-key",
    ),
]


OTHER_PROJECT = [{"Key": "Project", "Value": "other-project"}]


def named(name: str, project: str | None = None) -> list[dict]:
    """TagSpecifications tags: Name, and Project when given."""
    tags = [{"Key": "Name", "Value": name}]
    return tags + ([{"Key": "Project", "Value": project}] if project else [])


def other_project(emulator: Emulator) -> None:
    """Another project's stack in the same account and region: nothing of it may change."""
    ec2 = emulator.client("ec2")
    vpc = ec2.create_vpc(
        CidrBlock="10.0.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": named("other-vpc", "other-project")}],
    )["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(
        VpcId=vpc,
        CidrBlock="10.0.1.0/24",
        TagSpecifications=[{"ResourceType": "subnet", "Tags": OTHER_PROJECT}],
    )["Subnet"]["SubnetId"]
    ec2.create_security_group(
        GroupName="other-sg",
        Description="another project",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": OTHER_PROJECT}],
    )
    ec2.create_key_pair(
        KeyName="other-key",
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": OTHER_PROJECT}],
    )
    image = ec2.describe_images(Owners=["099720109477"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        TagSpecifications=[{"ResourceType": "instance", "Tags": OTHER_PROJECT}],
    )["Instances"][0]["InstanceId"]
    # Running before the snapshot: pending turns running by itself, as on AWS.
    ec2.get_waiter("instance_running").wait(
        InstanceIds=[instance], WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    create_budget(emulator, "other-monthly-cost", OTHER_PROJECT)


def create_budget(emulator: Emulator, name: str, tags: list[dict]) -> None:
    emulator.client("budgets", region="us-east-1").create_budget(
        AccountId="123456789012",
        Budget={
            "BudgetName": name,
            "BudgetLimit": {"Amount": "20", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        },
        **({"ResourceTags": tags} if tags else {}),
    )


def account_snapshot(emulator: Emulator) -> dict[str, list]:
    """Every resource the project could touch, with what identifies and describes it."""
    ec2 = emulator.client("ec2")
    budgets = emulator.client("budgets", region="us-east-1")
    cloudwatch, sns = emulator.client("cloudwatch"), emulator.client("sns")

    def tags(item: dict) -> list:
        return sorted((t["Key"], t["Value"]) for t in item.get("Tags", []))

    def alarm_tags(alarm: dict) -> list:
        return tags(cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]))

    instances = [
        (i["InstanceId"], i["State"]["Name"], i["InstanceType"], tags(i))
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
    ]
    return {
        "vpcs": sorted(
            (v["VpcId"], v["CidrBlock"], tags(v))
            for v in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])[
                "Vpcs"
            ]
        ),
        "subnets": sorted(
            (s["SubnetId"], s["VpcId"], s["CidrBlock"], s["AvailabilityZone"], tags(s))
            for s in ec2.describe_subnets()["Subnets"]
        ),
        "gateways": sorted(
            (g["InternetGatewayId"], str(g.get("Attachments")), tags(g))
            for g in ec2.describe_internet_gateways()["InternetGateways"]
        ),
        "security_groups": sorted(
            (g["GroupId"], g["GroupName"], str(g["IpPermissions"]), tags(g))
            for g in ec2.describe_security_groups()["SecurityGroups"]
        ),
        "key_pairs": sorted(
            (k["KeyName"], k["KeyFingerprint"], tags(k))
            for k in ec2.describe_key_pairs()["KeyPairs"]
        ),
        "instances": sorted(instances),
        "budgets": sorted(
            (b["BudgetName"], str(b["BudgetLimit"]))
            for b in budgets.describe_budgets(AccountId="123456789012").get("Budgets", [])
        ),
        "alarms": sorted(
            (a["AlarmName"], str(a.get("AlarmActions")), a.get("Threshold"), alarm_tags(a))
            for a in cloudwatch.describe_alarms()["MetricAlarms"]
        ),
        "topics": sorted(
            (t["TopicArn"], tags(sns.list_tags_for_resource(ResourceArn=t["TopicArn"])))
            for t in sns.list_topics()["Topics"]
        ),
    }


def assert_nothing_created(emulator: Emulator) -> None:
    """An account that was empty is still empty: no VPC, key pair, group or budget."""
    ec2 = emulator.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"]
    assert vpcs == []
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["taskstack-sg"]}]
    )["SecurityGroups"]
    assert groups == []
    budgets = emulator.client("budgets", region="us-east-1")
    assert budgets.describe_budgets(AccountId="123456789012").get("Budgets", []) == []


def error_line(output: str) -> str:
    """The run's one error line (the message, whole, on it)."""
    errors = [line for line in output.splitlines() if line.startswith("[ERROR]")]
    assert len(errors) == 1, output[-3000:]
    return errors[0]


# A run that stops in preflight is short: ansible.builtin.linear starts it faster than Mitogen
# (measured: about 6.8 s against 8.5 s of wall for a refusal at validation, the same CPU). The
# refusals run with it, but for DEFAULT_STRATEGY_CASES, which keep the project's default strategy
# (ansible.cfg: taskstack.aws.mitogen_or_linear) so that a refusal is still seen under it.
LINEAR = {"TASKSTACK_MITOGEN": "0"}
DEFAULT_STRATEGY_CASES = {"malformed-vpc-cidr"}
# A refusal's .state folder is the test's own and is thrown away: the digest of the settings that
# passed the checks (aws_preflight_record_dir) would never be read again. Writing it is a folder
# and a copy, three modules run on the controller, each in its own Python under the linear
# strategy: site.yml refused at the budget's e-mail took 9.2-10.5 s with it and 6.9-8.3 s without
# (three runs each, alternating, on an idle machine, 2026-12-05). The record has its own tests
# (tests/validate/test_checked_settings.py).
NO_RECORD = {"aws_preflight_record_dir": ""}


def refused_without_a_change(
    emulator: Emulator,
    run_playbook,
    expected: str,
    extra_vars: dict | None = None,
    env: dict | None = None,
    playbooks: tuple[str, ...] = ("site.yml",),
    before: dict[str, list] | None = None,
    default_strategy: bool = False,
) -> None:
    """Beside another project's stack, the run stops with one line and the account is as it was.

    ``before``: the account's snapshot when it already holds the other project's stack (a
    SharedAccount); otherwise that stack is made here first."""
    if before is None:
        other_project(emulator)
        before = account_snapshot(emulator)
    args = ("-e", json.dumps({**NO_RECORD, **(extra_vars or {})}))
    strategy = {} if default_strategy else LINEAR
    run = run_playbook(*playbooks, *args, env={**strategy, **(env or {})})
    assert run.returncode != 0
    assert expected in error_line(run.output)
    assert account_snapshot(emulator) == before


class SharedAccount:
    """An account that refusals share instead of each building it again: an emulator of its
    own (no test resets it) holding another project's stack, and more when ``build`` says so.

    A refusal changes nothing, and each one still proves it: its snapshot after the run is the
    one taken before. An account that is not exactly as built (a refusal that failed after
    changing it, whatever was left when a test stopped halfway) is built again from an empty
    emulator before the next test reads it, so no test depends on what another one did.
    """

    def __init__(
        self, emulator: Emulator, build: Callable[[Emulator, Runner], None], build_dir: Path
    ) -> None:
        self.emulator = emulator
        self.build = build
        # The project's .state folder of the runs that build it (each test has its own).
        self.build_dir = build_dir
        self.built: dict[str, list] | None = None
        # True from a run's start until its assertions held.
        self.in_doubt = True

    def runner(self, state_dir: Path) -> Runner:
        return Runner(playbook_env_for(self.emulator), state_dir)

    def snapshot(self, state_dir: Path) -> dict[str, list]:
        """The account as built (built again if it is not), marked in doubt until released."""
        now = None if self.in_doubt else account_snapshot(self.emulator)
        if now is None or now != self.built:
            self.emulator.reset()
            self.build(self.emulator, self.runner(self.build_dir))
            now = self.built = account_snapshot(self.emulator)
        self.in_doubt = True
        return now

    def refused(
        self,
        state_dir: Path,
        expected: str,
        extra_vars: dict | None = None,
        env: dict | None = None,
        playbooks: tuple[str, ...] = ("site.yml",),
        default_strategy: bool = False,
    ) -> None:
        """refused_without_a_change on this account."""
        before = self.snapshot(state_dir)
        run_playbook = self.runner(state_dir).playbook
        refused_without_a_change(
            self.emulator,
            run_playbook,
            expected,
            extra_vars,
            env,
            playbooks,
            before,
            default_strategy,
        )
        self.in_doubt = False


@pytest.fixture(scope="session")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The refusals' own emulator (session scope: pytest-xdist interleaves this file with
    others on a worker, and a module's fixture would start again at each return)."""
    emu = Emulator(port=free_port(), state_dir=tmp_path_factory.mktemp("refusals-emulator"))
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def beside_another_project(
    shared_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> SharedAccount:
    return SharedAccount(
        shared_emulator,
        lambda emulator, runner: other_project(emulator),
        tmp_path_factory.mktemp("refusals-state"),
    )


@pytest.fixture
def account(beside_another_project: SharedAccount) -> SharedAccount:
    """The account of an empty project beside another project's stack, shared by refusals."""
    return beside_another_project


@pytest.mark.parametrize(
    ("extra_vars", "env", "expected"),
    [pytest.param(v, e, x, id=name) for name, v, e, x in BAD_INPUTS],
)
def test_bad_input_is_refused_before_anything_is_created(
    extra_vars, env, expected, account, state_dir, request
):
    default_strategy = request.node.callspec.id in DEFAULT_STRATEGY_CASES
    account.refused(state_dir, expected, extra_vars, env, default_strategy=default_strategy)


def untagged_vpc(emulator: Emulator) -> None:
    emulator.client("ec2").create_vpc(
        CidrBlock="10.0.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": named("taskstack-vpc")}],
    )


def our_vpc(emulator: Emulator) -> str:
    """The project's VPC (10.0.0.0/16, tagged as site.yml tags it); its id."""
    return emulator.client("ec2").create_vpc(
        CidrBlock="10.0.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": named("taskstack-vpc", "taskstack")}],
    )["Vpc"]["VpcId"]


def our_vpc_with_another_cidr(emulator: Emulator) -> None:
    our_vpc(emulator)


def two_vpcs_of_our_name(emulator: Emulator) -> None:
    our_vpc_with_another_cidr(emulator)
    our_vpc_with_another_cidr(emulator)


def our_subnet_in_zone_a(emulator: Emulator) -> None:
    vpc = our_vpc(emulator)
    ec2 = emulator.client("ec2")
    ec2.create_subnet(
        VpcId=vpc,
        CidrBlock="10.0.1.0/24",
        AvailabilityZone="eu-west-3a",
        TagSpecifications=[
            {"ResourceType": "subnet", "Tags": named("taskstack-public-subnet", "taskstack")}
        ],
    )


def untagged_key_pair(emulator: Emulator) -> None:
    emulator.client("ec2").create_key_pair(KeyName="taskstack-key")


def untagged_budget(emulator: Emulator) -> None:
    create_budget(emulator, "taskstack-monthly-cost", [])


def budget_of_another_project(emulator: Emulator) -> None:
    create_budget(emulator, "taskstack-monthly-cost", OTHER_PROJECT)


def untagged_alarm(emulator: Emulator) -> None:
    put_alarm_by_hand(emulator, "taskstack-cpu-high")


def alarm_topic_of_another_project(emulator: Emulator) -> None:
    emulator.client("sns").create_topic(Name="taskstack-alarms", Tags=OTHER_PROJECT)


def instance_of_our_name_made_by_hand(emulator: Emulator) -> None:
    """Someone's own taskstack-server, with Project as a cost tag but no ManagedBy."""
    emulator.client("ec2").run_instances(
        ImageId=NEWEST_UBUNTU_AMI,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": named("taskstack-server", "taskstack")}
        ],
    )


NOT_OURS = [
    # (id, what the account holds, extra vars, what the error line must say)
    (
        "vpc-of-our-name-without-our-tags",
        untagged_vpc,
        {},
        "A VPC named taskstack-vpc already exists (vpc-",
    ),
    (
        "vpc-of-our-name-with-another-cidr",
        our_vpc_with_another_cidr,
        {"aws_network_vpc_cidr": "10.1.0.0/16", "aws_network_subnet_cidr": "10.1.1.0/24"},
        "has the CIDR 10.0.0.0/16, not aws_network_vpc_cidr=10.1.0.0/16: a VPC's CIDR cannot "
        "change; set aws_network_vpc_cidr=10.0.0.0/16",
    ),
    (
        "two-vpcs-of-our-name",
        two_vpcs_of_our_name,
        {},
        "2 VPCs are named taskstack-vpc",
    ),
    (
        "subnet-asked-to-move-zone",
        our_subnet_in_zone_a,
        {"aws_network_availability_zone": "eu-west-3b"},
        "The subnet taskstack-public-subnet is in eu-west-3a, and a subnet cannot move",
    ),
    (
        "key-pair-of-our-name-without-our-tags",
        untagged_key_pair,
        {},
        "A key pair named taskstack-key already exists in AWS",
    ),
    (
        "budget-of-our-name-without-our-tags",
        untagged_budget,
        {},
        "A budget named taskstack-monthly-cost already exists without the tag Project=taskstack",
    ),
    (
        "alarm-of-our-name-without-our-tags",
        untagged_alarm,
        {},
        "taskstack-cpu-high already exists in the region without the tag Project=taskstack",
    ),
    (
        "alarm-topic-of-another-project",
        alarm_topic_of_another_project,
        {},
        "taskstack-alarms already exists in the region without the tag Project=taskstack: it is "
        "not this project's. Set aws_alarms_topic_name, aws_alarms_status_check_name or "
        "aws_alarms_cpu_name to another name, or aws_alarms_adopt=true",
    ),
    (
        "budget-of-our-name-of-another-project",
        budget_of_another_project,
        {},
        "Choose another aws_budget_name, or set aws_budget_adopt=true",
    ),
]


def untagged_subnet_of_our_cidr_in_our_vpc(emulator: Emulator) -> None:
    """A half-built stack: the project's VPC, and in it someone else's subnet of our CIDR."""
    vpc = our_vpc(emulator)
    ec2 = emulator.client("ec2")
    ec2.create_subnet(
        VpcId=vpc,
        CidrBlock="10.0.1.0/24",
        TagSpecifications=[{"ResourceType": "subnet", "Tags": named("team-b-subnet")}],
    )


# Issue 15, red team: the checks above trust the role's tags, which -e can empty.
RED_TEAM_NOT_OURS = [
    pytest.param(
        untagged_budget,
        {"aws_budget_tags": {}},
        "aws_budget_tags must hold Project=taskstack",
        id="budget-of-our-name-with-the-budget-tags-emptied",
    ),
    pytest.param(
        untagged_subnet_of_our_cidr_in_our_vpc,
        {},
        "A subnet with aws_network_subnet_cidr=10.0.1.0/24 already exists",
        id="subnet-of-our-cidr-without-our-tags",
    ),
    pytest.param(
        lambda emulator: None,
        {"aws_network_tags": {}},
        "aws_network_tags must hold Project=taskstack",
        id="network-tags-emptied",
    ),
    # The instance was found by its Project and Name tags: ec2_instance's exact_count took
    # that one as the project's (its security groups changed, started if stopped).
    pytest.param(
        instance_of_our_name_made_by_hand,
        {},
        "An instance named taskstack-server tagged Project=taskstack (i-",
        id="instance-of-our-name-made-by-hand",
    ),
    # Found by a review helper: the run relabelled every resource of the dev stack prod.
    pytest.param(
        lambda emulator: our_stack_by_hand(emulator),
        {"project_environment": "prod"},
        "is the stack of project taskstack tagged Environment=dev, and this run's is "
        "Environment=prod (project_environment): it would relabel that stack. Pass -e "
        "project_environment=dev to run on it",
        id="our-dev-stack-run-as-prod",
    ),
]


@pytest.mark.parametrize(
    ("setup", "extra_vars", "expected"),
    [pytest.param(s, v, x, id=name) for name, s, v, x in NOT_OURS],
)
def test_what_is_not_ours_is_neither_taken_over_nor_shadowed(
    setup, extra_vars, expected, run_playbook, fresh_emulator
):
    setup(fresh_emulator)
    refused_without_a_change(fresh_emulator, run_playbook, expected, extra_vars)


def test_adopting_a_vpc_of_our_name_keeps_its_other_tags(run_playbook, fresh_emulator, ec2):
    """aws_network_vpc_adopt=true: the same VPC, now with the project's tags and still its own."""
    vpc = ec2.create_vpc(
        CidrBlock="10.0.0.0/16",
        TagSpecifications=[
            {
                "ResourceType": "vpc",
                "Tags": [*named("taskstack-vpc"), {"Key": "Team", "Value": "a"}],
            }
        ],
    )["Vpc"]["VpcId"]
    run = run_playbook(
        "playbooks/preflight.yml", "playbooks/provision.yml", "-e", "aws_network_vpc_adopt=true"
    )
    assert run.returncode == 0, run.output[-3000:]
    found = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["taskstack-vpc"]}])["Vpcs"]
    assert [v["VpcId"] for v in found] == [vpc]
    tags = {t["Key"]: t["Value"] for t in found[0]["Tags"]}
    assert tags["Team"] == "a"
    assert tags["Project"] == "taskstack"


def test_the_budget_override_lets_a_dearer_instance_through(run_playbook, fresh_emulator):
    """aws_budget_allow_over_limit=true: preflight passes and creates the budget."""
    run = run_playbook(
        "playbooks/preflight.yml",
        "-e",
        json.dumps({"aws_instance_type": "t3.large", "aws_budget_allow_over_limit": True}),
    )
    assert run.returncode == 0, run.output[-3000:]
    budgets = fresh_emulator.client("budgets", region="us-east-1")
    names = [b["BudgetName"] for b in budgets.describe_budgets(AccountId="123456789012")["Budgets"]]
    assert names == ["taskstack-monthly-cost"]


def test_root_credentials_are_refused(account, state_dir, root_endpoint):
    account.refused(
        state_dir,
        "Refusing the root user of account 123456789012",
        env={"AWS_ENDPOINT_URL": root_endpoint},
    )


@pytest.mark.parametrize("project", ["*", "other-*", "othe?-project", ""])
def test_teardown_refuses_a_wildcard_project_name_and_deletes_nothing(project, account, state_dir):
    """EC2 tag filters read * and ? as wildcards: such a name would select other projects."""
    account.refused(
        state_dir,
        f"project_name='{project}' is not usable",
        env={"PROJECT_NAME": project},
        playbooks=("teardown.yml",),
        # teardown.yml's refusal under the default strategy too, once.
        default_strategy=project == "*",
    )


@pytest.mark.parametrize(
    ("playbook", "extra_vars", "expected"),
    [
        ("stop.yml", None, "There is no stack to stop: no instance named taskstack-server"),
        ("start.yml", None, "There is no stack to start: no instance named taskstack-server"),
        (
            "stop.yml",
            {"aws_instance_nmae": "other-project-server"},
            "aws_instance_nmae: not a setting of role aws_instance",
        ),
    ],
    ids=["stop-without-a-stack", "start-without-a-stack", "stop-with-a-misspelt-setting"],
)
def test_pause_and_resume_refuse_without_the_projects_stack(
    playbook, extra_vars, expected, account, state_dir
):
    """Beside another project's running instance, which neither playbook touches."""
    account.refused(state_dir, expected, extra_vars, playbooks=(playbook,))


def provision_beside_another_project(emulator: Emulator, runner: Runner) -> None:
    provisioned = runner.playbook("playbooks/preflight.yml", "playbooks/provision.yml")
    assert provisioned.returncode == 0, provisioned.output[-3000:]
    other_project(emulator)


@pytest.fixture(scope="session")
def provisioned_beside_another_project(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SharedAccount]:
    """The project's provisioned stack beside another project's, on an emulator of its own:
    provisioned once for the teardown refusals below, which tests/conftest.py keeps on one
    pytest-xdist worker."""
    emu = Emulator(port=free_port(), state_dir=tmp_path_factory.mktemp("provisioned-emulator"))
    emu.start()
    try:
        yield SharedAccount(
            emu, provision_beside_another_project, tmp_path_factory.mktemp("provisioned-state")
        )
    finally:
        emu.stop()


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        (
            {"aws_teardown_keep_budgett": True},
            "aws_teardown_keep_budgett: not a setting of role aws_teardown",
        ),
        ({"aws_teardown_keep_budget": "maybe"}, "aws_teardown_keep_budget must be a bool"),
        ({"aws_region": "us-east-1"}, "aws_region='us-east-1' but the inventory searches"),
    ],
    ids=["misspelt-setting", "setting-of-the-wrong-type", "region-the-inventory-does-not-search"],
)
def test_teardown_checks_its_settings_before_it_deletes_anything(
    extra_vars, expected, provisioned_beside_another_project, state_dir
):
    provisioned_beside_another_project.refused(
        state_dir, expected, extra_vars, playbooks=("teardown.yml",)
    )


def test_a_security_group_of_our_name_in_an_adopted_vpc_keeps_its_rules(
    run_playbook, fresh_emulator, ec2
):
    """Taking over a VPC (aws_network_vpc_adopt) is not taking over what is in it."""
    vpc = ec2.create_vpc(
        CidrBlock="10.0.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": named("taskstack-vpc")}],
    )["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="taskstack-sg", Description="theirs", VpcId=vpc)
    rule = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432}
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"], IpPermissions=[{**rule, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}]
    )
    run = run_playbook(
        "playbooks/preflight.yml", "playbooks/provision.yml", "-e", "aws_network_vpc_adopt=true"
    )
    assert run.returncode != 0
    assert (
        f"A security group named taskstack-sg already exists in {vpc} ({group['GroupId']}) "
        "without the tag Project=taskstack: it is not this project's"
    ) in error_line(run.output)
    found = ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]
    assert [(p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in found["IpPermissions"]] == [
        (5432, "10.0.0.0/16")
    ]


def our_stack_by_hand(emulator: Emulator, environment: str = "dev") -> str:
    """The project's VPC, subnet and group, tagged as site.yml tags them; the VPC's id."""
    ec2 = emulator.client("ec2")

    def ours(name: str) -> list[dict]:
        return [
            *named(name, "taskstack"),
            {"Key": "Environment", "Value": environment},
            {"Key": "ManagedBy", "Value": "ansible"},
        ]

    vpc = ec2.create_vpc(
        CidrBlock="10.0.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": ours("taskstack-vpc")}],
    )["Vpc"]["VpcId"]
    ec2.create_subnet(
        VpcId=vpc,
        CidrBlock="10.0.1.0/24",
        TagSpecifications=[{"ResourceType": "subnet", "Tags": ours("taskstack-public-subnet")}],
    )
    ec2.create_security_group(
        GroupName="taskstack-sg",
        Description="ours",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": ours("taskstack-sg")}],
    )
    return vpc


def untagged_subnet_in_our_vpc(emulator: Emulator) -> str:
    vpc = our_stack_by_hand(emulator)
    return emulator.client("ec2").create_subnet(VpcId=vpc, CidrBlock="10.0.9.0/24")["Subnet"][
        "SubnetId"
    ]


def untagged_group_in_our_vpc(emulator: Emulator) -> str:
    vpc = our_stack_by_hand(emulator)
    return emulator.client("ec2").create_security_group(
        GroupName="team-b-db", Description="another team's", VpcId=vpc
    )["GroupId"]


def untagged_gateway_on_our_vpc(emulator: Emulator) -> str:
    vpc = our_stack_by_hand(emulator)
    ec2 = emulator.client("ec2")
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    return gateway


def untagged_route_table_in_our_vpc(emulator: Emulator) -> str:
    vpc = our_stack_by_hand(emulator)
    return emulator.client("ec2").create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]


def stack_of_another_environment(emulator: Emulator) -> str:
    return our_stack_by_hand(emulator, environment="dev")


@pytest.mark.parametrize(
    ("setup", "extra_vars"),
    [
        pytest.param(
            untagged_subnet_in_our_vpc,
            {},
            id="untagged-subnet-in-our-vpc",
        ),
        pytest.param(
            untagged_group_in_our_vpc,
            {},
            id="untagged-security-group-in-our-vpc",
        ),
        pytest.param(
            untagged_gateway_on_our_vpc,
            {},
            id="untagged-gateway-on-our-vpc",
        ),
        pytest.param(
            untagged_route_table_in_our_vpc,
            {},
            id="untagged-route-table-in-our-vpc",
        ),
        pytest.param(
            stack_of_another_environment,
            {"project_environment": "prod"},
            id="stack-of-another-environment",
        ),
    ],
)
def test_teardown_keeps_what_lacks_the_projects_tags(
    setup, extra_vars, run_playbook, fresh_emulator
):
    """Whatever teardown does with the project's own resources, the one without its tags stays."""
    other_project(fresh_emulator)
    kept = setup(fresh_emulator)
    others = account_snapshot(fresh_emulator)
    args = ("-e", json.dumps(extra_vars)) if extra_vars else ()
    run_playbook("teardown.yml", *args)
    after = account_snapshot(fresh_emulator)
    route_tables = fresh_emulator.client("ec2").describe_route_tables()["RouteTables"]
    assert kept in json.dumps([after, route_tables]), f"{kept} was deleted"
    for kind, items in others.items():
        theirs = [item for item in items if "other-project" in str(item)]
        assert [item for item in after[kind] if "other-project" in str(item)] == theirs


def test_teardown_removes_no_local_file_but_the_projects_key(
    run_playbook, fresh_emulator, tmp_path
):
    """The opt-in local key removal deletes the project's key files, not whatever the path names."""
    precious = tmp_path / "notes.txt"
    precious.write_text("not a key\n")
    run_playbook(
        "teardown.yml",
        "-e",
        json.dumps(
            {
                "aws_teardown_remove_local_key": True,
                "aws_teardown_key_dir": str(tmp_path),
                "aws_key_pair_name": "notes.txt",
            }
        ),
    )
    assert precious.exists()


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        pytest.param(
            {"aws_teardown_project": "*"},
            "aws_teardown_project='*' but project_name='taskstack'",
            id="wildcard-teardown-project",
        ),
        pytest.param(
            {"aws_teardown_project": "other-project"},
            "aws_teardown_project='other-project' but project_name='taskstack'",
            id="teardown-project-of-another-project",
        ),
    ],
)
def test_teardown_project_cannot_differ_from_the_project_name(
    extra_vars, expected, account, state_dir
):
    account.refused(state_dir, expected, extra_vars, playbooks=("teardown.yml",))


# The red team's cases that get through would go on to wait for SSH in site.yml: preflight and
# provision are where a refusal belongs, and they end without waiting for a host.
BEFORE_ANY_HOST = ("playbooks/preflight.yml", "playbooks/provision.yml")


@pytest.mark.parametrize(("extra_vars", "env", "expected"), RED_TEAM_BAD_INPUTS)
def test_red_team_bad_input_is_refused_before_anything_is_created(
    extra_vars, env, expected, account, state_dir
):
    account.refused(state_dir, expected, extra_vars, env, playbooks=BEFORE_ANY_HOST)


@pytest.mark.parametrize(("setup", "extra_vars", "expected"), RED_TEAM_NOT_OURS)
def test_red_team_what_is_not_ours_is_neither_taken_over_nor_shadowed(
    setup, extra_vars, expected, run_playbook, fresh_emulator
):
    setup(fresh_emulator)
    refused_without_a_change(
        fresh_emulator, run_playbook, expected, extra_vars, playbooks=BEFORE_ANY_HOST
    )
