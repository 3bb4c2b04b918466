"""The emulator's realistic mode (embedded/realism.py), through boto3 against a real server.

Each behaviour is one AWS documents and moto skips: instances pending, stopping and
shutting-down for a while, public addresses released at a stop, IncorrectInstanceState for a
stop or start the state does not allow, interfaces released only once the instance is
terminated, DependencyViolation on deletes while something still uses what is deleted, and
RequestLimitExceeded throttling.
Every error code asserted here is also checked to be one EC2 documents (botocore's model
carries no error shapes for EC2, so the codes are those of the EC2 API Reference).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "embedded"))
import emulator as embedded_emulator  # noqa: E402 - embedded/ is found through sys.path
import realism  # noqa: E402
from harness import Emulator, free_port  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "integration"))
from stack_testing import put_alarm_by_hand  # noqa: E402

PENDING_S = 1.0
SHUTTING_DOWN_S = 2.0
STOPPING_S = 2.0
STALE_TAGS_S = 2.0
# Slack for the request that notices a deadline to arrive after it.
MARGIN_S = 0.3


def started(tmp_path: Path, realistic: bool = True, **settings: str) -> Emulator:
    emu = Emulator(
        port=free_port(),
        state_dir=tmp_path,
        realistic=realistic,
        server_settings=settings,
    )
    emu.start()
    return emu


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The lifecycle with timings a test can wait out, and no throttling to keep it exact."""
    emu = started(
        tmp_path_factory.mktemp("realistic"),
        EMBEDDED_PENDING_S=str(PENDING_S),
        EMBEDDED_SHUTTING_DOWN_S=str(SHUTTING_DOWN_S),
        EMBEDDED_STOPPING_S=str(STOPPING_S),
        EMBEDDED_STALE_TAGS_S=str(STALE_TAGS_S),
        EMBEDDED_THROTTLE_SHARE="0",
    )
    yield emu
    emu.stop()


@pytest.fixture
def ec2(emulator: Emulator):
    emulator.reset()
    return emulator.client("ec2")


class Network:
    """A VPC with a public subnet, an attached gateway and a security group."""

    def __init__(self, ec2) -> None:
        self.ec2 = ec2
        self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnet = ec2.create_subnet(VpcId=self.vpc, CidrBlock="10.0.1.0/24")["Subnet"][
            "SubnetId"
        ]
        self.igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=self.igw, VpcId=self.vpc)
        self.group = ec2.create_security_group(GroupName="web", Description="web", VpcId=self.vpc)[
            "GroupId"
        ]

    def launch(self, **extra: Any) -> str:
        """An instance as aws_instance launches it: a public address on its interface."""
        image = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        interface = {
            "DeviceIndex": 0,
            "SubnetId": self.subnet,
            "Groups": [self.group],
            "AssociatePublicIpAddress": True,
            "DeleteOnTermination": True,
        }
        reservation = self.ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, NetworkInterfaces=[interface], **extra
        )
        return reservation["Instances"][0]["InstanceId"]

    def describe(self, instance_id: str) -> dict[str, Any]:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return reservations[0]["Instances"][0]

    def state(self, instance_id: str) -> str:
        return self.describe(instance_id)["State"]["Name"]

    def public_ip(self, instance_id: str) -> str | None:
        return self.describe(instance_id).get("PublicIpAddress")

    def running(self) -> str:
        instance_id = self.launch()
        time.sleep(PENDING_S + MARGIN_S)
        assert self.state(instance_id) == "running"
        return instance_id

    def stopped(self) -> str:
        instance_id = self.running()
        self.ec2.stop_instances(InstanceIds=[instance_id])
        time.sleep(STOPPING_S + MARGIN_S)
        assert self.state(instance_id) == "stopped"
        return instance_id

    def interfaces(self) -> list[dict[str, Any]]:
        subnet = [{"Name": "subnet-id", "Values": [self.subnet]}]
        return self.ec2.describe_network_interfaces(Filters=subnet)["NetworkInterfaces"]

    def shutting_down(self) -> str:
        instance_id = self.launch()
        self.ec2.terminate_instances(InstanceIds=[instance_id])
        return instance_id


@pytest.fixture
def network(ec2) -> Network:
    return Network(ec2)


def error_of(call: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    error = response["Error"]
    return error["Code"], error["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


# ---------------------------------------------------------------- lifecycle


def test_a_launched_instance_is_pending_then_running(network: Network):
    before = time.monotonic()
    instance_id = network.launch()
    assert network.state(instance_id) == "pending"

    time.sleep(max(0.0, before + PENDING_S + MARGIN_S - time.monotonic()))
    assert network.state(instance_id) == "running"


def test_a_terminated_instance_shuts_down_for_a_while_and_keeps_its_interface(network: Network):
    instance_id = network.launch()
    answer = network.ec2.terminate_instances(InstanceIds=[instance_id])
    # TerminateInstances answers with the state the instance enters, as on AWS.
    assert answer["TerminatingInstances"][0]["CurrentState"] == {
        "Code": 32,
        "Name": "shutting-down",
    }
    assert network.state(instance_id) == "shutting-down"
    assert len(network.interfaces()) == 1

    time.sleep(SHUTTING_DOWN_S + MARGIN_S)
    assert network.state(instance_id) == "terminated"
    assert network.interfaces() == []


def test_terminating_again_keeps_the_instance_shutting_down(network: Network):
    instance_id = network.shutting_down()
    again = network.ec2.terminate_instances(InstanceIds=[instance_id])
    assert again["TerminatingInstances"][0]["PreviousState"]["Name"] == "shutting-down"
    assert network.state(instance_id) == "shutting-down"


def test_a_shutting_down_instance_is_found_only_by_asking_for_that_state(network: Network):
    """What an interrupted teardown's rerun meets: the usual state filters miss it."""
    instance_id = network.shutting_down()
    usual = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopped"]}]
    assert (
        network.ec2.describe_instances(InstanceIds=[instance_id], Filters=usual)["Reservations"]
        == []
    )
    wider = [{"Name": "instance-state-name", "Values": ["shutting-down"]}]
    found = network.ec2.describe_instances(InstanceIds=[instance_id], Filters=wider)
    assert len(found["Reservations"]) == 1


def test_a_stopped_instance_is_stopping_then_stopped_and_loses_its_public_address(
    network: Network,
):
    instance_id = network.running()
    address = network.public_ip(instance_id)
    assert address
    answer = network.ec2.stop_instances(InstanceIds=[instance_id])
    assert answer["StoppingInstances"][0]["CurrentState"]["Name"] == "stopping"
    assert answer["StoppingInstances"][0]["PreviousState"]["Name"] == "running"
    assert network.state(instance_id) == "stopping"

    time.sleep(STOPPING_S + MARGIN_S)
    assert network.state(instance_id) == "stopped"
    # AWS releases an auto-assigned public IPv4 address when the instance stops.
    assert network.public_ip(instance_id) is None


def test_a_started_instance_is_pending_then_running_with_a_new_public_address(network: Network):
    instance_id = network.stopped()
    answer = network.ec2.start_instances(InstanceIds=[instance_id])
    assert answer["StartingInstances"][0]["PreviousState"]["Name"] == "stopped"
    assert network.state(instance_id) == "pending"
    assert network.public_ip(instance_id)

    time.sleep(PENDING_S + MARGIN_S)
    assert network.state(instance_id) == "running"


def test_stopping_again_or_starting_a_running_instance_changes_nothing(network: Network):
    instance_id = network.running()
    network.ec2.start_instances(InstanceIds=[instance_id])
    assert network.state(instance_id) == "running"
    network.ec2.stop_instances(InstanceIds=[instance_id])
    again = network.ec2.stop_instances(InstanceIds=[instance_id])
    assert again["StoppingInstances"][0]["PreviousState"]["Name"] == "stopping"
    assert network.state(instance_id) == "stopping"


@pytest.mark.parametrize(
    ("action", "state", "verb"),
    [("stop_instances", "pending", "stopped"), ("start_instances", "stopping", "started")],
)
def test_a_stop_or_start_the_state_does_not_allow_is_incorrect_instance_state(
    network: Network, action: str, state: str, verb: str
):
    instance_id = network.launch() if state == "pending" else network.running()
    if state == "stopping":
        network.ec2.stop_instances(InstanceIds=[instance_id])
    assert network.state(instance_id) == state
    code, message, status = error_of(
        lambda: getattr(network.ec2, action)(InstanceIds=[instance_id])
    )
    assert (code, status) == ("IncorrectInstanceState", 400)
    assert message == f"The instance '{instance_id}' is not in a state from which it can be {verb}."


def test_user_data_over_16_kb_is_refused_as_aws_refuses_it(network: Network):
    # boto3 sends it base64-encoded; AWS counts the bytes before the encoding.
    largest = "#" * realism.USER_DATA_MAX_BYTES
    assert network.state(network.launch(UserData=largest)) in ("pending", "running")
    code, message, status = error_of(lambda: network.launch(UserData=largest + "\n"))
    assert (code, message, status) == (
        "InvalidParameterValue",
        "User data is limited to 16384 bytes",
        400,
    )
    # Bytes, not characters: 8,193 two-byte characters are 16,386 bytes.
    code, _, _ = error_of(lambda: network.launch(UserData="é" * 8193))
    assert code == "InvalidParameterValue"


def test_a_stopped_instance_keeps_its_network_in_use(network: Network):
    network.stopped()
    code, _, _ = error_of(lambda: network.ec2.delete_subnet(SubnetId=network.subnet))
    assert code == "DependencyViolation"


# ---------------------------------------------------------------- DependencyViolation

DELETES: dict[str, Callable[[Network], Any]] = {
    "DeleteSecurityGroup": lambda n: n.ec2.delete_security_group(GroupId=n.group),
    "DeleteSubnet": lambda n: n.ec2.delete_subnet(SubnetId=n.subnet),
    "DetachInternetGateway": lambda n: n.ec2.detach_internet_gateway(
        InternetGatewayId=n.igw, VpcId=n.vpc
    ),
    "DeleteVpc": lambda n: n.ec2.delete_vpc(VpcId=n.vpc),
}
# AWS's messages for each (what AWS answers, quoted in docs/emulator.md).
MESSAGES = {
    "DeleteSecurityGroup": "resource {group} has a dependent object",
    "DeleteSubnet": "The subnet '{subnet}' has dependencies and cannot be deleted.",
    "DetachInternetGateway": "Network {vpc} has some mapped public address(es). Please unmap "
    "those public address(es) before detaching the gateway.",
    "DeleteVpc": "The vpc '{vpc}' has dependencies and cannot be deleted.",
}


@pytest.mark.parametrize("operation", sorted(DELETES))
def test_deleting_what_a_shutting_down_instance_uses_is_a_dependency_violation(
    network: Network, operation: str
):
    network.shutting_down()
    code, message, status = error_of(lambda: DELETES[operation](network))
    assert (code, status) == ("DependencyViolation", 400)
    assert message == MESSAGES[operation].format(**vars(network))


def test_the_deletes_go_through_once_the_instance_is_terminated(network: Network):
    network.shutting_down()
    time.sleep(SHUTTING_DOWN_S + MARGIN_S)
    network.ec2.delete_security_group(GroupId=network.group)
    network.ec2.detach_internet_gateway(InternetGatewayId=network.igw, VpcId=network.vpc)
    network.ec2.delete_internet_gateway(InternetGatewayId=network.igw)
    network.ec2.delete_subnet(SubnetId=network.subnet)
    network.ec2.delete_vpc(VpcId=network.vpc)
    assert network.ec2.describe_vpcs(VpcIds=[])["Vpcs"] == [
        vpc for vpc in network.ec2.describe_vpcs()["Vpcs"] if vpc["IsDefault"]
    ]


def test_an_attached_gateway_cannot_be_deleted(network: Network):
    code, message, status = error_of(
        lambda: network.ec2.delete_internet_gateway(InternetGatewayId=network.igw)
    )
    assert (code, status) == ("DependencyViolation", 400)
    assert message == f"The internetGateway '{network.igw}' has dependencies and cannot be deleted."


def test_a_vpc_with_an_attached_gateway_or_a_group_cannot_be_deleted(network: Network):
    network.ec2.delete_subnet(SubnetId=network.subnet)
    assert error_of(lambda: network.ec2.delete_vpc(VpcId=network.vpc))[0] == ("DependencyViolation")
    network.ec2.detach_internet_gateway(InternetGatewayId=network.igw, VpcId=network.vpc)
    assert error_of(lambda: network.ec2.delete_vpc(VpcId=network.vpc))[0] == ("DependencyViolation")
    network.ec2.delete_security_group(GroupId=network.group)
    network.ec2.delete_vpc(VpcId=network.vpc)


def test_an_interface_alone_keeps_its_subnet_and_group_in_use(network: Network):
    """A network interface without an instance (one left by another service, or created by
    hand) holds its subnet and groups as on AWS."""
    eni = network.ec2.create_network_interface(SubnetId=network.subnet, Groups=[network.group])
    assert error_of(lambda: DELETES["DeleteSubnet"](network))[0] == "DependencyViolation"
    assert error_of(lambda: DELETES["DeleteSecurityGroup"](network))[0] == "DependencyViolation"

    network.ec2.delete_network_interface(
        NetworkInterfaceId=eni["NetworkInterface"]["NetworkInterfaceId"]
    )
    DELETES["DeleteSecurityGroup"](network)
    DELETES["DeleteSubnet"](network)


# ---------------------------------------------------------------- throttling


def ec2_client(emu: Emulator, config: Config) -> Any:
    """An EC2 client of the emulator with these retries (the harness's client has its own)."""
    return boto3.client(
        "ec2",
        region_name="eu-west-3",
        endpoint_url=emu.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def test_ec2_calls_are_throttled_with_request_limit_exceeded(tmp_path: Path):
    emu = started(tmp_path, EMBEDDED_THROTTLE_SHARE="1")
    try:
        # No retry: the first answer is the one asserted.
        client = ec2_client(emu, Config(retries={"mode": "legacy", "total_max_attempts": 1}))
        code, message, status = error_of(client.describe_vpcs)
        assert (code, message, status) == ("RequestLimitExceeded", "Request limit exceeded.", 503)
        # Only EC2 is throttled: STS answers.
        assert emu.client("sts").get_caller_identity()["Account"]
    finally:
        emu.stop()


def test_throttled_calls_succeed_through_botocores_retries(tmp_path: Path):
    emu = started(tmp_path, EMBEDDED_THROTTLE_SHARE="0.25", EMBEDDED_THROTTLE_SEED="14")
    try:
        ec2 = emu.client("ec2")
        for _ in range(8):
            ec2.describe_vpcs()
        log = (tmp_path / "moto.log").read_text()
        assert " 503 " in log, "the share drew no throttled call: the test proves nothing"
    finally:
        emu.stop()


def test_the_harness_client_outlasts_a_run_of_throttles_botocores_defaults_give_up_on(
    tmp_path: Path,
):
    # Seed 4 draws six throttles in a row, then an answer: three for the default client's three
    # attempts, three more for the harness's client, which answers on its fourth.
    emu = started(tmp_path, EMBEDDED_THROTTLE_SHARE="0.75", EMBEDDED_THROTTLE_SEED="4")
    try:
        # botocore's defaults, written out: AWS_RETRY_MODE or ~/.aws/config would change them.
        defaults = ec2_client(emu, Config(retries={"mode": "standard", "total_max_attempts": 3}))
        assert error_of(defaults.describe_vpcs)[0] == "RequestLimitExceeded"
        assert emu.client("ec2").describe_vpcs()["Vpcs"]
        assert (tmp_path / "moto.log").read_text().count(" 503 ") == 6
    finally:
        emu.stop()


# ---------------------------------------------------------------- settings and the plain mode


def test_the_plain_mode_keeps_motos_instant_lifecycle(tmp_path: Path):
    emu = started(tmp_path, realistic=False)
    try:
        network = Network(emu.client("ec2"))
        instance_id = network.launch()
        assert network.state(instance_id) == "running"
        network.ec2.terminate_instances(InstanceIds=[instance_id])
        assert network.state(instance_id) == "terminated"
        network.ec2.delete_security_group(GroupId=network.group)
    finally:
        emu.stop()


@pytest.mark.parametrize(
    ("service", "call", "code"),
    [
        ("sts", lambda c: c.get_caller_identity(), "InvalidClientTokenId"),
        ("ec2", lambda c: c.describe_vpcs(), "AuthFailure"),
        ("budgets", lambda c: c.describe_budgets(AccountId="123456789012"), "UnrecognizedClient"),
    ],
)
@pytest.mark.parametrize("region", ["cn-north-1", "us-gov-west-1"])
def test_keys_of_the_commercial_account_are_unknown_in_another_partition(
    emulator: Emulator, service: str, call: Callable, code: str, region: str
):
    """AWS's partitions have separate accounts; moto would answer as an aws-cn account."""
    with pytest.raises(ClientError) as refused:
        call(emulator.client(service, region=region))
    assert refused.value.response["Error"]["Code"].startswith(code)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_commercial_partition_answers(emulator: Emulator):
    arn = emulator.client("sts", region="us-east-1").get_caller_identity()["Arn"]
    assert arn.startswith("arn:aws:")


def tagged_arns(emulator: Emulator, project: str) -> list[str]:
    """Sorted, each as often as GetResources lists it."""
    tagging = emulator.client("resourcegroupstaggingapi")
    found = tagging.get_resources(TagFilters=[{"Key": "Project", "Values": [project]}])
    return sorted(mapping["ResourceARN"] for mapping in found["ResourceTagMappingList"])


def test_a_deleted_alarm_or_topic_stays_in_the_tagging_api_for_a_while(emulator: Emulator):
    """GetResources lists "tagged or previously tagged" resources, and deleted ones for minutes
    (AWS's API Reference; aws/aws-sdk#302): moto lists only live ones."""
    emulator.reset()
    tags = [{"Key": "Project", "Value": "stale"}]
    sns, cloudwatch = emulator.client("sns"), emulator.client("cloudwatch")
    topic = sns.create_topic(Name="stale-alarms", Tags=tags)["TopicArn"]
    for name in ("stale-cpu", "stale-disk"):
        put_alarm_by_hand(emulator, name, {"Project": "stale"})
    live = tagged_arns(emulator, "stale")
    assert len(live) == 3 and topic in live
    sns.delete_topic(TopicArn=topic)
    cloudwatch.delete_alarms(AlarmNames=["stale-cpu", "stale-disk"])
    assert tagged_arns(emulator, "stale") == live
    assert tagged_arns(emulator, "another") == []
    assert error_of(lambda: sns.get_topic_attributes(TopicArn=topic))[0] == "NotFound"
    assert cloudwatch.describe_alarms(AlarmNames=["stale-cpu"])["MetricAlarms"] == []
    # Made again, it is listed once.
    sns.create_topic(Name="stale-alarms", Tags=tags)
    assert tagged_arns(emulator, "stale") == live
    time.sleep(STALE_TAGS_S + MARGIN_S)
    assert tagged_arns(emulator, "stale") == [topic]


def test_the_realistic_mode_is_the_default_and_said_by_status(emulator: Emulator):
    assert Emulator(port=1, state_dir=Path("/nonexistent")).realistic
    status = embedded_emulator.status(emulator.port, emulator.state_dir)
    assert "realistic EC2" in status


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("EMBEDDED_PENDING_S", "soon", "is not a number"),
        ("EMBEDDED_SHUTTING_DOWN_S", "-1", "must be 0 or more"),
        ("EMBEDDED_STOPPING_S", "later", "is not a number"),
        ("EMBEDDED_THROTTLE_SHARE", "2", "must be 0 to 1"),
        ("EMBEDDED_THROTTLE_SEED", "x", "must be a whole number"),
        ("EMBEDDED_STALE_TAGS_S", "a while", "is not a number"),
    ],
)
def test_a_bad_setting_is_refused_with_its_name(name: str, value: str, says: str):
    with pytest.raises(realism.SettingError, match=f"{name}=.*{says}"):
        realism.Settings.from_env({name: value})


def test_the_defaults_are_small():
    settings = realism.Settings.from_env({})
    assert settings.pending_s <= 1 and settings.shutting_down_s <= 5
    assert settings.stopping_s <= 5
    assert 0 < settings.throttle_share <= 0.05
