"""teardown.yml: removes every project resource from any partial stack, twice in a row."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from harness import Emulator, Runner, free_port
from stack_testing import (
    ACCOUNT,
    NEWEST_UBUNTU_AMI,
    NOTHING,
    ONE_OF_EACH,
    PROJECT,
    PROVISIONING,
    count_project_resources,
    playbook_env_for,
    project_filter,
    stack_records,
)

pytestmark = pytest.mark.slow


def tag_spec(resource_type: str, name: str, project: str = PROJECT) -> list[dict]:
    tags = [
        {"Key": "Name", "Value": name},
        {"Key": "Project", "Value": project},
        {"Key": "Environment", "Value": "dev"},
        {"Key": "ManagedBy", "Value": "ansible"},
    ]
    return [{"ResourceType": resource_type, "Tags": tags}]


class PartialStack:
    """Builds what an interrupted site.yml run leaves behind, one layer at a time."""

    def __init__(self, ec2, project: str = PROJECT) -> None:
        self.ec2 = ec2
        self.project = project

    def vpc(self) -> str:
        return self.ec2.create_vpc(
            CidrBlock="10.0.0.0/16",
            TagSpecifications=tag_spec("vpc", "taskstack-vpc", self.project),
        )["Vpc"]["VpcId"]

    def subnet(self, vpc_id: str) -> str:
        return self.ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock="10.0.1.0/24",
            AvailabilityZone="eu-west-3a",
            TagSpecifications=tag_spec("subnet", "taskstack-public-subnet", self.project),
        )["Subnet"]["SubnetId"]

    def gateway(self, vpc_id: str) -> str:
        igw = self.ec2.create_internet_gateway(
            TagSpecifications=tag_spec("internet-gateway", "taskstack-igw", self.project)
        )["InternetGateway"]["InternetGatewayId"]
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
        return igw

    def route_table(self, vpc_id: str, subnet_id: str, igw_id: str) -> str:
        table = self.ec2.create_route_table(
            VpcId=vpc_id,
            TagSpecifications=tag_spec("route-table", "taskstack-public-rt", self.project),
        )["RouteTable"]["RouteTableId"]
        self.ec2.create_route(
            RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id
        )
        self.ec2.associate_route_table(RouteTableId=table, SubnetId=subnet_id)
        return table

    def security_group(self, vpc_id: str) -> str:
        return self.ec2.create_security_group(
            GroupName="taskstack-sg",
            Description="test",
            VpcId=vpc_id,
            TagSpecifications=tag_spec("security-group", "taskstack-sg", self.project),
        )["GroupId"]

    def key_pair(self) -> None:
        self.ec2.create_key_pair(
            KeyName=f"{self.project}-key", TagSpecifications=tag_spec("key-pair", "taskstack-key")
        )

    def instance(self, subnet_id: str, group_id: str) -> str:
        """The instance as roles/aws_instance launches it: a public address on an interface that
        holds the subnet and the security group and goes with the instance, a 10 GiB gp3
        encrypted root volume, the instance, volume and interface tagged."""
        interface = {"DeviceIndex": 0, "SubnetId": subnet_id, "Groups": [group_id]}
        interface |= {"AssociatePublicIpAddress": True, "DeleteOnTermination": True}
        root = {
            "VolumeSize": 10,
            "VolumeType": "gp3",
            "Encrypted": True,
            "DeleteOnTermination": True,
        }
        instance = self.ec2.run_instances(
            ImageId=NEWEST_UBUNTU_AMI,
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            KeyName=f"{self.project}-key",
            NetworkInterfaces=[interface],
            BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": root}],
            TagSpecifications=[
                *tag_spec("instance", "taskstack-server", self.project),
                *tag_spec("volume", "taskstack-server", self.project),
            ],
        )["Instances"][0]
        interfaces = [i["NetworkInterfaceId"] for i in instance["NetworkInterfaces"]]
        tags = tag_spec("network-interface", "taskstack-server", self.project)[0]["Tags"]
        self.ec2.create_tags(Resources=interfaces, Tags=tags)
        return instance["InstanceId"]

    def network_firewall_and_key(self) -> tuple[str, str, str]:
        """Everything but the instance; the ids of the VPC, the subnet and the security group."""
        vpc = self.vpc()
        subnet = self.subnet(vpc)
        igw = self.gateway(vpc)
        self.route_table(vpc, subnet, igw)
        group = self.security_group(vpc)
        self.key_pair()
        return vpc, subnet, group

    def all_but_the_instance(self) -> str:
        vpc, _, _ = self.network_firewall_and_key()
        return vpc

    def everything(self) -> str:
        """The network, firewall and key pair, then the instance; its id."""
        _, subnet, group = self.network_firewall_and_key()
        return self.instance(subnet, group)


def teardown_passes(run_playbook) -> None:
    run = run_playbook("teardown.yml")
    assert run.returncode == 0, run.output[-3000:]
    assert "nothing tagged Project=taskstack is left in eu-west-3" in run.output


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda stack: stack.vpc(), id="only-vpc"),
        pytest.param(
            lambda stack: [stack.subnet(vpc := stack.vpc()), stack.gateway(vpc)],
            id="vpc-subnet-gateway",
        ),
        pytest.param(lambda stack: stack.all_but_the_instance(), id="all-but-the-instance"),
        pytest.param(lambda stack: stack.key_pair(), id="only-key-pair"),
    ],
)
def test_teardown_of_a_partial_stack_leaves_nothing(build, run_playbook, ec2):
    build(PartialStack(ec2))
    teardown_passes(run_playbook)
    assert count_project_resources(ec2) == NOTHING


def test_teardown_never_touches_other_projects_or_the_default_vpc(run_playbook, ec2):
    other_vpc = PartialStack(ec2, project="other").vpc()
    default_vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    PartialStack(ec2).all_but_the_instance()

    teardown_passes(run_playbook)

    remaining = {vpc["VpcId"] for vpc in ec2.describe_vpcs()["Vpcs"]}
    assert other_vpc in remaining
    assert {vpc["VpcId"] for vpc in default_vpcs} <= remaining


def test_teardown_deletes_nothing_while_something_tagged_with_the_project_was_not_made_by_it(
    run_playbook, ec2
):
    """A user's own VPC already tagged Project=taskstack (a cost-allocation tag of the same
    value), without the project's ManagedBy tag: the teardown refuses in one line, naming it, and
    deletes nothing, the project's own resources included; once the tag is off, it goes on."""
    foreign = ec2.create_vpc(
        CidrBlock="10.9.0.0/16",
        TagSpecifications=[
            {
                "ResourceType": "vpc",
                "Tags": [
                    {"Key": "Name", "Value": "blog-vpc"},
                    {"Key": "Project", "Value": PROJECT},
                    {"Key": "Environment", "Value": "dev"},
                ],
            }
        ],
    )["Vpc"]["VpcId"]
    PartialStack(ec2).all_but_the_instance()
    before = count_project_resources(ec2)

    refused = run_playbook("teardown.yml")
    assert refused.returncode != 0
    said = " ".join(refused.output.split())
    assert (
        f"1 resource(s) tagged Project={PROJECT} in eu-west-3 lack ManagedBy=ansible, so the"
        f" project did not make them: vpc {foreign} blog-vpc. Nothing in AWS was deleted." in said
    ), refused.output[-3000:]
    assert count_project_resources(ec2) == before

    ec2.delete_tags(Resources=[foreign], Tags=[{"Key": "Project"}])
    teardown_passes(run_playbook)
    assert count_project_resources(ec2) == NOTHING
    assert foreign in {vpc["VpcId"] for vpc in ec2.describe_vpcs()["Vpcs"]}


def test_teardown_keeps_a_key_pair_of_the_project_name_without_the_project_tag(run_playbook, ec2):
    """Someone else's taskstack-key (no Project tag) is not the project's to delete."""
    ec2.create_key_pair(KeyName="taskstack-key")
    PartialStack(ec2).vpc()

    run = run_playbook("teardown.yml")
    assert run.returncode == 0, run.output[-3000:]

    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["taskstack-key"]
    # The yaml callback may fold the line.
    assert (
        "key pair taskstack-key is kept: it does not carry the tag Project=taskstack"
        in " ".join(run.output.split())
    ), run.output[-3000:]
    assert count_project_resources(ec2) == NOTHING


BUDGET = "taskstack-monthly-cost"


def budget_names(emulator: Emulator) -> list[str]:
    budgets = emulator.client("budgets", region="us-east-1")
    return [b["BudgetName"] for b in budgets.describe_budgets(AccountId=ACCOUNT).get("Budgets", [])]


def test_teardown_of_the_full_stack_rehearsed_kept_elsewhere_then_removed_twice(
    run_playbook, ec2, fresh_emulator, state_dir
):
    """One stack. Check mode lists what it would remove and removes nothing. AWS_REGION set to
    the wrong region: the stack keeps running in eu-west-3, so its billing alert (a global
    resource) stays. The real teardown leaves nothing, the budget included, and a second one
    changes nothing. A budget left alone is deleted from any region only on request."""
    site = run_playbook(*PROVISIONING)
    assert site.returncode == 0, site.output[-3000:]
    assert count_project_resources(ec2) == ONE_OF_EACH
    assert budget_names(fresh_emulator) == [BUDGET]
    vpc_id = ec2.describe_vpcs(Filters=project_filter())["Vpcs"][0]["VpcId"]
    # What the next run compares the stack with (roles/stack_state), gone with the stack.
    record = stack_records(state_dir)
    assert (record / "stack.sha256").is_file()

    rehearsal = run_playbook("teardown.yml", "--check")
    assert rehearsal.returncode == 0, rehearsal.output[-3000:]
    assert "check mode, nothing was removed: teardown would remove" in rehearsal.output
    assert f"vpc {vpc_id}" in rehearsal.output
    assert count_project_resources(ec2) == ONE_OF_EACH
    assert budget_names(fresh_emulator) == [BUDGET]

    wrong = run_playbook("teardown.yml", env={"AWS_REGION": "us-east-1"})
    assert wrong.returncode == 0, wrong.output[-3000:]
    assert budget_names(fresh_emulator) == [BUDGET]
    assert count_project_resources(ec2) == ONE_OF_EACH
    # The budget carries its stack's region: the teardown elsewhere names it, and keeps it.
    assert (
        f"budget '{BUDGET}' carries StackRegion=eu-west-3, not StackRegion=us-east-1: it "
        "serves another stack and is kept" in " ".join(wrong.output.split())
    ), wrong.output[-3000:]

    teardown_passes(run_playbook)
    assert count_project_resources(ec2) == NOTHING
    assert budget_names(fresh_emulator) == []
    # The digests go, never the folder (a setting, which could name another one by mistake).
    assert list(record.glob("*.sha256")) == []
    # The local private key survives unless its removal is asked for.
    assert (state_dir / "keys" / "taskstack-key").exists()

    again = run_playbook("teardown.yml")
    assert again.returncode == 0, again.output[-3000:]
    assert again.changed == 0, again.recap()

    # A teardown interrupted after the regional deletes leaves the budget alone in the account
    # (preflight makes it alone, first): the variable lets a rerun in its region finish the job.
    # From another region, the budget's StackRegion tag keeps it all the same.
    budget_alone = run_playbook("playbooks/preflight.yml")
    assert budget_alone.returncode == 0, budget_alone.output[-3000:]
    assert budget_names(fresh_emulator) == [BUDGET]
    anyway = ("-e", "aws_teardown_delete_budget_anyway=true")
    elsewhere = run_playbook("teardown.yml", *anyway, env={"AWS_REGION": "us-east-1"})
    assert elsewhere.returncode == 0, elsewhere.output[-3000:]
    assert budget_names(fresh_emulator) == [BUDGET]
    assert (
        f"budget '{BUDGET}' carries StackRegion=eu-west-3, not StackRegion=us-east-1: it "
        "serves another stack and is kept" in " ".join(elsewhere.output.split())
    ), elsewhere.output[-3000:]
    here = run_playbook("teardown.yml", *anyway)
    assert here.returncode == 0, here.output[-3000:]
    assert budget_names(fresh_emulator) == []


def test_the_project_run_in_another_region_stops_before_it_creates_anything(
    run_playbook, ec2, fresh_emulator
):
    """A budget is global. The same PROJECT_NAME in another region (AWS_REGION mistyped, or a
    second stack) would take over the running stack's billing alert, then delete it with its own
    teardown: the budget's StackRegion tag stops site.yml there in preflight, with one line, before
    anything exists. Made before the tag, a budget gets it from its own region's run."""
    made = run_playbook("playbooks/preflight.yml")
    assert made.returncode == 0, made.output[-3000:]
    budgets = fresh_emulator.client("budgets", region="us-east-1")
    arn = f"arn:aws:budgets::{ACCOUNT}:budget/{BUDGET}"
    tags = budgets.list_tags_for_resource(ResourceARN=arn)["ResourceTags"]
    assert {"Key": "StackRegion", "Value": "eu-west-3"} in tags

    elsewhere = run_playbook("site.yml", env={"AWS_REGION": "us-east-1"})
    assert elsewhere.returncode != 0
    assert (
        f"The budget {BUDGET} serves the stack of project taskstack in eu-west-3 (its tag "
        "StackRegion=eu-west-3), and this run is for us-east-1: it stops before it creates "
        "anything. If that stack is the one you mean, set AWS_REGION=eu-west-3; for a second "
        "stack here, use another PROJECT_NAME (or aws_budget_name); if that stack is gone, remove "
        "its budget with AWS_REGION=eu-west-3 ansible-playbook teardown.yml -e "
        "aws_teardown_delete_budget_anyway=true." in " ".join(elsewhere.output.split())
    ), elsewhere.output[-3000:]
    east = fresh_emulator.client("ec2", region="us-east-1")
    assert east.describe_vpcs(Filters=project_filter())["Vpcs"] == []
    assert east.describe_key_pairs()["KeyPairs"] == []
    assert east.describe_instances(Filters=project_filter())["Reservations"] == []
    budget = budgets.describe_budget(AccountId=ACCOUNT, BudgetName=BUDGET)["Budget"]
    assert float(budget["BudgetLimit"]["Amount"]) == 15.0

    # Made before the StackRegion tag, a budget is not claimed: a teardown elsewhere keeps it
    # because its region held nothing of the project, and its own region's next run tags it.
    budgets.untag_resource(ResourceARN=arn, ResourceTagKeys=["StackRegion"])
    legacy = run_playbook("teardown.yml", env={"AWS_REGION": "us-east-1"})
    assert legacy.returncode == 0, legacy.output[-3000:]
    assert (
        f"nothing of project taskstack in us-east-1; the budget {BUDGET} is global and is kept"
        in " ".join(legacy.output.split())
    ), legacy.output[-3000:]
    assert budget_names(fresh_emulator) == [BUDGET]
    again = run_playbook("playbooks/preflight.yml")
    assert again.returncode == 0, again.output[-3000:]
    tags = budgets.list_tags_for_resource(ResourceARN=arn)["ResourceTags"]
    assert {"Key": "StackRegion", "Value": "eu-west-3"} in tags


def test_teardown_removes_a_budget_whose_name_was_changed(run_playbook, ec2, fresh_emulator):
    """aws_budget_name changed (here with -e, as in group_vars): the teardown deletes the budget
    of that name, not the default name's, which was never made."""
    renamed = ("-e", "aws_budget_name=team-budget")
    made = run_playbook("playbooks/preflight.yml", *renamed)
    assert made.returncode == 0, made.output[-3000:]
    assert budget_names(fresh_emulator) == ["team-budget"]
    PartialStack(ec2).key_pair()
    run = run_playbook("teardown.yml", *renamed)
    assert run.returncode == 0, run.output[-3000:]
    assert budget_names(fresh_emulator) == []
    assert count_project_resources(ec2) == NOTHING


def test_teardown_removes_the_local_key_only_when_asked(run_playbook, ec2, state_dir):
    keys = state_dir / "keys"
    keys.mkdir()
    # A key pair made now, in the shape community.crypto.openssh_keypair writes (teardown
    # removes nothing else): an OpenSSH private key, a .pub commented with the key's name.
    key = Ed25519PrivateKey.generate()
    (keys / "taskstack-key").write_bytes(
        key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    )
    public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    (keys / "taskstack-key.pub").write_text(f"{public.decode()} taskstack-key\n")

    teardown_passes(run_playbook)
    assert (keys / "taskstack-key").exists()

    run = run_playbook("teardown.yml", "-e", "aws_teardown_remove_local_key=true")
    assert run.returncode == 0, run.output[-3000:]
    assert not (keys / "taskstack-key").exists()
    assert not (keys / "taskstack-key.pub").exists()


# ---------------------------------------------------------------- an interrupted teardown, rerun

# Long enough for teardown.yml to reach the security group while the instance still shuts down,
# even on a busy machine (AWS: 30-90 s); the suite's emulator uses the realistic mode's small
# default.
SHUTTING_DOWN_S = 40


@pytest.fixture(scope="module")
def slow_shutdown_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An emulator whose instances shut down for a while and which logs every request's
    action (EMBEDDED_REQUEST_LOG), so that a test can act when teardown reaches a call."""
    state = tmp_path_factory.mktemp("slow-shutdown")
    emu = Emulator(
        port=free_port(),
        state_dir=state,
        server_settings={
            "EMBEDDED_SHUTTING_DOWN_S": str(SHUTTING_DOWN_S),
            "EMBEDDED_REQUEST_LOG": str(state / "requests.jsonl"),
            # A throttled request is logged too: the count of a call must be the calls AWS
            # answered, or a test acts on a refusal that never came.
            "EMBEDDED_THROTTLE_SHARE": "0",
        },
    )
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def slow(slow_shutdown_emulator: Emulator, state_dir: Path) -> tuple[Emulator, Runner]:
    slow_shutdown_emulator.reset()
    return slow_shutdown_emulator, Runner(playbook_env_for(slow_shutdown_emulator), state_dir)


def live_instances(ec2) -> list[dict]:
    states = ["pending", "running", "stopping", "stopped", "shutting-down"]
    filters = [*project_filter(), {"Name": "instance-state-name", "Values": states}]
    return [
        i for r in ec2.describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]
    ]


def test_a_rerun_after_a_teardown_killed_while_the_instance_shuts_down_leaves_nothing(slow):
    """The first teardown got as far as TerminateInstances and was killed: the instance is
    shutting-down, its interface still holds the subnet and the security group. The rerun must
    wait for it instead of failing on DependencyViolation."""
    emu, runner = slow
    ec2 = emu.client("ec2")
    # The network, firewall, key pair and instance as provisioning leaves them (not the alarms
    # or the budget), made with the API: a provisioning run costs 35-45 s, for nothing
    # checked here.
    instance_ids = [PartialStack(ec2).everything()]
    ec2.get_waiter("instance_running").wait(
        InstanceIds=instance_ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    assert count_project_resources(ec2) == ONE_OF_EACH

    # What the killed teardown did before it died.
    ec2.terminate_instances(InstanceIds=instance_ids)
    assert [i["State"]["Name"] for i in live_instances(ec2)] == ["shutting-down"]

    rerun = runner.playbook("teardown.yml")
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert "nothing tagged Project=taskstack is left in eu-west-3" in rerun.output
    assert count_project_resources(ec2) == NOTHING


class StrayInterface:
    """A network interface the project did not create (another service's, or made by hand)
    in the project's subnet, using its security group: AWS refuses both deletes meanwhile."""

    def __init__(self, ec2) -> None:
        self.ec2 = ec2
        vpc = PartialStack(ec2).all_but_the_instance()
        in_vpc = [{"Name": "vpc-id", "Values": [vpc]}]
        subnet = ec2.describe_subnets(Filters=in_vpc)["Subnets"][0]["SubnetId"]
        groups = ec2.describe_security_groups(Filters=in_vpc)["SecurityGroups"]
        group = next(g["GroupId"] for g in groups if g["GroupName"] != "default")
        created = ec2.create_network_interface(SubnetId=subnet, Groups=[group])
        self.id = created["NetworkInterface"]["NetworkInterfaceId"]

    def delete(self) -> None:
        self.ec2.delete_network_interface(NetworkInterfaceId=self.id)


def requested(emu: Emulator, action: str) -> int:
    """How many times the emulator was asked for this action (its request log)."""
    log = emu.state_dir / "requests.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return sum(1 for line in lines if json.loads(line)["action"] == action)


def test_teardown_retries_a_dependency_violation_until_what_holds_it_goes(slow):
    emu, runner = slow
    ec2 = emu.client("ec2")
    stray = StrayInterface(ec2)
    before = requested(emu, "DeleteSecurityGroup")

    with ThreadPoolExecutor(max_workers=1) as pool:
        teardown = pool.submit(runner.playbook, "teardown.yml")
        # Released only once teardown has been refused at least once: a second request is a
        # retry (the log has each request before its answer, so the first one may still be
        # on its way when it shows).
        while requested(emu, "DeleteSecurityGroup") < before + 2 and not teardown.done():
            time.sleep(0.5)
        stray.delete()
        run = teardown.result()

    assert run.returncode == 0, run.output[-3000:]
    assert "FAILED - RETRYING: [localhost]: Delete the security groups" in run.output
    assert count_project_resources(ec2) == NOTHING


def test_teardown_gives_up_on_a_dependency_violation_with_one_line(slow):
    emu, runner = slow
    ec2 = emu.client("ec2")
    stray = StrayInterface(ec2)

    run = runner.playbook("teardown.yml", "-e", "aws_teardown_dependency_timeout_s=3")
    assert run.returncode != 0
    # The last message is the one line; the yaml callback may fold it.
    last = " ".join(run.output.rpartition("msg:")[2].split())
    assert re.match(
        r"'?teardown gave up after 3 s of DependencyViolation: resource sg-\w+ has a dependent "
        r"object\. Something the project did not create still uses it",
        last,
    ), run.output[-3000:]

    # Once it is gone, a rerun finishes the job.
    stray.delete()
    teardown_passes(runner.playbook)
    assert count_project_resources(ec2) == NOTHING
