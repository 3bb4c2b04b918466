"""The provisioning phases of site.yml on the emulator: what they create, and reruns."""

from __future__ import annotations

import json
import re
import stat

import pytest
import yaml
from harness import REPO_ROOT, Emulator, Runner, free_port
from stack_testing import (
    NEWEST_UBUNTU_AMI,
    ONE_OF_EACH,
    PROJECT,
    PROVISIONING,
    SharedStack,
    count_project_resources,
    playbook_env_for,
    project_filter,
    role_only_playbook,
    task_status,
)

pytestmark = pytest.mark.slow

OLDER_UBUNTU_AMI = "ami-0a1b2c3d4e5f60001"
SECURITY_VARS = REPO_ROOT / "inventory" / "group_vars" / "all" / "security.yml"
REQUIRED_TAGS = {"Project": PROJECT, "Environment": "dev", "ManagedBy": "ansible"}


def tags_of(resource: dict) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def assert_tagged(resource: dict, name: str) -> None:
    tags = tags_of(resource)
    assert tags.get("Name") == name, tags
    for key, value in REQUIRED_TAGS.items():
        assert tags.get(key) == value, (key, tags)


@pytest.fixture
def ec2(provisioned_stack: SharedStack):
    return provisioned_stack.emulator.client("ec2")


@pytest.fixture
def provisioned(provisioned_stack: SharedStack) -> Runner:
    return provisioned_stack.runner


def the_instance(ec2) -> dict:
    reservations = ec2.describe_instances(
        Filters=[*project_filter(), {"Name": "instance-state-name", "Values": ["running"]}]
    )["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    assert len(instances) == 1, instances
    return instances[0]


def test_site_creates_exactly_one_of_each_resource(provisioned, ec2):
    assert count_project_resources(ec2) == {
        "vpc": 1,
        "subnet": 1,
        "igw": 1,
        "route_table": 1,
        "security_group": 1,
        "key_pair": 1,
        "instance": 1,
    }


def test_network_has_the_documented_shape(provisioned, ec2):
    (vpc,) = ec2.describe_vpcs(Filters=project_filter())["Vpcs"]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert_tagged(vpc, "taskstack-vpc")

    (subnet,) = ec2.describe_subnets(Filters=project_filter())["Subnets"]
    assert subnet["CidrBlock"] == "10.0.1.0/24"
    assert subnet["VpcId"] == vpc["VpcId"]
    assert subnet["MapPublicIpOnLaunch"] is True
    assert subnet["AvailabilityZone"] == "eu-west-3a"
    assert_tagged(subnet, "taskstack-public-subnet")

    (igw,) = ec2.describe_internet_gateways(Filters=project_filter())["InternetGateways"]
    assert [a["VpcId"] for a in igw["Attachments"]] == [vpc["VpcId"]]
    assert_tagged(igw, "taskstack-igw")

    (table,) = ec2.describe_route_tables(Filters=project_filter())["RouteTables"]
    assert_tagged(table, "taskstack-public-rt")
    default_routes = [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    assert [r["GatewayId"] for r in default_routes] == [igw["InternetGatewayId"]]
    assert [a["SubnetId"] for a in table["Associations"] if not a.get("Main")] == [
        subnet["SubnetId"]
    ]


def test_security_group_opens_ssh_to_the_operator_only(provisioned, ec2):
    (group,) = ec2.describe_security_groups(Filters=project_filter())["SecurityGroups"]
    assert_tagged(group, "taskstack-sg")
    sources = {
        rule["FromPort"]: sorted(r["CidrIp"] for r in rule["IpRanges"])
        for rule in group["IpPermissions"]
    }
    # The embedded default's operator is this machine.
    assert sources == {22: ["127.0.0.1/32"], 80: ["0.0.0.0/0"], 8000: ["0.0.0.0/0"]}


def test_key_pair_is_generated_locally_and_private_key_stays_private(provisioned, ec2):
    state_dir = provisioned.state_dir
    (key,) = ec2.describe_key_pairs(Filters=project_filter())["KeyPairs"]
    assert key["KeyName"] == "taskstack-key"
    assert_tagged(key, "taskstack-key")
    private_key = state_dir / "keys" / "taskstack-key"
    assert stat.S_IMODE(private_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(private_key.parent.stat().st_mode) == 0o700
    public_key = (state_dir / "keys" / "taskstack-key.pub").read_text().split()
    assert public_key[0] == "ssh-ed25519"


def test_instance_is_a_hardened_t3_micro_on_the_newest_ubuntu(provisioned, ec2):
    instance = the_instance(ec2)
    assert instance["InstanceType"] == "t3.micro"
    assert instance["ImageId"] == NEWEST_UBUNTU_AMI
    assert instance["KeyName"] == "taskstack-key"
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance.get("PublicIpAddress")
    assert_tagged(instance, "taskstack-server")
    (group,) = ec2.describe_security_groups(Filters=project_filter())["SecurityGroups"]
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group["GroupId"]]
    volume_ids = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]
    volumes = ec2.describe_volumes(VolumeIds=volume_ids)["Volumes"]
    assert [(v["VolumeType"], v["Encrypted"], v["Size"]) for v in volumes] == [("gp3", True, 10)]


# What roles/stack_state says when it skips the account checks and the provisioning roles.
FAST_PATH_LINE = "are as the last converge left them"


def took_fast_path(run) -> bool:
    # The callback wraps the message over lines.
    return FAST_PATH_LINE in " ".join(run.output.split())


STACK_READ_TASK = "stack_state : Digest the stack's live state, its settings and its code"


def test_a_first_run_does_not_read_the_stack_for_its_digest(provisioned_stack):
    # No digest recorded yet: reading the stack would decide nothing (the second run below
    # reads it).
    assert task_status(provisioned_stack.run.output, STACK_READ_TASK) == "skipping"
    assert not took_fast_path(provisioned_stack.run)


# Every role, and an older image than the one the instance runs: AWS cannot change an instance's
# image, and a new image never launches a second instance (nor replaces the first).
EVERY_ROLE = ("-e", "stack_state_enabled=false", "-e", f"aws_instance_ami_id={OLDER_UBUNTU_AMI}")


@pytest.mark.parametrize(
    ("extra", "fast"),
    [((), True), (EVERY_ROLE, False)],
    ids=["fast-path", "every-role-another-image"],
)
def test_second_run_changes_nothing_and_creates_nothing(provisioned, ec2, extra, fast):
    before = count_project_resources(ec2)
    instance = the_instance(ec2)["InstanceId"]
    rerun = provisioned.playbook(*PROVISIONING, *extra)
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert rerun.changed == 0, rerun.recap()
    assert count_project_resources(ec2) == before
    assert the_instance(ec2)["InstanceId"] == instance
    assert took_fast_path(rerun) is fast, rerun.output[-3000:]
    assert task_status(rerun.output, STACK_READ_TASK) == ("ok" if fast else "skipping")


def test_drift_in_aws_is_put_back_by_the_next_run(provisioned, ec2):
    """A rule opened and one closed by hand, a tag changed: the digest no longer matches, so the
    next run converges in full and puts all of it back; the run after that is fast again."""
    settled = provisioned.playbook(*PROVISIONING)
    assert settled.returncode == 0 and took_fast_path(settled), settled.output[-3000:]
    (group,) = ec2.describe_security_groups(Filters=project_filter())["SecurityGroups"]
    rules_before = sorted(json.dumps(rule, sort_keys=True) for rule in group["IpPermissions"])
    web = next(rule for rule in group["IpPermissions"] if rule["FromPort"] == 80)
    ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[web])
    database = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432}
    database["IpRanges"] = [{"CidrIp": "0.0.0.0/0"}]
    ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[database])
    (vpc,) = ec2.describe_vpcs(Filters=project_filter())["Vpcs"]
    ec2.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "ManagedBy", "Value": "console"}])

    repaired = provisioned.playbook(*PROVISIONING)
    assert repaired.returncode == 0, repaired.output[-3000:]
    assert not took_fast_path(repaired)
    assert repaired.changed >= 2, repaired.recap()
    (group,) = ec2.describe_security_groups(Filters=project_filter())["SecurityGroups"]
    assert (
        sorted(json.dumps(rule, sort_keys=True) for rule in group["IpPermissions"]) == rules_before
    )
    (vpc,) = ec2.describe_vpcs(Filters=project_filter())["Vpcs"]
    assert tags_of(vpc)["ManagedBy"] == "ansible"

    again = provisioned.playbook(*PROVISIONING)
    assert again.returncode == 0 and again.changed == 0, again.recap()
    assert took_fast_path(again)


def test_a_gateway_left_detached_by_a_killed_run_is_attached_not_duplicated(provisioned, ec2):
    # The state a run killed between CreateInternetGateway and AttachInternetGateway leaves: a
    # tagged gateway attached to nothing, a VPC without one, and no instance yet (AWS refuses to
    # detach a gateway while an instance of the VPC has a public address: DependencyViolation).
    (igw,) = ec2.describe_internet_gateways(Filters=project_filter())["InternetGateways"]
    (vpc,) = ec2.describe_vpcs(Filters=project_filter())["Vpcs"]
    instance_id = the_instance(ec2)["InstanceId"]
    ec2.terminate_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_terminated").wait(
        InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc["VpcId"])

    rerun = provisioned.playbook(*PROVISIONING)
    assert rerun.returncode == 0, rerun.output[-3000:]
    (after,) = ec2.describe_internet_gateways(Filters=project_filter())["InternetGateways"]
    assert after["InternetGatewayId"] == igw["InternetGatewayId"]
    assert [a["VpcId"] for a in after["Attachments"]] == [vpc["VpcId"]]
    assert count_project_resources(ec2) == ONE_OF_EACH

    again = provisioned.playbook(*PROVISIONING)
    assert again.returncode == 0 and again.changed == 0, again.recap()


def test_dynamic_inventory_lists_the_instance_with_connection_settings(provisioned, ec2):
    instance = the_instance(ec2)
    listing = provisioned.command("ansible-inventory", "--list")
    assert listing.returncode == 0, listing.output
    inventory = json.loads(listing.stdout)
    assert inventory["aws_ec2"]["hosts"] == [instance["InstanceId"]]
    assert instance["InstanceId"] in inventory["project_taskstack"]["hosts"]
    assert instance["InstanceId"] in inventory["env_dev"]["hosts"]
    connection = provisioned.command(
        "ansible",
        instance["InstanceId"],
        "-m",
        "ansible.builtin.debug",
        "-a",
        '{"msg": "{{ ansible_host }}:{{ ansible_port }} {{ ansible_user }} '
        '{{ ansible_ssh_private_key_file }} {{ stack_web_url }}"}',
    )
    # This emulator makes no host containers: the instance has no machine, and SSH to it goes
    # to a closed port of 127.0.0.1, never to the public address moto made up; users are still
    # pointed at the public address.
    key = f"{provisioned.state_dir}/keys/taskstack-key"
    expected = f"127.0.0.1:1 ubuntu {key} http://{instance['PublicIpAddress']}:80/"
    assert expected in " ".join(connection.output.split())
    # The instance's tags under a name Ansible does not reserve (no warning on every run).
    hostvars = inventory["_meta"]["hostvars"][instance["InstanceId"]]
    project_tag = hostvars["aws_tags"]["Project"]
    # ansible-inventory --list marks strings from AWS as unsafe (not templated)
    assert project_tag in (PROJECT, {"__ansible_unsafe": PROJECT}), project_tag
    assert "tags" not in hostvars
    assert "reserved name" not in connection.output


def test_an_address_that_changed_within_a_run_is_refused_not_reached(provisioned, tmp_path):
    """Every playbook on the instance settles its connection settings once per run
    (playbooks/tasks/require_instance.yml); an instance whose public address changed after
    that in the same run (stopped and started by one command) stops the run with one line."""
    check = REPO_ROOT / "playbooks" / "tasks" / "require_instance.yml"
    require = {"name": "Require the instance", "ansible.builtin.import_tasks": str(check)}
    moved = {
        "name": "Give the instance another public address, as a stop and start does",
        "ansible.builtin.set_fact": {"aws_public_ip_address": "203.0.113.9"},
        "delegate_to": "{{ project_inventory_host }}",
        "delegate_facts": True,
    }
    play = {"hosts": "localhost", "connection": "local", "gather_facts": False}
    playbook = tmp_path / "moved.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {**play, "name": "Settle", "tasks": [require]},
                {**play, "name": "Move, then require again", "tasks": [moved, require]},
            ],
            sort_keys=False,
        )
    )
    run = provisioned.playbook(str(playbook))
    assert run.returncode != 0, run.recap()
    line = " ".join(run.output.split())
    assert "is now at 203.0.113.9, no longer at" in line, run.output[-2000:]
    assert "run each playbook as its own ansible-playbook command" in line


def test_a_port_is_opened_by_adding_one_firewall_rule(provisioned, ec2):
    """Port 443 is one more item of aws_security_group_rules: the group opens it, the other
    rules and the summary's addresses stay as they were."""
    rules = yaml.safe_load(SECURITY_VARS.read_text())["aws_security_group_rules"]
    https = {"name": "https", "port": 443, "cidrs": ["0.0.0.0/0"], "description": "HTTPS"}
    run = provisioned.playbook(
        "playbooks/provision.yml",
        "playbooks/summary.yml",
        "-e",
        json.dumps({"aws_security_group_rules": [*rules, https]}),
    )
    assert run.returncode == 0, run.output[-3000:]
    (group,) = ec2.describe_security_groups(Filters=project_filter())["SecurityGroups"]
    sources = {
        rule["FromPort"]: sorted(r["CidrIp"] for r in rule["IpRanges"])
        for rule in group["IpPermissions"]
    }
    assert sources == {
        22: ["127.0.0.1/32"],
        80: ["0.0.0.0/0"],
        443: ["0.0.0.0/0"],
        8000: ["0.0.0.0/0"],
    }
    public = the_instance(ec2)["PublicIpAddress"]
    assert f"Web page:  http://{public}:80/" in run.output
    assert f"API:       http://{public}:8000/api/tasks" in run.output
    # Back to the project's own rules: 443 is closed again, nothing else moves.
    back = provisioned.playbook("playbooks/provision.yml")
    assert back.returncode == 0, back.output[-3000:]
    (group,) = ec2.describe_security_groups(Filters=project_filter())["SecurityGroups"]
    assert sorted(rule["FromPort"] for rule in group["IpPermissions"]) == [22, 80, 8000]


@pytest.mark.parametrize(
    ("instance_type", "cost_line"),
    [
        ("t3.micro", "about 13.19 USD per month if left running (t3.micro on demand"),
        ("t3.small", "about 21.81 USD per month if left running (t3.small on demand"),
        ("m5.large", "not estimated for m5.large: see https://aws.amazon.com/ec2/pricing/"),
    ],
)
def test_the_summary_costs_the_instance_type_that_runs(provisioned, ec2, instance_type, cost_line):
    """(0.0118 USD/h for a t3.micro in eu-west-3, twice that for a t3.small, + 0.005 USD/h of
    public IPv4) x 730 h + 10 GiB x 0.0928 USD of gp3; a family without prices is not guessed."""
    instance_id = the_instance(ec2)["InstanceId"]
    ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": instance_type})
    try:
        run = provisioned.playbook("playbooks/summary.yml")
    finally:
        ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": "t3.micro"})
    assert run.returncode == 0, run.output[-3000:]
    assert cost_line in run.output, run.output[-2500:]
    # Whatever the type, stopped it costs its 10 GiB of gp3 (x 0.0928 USD).
    said = " ".join(run.output.split())
    assert "Paused: about 0.93 USD per month while stopped (the disk only)" in said, said[-2500:]


# ---------------------------------------------------------------- zone and CPU credits
# On an emulator of their own: these runs change the instance type, which the shared stack's
# tests above must not see.

NETWORK_ONLY = role_only_playbook("aws_network")
# In moto's offerings data, like in AWS's, c6id is not offered in eu-west-3a.
NOT_IN_THE_FIRST_ZONE = "c6id.large"


@pytest.fixture(scope="module")
def own_emulator(tmp_path_factory: pytest.TempPathFactory):
    emu = Emulator(port=free_port(), state_dir=tmp_path_factory.mktemp("zone-emulator"))
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def own_runner(own_emulator: Emulator, tmp_path) -> Runner:
    own_emulator.reset()
    state = tmp_path / "state"
    state.mkdir()
    return Runner(playbook_env_for(own_emulator), state)


@pytest.fixture
def network_only(tmp_path) -> str:
    playbook = tmp_path / "network.yml"
    playbook.write_text(NETWORK_ONLY)
    return str(playbook)


def test_the_summary_prefers_addresses_set_in_group_vars_to_the_inventorys(provisioned, tmp_path):
    """playbooks/summary.yml passes what the inventory says about reaching the host; a
    stack_summary_ setting in group_vars (here a later inventory source's) still wins."""
    overlay = tmp_path / "overlay"
    (overlay / "group_vars" / "all").mkdir(parents=True)
    (overlay / "hosts.yml").write_text("all: {}\n")
    (overlay / "group_vars" / "all" / "summary.yml").write_text(
        "stack_summary_web_url: http://tasks.example.test/\nstack_summary_ssh_port: 2200\n"
    )
    sources = f"{provisioned.env['ANSIBLE_INVENTORY']},{overlay / 'hosts.yml'}"
    run = provisioned.playbook("playbooks/summary.yml", env={"ANSIBLE_INVENTORY": sources})
    assert run.returncode == 0, run.output[-3000:]
    assert "Web page:  http://tasks.example.test/" in run.output
    # The YAML callback folds the long SSH line: any white space between its words.
    assert re.search(r"SSH:\s+ssh -i \S+\s+-p 2200\s+ubuntu@", run.output), run.output[-2000:]


def module_args_of(output: str, key: str) -> list[str]:
    """The values a module option had in the run (-vvv shows each invocation's module_args)."""
    return re.findall(rf"^\s+{key}: (.*)$", output, flags=re.MULTILINE)


def subnet_zone(emulator: Emulator) -> str:
    (subnet,) = emulator.client("ec2").describe_subnets(Filters=project_filter())["Subnets"]
    return subnet["AvailabilityZone"]


def test_t_instances_launch_with_standard_cpu_credits(own_runner, own_emulator):
    run = own_runner.playbook("playbooks/provision.yml", "-vvv")
    assert run.returncode == 0, run.output[-3000:]
    assert module_args_of(run.output, "cpu_credit_specification") == ["standard"]


def test_the_subnet_goes_to_the_first_zone_that_offers_the_instance_type(own_runner, own_emulator):
    types = ("-e", f"aws_instance_type={NOT_IN_THE_FIRST_ZONE}")
    types += ("-e", f"aws_network_instance_type={NOT_IN_THE_FIRST_ZONE}")
    run = own_runner.playbook("playbooks/provision.yml", *types, "-vvv")
    assert run.returncode == 0, run.output[-3000:]
    assert subnet_zone(own_emulator) == "eu-west-3b"
    # Not a burstable type: no credit option is sent at all.
    assert module_args_of(run.output, "cpu_credit_specification") == ["null"]
    again = own_runner.playbook("playbooks/provision.yml", *types)
    assert again.returncode == 0 and again.changed == 0, again.recap()


def test_a_zone_the_user_sets_is_kept(own_runner, own_emulator, network_only):
    run = own_runner.playbook(network_only, "-e", "aws_network_availability_zone=eu-west-3c")
    assert run.returncode == 0, run.output[-3000:]
    assert subnet_zone(own_emulator) == "eu-west-3c"


def test_a_type_no_zone_offers_is_refused_in_one_line(own_runner, own_emulator, network_only):
    run = own_runner.playbook(network_only, "-e", "aws_network_instance_type=t3.nosuch")
    assert run.returncode != 0
    (line,) = [line for line in run.error_lines() if "t3.nosuch" in line]
    assert "aws_instance_type=t3.nosuch is not offered in any zone of eu-west-3" in line
    assert own_emulator.client("ec2").describe_subnets(Filters=project_filter())["Subnets"] == []


def test_key_pair_tags_changed_in_aws_are_corrected_without_reimporting(
    own_runner, own_emulator, tmp_path
):
    playbook = tmp_path / "key_pair.yml"
    playbook.write_text(role_only_playbook("aws_key_pair"))
    first = own_runner.playbook(str(playbook))
    assert first.returncode == 0, first.output[-3000:]
    ec2 = own_emulator.client("ec2")
    (key,) = ec2.describe_key_pairs(Filters=project_filter())["KeyPairs"]
    ec2.create_tags(
        Resources=[key["KeyPairId"]],
        Tags=[{"Key": "Environment", "Value": "changed"}, {"Key": "Name", "Value": "renamed"}],
    )

    second = own_runner.playbook(str(playbook))
    assert second.returncode == 0, second.output[-3000:]
    assert second.changed == 1, second.recap()
    (after,) = ec2.describe_key_pairs(KeyNames=["taskstack-key"])["KeyPairs"]
    assert_tagged(after, "taskstack-key")
    # The same key pair: not deleted and imported again.
    assert (after["KeyPairId"], after["KeyFingerprint"]) == (
        key["KeyPairId"],
        key["KeyFingerprint"],
    )
    third = own_runner.playbook(str(playbook))
    assert third.returncode == 0 and third.changed == 0, third.recap()


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        ([], "was not made by this project"),
        ([{"Key": "Project", "Value": "taskstack"}], "holds another public key than"),
    ],
    ids=["untagged", "other-key-material"],
)
def test_a_key_pair_of_the_same_name_that_is_not_ours_is_never_replaced(
    tags, why, own_runner, own_emulator, tmp_path
):
    """Someone else's key pair under the project's key name: one line, and it stays as it was."""
    ec2 = own_emulator.client("ec2")
    theirs = ec2.create_key_pair(
        KeyName="taskstack-key",
        **({"TagSpecifications": [{"ResourceType": "key-pair", "Tags": tags}]} if tags else {}),
    )
    playbook = tmp_path / "key_pair.yml"
    playbook.write_text(role_only_playbook("aws_key_pair"))

    run = own_runner.playbook(str(playbook))
    assert run.returncode != 0
    assert "A key pair named taskstack-key already exists in AWS" in run.output
    assert why in run.output
    assert "set aws_key_pair_adopt=true to replace it with yours" in run.output
    (after,) = ec2.describe_key_pairs(KeyNames=["taskstack-key"])["KeyPairs"]
    assert (after["KeyPairId"], after["KeyFingerprint"]) == (
        theirs["KeyPairId"],
        theirs["KeyFingerprint"],
    )

    adopted = own_runner.playbook(str(playbook), "-e", "aws_key_pair_adopt=true")
    assert adopted.returncode == 0, adopted.output[-3000:]
    (ours,) = ec2.describe_key_pairs(KeyNames=["taskstack-key"])["KeyPairs"]
    assert ours["KeyFingerprint"] != theirs["KeyFingerprint"]


@pytest.fixture(scope="module")
def slow_boot_emulator(tmp_path_factory: pytest.TempPathFactory):
    """Instances stay pending for a minute, like a launch that AWS is slow to place."""
    emu = Emulator(
        port=free_port(),
        state_dir=tmp_path_factory.mktemp("slow-boot-emulator"),
        server_settings={"EMBEDDED_PENDING_S": "60"},
    )
    emu.start()
    yield emu
    emu.stop()


def test_an_instance_that_does_not_run_in_time_is_one_line_naming_the_timeout(
    slow_boot_emulator, tmp_path
):
    runner = Runner(playbook_env_for(slow_boot_emulator), tmp_path)
    run = runner.playbook("playbooks/provision.yml", "-e", "aws_instance_wait_timeout_s=4")
    assert run.returncode != 0
    (line,) = [line for line in run.error_lines() if "aws_instance_wait_timeout_s" in line]
    assert "aws_instance_wait_timeout_s=4: taskstack-server is still pending" in line
