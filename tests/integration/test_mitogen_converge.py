"""The first converge from an empty account under Mitogen (issue 17), with host containers.

Mitogen is ansible.cfg's strategy (taskstack.aws.mitogen_or_linear). Its failure on a first
converge was in playbooks/wait_for_host.yml: wait_for_connection resets the connection before
each try, and on a host whose Python is not known yet Mitogen's reset runs interpreter
discovery (which connects) and then shuts down the broker that new connection uses; every
later try failed at once until the 600 s timeout. That play runs with ansible.builtin.linear.

The failure needs the host to answer SSH at the first try (else discovery fails, and Mitogen
skips it on the later tries): the test provisions, waits until the host accepts the project's
key, then runs the whole site.yml, so it meets that case every time rather than by chance.
One converge, on an emulator of this module's own whose hosts are published on free ports.
"""

from __future__ import annotations

import importlib.util
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import harness
import pytest
from stack_testing import ONE_OF_EACH, count_project_resources, hosted_stack

PROVISION = ("playbooks/preflight.yml", "playbooks/provision.yml")
HOST_BOOT_TIMEOUT_S = 180

pytestmark = pytest.mark.slow

FALLBACK = "Mitogen for Ansible cannot be loaded"
STRATEGY_LINE = "strategy: Mitogen for Ansible's linear strategy"


def mitogen_pythonpath() -> str:
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or spec.origin is None:
        pytest.skip("mitogen (requirements.txt) is not importable by this Python")
    return str(Path(spec.origin).parents[1])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Stack]:
    work, state = tmp_path_factory.mktemp("hosted-emulator"), tmp_path_factory.mktemp("state")
    with hosted_stack("mitogen-test", work, state) as stack:
        yield stack


def host_accepts_the_key(stack: harness.Stack) -> bool:
    assert stack.emulator.hosts is not None
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


def test_a_first_converge_under_mitogen_succeeds(stack: harness.Stack):
    # The harness keeps the caller's ANSIBLE_* out: the strategy is ansible.cfg's.
    env = {"PYTHONPATH": mitogen_pythonpath()}
    provision = stack.runner.playbook(*PROVISION, env=env)
    assert provision.returncode == 0, provision.output[-6000:]
    wait_until_the_host_accepts_the_key(stack)
    run = stack.site("-v", env=env)
    assert run.returncode == 0, run.output[-6000:]
    assert STRATEGY_LINE in run.output
    assert FALLBACK not in run.output
    recap = run.recap()
    instances = [host for host in recap if host != "localhost"]
    assert len(instances) == 1, recap
    assert all(host["failed"] == 0 for host in recap.values()), recap
    assert count_project_resources(stack.emulator.client("ec2")) == ONE_OF_EACH
