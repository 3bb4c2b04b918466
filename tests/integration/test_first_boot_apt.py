"""A new instance's first boot holds apt's locks, and the configure phase waits for them.

Soon after a new Ubuntu instance boots, apt's daily jobs run: apt update (the package lists'
lock), then unattended-upgrade (dpkg's locks), for minutes on an image whose packages are months
old. A configuration tool that starts at once meets "Could not get lock ... held by process ...
(unattended-upgr)"; ansible.builtin.apt waits 60 s by default, then fails. moto's hosts have no
such jobs: the embedded host stands in for them when EMBEDDED_HOST_FIRST_BOOT_APT_S is set
(embedded/hosts.py), each job holding its locks that long.

Here each job holds its locks longer than apt's own 60 s, from the host container's start: the
background refresh of the lists (roles/package_lists, refresh_start) meets the first, the
engine's install (roles/docker_engine) the second. The converge must wait for both
(package_lists_lock_timeout_s, 600 s) and succeed with the refresh made in the background: no
foreground refresh, no install before the jobs released their locks.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import harness
import hosts
import pytest
from stack_testing import hosted_stack

pytestmark = pytest.mark.slow

# Longer than ansible.builtin.apt's own lock_timeout (60 s), with a margin for the seconds
# between the host's start and the configure phase.
FIRST_BOOT_APT_S = 75
LISTS_JOB, DPKG_JOB = (",".join(paths) for paths in hosts.FIRST_BOOT_APT_JOBS)
# The refresh of package_lists' main (tasks/apt.yml), which runs when the background one failed.
FOREGROUND_REFRESH = "package_lists : Refresh apt's package lists"
UPDATE_STAMP = "/var/lib/apt/periodic/update-success-stamp"
# "<date> <time> status installed <package>:<arch> <version>" in dpkg's log.
DPKG_INSTALLED = re.compile(r"^(?P<when>\S+ \S+) status installed (?P<package>[^:\s]+)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Stack]:
    work, state = tmp_path_factory.mktemp("first-boot-emulator"), tmp_path_factory.mktemp("state")
    settings = {"EMBEDDED_HOST_FIRST_BOOT_APT_S": str(FIRST_BOOT_APT_S)}
    with hosted_stack("first-boot-apt-test", work, state, settings) as stack:
        yield stack


def on_the_host(stack: harness.Stack, *command: str) -> str:
    (container,) = harness.host_containers(stack.emulator.port)
    return subprocess.run(
        ["docker", "exec", container, *command], capture_output=True, text=True, check=True
    ).stdout


def job_times(log: str) -> dict[tuple[str, str], float]:
    """(locked|released, job) -> when, from the stand-in's log."""
    times = {}
    for line in log.splitlines():
        event, job, when = line.split()
        times[(event, job)] = float(when)
    return times


def task_results(output: str, task: str) -> list[str]:
    """The result lines (ok:, skipping:, changed:, fatal:) of every run of the named task."""
    results, current = [], False
    for line in output.splitlines():
        if line.startswith("TASK ["):
            current = line.startswith(f"TASK [{task}]")
        elif current and line.split(":", 1)[0] in ("ok", "skipping", "changed", "fatal"):
            results.append(line.split(":", 1)[0])
    return results


def test_the_converge_waits_for_apts_first_boot_jobs(stack):
    run = stack.site()
    assert run.returncode == 0, run.output[-6000:]
    assert all(host["failed"] == 0 for host in run.recap().values()), run.recap()

    times = job_times(on_the_host(stack, "cat", hosts.FIRST_BOOT_APT_LOG))
    assert set(times) == {(e, j) for e in ("locked", "released") for j in (LISTS_JOB, DPKG_JOB)}
    # The background refresh succeeded after the first job: the lists are younger than its end,
    # and package_lists' main found them fresh (its own refresh skipped every time it ran).
    stamp = on_the_host(
        stack, "stat", "--format=%.3Y", "/var/lib/apt/periodic/update-success-stamp"
    )
    assert float(stamp) > times[("released", LISTS_JOB)]
    assert task_results(run.output, FOREGROUND_REFRESH), "package_lists' main never ran"
    assert set(task_results(run.output, FOREGROUND_REFRESH)) == {"skipping"}
    # The engine was installed after the second job released dpkg's locks (dpkg logs local
    # time to the second; the host's clock is the controller's).
    installed = [
        match["when"]
        for line in on_the_host(stack, "cat", "/var/log/dpkg.log").splitlines()
        if (match := DPKG_INSTALLED.match(line)) and match["package"] == "docker.io"
    ]
    assert installed, "docker.io was not installed"
    released = on_the_host(
        stack, "date", f"--date=@{int(times[('released', DPKG_JOB)])}", "+%Y-%m-%d %H:%M:%S"
    ).strip()
    assert installed[-1] >= released, (installed, released)
