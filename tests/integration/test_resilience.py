"""The whole site.yml on the embedded default with host containers: interrupted runs, secrets
in verbose output, the hardened host, data across restarts, a pause and a resume, backups and
restores, an interrupted teardown.

The tests share one emulator (with host containers, on ports of their own) and run in file
order, each starting from what the one before left: that is the story of a user whose runs
die halfway, and it costs one full deploy instead of one per kill point.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import harness
import pytest
from stack_testing import (
    ACCOUNT,
    NOTHING,
    ONE_OF_EACH,
    TEST_SETTINGS,
    count_project_resources,
    project_filter,
    stack_records,
    task_status,
)

pytestmark = pytest.mark.slow

# Its own ports, away from the user's demo and from the other users of the harness.
PROFILE = harness.PROFILES["resilience"]
WEB = PROFILE.web_url
API = PROFILE.api_url
LIVE = ["pending", "running"]


@dataclass
class Stack(harness.Stack):
    # Every output of a verbose run, searched for secrets at the end.
    verbose_outputs: list[str] = field(default_factory=list)
    # The task list as last backed up, restored into the stack built again at the end.
    backed_up_tasks: list[dict] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.project_state_dir

    @property
    def ec2(self):
        return self.emulator.client("ec2")

    def site(self, *args: str, env: dict[str, str] | None = None) -> harness.PlaybookRun:
        run = self.runner.playbook("site.yml", "-vvv", *args, env=env)
        self.verbose_outputs.append(run.output)
        return run


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    emulator = harness.Emulator.with_hosts(PROFILE, tmp_path_factory.mktemp("hosted-emulator"))
    stack = Stack(emulator, tmp_path_factory.mktemp("state"), dict(TEST_SETTINGS))
    stack.up()
    emulator.reset()
    try:
        yield stack
    finally:
        emulator.stop()


def run_and_kill(
    stack: Stack, playbook: str, kill_when: Callable[[list[str]], bool], *args: str
) -> str:
    """Runs a playbook and SIGKILLs it (and its SSH and module children) once kill_when holds.

    A kill, not an interrupt: nothing of Ansible gets to clean up, like a laptop whose battery
    dies. Fails if the playbook ended before the moment came, since nothing was then shown.
    """
    runner = stack.runner
    process = subprocess.Popen(
        runner.argv("ansible-playbook", playbook, *args),
        cwd=harness.REPO_ROOT,
        env=runner.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    reader.start()
    deadline = time.monotonic() + 900
    killed = False
    while process.poll() is None and time.monotonic() < deadline:
        if kill_when(lines):
            os.killpg(process.pid, signal.SIGKILL)
            kill_what_left_the_group(stack)
            killed = True
            break
        time.sleep(0.2)
    process.wait()
    reader.join(timeout=10)
    output = "".join(lines)
    stack.verbose_outputs.append(output)
    assert killed, f"{playbook} ended before the kill point:\n{output[-3000:]}"
    return output


def kill_what_left_the_group(stack: Stack) -> None:
    """Mitogen's children that hold a terminal start their own session (setsid, in
    mitogen.parent), so the group's kill misses them and they outlived the tests. They keep the
    run's command line, which names this stack's state folder: only the killed run has it now."""
    (marker,) = [
        argument.encode()
        for argument in stack.runner.argv("ansible-playbook")
        if argument.startswith("project_state_dir=")
    ]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            arguments = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if marker in arguments:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(proc.name), signal.SIGKILL)


def vpc_exists(stack: Stack) -> Callable[[list[str]], bool]:
    """Any VPC but the default one: the earliest moment, before the module tags anything."""
    not_default = [{"Name": "is-default", "Values": ["false"]}]
    return lambda _: bool(stack.ec2.describe_vpcs(Filters=not_default)["Vpcs"])


def instance_launched(stack: Stack) -> Callable[[list[str]], bool]:
    states = [{"Name": "instance-state-name", "Values": LIVE}]
    return lambda _: bool(stack.ec2.describe_instances(Filters=states)["Reservations"])


def task_started(banner: str, delay_s: float = 0.0) -> Callable[[list[str]], bool]:
    """True delay_s after the task's banner is printed, to land inside the task."""
    seen_at: list[float] = []

    def check(lines: list[str]) -> bool:
        if not seen_at and any(line.startswith(f"TASK [{banner}") for line in lines):
            seen_at.append(time.monotonic())
        return bool(seen_at) and time.monotonic() - seen_at[0] >= delay_s

    return check


def instance_terminating(stack: Stack) -> Callable[[list[str]], bool]:
    """The instance that runs now is shutting down: an earlier test's terminated instance stays
    listed, as on AWS, and must not count."""
    live = [{"Name": "instance-state-name", "Values": LIVE}]
    reservations = stack.ec2.describe_instances(Filters=live)["Reservations"]
    running = [i["InstanceId"] for r in reservations for i in r["Instances"]]
    assert running, "no running instance to watch"
    gone = [{"Name": "instance-state-name", "Values": ["shutting-down", "terminated"]}]
    return lambda _: bool(
        stack.ec2.describe_instances(InstanceIds=running, Filters=gone)["Reservations"]
    )


def host_containers() -> list[str]:
    return harness.host_containers(PROFILE.emulator_port)


def the_host() -> str:
    (container,) = host_containers()
    return container


def on_host(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "exec", the_host(), *command], capture_output=True, text=True, check=False
    )


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except OSError as error:
        return getattr(error, "code", 0) or 0, b""


def wait_for_api(timeout_s: float = 240) -> list[dict]:
    """The task list once the API answers again (after a restart)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, body = http_get(f"{API}/api/tasks")
        if status == 200:
            return json.loads(body)
        time.sleep(2)
    pytest.fail(f"the API on {API} did not answer within {timeout_s:.0f}s")


def titles() -> list[str]:
    return [task["title"] for task in wait_for_api()]


def add_task(title: str) -> None:
    request = urllib.request.Request(
        f"{API}/api/tasks",
        data=json.dumps({"title": title}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def test_teardown_after_a_run_killed_once_the_vpc_exists_leaves_nothing(stack: Stack):
    run_and_kill(stack, "site.yml", vpc_exists(stack), "-vvv")

    teardown = stack.teardown()  # and the host container check, as `make destroy`
    assert teardown.returncode == 0, teardown.output[-3000:]
    assert count_project_resources(stack.ec2) == NOTHING
    vpcs = stack.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])
    assert vpcs["Vpcs"] == []
    assert host_containers() == []


DATABASE_LOOKUP = "app_backup : Find the app's running database container"


def test_teardown_after_a_run_killed_before_docker_was_installed_leaves_nothing(stack: Stack):
    """The host answers SSH but has no Docker yet: its backup before the teardown finds no
    database (the app was never deployed there) instead of failing to start `docker`."""
    run_and_kill(stack, "site.yml", instance_launched(stack), "-vvv")

    teardown = stack.teardown()
    assert teardown.returncode == 0, teardown.output[-3000:]
    # No docker.service on the host: `docker ps` is not even tried.
    assert task_status(teardown.output, DATABASE_LOOKUP) == "skipping", teardown.output[-3000:]
    assert "No backup: no db container of the Compose project taskapp" in folded(teardown.output)
    assert count_project_resources(stack.ec2) == NOTHING
    assert host_containers() == []


def test_runs_killed_after_the_launch_and_in_the_deploy_then_rerun_converge(stack: Stack):
    run_and_kill(stack, "site.yml", instance_launched(stack), "-vvv")
    # Just after configure.yml started loading the image archives in the background: the load
    # goes on in the host without the run that started it, and the next run starts its own.
    run_and_kill(
        stack, "site.yml", task_started("app_deploy : Remember that the loads are started"), "-vvv"
    )
    # Three seconds into `docker compose up`: images are building or containers starting.
    run_and_kill(
        stack, "site.yml", task_started("app_deploy : Bring up the Compose project", 3), "-vvv"
    )

    run = stack.site()
    assert run.returncode == 0, run.output[-3000:]
    assert count_project_resources(stack.ec2) == ONE_OF_EACH
    assert len(host_containers()) == 1
    assert http_get(f"{WEB}/")[0] == 200
    assert wait_for_api()


def test_a_rerun_after_the_interruptions_changes_nothing(stack: Stack):
    run = stack.runner.playbook("site.yml")
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed == 0, [line for line in run.output.splitlines() if "changed:" in line]


# What roles/stack_state says when it skips the host's configure and deploy (wrapped by the
# callback, hence the whitespace folded before searching).
HOST_FAST_PATH = "its configuration and deployment are skipped"
SSH_DROPIN = "/etc/ssh/sshd_config.d/00-taskstack-hardening.conf"


# What Ansible's ssh connection prints at -vvv for each command it runs on the host, and what
# the project's strategy plugin prints at -v when Mitogen runs the plays.
PLAIN_SSH = "SSH: EXEC"
MITOGEN_LINE = "strategy: Mitogen for Ansible's linear strategy"
WAIT_PLAY = "PLAY [Wait for the instance to accept SSH and finish booting]"
REUSED_PLAY = "PLAY [Check how the boot went, over the connection the next plays reuse]"


BANNER_WAIT = "Wait for the SSH server of a host seen before (its banner, no login)"


def play_output(output: str, play: str) -> str:
    """The output of one play, from its header to the next play's."""
    start = output.index(play)
    return output[start : output.find("PLAY [", start + len(play))]


def skipped_the_host(run: harness.PlaybookRun) -> bool:
    return HOST_FAST_PATH in " ".join(run.output.split())


def test_drift_on_the_host_is_put_back_by_the_next_run(stack: Stack):
    """A container stopped and the SSH hardening edited by hand: the host's digest no longer
    matches, so the next run configures and deploys in full; the run after that is fast again."""
    settled = stack.runner.playbook("site.yml")
    assert settled.returncode == 0 and settled.changed == 0, settled.output[-3000:]
    assert skipped_the_host(settled)

    assert on_host("docker", "stop", "taskapp-web-1").returncode == 0
    edit = on_host("sh", "-c", f"echo 'PasswordAuthentication yes' >> {SSH_DROPIN}")
    assert edit.returncode == 0, edit.stderr

    repaired = stack.runner.playbook("site.yml")
    assert repaired.returncode == 0, repaired.output[-3000:]
    assert not skipped_the_host(repaired)
    assert repaired.changed >= 2, repaired.recap()
    assert "passwordauthentication no" in on_host("/usr/sbin/sshd", "-T").stdout.splitlines()
    assert http_get(f"{WEB}/")[0] == 200

    again = stack.runner.playbook("site.yml")
    assert again.returncode == 0 and again.changed == 0, again.output[-3000:]
    assert skipped_the_host(again)


STACK_FAST_PATH = "the account checks and the provisioning roles are skipped"


def test_a_bad_budget_setting_on_a_converged_stack_is_refused_before_any_change(stack: Stack):
    """Preflight ensures the budget with the settings it validated, or, when the stack is as the
    last converge left it, with the settings that converge validated: the budget's settings are
    part of the stack's digest, so a changed one (here below the instance's price) is checked
    again and refused, and the budget keeps its limit."""
    budgets = stack.emulator.client("budgets", region="us-east-1")

    def limit() -> dict[str, str]:
        (budget,) = budgets.describe_budgets(AccountId=ACCOUNT)["Budgets"]
        return budget["BudgetLimit"]

    settled = stack.runner.playbook("site.yml")
    assert settled.returncode == 0 and settled.changed == 0, settled.output[-3000:]
    assert STACK_FAST_PATH in folded(settled.output), settled.output[-3000:]

    before = limit()
    refused = stack.runner.playbook("site.yml", "-e", "aws_budget_limit_usd=5")
    assert refused.returncode != 0, refused.output[-3000:]
    assert STACK_FAST_PATH not in folded(refused.output), refused.output[-3000:]
    assert "above aws_budget_limit_usd=5" in folded(refused.output), refused.error_lines()
    assert limit() == before


def test_an_archive_the_engine_cannot_load_stops_the_run_before_compose(stack: Stack):
    """The image archives load in the background (configure.yml starts them, app_deploy waits):
    a load that fails stops the run with one line that names the archive and the engine's
    reason, before Compose touches the running app, and nothing records it as loaded."""
    not_an_archive = "/etc/hostname"
    refused = stack.runner.playbook(
        "site.yml", "-e", json.dumps({"app_deploy_image_archives": [not_an_archive]})
    )
    assert refused.returncode != 0, refused.output[-3000:]
    said = folded(refused.output)
    refusal = f"app_deploy_image_archives: {not_an_archive} could not be loaded ("
    assert refusal in said, said[-3000:]
    assert "make it again with docker save, or take it out of the list" in said, said[-3000:]
    assert "TASK [app_deploy : Bring up the Compose project" not in refused.output
    assert on_host("test", "-e", f"{not_an_archive}.loaded").returncode == 1
    assert http_get(f"{WEB}/")[0] == 200


def secret_lines(state_dir: Path) -> dict[str, str]:
    """The database password and the private key's body lines, as found on the controller."""
    (password_file,) = (state_dir / "secrets").iterdir()
    key_files = [p for p in (state_dir / "keys").iterdir() if p.suffix != ".pub"]
    secrets = {"database password": password_file.read_text().split()[0]}
    for key_file in key_files:
        body = [
            line for line in key_file.read_text().splitlines() if line and "PRIVATE KEY" not in line
        ]
        secrets.update({f"{key_file.name} line {n}": line for n, line in enumerate(body)})
    return secrets


def test_no_secret_in_verbose_output_and_secret_files_are_private(stack: Stack):
    secrets = secret_lines(stack.state_dir)
    assert len(secrets) > 2
    # The value searched for is the one in use: the host's env file holds it.
    assert secrets["database password"] in on_host("cat", "/opt/taskapp/.env").stdout
    outputs = stack.verbose_outputs
    # -vvv shows each module's arguments ("invocation:"), whichever strategy runs the play
    # (Mitogen prints no ESTABLISH lines): where a secret would leak.
    assert len(outputs) >= 4 and all("invocation:" in out for out in outputs)
    for name, value in secrets.items():
        leaks = [n for n, output in enumerate(outputs) if value in output]
        assert leaks == [], f"the {name} appears in the -vvv output of runs {leaks}"

    for path in [*(stack.state_dir / "secrets").iterdir(), *(stack.state_dir / "keys").iterdir()]:
        if path.suffix != ".pub":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    env_file = on_host("stat", "-c", "%a %U", "/opt/taskapp/.env")
    assert env_file.stdout.split() == ["600", "root"], env_file


def test_the_instance_state_at_the_emulator_is_hardened(stack: Stack):
    live = [{"Name": "instance-state-name", "Values": LIVE}]
    (reservation,) = stack.ec2.describe_instances(Filters=project_filter() + live)["Reservations"]
    (instance,) = reservation["Instances"]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    volume_ids = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]
    volumes = stack.ec2.describe_volumes(VolumeIds=volume_ids)["Volumes"]
    assert volumes and all(volume["Encrypted"] for volume in volumes)
    (group,) = stack.ec2.describe_security_groups(Filters=project_filter())["SecurityGroups"]
    ssh_sources = [
        ip_range["CidrIp"]
        for rule in group["IpPermissions"]
        if rule.get("FromPort") == 22
        for ip_range in rule["IpRanges"]
    ]
    # The operator's address as preflight found it: one host, never a wider network.
    assert len(ssh_sources) == 1 and ssh_sources[0].endswith("/32"), ssh_sources


def test_the_host_takes_keys_only_and_installs_security_updates(stack: Stack):
    effective = on_host("/usr/sbin/sshd", "-T").stdout.splitlines()
    assert "passwordauthentication no" in effective
    assert "permitrootlogin no" in effective
    periodic = on_host("apt-config", "dump", "APT::Periodic").stdout
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic
    assert on_host("systemctl", "is-enabled", "apt-daily-upgrade.timer").stdout.strip() == "enabled"


def test_the_database_is_never_published(stack: Stack):
    ports = on_host("docker", "ps", "--format", "{{.Names}} {{.Ports}}").stdout.splitlines()
    db = [line for line in ports if re.match(r"^taskapp-db-\d+ ", line + " ")]
    assert len(db) == 1, ports
    assert "->" not in db[0], f"the database is published: {db[0]}"


def test_data_survives_a_host_restart_and_an_engine_restart(stack: Stack):
    title = f"Kept across restarts {time.time_ns()}"
    add_task(title)

    restarted = subprocess.run(["docker", "restart", the_host()], capture_output=True, check=False)
    assert restarted.returncode == 0, restarted.stderr
    assert title in titles()

    engine = on_host("systemctl", "restart", "docker")
    assert engine.returncode == 0, engine.stderr
    assert title in titles()


def the_instance(stack: Stack) -> dict:
    not_terminated = ["pending", "running", "stopping", "stopped"]
    states = [{"Name": "instance-state-name", "Values": not_terminated}]
    (reservation,) = stack.ec2.describe_instances(Filters=project_filter() + states)["Reservations"]
    (instance,) = reservation["Instances"]
    return instance


def host_is_running() -> bool:
    inspect = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Running}}", the_host()],
        capture_output=True,
        text=True,
        check=False,
    )
    return inspect.stdout.strip() == "true"


def eventually(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


def test_a_paused_stack_costs_its_disk_and_resumes_with_its_data(stack: Stack):
    title = f"Kept across a pause {time.time_ns()}"
    add_task(title)
    address = the_instance(stack)["PublicIpAddress"]

    rehearsed = stack.runner.playbook("stop.yml", "--check")
    assert rehearsed.returncode == 0 and rehearsed.changed == 1, rehearsed.output[-3000:]
    assert "Would stop:" in rehearsed.output
    assert the_instance(stack)["State"]["Name"] == "running"

    stopped = stack.runner.playbook("stop.yml")
    assert stopped.returncode == 0 and stopped.changed == 1, stopped.output[-3000:]
    instance = the_instance(stack)
    assert instance["State"]["Name"] == "stopped"
    assert "PublicIpAddress" not in instance  # released: no longer billed
    # 10 GiB x 0.0928 USD of gp3 stopped; running, the summary's figure (test_provision).
    assert (
        "about 0.93 USD per month while stopped (10 GiB gp3; an estimate), against about "
        "13.19 USD running" in folded(stopped.output)
    ), folded(stopped.output)[-2500:]
    assert eventually(lambda: not host_is_running(), timeout_s=90), "the host still runs"
    assert http_get(f"{API}/api/tasks")[0] == 0

    again = stack.runner.playbook("stop.yml")
    assert again.returncode == 0 and again.changed == 0, again.output[-3000:]

    # Its database cannot be backed up while it is stopped: teardown refuses, deletes nothing.
    refused = stack.runner.playbook("teardown.yml")
    assert refused.returncode != 0
    assert "is stopped, so the app's database on it cannot be backed up" in refused.output
    assert count_project_resources(stack.ec2) == ONE_OF_EACH

    started = stack.runner.playbook("start.yml")
    assert started.returncode == 0, started.output[-3000:]
    # Its Python known, the host is waited for until its SSH server answers, then under Mitogen.
    assert task_status(started.output, BANNER_WAIT) == "ok"
    instance = the_instance(stack)
    assert instance["State"]["Name"] == "running"
    assert instance["PublicIpAddress"] != address
    assert f"public IP {instance['PublicIpAddress']}" in started.output
    assert f"Web page:  {WEB}/" in started.output
    assert title in titles()

    twice = stack.runner.playbook("start.yml")
    assert twice.returncode == 0 and twice.changed == 0, twice.output[-3000:]


def backups(stack: Stack) -> list[Path]:
    return sorted((stack.state_dir / "backups" / "taskstack-eu-west-3").glob("taskstack-*.sql.gz"))


def folded(output: str) -> str:
    return " ".join(output.split())


def test_a_backup_is_private_and_made_once_per_change_of_the_data(stack: Stack):
    add_task(f"Backed up {time.time_ns()}")
    first = stack.runner.playbook("backup.yml")
    assert first.returncode == 0 and first.changed >= 1, first.output[-3000:]
    (backup,) = backups(stack)
    assert f"Backup: {backup} (" in folded(first.output)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.parent.stat().st_mode) == 0o700
    assert b"-- PostgreSQL database dump" in gzip.decompress(backup.read_bytes())

    again = stack.runner.playbook("backup.yml")
    assert again.returncode == 0 and again.changed == 0, again.output[-3000:]
    assert f"the database holds what {backup} holds: no new file" in folded(again.output)
    assert backups(stack) == [backup]
    stack.backed_up_tasks = wait_for_api()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "app_backup_restore_file='missing.sql.gz': no such backup"),
        (b"\x1f\x8b\x08 not gzip at all", "is not a readable backup (gzip: "),
        (gzip.compress(b"DROP TABLE tasks;\n"), "is not a readable backup (not a pg_dump script)"),
        (
            gzip.compress(b"-- PostgreSQL database dump\nDELETE FROM tasks;\nSELECT 1/0;\n"),
            "stopped and was rolled back (ERROR:  division by zero)",
        ),
    ],
    ids=["missing", "damaged", "not-a-dump", "fails-halfway"],
)
def test_a_bad_restore_is_refused_and_leaves_the_data_as_it_was(
    stack: Stack, tmp_path: Path, content: bytes | None, says: str
):
    before = wait_for_api()
    name = "missing.sql.gz"
    if content is not None:
        (tmp_path / name).write_bytes(content)
        name = str(tmp_path / name)
    refused = stack.runner.playbook("restore.yml", "-e", f"app_backup_restore_file={name}")
    assert refused.returncode != 0
    errors = [line for line in refused.output.splitlines() if line.startswith("[ERROR]")]
    assert len(errors) == 1 and says in errors[0], refused.output[-3000:]
    assert wait_for_api() == before


def test_restoring_the_backup_the_database_holds_changes_nothing(stack: Stack):
    run = stack.runner.playbook("restore.yml")
    assert run.returncode == 0 and run.changed == 0, run.output[-3000:]
    assert "already holds what" in folded(run.output)


def test_a_teardown_rehearsal_names_the_backup_and_deletes_nothing(stack: Stack):
    rehearsed = stack.runner.playbook("teardown.yml", "--check")
    assert rehearsed.returncode == 0, rehearsed.output[-3000:]
    folder = stack.state_dir / "backups" / "taskstack-eu-west-3"
    assert f"would be backed up to {folder}" in folded(rehearsed.output)
    assert count_project_resources(stack.ec2) == ONE_OF_EACH


def test_a_teardown_that_cannot_reach_the_running_host_deletes_nothing(stack: Stack):
    before = wait_for_api()
    # As when the operator's address changed since site.yml wrote the SSH rule: the port the
    # host's SSH is reached on does not answer. Its data would go unseen: nothing is deleted.
    refused = stack.runner.playbook("teardown.yml", "-e", "ansible_port=1")
    assert refused.returncode != 0
    errors = [line for line in refused.output.splitlines() if line.startswith("[ERROR]")]
    assert len(errors) == 1, refused.output[-3000:]
    assert "runs but does not answer on 127.0.0.1 port 1 within 10 s" in folded(refused.output)
    assert "run `ansible-playbook site.yml` to let it in again" in folded(refused.output)
    assert count_project_resources(stack.ec2) == ONE_OF_EACH
    assert wait_for_api() == before


def test_teardown_killed_midway_then_run_again_leaves_nothing(stack: Stack):
    run_and_kill(stack, "teardown.yml", instance_terminating(stack))
    assert count_project_resources(stack.ec2)["vpc"] == 1, "killed too late to show anything"

    teardown = stack.teardown()  # and the host container check, as `make destroy`
    assert teardown.returncode == 0, teardown.output[-3000:]
    assert "No backup: the project has no running instance" in teardown.output
    assert count_project_resources(stack.ec2) == NOTHING
    assert host_containers() == []


ROLE_VALIDATIONS_SKIPPED_WHEN_UNCHANGED = (
    "TASK [aws_budget : Validating arguments against arg spec 'budget'",
    "TASK [aws_tag_audit : Validating arguments against arg spec 'main'",
    "TASK [stack_summary : Validating arguments against arg spec 'main'",
)


def test_the_rerun_after_a_converge_from_nothing_skips_the_stack_and_the_host(stack: Stack):
    """As a new user: no key, no password, nothing in AWS; site.yml, then site.yml again. The
    digests recorded by the first run (whose key and password it generated on the way) are the
    ones the second run reads: it skips both the provisioning and the host."""
    assert count_project_resources(stack.ec2) == NOTHING
    for generated in ("keys", "secrets", "stack-state"):
        shutil.rmtree(stack.state_dir / generated, ignore_errors=True)
    first = stack.runner.playbook("site.yml", "-vvv")
    assert first.returncode == 0, first.output[-3000:]

    again = stack.runner.playbook("site.yml", "-vvv")
    assert again.returncode == 0 and again.changed == 0, again.output[-3000:]
    assert "are as the last converge left them" in folded(again.output)
    assert skipped_the_host(again)
    # The wait for the new host runs over plain SSH (Mitogen's wait for a host whose Python is
    # unknown never ends); once its Python is in the fact cache, under Mitogen (no ssh command).
    assert MITOGEN_LINE in again.output, "Mitogen did not run the plays (it could not load?)"
    assert PLAIN_SSH in play_output(first.output, WAIT_PLAY), first.output[-3000:]
    assert PLAIN_SSH not in play_output(again.output, WAIT_PLAY), again.output[-3000:]
    # The play after the wait opens Mitogen's connection, even on a new host: the configure
    # phase finds it open.
    assert PLAIN_SSH not in play_output(first.output, REUSED_PLAY), first.output[-3000:]
    assert task_status(first.output, BANNER_WAIT) == "skipping"
    assert task_status(again.output, BANNER_WAIT) == "ok"
    # The roles that run on every rerun validate their arguments, unless the stack, its settings
    # and the code are as the last converge (which validated them) left them.
    for validation in ROLE_VALIDATIONS_SKIPPED_WHEN_UNCHANGED:
        assert validation in first.output, validation
        assert validation not in again.output, validation

    # The backup taken before the teardowns, into the stack built again: the tasks are back.
    assert stack.backed_up_tasks, "no backup was taken earlier in this file"
    restored = stack.runner.playbook("restore.yml")
    assert restored.returncode == 0 and restored.changed >= 1, restored.output[-3000:]
    assert "Restored " in restored.output
    assert wait_for_api() == stack.backed_up_tasks
    twice = stack.runner.playbook("restore.yml")
    assert twice.returncode == 0 and twice.changed == 0, twice.output[-3000:]

    teardown = stack.teardown()
    assert teardown.returncode == 0, teardown.output[-3000:]
    assert list(stack_records(stack.state_dir).glob("*.sha256")) == []
