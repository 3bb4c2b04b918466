"""The stand-in for Ubuntu's first-boot apt jobs (embedded/hosts.py, EMBEDDED_HOST_FIRST_BOOT_APT_S)
holds each job's lock files the way apt and dpkg lock them, one job after the other.

apt and dpkg lock with fcntl whole-file write locks (F_SETLK): another process's non-blocking
lockf on the same file fails while the stand-in holds it, and succeeds once it let go;
apt.systemd.daily, which runs both jobs, holds its own lock with flock for each run. The
program runs here with the controller's Python, on lock files in a temporary folder, as the
host's python3 runs it on apt's own files (tests/integration/test_first_boot_apt.py).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "embedded"))
import hosts

HOLD_S = 1.5


def held_elsewhere(path: Path, lock=fcntl.lockf) -> bool:
    """Whether another holder has the lock: fcntl's (lockf, apt's and dpkg's kind), or flock's
    (apt.systemd.daily's), which belongs to an open file, so a second open here conflicts."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        lock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def locked_by_another_process(path: Path) -> bool:
    return held_elsewhere(path)


def flocked_elsewhere(path: Path) -> bool:
    return held_elsewhere(path, fcntl.flock)


def wait_for_line(log: Path, count: int) -> None:
    deadline = time.monotonic() + 10
    while not (log.exists() and len(log.read_text().splitlines()) >= count):
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log"
        time.sleep(0.05)


def test_each_job_holds_its_locks_then_the_next_one_its_own(tmp_path):
    lists, daily = tmp_path / "lists.lock", tmp_path / "daily_lock"
    dpkg = [tmp_path / "lock-frontend", tmp_path / "lock"]
    log = tmp_path / "first-boot-apt.log"
    settings = hosts.HostSettings(first_boot_apt_s=HOLD_S)
    command = hosts.first_boot_apt_command(settings, systemd=False)
    # The host's python3 is the controller's here; the same program and arguments but the paths
    # (and no systemd to wait for).
    jobs = [str(lists), ",".join(map(str, dpkg))]
    units = [
        f"{unit}={locks}" for (unit, _), locks in zip(hosts.FIRST_BOOT_APT_JOBS, jobs, strict=True)
    ]
    program = subprocess.Popen(
        [sys.executable, *command[1:4], str(log), "none", str(daily), *units]
    )
    try:
        wait_for_line(log, 1)
        assert locked_by_another_process(lists)
        assert not any(locked_by_another_process(path) for path in dpkg)
        assert flocked_elsewhere(daily)
        wait_for_line(log, 3)
        assert not locked_by_another_process(lists)
        assert all(locked_by_another_process(path) for path in dpkg)
        assert flocked_elsewhere(daily)
        assert program.wait(timeout=10) == 0
    finally:
        program.kill()
    assert not any(locked_by_another_process(path) for path in [lists, *dpkg])
    assert not flocked_elsewhere(daily)
    # The integration tests read the log with first_boot_apt_events.
    events = hosts.first_boot_apt_events(log.read_text())
    assert list(events) == [
        ("locked", jobs[0]),
        ("released", jobs[0]),
        ("locked", jobs[1]),
        ("released", jobs[1]),
    ]
    held = events[("released", jobs[0])] - events[("locked", jobs[0])]
    assert held == pytest.approx(HOLD_S, abs=0.5)


def test_the_jobs_take_apts_and_dpkgs_locks_in_the_order_ubuntu_runs_them():
    command = hosts.first_boot_apt_command(hosts.HostSettings(first_boot_apt_s=70))
    assert command[:2] == ["python3", "-c"]
    assert float(command[3]) == 70
    assert command[4:7] == [hosts.FIRST_BOOT_APT_LOG, "systemd", "/var/lib/apt/daily_lock"]
    assert command[7:] == [
        "apt-daily.service=/var/lib/apt/lists/lock",
        "apt-daily-upgrade.service="
        "/var/lib/dpkg/lock-frontend,/var/lib/dpkg/lock,/var/cache/apt/archives/lock",
    ]


def test_no_job_runs_unless_asked():
    assert hosts.first_boot_apt_command(hosts.HostSettings(first_boot_apt_s=0)) == []
