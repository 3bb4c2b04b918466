"""The embedded hosts publish what the instance's security group opens, no fixed port list.

An instance launched with the project's group gets one --publish per TCP port the group lets in:
SSH, the web page and the API at their fixed local ports (README), any other port (a rule added
to aws_security_group_rules, such as 443) where Docker finds a free one. No Docker is needed:
the flags are computed from the emulator's own records of the instance (moto in process).
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.backends import get_backend

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "embedded"))
import hosts
import server

REGION = "eu-west-3"
ACCOUNT = "123456789012"


def launch_with_rules(rules: list[dict], **extra: object) -> object:
    """The emulator's record of an instance started in a group with these ingress rules."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="sg", Description="d", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=rules)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    # Like roles/aws_instance: the group is given on the network interface.
    instance_id = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group]}],
        **extra,
    )["Instances"][0]["InstanceId"]
    return get_backend("ec2")[ACCOUNT][REGION].get_instance(instance_id)


def tcp(port: int, to_port: int | None = None, protocol: str = "tcp") -> dict:
    return {
        "IpProtocol": protocol,
        "FromPort": port,
        "ToPort": to_port or port,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
    }


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def test_every_port_the_group_opens_is_published():
    instance = launch_with_rules([tcp(22), tcp(80), tcp(8000), tcp(443)])
    assert server.opened_tcp_ports(instance) == [22, 80, 443, 8000]


def test_udp_wide_ranges_and_all_traffic_rules_publish_nothing():
    instance = launch_with_rules(
        [tcp(22), tcp(53, protocol="udp"), tcp(1000, 2000), {"IpProtocol": "-1"}]
    )
    assert server.opened_tcp_ports(instance) == [22]


def test_known_ports_go_to_their_fixed_places_and_others_to_a_free_one():
    settings = hosts.HostSettings(published_ports={22: 2299, 80: 8099, 8000: 8098})
    assert hosts.publish_flags(settings, [22, 80, 443, 8000]) == [
        "--publish=127.0.0.1:2299:22",
        "--publish=127.0.0.1:8099:80",
        "--publish=127.0.0.1::443",
        "--publish=127.0.0.1:8098:8000",
    ]


def test_published_ports_come_from_the_environment_or_the_defaults():
    assert hosts.published_ports_from_env("") == {22: 2222, 80: 8080, 8000: 8000}
    assert hosts.published_ports_from_env('{"22": 2299, "443": 8443}') == {22: 2299, 443: 8443}


def test_image_archives_are_mounted_read_only_and_missing_ones_skipped(tmp_path):
    archive = tmp_path / "app-base-images.tar"
    archive.write_bytes(b"tar")
    settings = hosts.HostSettings(image_archives=[archive, tmp_path / "absent.tar"])
    assert hosts.archive_flags(settings) == [
        f"--mount=type=bind,source={archive},"
        f"target={hosts.HOST_ARCHIVE_DIR}/app-base-images.tar,readonly"
    ]


def test_the_user_data_reaches_the_host_as_cloud_inits_nocloud_seed():
    document = "#cloud-config\npackages: [unattended-upgrades]\n# é\n"
    instance = launch_with_rules([tcp(22)], UserData=document)
    given = server.user_data_of(instance)
    assert given == document.encode()
    with tarfile.open(fileobj=io.BytesIO(hosts.nocloud_seed(instance.id, given))) as seed:
        files = {member.name: member for member in seed.getmembers()}
        assert set(files) == {
            "var/lib/cloud/seed/nocloud/user-data",
            "var/lib/cloud/seed/nocloud/meta-data",
        }
        assert seed.extractfile(files["var/lib/cloud/seed/nocloud/user-data"]).read() == given
        meta = seed.extractfile(files["var/lib/cloud/seed/nocloud/meta-data"]).read().decode()
        assert f"instance-id: {instance.id}" in meta


def test_an_instance_without_user_data_has_no_seed():
    assert server.user_data_of(launch_with_rules([tcp(22)])) is None
