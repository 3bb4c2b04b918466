"""Where Ansible reaches the instance: the embedded overlay counts only with the endpoint.

`make local-env` exports EMBEDDED_HOST_ADDRESS=127.0.0.1 and the host's published ports next to
AWS_ENDPOINT_URL. Once AWS_ENDPOINT_URL is unset the shell talks to AWS, and the leftovers must
not send SSH or the URL checks of a real instance to 127.0.0.1.

Both cases read the session's emulator, never AWS. With the endpoint unset, the inventory still
reaches the emulator through amazon.aws's own AWS_URL, which the project's rules do not look
at: that is what lets the test run the "AWS_ENDPOINT_URL unset" rule against an instance. What
it shows: the overlay (embedded/inventory/) decides on AWS_ENDPOINT_URL alone.
What it cannot show: a run against real AWS (which these tests never reach).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from harness import REPO_ROOT, Emulator, Runner
from stack_testing import REGION

pytestmark = pytest.mark.slow

LEFTOVERS = {
    "EMBEDDED_HOST_ADDRESS": "127.0.0.1",
    "EMBEDDED_HOST_PORTS": json.dumps({"22": 2299, "80": 8099, "8000": 8098}),
    "EMBEDDED_HOST_IMAGE_ARCHIVES": "/var/cache/taskstack/images/python.tar",
}
# Ad-hoc commands use the stdout callback only when told to load callbacks.
JSON_OUTPUT = {
    "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
    "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
}
SHOWN = (
    '{{ {"host": ansible_host, "port": ansible_port, "web": stack_web_url,'
    ' "api": stack_api_url, "archives": app_deploy_image_archives, "env": app_deploy_env}'
    " | to_json }}"
)


@pytest.fixture(scope="module")
def kit_image_names() -> dict[str, str]:
    """The TASKAPP_*_IMAGE names of the image kit's stand-ins, as tests/images/build.sh writes
    them beside its archive (--names needs no Docker) and embedded/emulator.py exports them
    (EMBEDDED_HOST_APP_ENV, a JSON object)."""
    build = REPO_ROOT / "tests" / "images" / "build.sh"
    result = subprocess.run(
        ["bash", str(build), "--names"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["env"]


@pytest.fixture
def leftovers(kit_image_names: dict[str, str]) -> dict[str, str]:
    """Everything `make local-env` exports about the host containers."""
    return {**LEFTOVERS, "EMBEDDED_HOST_APP_ENV": json.dumps(kit_image_names, sort_keys=True)}


@pytest.fixture
def instance(fresh_emulator: Emulator) -> dict:
    """A running instance of the project, as provisioning leaves it (with a public address)."""
    ec2 = fresh_emulator.client("ec2")
    image = ec2.describe_images(Owners=["099720109477"])["Images"][0]["ImageId"]
    tags = [
        {"Key": "Name", "Value": "taskstack-server"},
        {"Key": "Project", "Value": "taskstack"},
        {"Key": "Environment", "Value": "dev"},
        {"Key": "ManagedBy", "Value": "ansible"},
    ]
    launched = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        Placement={"AvailabilityZone": f"{REGION}a"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]
    described = ec2.describe_instances(InstanceIds=[launched["InstanceId"]])
    found = described["Reservations"][0]["Instances"][0]
    assert found.get("PublicIpAddress"), "the emulator gives instances a public address"
    return found


def reach(env: dict[str, str], state_dir: Path) -> dict:
    """How Ansible would reach the project's host, from the inventory and the group_vars."""
    run = Runner(env, state_dir).command(
        "ansible",
        "aws_ec2",
        "-m",
        "ansible.builtin.debug",
        "-a",
        f"msg={SHOWN}",
        env=JSON_OUTPUT,
    )
    assert run.returncode == 0, run.output[-3000:]
    hosts = json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"]
    assert len(hosts) == 1, hosts
    return json.loads(next(iter(hosts.values()))["msg"])


def test_overrides_apply_on_the_embedded_default(
    instance: dict,
    playbook_env: dict[str, str],
    state_dir: Path,
    leftovers: dict[str, str],
    kit_image_names: dict[str, str],
):
    seen = reach({**playbook_env, **leftovers}, state_dir)
    assert seen == {
        "host": "127.0.0.1",
        "port": 2299,
        "web": "http://127.0.0.1:8099/",
        "api": "http://127.0.0.1:8098/",
        "archives": ["/var/cache/taskstack/images/python.tar"],
        "env": kit_image_names,
    }


def test_overrides_left_in_the_shell_are_ignored_once_the_endpoint_is_unset(
    instance: dict, playbook_env: dict[str, str], state_dir: Path, leftovers: dict[str, str]
):
    env = {key: value for key, value in playbook_env.items() if key != "AWS_ENDPOINT_URL"}
    # The inventory still reads the emulator, through amazon.aws's own endpoint variable.
    env.update(leftovers, AWS_URL=playbook_env["AWS_ENDPOINT_URL"])
    public = instance["PublicIpAddress"]
    seen = reach(env, state_dir)
    assert seen == {
        "host": public,
        "port": 22,
        "web": f"http://{public}:80/",
        "api": f"http://{public}:8000/",
        "archives": [],
        "env": {},
    }
