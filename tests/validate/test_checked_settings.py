"""aws_preflight skips its project and settings checks only for settings that passed them.

After the checks pass, their digest is recorded (aws_preflight_record_dir); the next run with
the same settings and code skips them; any changed setting, or a misspelt one, runs them
again. Like test_role_validation.py: the two entry points on localhost, no AWS, no emulator.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from checks_env import checks_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKS_INCLUDES = {
    "aws_preflight : Check the project name, region, Environment and tags",
    "aws_preflight : Refuse misspelt settings and values of the wrong type",
}
PLAYBOOK = """\
- name: Run preflight's checks that need no AWS
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Check the project name and Environment
      ansible.builtin.include_role:
        name: aws_preflight
        tasks_from: project
    - name: Refuse misspelt settings and values of the wrong type
      ansible.builtin.include_role:
        name: aws_preflight
        tasks_from: settings
"""
# What backup.yml and restore.yml run: the settings checks alone.
SETTINGS_ONLY = PLAYBOOK.split("    - name: Refuse misspelt")[0].replace(
    "tasks_from: project", "tasks_from: settings"
)


def run_checks(
    work: Path, *extra: str, playbook_text: str = PLAYBOOK
) -> tuple[int, dict[str, Any]]:
    """The playbook's return code and, by task name, localhost's result (the json callback)."""
    env = checks_environment(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    playbook = work / "checks.yml"
    playbook.write_text(playbook_text)
    run = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(REPO_ROOT / "inventory" / "aws_ec2.yml"),
            "-e",
            f"aws_preflight_record_dir={work / 'record'}",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            *extra,
            str(playbook),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(run.stdout)
    # Keeping the record is the run's own cache, not a change (a second run changes nothing).
    assert report["stats"]["localhost"]["changed"] == 0, report["stats"]
    results = {
        task["task"]["name"]: task["hosts"].get("localhost", {})
        for play in report["plays"]
        for task in play["tasks"]
    }
    return run.returncode, results


def checks_ran(results: dict[str, Any]) -> bool:
    """Whether both checks' includes ran (neither skipped)."""
    includes = [results[name] for name in CHECKS_INCLUDES if name in results]
    assert len({bool(r.get("skipped")) for r in includes}) == 1, includes
    return not includes[0].get("skipped", False)


def failure(results: dict[str, Any]) -> str:
    failed = [r for r in results.values() if r.get("failed")]
    assert failed, "no task failed"
    found = failed[0]
    items = [i for i in found.get("results", []) if i.get("failed")]
    return (items[0] if items else found).get("msg", "")


@pytest.mark.slow
def test_checks_are_skipped_only_for_settings_that_passed(tmp_path: Path) -> None:
    code, first = run_checks(tmp_path)
    assert code == 0, first
    assert checks_ran(first), "nothing recorded yet: the checks must run"
    assert (tmp_path / "record" / "settings.sha256").is_file()

    code, again = run_checks(tmp_path)
    assert code == 0, again
    assert not checks_ran(again), "the same settings passed: the checks must be skipped"

    code, changed = run_checks(tmp_path, "-e", "aws_network_vpc_cidr=10.1.0.0/16")
    assert code == 0, changed
    assert checks_ran(changed), "a changed setting must be checked again"

    # Both sets passed: going back to the first (site.yml after teardown.yml, say) skips again.
    code, back = run_checks(tmp_path)
    assert code == 0, back
    assert not checks_ran(back), "the first settings passed before: the checks must be skipped"
    recorded = (tmp_path / "record" / "settings.sha256").read_text().split()
    assert len(recorded) == 2, recorded

    # What passed before must not let a misspelt setting through.
    code, misspelt = run_checks(tmp_path, "-e", "aws_network_vpc_cidrr=10.0.0.0/16")
    assert code != 0
    assert "aws_network_vpc_cidrr: not a setting of role aws_network" in failure(misspelt)

    code, bad_project = run_checks(tmp_path, "-e", "project_environment=qa")
    assert code != 0
    assert "project_environment='qa' is not one of" in failure(bad_project)


@pytest.mark.slow
def test_the_host_that_the_first_converge_creates_changes_no_setting(tmp_path: Path) -> None:
    """Preflight runs before the instance exists on the first converge and after it on the
    next: what the inventory says about the host (address, port, URLs) is no setting, or
    every first rerun would check again settings that had just passed."""
    # The same inventory sources both times (their folders are among the settings digested,
    # in stack_state_sources): the group is empty, then holds the instance, as the dynamic
    # inventory finds it.
    inventory = tmp_path / "inventory" / "hosts.yml"
    inventory.parent.mkdir()
    inventory.write_text("aws_ec2:\n  hosts: {}\n")
    code, first = run_checks(tmp_path, "-i", str(inventory))
    assert code == 0, first
    assert checks_ran(first)

    inventory.write_text(
        "aws_ec2:\n  hosts:\n    i-0123456789abcdef0:\n      aws_public_ip_address: 203.0.113.10\n"
    )
    code, rerun = run_checks(tmp_path, "-i", str(inventory))
    assert code == 0, rerun
    assert not checks_ran(rerun), "the settings passed before the host existed"


@pytest.mark.slow
def test_only_the_newest_sets_of_settings_are_remembered(tmp_path: Path) -> None:
    for cidr in ("10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"):
        code, results = run_checks(
            tmp_path, "-e", "aws_preflight_record_count=2", "-e", f"aws_network_vpc_cidr={cidr}"
        )
        assert code == 0, results
        assert checks_ran(results)
    assert len((tmp_path / "record" / "settings.sha256").read_text().split()) == 2
    # 10.1.0.0/16 was the oldest of three: forgotten, so checked again.
    code, results = run_checks(
        tmp_path, "-e", "aws_preflight_record_count=2", "-e", "aws_network_vpc_cidr=10.1.0.0/16"
    )
    assert code == 0, results
    assert checks_ran(results)


@pytest.mark.slow
def test_checks_always_run_without_a_record_dir(tmp_path: Path) -> None:
    for _ in range(2):
        code, results = run_checks(tmp_path, "-e", "aws_preflight_record_dir=")
        assert code == 0, results
        assert checks_ran(results)
    assert not (tmp_path / "record").exists()


@pytest.mark.slow
def test_the_settings_checks_alone_record_nothing(tmp_path: Path) -> None:
    """backup.yml checks the settings only: that must not let a later run skip the project
    checks (the project name guards teardown against a wildcard)."""
    code, results = run_checks(tmp_path, playbook_text=SETTINGS_ONLY)
    assert code == 0, results
    assert checks_ran(results)
    assert not (tmp_path / "record" / "settings.sha256").exists()


@pytest.mark.slow
def test_the_role_tag_settings_count_whatever_roles_are_checked(tmp_path: Path) -> None:
    """The project checks read each role's tag setting by name (aws_preflight_role_tag_settings),
    also when its role is not among aws_preflight_checked_roles."""
    narrowed = {"aws_preflight_checked_roles": ["aws_preflight", "aws_teardown"]}
    code, results = run_checks(tmp_path, "-e", json.dumps(narrowed))
    assert code == 0, results
    code, results = run_checks(tmp_path, "-e", json.dumps({**narrowed, "aws_network_tags": {}}))
    assert code != 0
    assert "aws_network_tags must hold Project=" in failure(results)
