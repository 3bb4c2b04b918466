"""The embedded default's EC2 hosts: one local container per running emulated instance.

On AWS, RunInstances boots a machine that cloud-init prepares for SSH with the key pair's
public key. Here the emulator calls `materialize` instead: it starts a systemd container from
the test host image (Debian 13 standing in for Ubuntu 24.04), puts the public key in the
`ubuntu` user's authorized_keys and publishes on 127.0.0.1 every TCP port the instance's security
groups open, like AWS lets through what the groups allow.
When the instance was launched with user data, it is written to cloud-init's NoCloud seed
before the container's first boot, and the image's cloud-init runs it as on EC2.
With EMBEDDED_HOST_FIRST_BOOT_APT_S set, a new host's first boot also holds apt's locks as
Ubuntu's boot-time apt jobs do (`first_boot_apt_jobs`).
StopInstances calls `stop` (the container stops, its disk and the Docker engine's data stay),
StartInstances calls `start` (the same container boots again), TerminateInstances calls
`remove`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LOG = logging.getLogger("embedded.hosts")
LABEL = "org.taskstack.embedded-host"

# The settings measured for a systemd host with its own Docker engine inside (see
# tests/images/README.md); engines that allow --privileged get that instead.
CAPABILITY_FLAGS = [
    "--cap-add=SYS_ADMIN",
    "--cap-add=NET_ADMIN",
    "--cap-add=SYS_PTRACE",
    "--security-opt=seccomp=unconfined",
    "--security-opt=apparmor=unconfined",
    "--security-opt=systempaths=unconfined",
]
COMMON_FLAGS = [
    "--cgroupns=host",
    "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--volume=/var/lib/docker",
    "--tmpfs=/run",
    "--tmpfs=/run/lock",
    "--stop-signal=SIGRTMIN+3",
]
# Where cloud-init's NoCloud datasource finds an instance's user data (the image's
# tests/images/testhost/cloud/90-embedded-host.cfg lists only that datasource).
NOCLOUD_SEED_DIR = "var/lib/cloud/seed/nocloud"
# Where image archives are put inside the host, for engines that cannot pull.
HOST_ARCHIVE_DIR = "/var/cache/taskstack/images"
# Where each opened port of the instance is published on the controller: SSH, the web page and
# the API at fixed places (README), any other port where Docker finds a free one.
DEFAULT_PUBLISHED_PORTS = {22: 2222, 80: 8080, 8000: 8000}
# The most ports one rule's range may publish: a wide range is a rule for another purpose.
MAX_PUBLISHED_RANGE = 16
# The locks Ubuntu's apt jobs take soon after a new instance's first boot, one after the other:
# apt-daily (apt update) takes the package lists' lock, then apt-daily-upgrade (unattended-upgrade)
# dpkg's frontend lock, dpkg's own and the downloads'. Configuration tools that start at once
# meet them ("Could not get lock /var/lib/dpkg/lock-frontend. It is held by process ...
# (unattended-upgr)"), for minutes on an image whose packages are months old.
FIRST_BOOT_APT_JOBS = (
    ("apt-daily.service", ("/var/lib/apt/lists/lock",)),
    (
        "apt-daily-upgrade.service",
        ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/cache/apt/archives/lock"),
    ),
)
# apt.systemd.daily, which both jobs run, holds this one with flock for its whole run.
FIRST_BOOT_APT_DAILY_LOCK = "/var/lib/apt/daily_lock"
# Where the stand-in for those jobs logs when it took and released each job's locks.
FIRST_BOOT_APT_LOG = "/var/log/embedded-first-boot-apt.log"
# The stand-in, run by the host's python3. Arguments: seconds per job, the log, "systemd" (or
# "none", for a check of the locks alone), apt.systemd.daily's lock, then one
# "<unit>=<lock file>,<lock file>..." per job.
# With systemd it starts when the jobs' timers can (timers.target, after cloud-init's network
# stage; it gives up after 5 minutes, logging "timeout"), and skips a job whose unit is masked,
# as systemd would not start it. A job ends its seconds after it began or after the first SSH
# login ("login" in the log), whichever is later: the tool that logs in while the job runs meets
# at least that much of it, however long the provisioning's tail and the wait for SSH took on a
# loaded controller, and what runs at boot (cloud-init's own apt) meets it from its start; a job
# that sees no login lets go after LOGIN_WAIT_S. apt and dpkg lock with fcntl (F_SETLK)
# whole-file write locks, which lockf takes; apt.systemd.daily with flock(1).
FIRST_BOOT_APT_PROGRAM = """\
import fcntl, os, subprocess, sys, time
seconds, log, daily = float(sys.argv[1]), sys.argv[2], sys.argv[4]
systemd = sys.argv[3] == "systemd"
LOGIN_WAIT_S = 600
def note(event, locks, when=None):
    with open(log, "a") as out:
        out.write(f"{event} {locks} {time.time() if when is None else when:.3f}\\n")
def masked(unit):
    state = subprocess.run(["systemctl", "is-enabled", unit], capture_output=True, text=True)
    return state.stdout.strip().startswith("masked")
deadline = time.time() + 300
while systemd and subprocess.run(["systemctl", "is-active", "--quiet", "timers.target"]).returncode:
    if time.time() > deadline:
        note("timeout", "timers.target")
        sys.exit(1)
    time.sleep(0.2)
def ssh_client_connected():
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[1].endswith(":0016") and fields[3] == "01":
                    return True
    return False
login = None
def hold(seconds):
    global login
    began = time.time()
    while True:
        now = time.time()
        if systemd and login is None and ssh_client_connected():
            # Logged as the moment the job's end counts from, not when the log is written.
            login = now
            note("login", "ssh", login)
        end = began + seconds if login is None else max(began, login) + seconds
        if now >= end and (login is not None or not systemd or now >= began + LOGIN_WAIT_S):
            return
        time.sleep(0.2)
for job in sys.argv[5:]:
    unit, locks = job.split("=", 1)
    if systemd and masked(unit):
        note("masked", locks)
        continue
    daily_fd = os.open(daily, os.O_RDWR | os.O_CREAT, 0o640)
    fcntl.flock(daily_fd, fcntl.LOCK_EX)
    fds = [os.open(path, os.O_RDWR | os.O_CREAT, 0o640) for path in locks.split(",")]
    for fd in fds:
        fcntl.lockf(fd, fcntl.LOCK_EX)
    note("locked", locks)
    hold(seconds)
    for fd in reversed(fds):
        os.close(fd)
    os.close(daily_fd)
    note("released", locks)
"""
# How long a stopping host's systemd gets to shut its services down (PostgreSQL included)
# before Docker kills what is left; EC2 too waits for the OS to shut down before it stops.
STOP_GRACE_S = 60


def first_boot_apt_events(log: str) -> dict[tuple[str, str], float]:
    """(event, job) -> when, from the stand-in's log (FIRST_BOOT_APT_LOG, read off the host).
    Events: locked, released, masked, timeout, and login (job "ssh"); a job is named by its lock
    files joined by commas (",".join of a FIRST_BOOT_APT_JOBS entry's paths)."""
    events = {}
    for line in log.splitlines():
        event, job, when = line.split()
        events[(event, job)] = float(when)
    return events


def published_ports_from_env(text: str) -> dict[int, int]:
    """EMBEDDED_HOST_PORTS: a JSON object {"<instance port>": <port on 127.0.0.1>, ...}."""
    if not text:
        return dict(DEFAULT_PUBLISHED_PORTS)
    return {int(guest): int(local) for guest, local in json.loads(text).items()}


@dataclass
class HostSettings:
    """What the embedded hosts look like; every value can be set from the environment."""

    image: str = os.environ.get("EMBEDDED_HOST_IMAGE", "taskstack-testhost:trixie")
    bind_address: str = os.environ.get("EMBEDDED_HOST_ADDRESS", "127.0.0.1")
    published_ports: dict[int, int] = field(
        default_factory=lambda: published_ports_from_env(os.environ.get("EMBEDDED_HOST_PORTS", ""))
    )
    emulator_port: str = os.environ.get("MOTO_PORT", "4566")
    # The instance size, e.g. "2" and "1g" for a t3.micro (docker run --cpus, --memory);
    # empty: the host container may use the whole machine.
    cpus: str = os.environ.get("EMBEDDED_HOST_CPUS", "")
    memory: str = os.environ.get("EMBEDDED_HOST_MEMORY", "")
    # Image archives on the controller, mounted read-only into each host (nothing can be pulled
    # here).
    image_archives: list[Path] = field(
        default_factory=lambda: [
            Path(p) for p in os.environ.get("EMBEDDED_IMAGE_ARCHIVES", "").split(":") if p
        ]
    )
    # Seconds each of Ubuntu's first-boot apt jobs holds its locks (FIRST_BOOT_APT_JOBS); 0:
    # none runs.
    first_boot_apt_s: float = float(os.environ.get("EMBEDDED_HOST_FIRST_BOOT_APT_S") or 0)


def docker(
    *args: str, check: bool = True, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        answer = subprocess.run(["docker", *args], input=stdin, capture_output=True, check=False)
        result = subprocess.CompletedProcess(
            answer.args,
            answer.returncode,
            answer.stdout.decode(errors="replace"),
            answer.stderr.decode(errors="replace"),
        )
    except FileNotFoundError:
        result = subprocess.CompletedProcess(["docker", *args], 127, "", "docker not installed")
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {args[0]} failed: {result.stderr.strip()}")
    return result


_privileged_answer: bool | None = None
_privileged_lock = threading.Lock()


def engine_allows_privileged(image: str) -> bool:
    """Asked once per process: some engines refuse --privileged ("unable to apply caps")."""
    global _privileged_answer
    with _privileged_lock:
        if _privileged_answer is None:
            override = os.environ.get("EMBEDDED_HOST_PRIVILEGED", "")
            if override:
                _privileged_answer = override.lower() == "true"
            else:
                probe = docker(
                    "run",
                    "--rm",
                    "--privileged",
                    "--network=none",
                    "--entrypoint=true",
                    image,
                    check=False,
                )
                _privileged_answer = probe.returncode == 0
        return _privileged_answer


def container_name(instance_id: str) -> str:
    return instance_id


def size_flags(settings: HostSettings) -> list[str]:
    flags = [f"--cpus={settings.cpus}"] if settings.cpus else []
    if settings.memory:
        # No swap on top, like an EC2 instance without a swap file.
        flags += [f"--memory={settings.memory}", f"--memory-swap={settings.memory}"]
    return flags


def publish_flags(settings: HostSettings, opened_ports: list[int]) -> list[str]:
    """One --publish per port the security groups open, on 127.0.0.1."""
    address = settings.bind_address
    return [
        f"--publish={address}:{settings.published_ports.get(port, '')}:{port}"
        for port in sorted(set(opened_ports))
    ]


def archive_flags(settings: HostSettings) -> list[str]:
    """Each image archive mounted read-only where the host expects it: no copy of hundreds of
    megabytes per host, written while the host's first packages install."""
    return [
        f"--mount=type=bind,source={archive.resolve()},"
        f"target={HOST_ARCHIVE_DIR}/{archive.name},readonly"
        for archive in settings.image_archives
        if archive.is_file()
    ]


def run_flags(
    settings: HostSettings, instance_id: str, project: str, opened_ports: list[int]
) -> list[str]:
    mode = ["--privileged"] if engine_allows_privileged(settings.image) else CAPABILITY_FLAGS
    return [
        f"--name={container_name(instance_id)}",
        f"--hostname={instance_id}",
        f"--label={LABEL}={settings.emulator_port}",
        f"--label=org.taskstack.project={project}",
        *publish_flags(settings, opened_ports),
        *mode,
        *COMMON_FLAGS,
        *size_flags(settings),
        *archive_flags(settings),
    ]


# With --cgroupns=host the inner engine puts its containers under the machine's /docker, out
# of the host container's limits; this drop-in nests them under the host container's own
# cgroup (read from /proc/1/cgroup) so that the whole host, app included, fits the size.
# Debian's and Ubuntu's docker.service pass $DOCKER_OPTS to dockerd.
NEST_ENGINE_SCRIPT = (
    "parent=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/1/cgroup) && "
    'test -n "$parent" && '
    "install -d -m 0755 /etc/systemd/system/docker.service.d && "
    "printf '[Service]\\nEnvironment=DOCKER_OPTS=--cgroup-parent=%s\\n' \"$parent\" "
    "> /etc/systemd/system/docker.service.d/10-embedded-size.conf"
)


def nest_inner_engine(name: str) -> None:
    docker("exec", name, "sh", "-c", NEST_ENGINE_SCRIPT)


def first_boot_apt_command(settings: HostSettings, systemd: bool = True) -> list[str]:
    """The command that stands in for Ubuntu's first-boot apt jobs in a new host; [] when
    settings.first_boot_apt_s is 0. ``systemd``: wait for the host's timers and honour masks."""
    if settings.first_boot_apt_s <= 0:
        return []
    jobs = [f"{unit}={','.join(paths)}" for unit, paths in FIRST_BOOT_APT_JOBS]
    return [
        "python3",
        "-c",
        FIRST_BOOT_APT_PROGRAM,
        str(settings.first_boot_apt_s),
        FIRST_BOOT_APT_LOG,
        "systemd" if systemd else "none",
        FIRST_BOOT_APT_DAILY_LOCK,
        *jobs,
    ]


def first_boot_apt_jobs(name: str, settings: HostSettings) -> None:
    """Starts the stand-in for Ubuntu's first-boot apt jobs, which the host's first apt tasks
    meet as they would on a new EC2 instance."""
    if command := first_boot_apt_command(settings):
        LOG.info(
            "host container %s: apt's first-boot jobs hold its locks %ss each",
            name,
            settings.first_boot_apt_s,
        )
        docker("exec", "--detach", name, *command)


def install_public_key(name: str, public_key: str) -> None:
    """What cloud-init does on EC2 with the instance's key pair."""
    script = (
        "install -d -m 0700 -o ubuntu -g ubuntu /home/ubuntu/.ssh && "
        "printf '%s\\n' \"$KEY\" > /home/ubuntu/.ssh/authorized_keys && "
        "chown ubuntu:ubuntu /home/ubuntu/.ssh/authorized_keys && "
        "chmod 0600 /home/ubuntu/.ssh/authorized_keys"
    )
    docker("exec", "--env", f"KEY={public_key}", name, "sh", "-c", script)


def nocloud_seed(instance_id: str, user_data: bytes) -> bytes:
    """A tar of cloud-init's NoCloud seed: the user data as given, and the instance's identity
    (what EC2's metadata service answers cloud-init on AWS)."""
    meta_data = f"instance-id: {instance_id}\nlocal-hostname: {instance_id}\n".encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in (("user-data", user_data), ("meta-data", meta_data)):
            member = tarfile.TarInfo(f"{NOCLOUD_SEED_DIR}/{name}")
            member.size, member.mode = len(content), 0o600
            tar.addfile(member, io.BytesIO(content))
    return buffer.getvalue()


def materialize(
    instance_id: str,
    project: str,
    public_key: str | None,
    opened_ports: list[int],
    settings: HostSettings | None = None,
    user_data: bytes | None = None,
) -> None:
    settings = settings or HostSettings()
    name = container_name(instance_id)
    if docker("container", "inspect", name, check=False).returncode == 0:
        return
    LOG.info("starting host container %s from %s", name, settings.image)
    flags = run_flags(settings, instance_id, project, opened_ports)
    docker("create", *flags, settings.image, "/sbin/init")
    # Before the first boot: cloud-init reads its seed early in the boot, as it reads EC2's
    # metadata service on AWS.
    if user_data:
        docker("cp", "-", f"{name}:/", stdin=nocloud_seed(instance_id, user_data))
    docker("start", name)
    first_boot_apt_jobs(name, settings)
    if size_flags(settings):
        nest_inner_engine(name)
    if public_key:
        install_public_key(name, public_key)
    LOG.info("host container %s ready: %s", name, docker("port", name).stdout.strip())


def remove(instance_id: str) -> None:
    # A host still booting is removed once it is up, never half-made.
    wait_for_pending_change(instance_id)
    name = container_name(instance_id)
    if docker("container", "inspect", name, check=False).returncode != 0:
        return
    LOG.info("removing host container %s", name)
    # The anonymous /var/lib/docker volume goes too: a terminated instance keeps nothing.
    docker("rm", "--force", "--volumes", name)


def remove_all(settings: HostSettings | None = None) -> None:
    """Every host container of this emulator (its state is gone after a reset or a stop)."""
    settings = settings or HostSettings()
    listing = docker(
        "ps", "--all", "--quiet", "--filter", f"label={LABEL}={settings.emulator_port}", check=False
    )
    for container_id in listing.stdout.split():
        docker("rm", "--force", "--volumes", container_id, check=False)


def stop(instance_id: str) -> None:
    """The machine shuts down: the container stops, and keeps its disk and its engine's data."""
    name = container_name(instance_id)
    if docker("container", "inspect", name, check=False).returncode != 0:
        return
    LOG.info("stopping host container %s", name)
    docker("stop", f"--time={STOP_GRACE_S}", name)


def start(instance_id: str) -> None:
    """The stopped machine boots again, from the same disk."""
    name = container_name(instance_id)
    if docker("container", "inspect", name, check=False).returncode != 0:
        return
    LOG.info("starting host container %s again", name)
    docker("start", name)


def wait_for_pending_change(instance_id: str) -> None:
    """A boot, stop or start still under way finishes first: changes apply in call order."""
    change = _changes.pop(instance_id, None)
    if change is not None:
        change.join()


def in_background(instance_id: str, what: str, change: Callable[[], None]) -> None:
    """Like EC2: the API answers at once, the machine changes shortly after."""
    wait_for_pending_change(instance_id)

    def run() -> None:
        try:
            change()
        except Exception:
            LOG.exception("host container for %s failed to %s", instance_id, what)

    thread = threading.Thread(target=run, name=f"{what}-{instance_id}", daemon=True)
    _changes[instance_id] = thread
    thread.start()


def materialize_in_background(
    instance_id: str,
    project: str,
    public_key: str | None,
    opened_ports: list[int],
    user_data: bytes | None = None,
) -> None:
    in_background(
        instance_id,
        "boot",
        lambda: materialize(instance_id, project, public_key, opened_ports, user_data=user_data),
    )


def stop_in_background(instance_id: str) -> None:
    in_background(instance_id, "stop", lambda: stop(instance_id))


def start_in_background(instance_id: str) -> None:
    in_background(instance_id, "start", lambda: start(instance_id))


_changes: dict[str, threading.Thread] = {}
