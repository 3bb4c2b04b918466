"""aws_instance_bootstrap=user_data (issue 19): the host prepared by cloud-init at its first boot.

The instance is launched with the cloud-config document roles/host_user_data renders from
host_hardening's and docker_engine's own settings; the embedded default's host container runs
it with Debian's cloud-init (the NoCloud seed embedded/hosts.py writes before the first boot).
The configure phase then has nothing to change, a changed document is said (never a second
instance), and a document that fails stops the run at the wait with cloud-init's own error.

The first converge is also the one under Mitogen (issue 17) whose wait for a new host once
never ended: wait_for_connection resets the connection before each try, and on a host whose
Python is not known yet Mitogen's reset runs interpreter discovery (which connects) and then
shuts down the broker that new connection uses; every later try failed at once until the 600 s
timeout. playbooks/wait_for_host.yml runs that play with ansible.builtin.linear. The failure
needs the host to answer SSH at the first try (else discovery fails, and Mitogen skips it on
the later tries), so the first test provisions, waits until the host accepts the project's key,
then runs the whole site.yml: it meets that case every time rather than by chance. (It had a
file and a hosted stack of its own, one more first converge: 414 s of a worker, measured with
pytest --durations=0. The wait play is the same under either bootstrap.)

The host runs the embedded stand-in for a new Ubuntu instance's first-boot apt jobs
(EMBEDDED_HOST_FIRST_BOOT_APT_S, embedded/hosts.py), each holding apt's locks 90 s, longer
than cloud-init's 30 s wait for them: the document masks the jobs for that boot before their
timers can start them, and unmasks them once its packages are in (roles/host_user_data). The
SSH path's wait for them is tests/integration/test_first_boot_apt.py. (That check had a hosted
stack of its own too: 69 s of a worker in the CI run of 2026-12-05.)

The tests share one emulator with host containers on free ports and run in file order, on
one pytest-xdist worker (tests/conftest.py).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import harness
import hosts
import pytest
from stack_testing import (
    ONE_OF_EACH,
    count_project_resources,
    hosted_stack,
    project_filter,
    stack_records,
)

pytestmark = pytest.mark.slow

USER_DATA = ("-e", "aws_instance_bootstrap=user_data")
# The plays of playbooks/configure.yml that run on the host.
CONFIGURE_PLAYS = (
    "Harden the instance's SSH logins and turn on security updates",
    "Install the Docker engine and Compose v2 on the instance",
)
PROVISION_PLAY = "Provision the network, firewall, key pair and instance"
PLAY_HEADER = re.compile(r"^PLAY \[(?P<name>.*)\] \**$")
# A role's task is shown as "<role> : <name>".
TASK_HEADER = re.compile(r"^TASK \[(?:\w+ : )?(?P<name>.*)\] \**$")
HOST_DIGEST = re.compile(r"(?<=Record the digest in )(?!stack\.sha256$)\S+\.sha256$")
KEPT_MESSAGE = "was launched with a different cloud-init document from the one these settings make"
PROVISION = ("playbooks/preflight.yml", "playbooks/provision.yml")
HOST_BOOT_TIMEOUT_S = 180
# What the project's strategy plugin prints at -v: Mitogen ran the plays, or could not load.
MITOGEN_LINE = "strategy: Mitogen for Ansible's linear strategy"
MITOGEN_FALLBACK = "Mitogen for Ansible cannot be loaded"
# Longer than cloud-init's own 30 s wait for apt's lock: a job that ran would fail the document.
FIRST_BOOT_APT_S = 90


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Stack]:
    work, state = tmp_path_factory.mktemp("user-data-emulator"), tmp_path_factory.mktemp("state")
    settings = {"EMBEDDED_HOST_FIRST_BOOT_APT_S": str(FIRST_BOOT_APT_S)}
    with hosted_stack("user-data-test", work, state, settings) as stack:
        yield stack


def changed_tasks(output: str, plays: tuple[str, ...] | None = None) -> list[str]:
    """The tasks of the named plays (of every play: None) that reported a change on some host."""
    changed: list[str] = []
    play = task = ""
    for line in output.splitlines():
        if match := PLAY_HEADER.match(line):
            play = match["name"]
        elif match := TASK_HEADER.match(line):
            task = match["name"]
        elif (plays is None or play in plays) and line.startswith("changed:"):
            changed.append(task)
    return changed


def the_instance(stack: harness.Stack) -> dict:
    reservations = stack.emulator.client("ec2").describe_instances(
        Filters=[*project_filter(), {"Name": "instance-state-name", "Values": ["running"]}]
    )["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    assert len(instances) == 1, instances
    return instances[0]


def on_the_host(stack: harness.Stack, *command: str) -> subprocess.CompletedProcess[str]:
    (container,) = harness.host_containers(stack.emulator.port)
    return subprocess.run(
        ["docker", "exec", container, *command], capture_output=True, text=True, check=False
    )


def mitogen_environment() -> dict[str, str]:
    """ansible.cfg's strategy loads Mitogen from this Python's packages (the harness keeps the
    caller's ANSIBLE_* out)."""
    spec = importlib.util.find_spec("ansible_mitogen")
    # Not a skip: it would skip the user-data checks below with it.
    assert spec is not None and spec.origin, "mitogen (requirements.txt) is not importable"
    return {"PYTHONPATH": str(Path(spec.origin).parents[1])}


def host_accepts_the_key(stack: harness.Stack) -> bool:
    ssh = [
        "ssh", "-i", str(stack.project_state_dir / "keys" / "taskstack-key"),
        "-p", str(stack.emulator.hosts.ssh_port),
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
        "ubuntu@127.0.0.1", "true",
    ]  # fmt: skip
    return subprocess.run(ssh, capture_output=True, check=False, timeout=30).returncode == 0


def wait_until_the_host_accepts_the_key(stack: harness.Stack) -> None:
    deadline = time.monotonic() + HOST_BOOT_TIMEOUT_S
    while not host_accepts_the_key(stack):
        assert time.monotonic() < deadline, "the host container never accepted the key"
        time.sleep(2)


def test_user_data_prepares_the_host_and_the_configure_phase_changes_nothing(stack):
    env = mitogen_environment()
    provision = stack.runner.playbook(*PROVISION, *USER_DATA, env=env)
    assert provision.returncode == 0, provision.output[-6000:]
    wait_until_the_host_accepts_the_key(stack)
    # The stack's digest forgotten (as teardown.yml forgets it): every role runs, the instance's
    # document is compared with the one these settings make, and both digests are recorded.
    (stack_records(stack.project_state_dir) / "stack.sha256").unlink()
    run = stack.site("-v", *USER_DATA, env=env)
    assert run.returncode == 0, run.output[-6000:]
    # Mitogen ran the plays, the wait for a host that answered at the first try included.
    assert MITOGEN_LINE in run.output
    assert MITOGEN_FALLBACK not in run.output
    recap = run.recap()
    assert len([host for host in recap if host != "localhost"]) == 1, recap
    assert all(host["failed"] == 0 for host in recap.values()), recap
    assert count_project_resources(stack.emulator.client("ec2")) == ONE_OF_EACH
    # The provisioning found the document unchanged and said nothing; the configure plays
    # ran and found everything in place.
    assert "TASK [aws_instance : Read the user data the instance was launched with]" in run.output
    assert changed_tasks(run.output, (PROVISION_PLAY,)) == ["Record the digest in stack.sha256"]
    assert KEPT_MESSAGE not in run.output
    assert "TASK [Harden SSH logins and turn on security updates]" in run.output
    assert changed_tasks(run.output, CONFIGURE_PLAYS) == []

    status = json.loads(on_the_host(stack, "cloud-init", "status", "--format", "json").stdout)
    assert status["status"] == "done", status
    assert status["errors"] == [], status
    # The instance's user data is the document, and the host ran it (its runcmd script).
    attribute = stack.emulator.client("ec2").describe_instance_attribute(
        InstanceId=the_instance(stack)["InstanceId"], Attribute="userData"
    )
    document = base64.b64decode(attribute["UserData"]["Value"]).decode()
    assert document.startswith("#cloud-config\n")
    assert "/etc/ssh/sshd_config.d/00-taskstack-hardening.conf" in document
    assert "/etc/docker/daemon.json" in document
    assert on_the_host(stack, "id", "-nG", "ubuntu").stdout.split().count("docker") == 1
    first_boot_apt_jobs_were_kept_back(stack)

    with urllib.request.urlopen(f"{stack.emulator.hosts.api_url}/api/tasks", timeout=10) as answer:
        assert answer.status == 200


def first_boot_apt_jobs_were_kept_back(stack: harness.Stack) -> None:
    """The stand-in found both jobs' units masked when their timers could first start them, and
    the document unmasked them once its packages were in, before host_hardening's part started
    the timers. Without the mask the same converge failed with cloud-init's "Could not get APT
    lock" (jobs of 40 s by hand, and of FIRST_BOOT_APT_S)."""
    log = on_the_host(stack, "cat", hosts.FIRST_BOOT_APT_LOG).stdout
    events = set(hosts.first_boot_apt_events(log))
    assert events == {("masked", ",".join(paths)) for _, paths in hosts.FIRST_BOOT_APT_JOBS}, log
    for unit, _ in hosts.FIRST_BOOT_APT_JOBS:
        assert on_the_host(stack, "systemctl", "is-enabled", unit).stdout.strip() == "static"
    timers = ["apt-daily.timer", "apt-daily-upgrade.timer"]
    active = on_the_host(stack, "systemctl", "is-active", *timers).stdout.split()
    assert active == ["active", "active"], active


def test_a_changed_document_is_said_and_the_instance_is_kept(stack):
    before = the_instance(stack)["InstanceId"]
    run = stack.site(*USER_DATA, "-e", "docker_engine_log_max_size=20m")
    assert run.returncode == 0, run.output[-6000:]
    assert KEPT_MESSAGE in run.output
    assert "run teardown.yml, then site.yml" in run.output
    assert the_instance(stack)["InstanceId"] == before
    assert count_project_resources(stack.emulator.client("ec2")) == ONE_OF_EACH
    # A new setting runs every role (the stack's digest changed): the provisioning found
    # nothing to change, and the configure phase applied the new setting over SSH, nothing else.
    assert changed_tasks(run.output, (PROVISION_PLAY,)) == ["Record the digest in stack.sha256"]
    assert changed_tasks(run.output, CONFIGURE_PLAYS) == [
        "Write the engine settings to /etc/docker/daemon.json",
        "Restart the engine now if its settings changed",
    ]
    # Every role ran: nothing else changed in any play but the two digests (the host's is
    # named after the instance).
    everywhere = [HOST_DIGEST.sub("<host>.sha256", task) for task in changed_tasks(run.output)]
    assert everywhere == [
        "Record the digest in stack.sha256",
        "Write the engine settings to /etc/docker/daemon.json",
        "Restart the engine now if its settings changed",
        "Record the digest in <host>.sha256",
    ]
    daemon = json.loads(on_the_host(stack, "cat", "/etc/docker/daemon.json").stdout)
    assert daemon["log-opts"]["max-size"] == "20m"


def test_a_failing_document_stops_at_the_wait_with_cloud_inits_error(stack):
    # The next run launches a new instance into the same network: the old one is terminated
    # from AWS's side (teardown.yml and a new network cost a minute, for nothing checked here).
    ec2 = stack.emulator.client("ec2")
    old = the_instance(stack)["InstanceId"]
    ec2.terminate_instances(InstanceIds=[old])
    ec2.get_waiter("instance_terminated").wait(
        InstanceIds=[old], WaiterConfig={"Delay": 1, "MaxAttempts": 180}
    )
    users = json.dumps({"docker_engine_users": ["ubuntu", "nosuchuser"]})
    run = stack.site(*USER_DATA, "-e", users)
    assert run.returncode != 0
    # One line: Ansible's error line holds the whole message.
    (line,) = [
        line
        for line in run.output.splitlines()
        if line.startswith("[ERROR]") and "cloud-init failed on" in line
    ]
    assert "aws_instance_bootstrap=user_data" in line
    # cloud-init's own error, then what the failing command printed (its output log).
    assert "('scripts-user', RuntimeError('Runparts: 1 failures (runcmd)" in line, line
    assert "usermod: user 'nosuchuser' does not exist" in line, line
    assert "replace the instance (teardown.yml, then site.yml)" in line, line
    # Nothing ran on the host after the wait.
    assert "PLAY [Harden the instance's SSH logins" not in run.output
