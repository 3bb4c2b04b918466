"""A clone is the collection taskstack.aws, with no install step.

ansible.cfg's collections_path finds collections/ansible_collections/taskstack/aws, a symlink to
the repository's root. (ansible-test sanity renders the modules' documentation on the built
collection; this checks what users of a clone run.)
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
# Every module of the collection, so that a new one cannot be left out.
MODULES = sorted(p.stem for p in (REPO_ROOT / "plugins" / "modules").glob("[a-z]*.py"))


def test_the_symlink_is_the_repository():
    link = REPO_ROOT / "collections" / "ansible_collections" / "taskstack" / "aws"
    assert link.is_symlink()
    assert link.resolve() == REPO_ROOT


def from_project_root(tool: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """One of the venv's Ansible commands, run from the project root as a user of a clone."""
    return subprocess.run(
        [str(Path(sys.executable).parent / tool), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def ansible_doc(plugin_type: str, names: list[str]) -> str:
    """What `ansible-doc -t <plugin_type>` shows for these plugins, run from the project root as
    a user of a clone would (ansible.cfg finds the collection), colours taken out."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"))
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    completed = from_project_root(
        "ansible-doc", "-t", plugin_type, *(f"taskstack.aws.{name}" for name in names), env=env
    )
    assert completed.returncode == 0, completed.stderr
    # ansible-test's sanity check counts any output on stderr as an error (a warning too).
    assert "[WARNING]" not in completed.stderr, completed.stderr
    return completed.stdout.replace("\x1b[1m", "").replace("\x1b[0m", "")


def test_ansible_doc_renders_every_module_from_the_project_root():
    shown = ansible_doc("module", MODULES)
    for name in MODULES:
        assert f"MODULE taskstack.aws.{name} ({REPO_ROOT}/collections/" in shown


def test_ansible_doc_renders_every_strategy_plugin_from_the_project_root():
    """A strategy plugin's DOCUMENTATION is YAML too: a colon in a sentence breaks it."""
    plugins = sorted(p.stem for p in (REPO_ROOT / "plugins" / "strategy").glob("[a-z]*.py"))
    shown = ansible_doc("strategy", plugins)
    for name in plugins:
        assert f"STRATEGY taskstack.aws.{name} ({REPO_ROOT}/collections/" in shown


# The largest committed files are the bench's results (~0.1 MB each); 14 MB of CHANGELOG.md
# once came from a scripted edit that replaced an empty string.
LARGEST_COMMITTED_FILE = 1_000_000


def test_no_committed_file_is_larger_than_a_megabyte():
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.decode()
    sizes = {
        name: (REPO_ROOT / name).stat().st_size
        for name in listed.split("\0")
        if name and (REPO_ROOT / name).is_file() and not (REPO_ROOT / name).is_symlink()
    }
    assert {n: s for n, s in sizes.items() if s > LARGEST_COMMITTED_FILE} == {}


# The task files and playbooks whose tasks run in the project's plays.
TASK_FILES = [
    *REPO_ROOT.glob("*.yml"),
    *REPO_ROOT.glob("playbooks/**/*.yml"),
    *REPO_ROOT.glob("roles/*/tasks/**/*.yml"),
    *REPO_ROOT.glob("roles/*/handlers/**/*.yml"),
    *REPO_ROOT.glob("embedded/playbooks/**/*.yml"),
]
AWS_MODULE_NAME = re.compile(r"\b((?:amazon|community|taskstack)\.aws)\.([a-z0-9_]+):")
# This collection's modules that take the region (and the other AWS options).
OWN_AWS_MODULES = {
    f"taskstack.aws.{name}"
    for name in MODULES
    if "amazon.aws.region.modules" in (REPO_ROOT / "plugins" / "modules" / f"{name}.py").read_text()
}


def collection_modules(collection: str) -> set[str]:
    """The module names of an installed collection (this one: the clone itself)."""
    if collection == "taskstack.aws":
        return set(MODULES)
    namespace, name = collection.split(".")
    package = importlib.import_module(f"ansible_collections.{namespace}.{name}")
    return {p.stem for p in (Path(package.__path__[0]) / "plugins" / "modules").glob("*.py")}


def test_the_stack_group_holds_exactly_the_aws_modules_the_project_runs():
    """group/taskstack.aws.stack gives each AWS play's modules the region (playbooks/): a module
    of an AWS collection used in a task but missing from it would run in another region."""
    groups = yaml.safe_load((REPO_ROOT / "meta" / "runtime.yml").read_text())["action_groups"]
    modules = {name: collection_modules(name) for name in ("amazon.aws", "community.aws")}
    modules["taskstack.aws"] = set(MODULES)
    used = set()
    for path in TASK_FILES:
        for collection, name in AWS_MODULE_NAME.findall(path.read_text()):
            if name in modules[collection]:
                used.add(f"{collection}.{name}")
    aws_modules_used = {m for m in used if not m.startswith("taskstack.")} | (
        used & OWN_AWS_MODULES
    )
    stack = {entry if "." in entry else f"taskstack.aws.{entry}" for entry in groups["stack"]}
    assert sorted(aws_modules_used - stack) == [], "used, but not given the play's region"
    assert sorted(stack - aws_modules_used) == [], "in the group, but no task uses it"
    assert "taskstack.aws.host_state_info" in used, "the scan finds the project's own modules"
    assert "taskstack.aws.host_state_info" not in OWN_AWS_MODULES, "it runs on the host"


# An amazon.aws module and one of this collection's, in a play whose only region is the
# group's module_defaults (none in the environment); the endpoint answers nothing.
REGION_PLAY = """
- name: Give the region through a module_defaults group
  hosts: localhost
  connection: local
  gather_facts: false
  {defaults}
  tasks:
    - name: Read the VPCs
      amazon.aws.ec2_vpc_net_info:
      ignore_errors: true
    - name: Read the project's resources
      taskstack.aws.tagged_resources_info:
        tags: {{Project: nothing}}
      ignore_errors: true
"""
NO_REGION = "module requires a region and none was found"


@pytest.mark.parametrize("group", ["stack", "aws", None], ids=["stack", "aws", "no-group"])
def test_each_group_gives_the_region_to_amazon_aws_and_project_modules(tmp_path, group):
    defaults = f"module_defaults: {{group/taskstack.aws.{group}: {{region: eu-west-3}}}}"
    playbook = tmp_path / "region.yml"
    playbook.write_text(REGION_PLAY.format(defaults=defaults if group else ""))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))},
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "not-a-secret",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_MAX_ATTEMPTS": "1",
    }
    completed = from_project_root("ansible-playbook", str(playbook), env=env)
    output = " ".join(completed.stdout.split())
    assert completed.returncode == 0, output[-2000:]
    assert output.count("ignoring") == 2, output[-2000:]
    for module in ("amazon.aws.ec2_vpc_net_info", "taskstack.aws.tagged_resources_info"):
        refused = f"The {module} {NO_REGION}" in output
        assert refused is (group is None), output[-2000:]


def role_includes(tasks: list[dict], conditional: bool = False) -> list[tuple[dict, bool]]:
    """The include_role arguments of a play's tasks, in order, blocks included, each with
    whether it may be skipped (a `when` on it or on a block around it, or in a rescue)."""
    found = []
    for task in tasks:
        skippable = conditional or "when" in task
        found += role_includes(task.get("block") or [], skippable)
        found += role_includes(task.get("rescue") or [], True)
        found += role_includes(task.get("always") or [], skippable)
        if "ansible.builtin.include_role" in task:
            found.append((task["ansible.builtin.include_role"], skippable))
    return found


def entry_point_options(role: str, entry_point: str) -> dict | None:
    """The options the entry point validates; None for a role name given as a template or an
    entry point without a spec."""
    spec_file = REPO_ROOT / "roles" / role / "meta" / "argument_specs.yml"
    if "{{" in role or not spec_file.is_file():
        return None
    entry = yaml.safe_load(spec_file.read_text())["argument_specs"].get(entry_point)
    return None if entry is None else entry.get("options", {})


@pytest.mark.parametrize(
    "playbook", sorted((REPO_ROOT / "playbooks").glob("*.yml")), ids=lambda path: path.name
)
def test_a_role_skips_its_argument_validation_only_after_the_same_options_were_validated(
    playbook: Path,
):
    """`rolespec_validate: false` (the value itself, not a template: those are conditions
    tested end to end) is right only after an include of the same role, earlier in the play,
    whose entry point validated the same options, and which always runs (no `when`): the
    values cannot have changed in between."""
    for play in yaml.safe_load(playbook.read_text()) or []:
        validated: list[tuple[str, dict]] = []
        for include, skippable in role_includes(play.get("tasks") or []):
            role, entry_point = include["name"], include.get("tasks_from", "main")
            options = entry_point_options(role, entry_point)
            if include.get("rolespec_validate", True) is False:
                assert options is not None and (role, options) in validated, (
                    f"{playbook.name}: {role} {entry_point} skips its validation, but no earlier "
                    "include in the play that always runs validated the same options"
                )
            elif include.get("rolespec_validate", True) is True and not skippable:
                validated.append((role, options))
