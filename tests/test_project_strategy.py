"""ansible.cfg's strategy as users meet it: ansible-playbook from the project root.

Mitogen when it loads (modules run inside Mitogen's persistent interpreter, whose process title
says "mitogen"), else ansible.builtin.linear and one warning line for the whole run however many
plays, and an off switch (TASKSTACK_MITOGEN=0, or Ansible's own ANSIBLE_STRATEGY=linear) that
gives Ansible's strategy without a warning. Local plays only: a few seconds each.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
FALLBACK = "Mitogen for Ansible cannot be loaded"
# Each play prints the command line of the process its module runs in.
PLAY = """
- name: Play {n}
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the command line of the process that runs the module
      ansible.builtin.shell: tr '\\0' ' ' < /proc/$PPID/cmdline
      register: strategy_test_runner
      changed_when: false

    - name: Show it
      ansible.builtin.debug:
        msg: "RUNNER {{{{ strategy_test_runner.stdout }}}}"
"""
INVENTORY = """
all:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""


def mitogen_dir() -> str | None:
    """The folder the mitogen package is imported from by this Python, if it is."""
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or spec.origin is None:
        return None
    return str(Path(spec.origin).parents[1])


def run_playbook(
    tmp_path: Path, pythonpath: list[str], playbook: str = "two_plays.yml", **env: str
) -> str:
    """A playbook on localhost with the project's ansible.cfg (by default two plays that show
    where their module runs); the output, stderr included."""
    if playbook == "two_plays.yml":
        (tmp_path / playbook).write_text(PLAY.format(n=1) + PLAY.format(n=2))
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "TASKSTACK_"))}
    run = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), str(tmp_path / playbook)],
        cwd=REPO_ROOT,
        env={
            **base,
            "PYTHONPATH": os.pathsep.join(pythonpath),
            "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            "ANSIBLE_INVENTORY": str(tmp_path / "inventory.yml"),
            "ANSIBLE_NOCOLOR": "1",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    return run.stdout


def runners(output: str) -> list[str]:
    return [line.split("RUNNER", 1)[1] for line in output.splitlines() if "RUNNER " in line]


@pytest.fixture
def without_mitogen(tmp_path: Path) -> list[str]:
    """A PYTHONPATH on which ansible_mitogen fails to import, even where mitogen is installed."""
    stub = tmp_path / "no-mitogen" / "ansible_mitogen"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('mitogen is not installed (test stub)')\n")
    return [str(stub.parent)]


@pytest.fixture
def with_mitogen() -> list[str]:
    found = mitogen_dir()
    if found is None:
        pytest.skip("mitogen (requirements.txt) is not importable by this Python")
    return [found]


def test_without_mitogen_the_run_goes_on_with_one_warning_line(
    tmp_path: Path, without_mitogen: list[str]
):
    output = run_playbook(tmp_path, without_mitogen)
    warnings = [line for line in output.splitlines() if FALLBACK in line]
    assert len(warnings) == 1, output
    assert warnings[0].startswith("[WARNING]: ")
    assert "mitogen is not installed (test stub)" in warnings[0]
    found = runners(output)
    assert len(found) == 2, output
    assert not any("mitogen" in runner for runner in found), found


def test_with_mitogen_modules_run_in_mitogens_interpreter(tmp_path: Path, with_mitogen):
    output = run_playbook(tmp_path, with_mitogen)
    assert FALLBACK not in output
    found = runners(output)
    assert len(found) == 2, output
    assert all("(mitogen:" in runner for runner in found), found


@pytest.mark.parametrize(
    "switch",
    [{"TASKSTACK_MITOGEN": "0"}, {"ANSIBLE_STRATEGY": "linear"}],
    ids=["TASKSTACK_MITOGEN=0", "ANSIBLE_STRATEGY=linear"],
)
def test_the_off_switch_runs_ansible_linear_without_a_warning(
    tmp_path: Path, with_mitogen, switch: dict[str, str]
):
    output = run_playbook(tmp_path, with_mitogen, **switch)
    assert FALLBACK not in output
    found = runners(output)
    assert len(found) == 2, output
    assert not any("mitogen" in runner for runner in found), found


# A collection's module (its module_utils live on the controller, in ansible_collections)
# started with `async` and `poll: 0`, then waited for.
ASYNC_PLAY = """
- name: Run a collection's module in the background
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Generate a key pair in the background
      community.crypto.openssh_keypair:
        path: "{key}"
        type: ed25519
      async: 60
      poll: 0
      register: strategy_test_job

    - name: Wait for the key pair
      ansible.builtin.async_status:
        jid: "{{{{ strategy_test_job.ansible_job_id }}}}"
      register: strategy_test_done
      until: strategy_test_done.finished
      retries: 20
      delay: 1

    - name: Show it
      ansible.builtin.debug:
        msg: "KEY {{{{ strategy_test_done.changed }}}} {{{{ strategy_test_done.filename }}}}"
"""


def test_with_mitogen_a_collections_module_runs_in_the_background(tmp_path: Path, with_mitogen):
    """Under Mitogen's planner alone, the job asked the controller for ansible_collections after
    detaching and never finished (the wait ran out: 20 attempts)."""
    key = tmp_path / "id_background"
    (tmp_path / "background.yml").write_text(ASYNC_PLAY.format(key=key))
    output = run_playbook(tmp_path, with_mitogen, playbook="background.yml")
    assert f"KEY True {key}" in output, output
    assert key.is_file() and (tmp_path / "id_background.pub").is_file()


# A module that says where its process imported ansible.module_utils.basic from: a file's path,
# or "master:<path>" for a module Mitogen's child received from the controller.
WHERE_MODULE = """#!/usr/bin/python
import sys

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={})
    basic = sys.modules["ansible.module_utils.basic"]
    module.exit_json(changed=False, origin=basic.__file__)


main()
"""
WHERE_PLAY = """
- name: Say where the module's process imported Ansible from
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Import ansible.module_utils.basic
      where_ansible_comes_from:
      vars:
        ansible_python_interpreter: "{python}"
      register: strategy_test_where

    - name: Show it
      ansible.builtin.debug:
        msg: "ORIGIN {{{{ strategy_test_where.origin }}}}"
"""


def import_origin(tmp_path: Path, pythonpath: list[str], python: str) -> str:
    """Where a module run on localhost with `python` imported ansible.module_utils.basic from."""
    library = tmp_path / "library"
    library.mkdir()
    (library / "where_ansible_comes_from.py").write_text(WHERE_MODULE)
    (tmp_path / "where.yml").write_text(WHERE_PLAY.format(python=python))
    output = run_playbook(tmp_path, pythonpath, "where.yml", ANSIBLE_LIBRARY=str(library))
    origins = [line.split("ORIGIN ", 1)[1] for line in output.splitlines() if "ORIGIN " in line]
    assert len(origins) == 1, output
    return origins[0].strip().strip('"')


def test_with_mitogen_a_local_task_on_ansibles_python_imports_ansible_from_disk(
    tmp_path: Path, with_mitogen
):
    """Not sent by the controller and compiled again on every run (mitogen_or_linear)."""
    import ansible.module_utils.basic

    origin = import_origin(tmp_path, with_mitogen, sys.executable)
    assert Path(origin) == Path(ansible.module_utils.basic.__file__), origin


def test_with_mitogen_another_python_receives_ansible_from_the_controller(
    tmp_path: Path, with_mitogen
):
    """As the EC2 host's Python does: the rule above is only for Ansible's own Python."""
    python = Path("/usr/bin/python3")
    if not python.is_file():
        pytest.skip("no /usr/bin/python3 on this machine")
    has_ansible = subprocess.run(
        [str(python), "-c", "import ansible"], capture_output=True, check=False
    )
    if has_ansible.returncode == 0:
        pytest.skip("/usr/bin/python3 has an Ansible of its own")
    origin = import_origin(tmp_path, with_mitogen, str(python))
    assert origin.startswith("master:"), origin


# An action plugin runs in the process Ansible forks for the task: it says how many objects that
# process has frozen out of its garbage collector (0 when nothing froze them), and which of
# ansible-core's filter and test files it holds (its task templates none: only inherited ones).
PROCESS_ACTION = """
import gc
import sys

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        jinja = sorted(
            name.rsplit("_", 1)[0]
            for name in sys.modules
            if name.startswith(("ansible.plugins.filter.", "ansible.plugins.test."))
        )
        return {"changed": False, "frozen": gc.get_freeze_count(), "jinja": jinja}
"""
PROCESS_PLAY = """
- name: Report what the task's process inherited
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Report it
      task_process:
      register: report

    - name: Show it
      ansible.builtin.debug:
        msg: "PROCESS frozen={{ report.frozen }} jinja={{ report.jinja | join(',') }}"
"""
PROCESS_LINE = re.compile(r"PROCESS frozen=(?P<frozen>\d+) jinja=(?P<jinja>[\w.,]*)")
SWITCHES = pytest.mark.parametrize(
    "switch", [{}, {"TASKSTACK_MITOGEN": "0"}], ids=["mitogen", "TASKSTACK_MITOGEN=0"]
)


def task_process_report(tmp_path: Path, with_mitogen, switch: dict[str, str]) -> dict[str, Any]:
    actions = tmp_path / "action_plugins"
    actions.mkdir()
    (actions / "task_process.py").write_text(PROCESS_ACTION)
    (tmp_path / "process.yml").write_text(PROCESS_PLAY)
    output = run_playbook(
        tmp_path, with_mitogen, "process.yml", ANSIBLE_ACTION_PLUGINS=str(actions), **switch
    )
    reports = [
        {
            "frozen": int(found["frozen"]),
            "jinja": [name for name in found["jinja"].split(",") if name],
        }
        for found in PROCESS_LINE.finditer(output)
    ]
    assert len(reports) == 1, output
    return reports[0]


@SWITCHES
def test_a_tasks_process_leaves_what_it_inherited_out_of_its_collections(
    tmp_path: Path, with_mitogen, switch: dict[str, str]
):
    """The freeze of mitogen_or_linear, with or without Mitogen (a full collection in the
    task's process walked everything the controller held)."""
    report = task_process_report(tmp_path, with_mitogen, switch)
    assert report["frozen"] > 10_000, report


@SWITCHES
def test_a_tasks_process_inherits_ansible_cores_filters_and_tests(
    tmp_path: Path, with_mitogen, switch: dict[str, str]
):
    """Loaded by mitogen_or_linear before the first task (each task's process imported them
    again to template its first filter or test)."""
    report = task_process_report(tmp_path, with_mitogen, switch)
    assert "ansible.plugins.filter.core" in report["jinja"], report
    assert "ansible.plugins.test.core" in report["jinja"], report


def test_under_ansibles_own_strategy_a_tasks_process_inherits_no_filters(
    tmp_path: Path, with_mitogen
):
    """The control of the test above: with ansible.builtin.linear nothing in the controller
    loads the filters before the fork, and the report says so."""
    report = task_process_report(
        tmp_path, with_mitogen, {"ANSIBLE_STRATEGY": "ansible.builtin.linear"}
    )
    assert "ansible.plugins.filter.core" not in report["jinja"], report
    assert report["frozen"] == 0, report
