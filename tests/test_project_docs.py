"""Every variable a user can set is validated by its role and documented; make help pastes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
ROLES = sorted(p.parent.parent for p in REPO_ROOT.glob("roles/*/defaults/main.yml"))
GROUP_VARS = sorted(REPO_ROOT.glob("inventory/group_vars/**/*.yml"))


def variables_in(path: Path) -> set[str]:
    return set(yaml.safe_load(path.read_text()) or {})


def documented(variable: str, *readmes: Path) -> bool:
    text = "\n".join(p.read_text() for p in readmes if p.exists())
    wildcards = re.findall(r"`([a-z_]+)_\*`", text)
    return f"`{variable}`" in text or any(variable.startswith(w + "_") for w in wildcards)


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_role_default_is_in_the_role_argument_spec(role: Path):
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    declared = set(specs["main"]["options"])
    assert variables_in(role / "defaults" / "main.yml") <= declared


# What each argument_specs type accepts as a value written in YAML.
SPEC_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "path": str,
    "int": int,
    "float": (int, float),
    "bool": bool,
    "list": list,
    "dict": dict,
    "raw": object,
}


def is_template(value: object) -> bool:
    """A default derived from the project description ("{{ project_name }}-vpc"): its type is
    known once Ansible renders it."""
    return isinstance(value, str) and value.startswith("{{") and value.endswith("}}")


def type_agrees(value: object, spec_type: str) -> bool:
    if is_template(value):
        return True
    # bool is an int in Python, not in a spec.
    if isinstance(value, bool) and spec_type not in ("bool", "raw"):
        return False
    return isinstance(value, SPEC_TYPES[spec_type])


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_role_default_is_its_argument_spec_default(role: Path):
    """defaults/main.yml sets the values; the spec (ansible-doc -t role) must show the same."""
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    for entry, spec in specs.items():
        for name, option in spec.get("options", {}).items():
            where = f"{role.name} {entry}: {name}"
            if name not in defaults:
                assert "default" not in option, f"{where}: a spec default that defaults lack"
                continue
            assert "default" in option, f"{where}: {defaults[name]!r} in defaults, none in spec"
            assert option["default"] == defaults[name], f"{where}: spec and defaults differ"
            spec_type = option.get("type", "str")
            assert type_agrees(defaults[name], spec_type), f"{where}: not a {spec_type}"
            if spec_type == "list" and "elements" in option and not is_template(defaults[name]):
                for item in defaults[name]:
                    assert type_agrees(item, option["elements"]), f"{where}: {item!r}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_role_variable_is_prefixed_with_the_role_name(role: Path):
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    for entry in specs.values():
        for name in entry["options"]:
            assert name.startswith(f"{role.name}_"), name


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_role_setting_is_described_in_its_argument_spec(role: Path):
    """The spec is the documentation (docs/roles.md, ansible-doc -t role): no blank entry."""
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    for name, option in specs["main"]["options"].items():
        assert str(option.get("description", "")).strip(), f"{role.name}: {name} has no description"


def test_the_role_settings_page_is_generated_from_the_specs():
    """docs/roles.md is what docs/role_docs.py makes of the specs today (`make docs`)."""
    check = subprocess.run(
        [sys.executable, str(REPO_ROOT / "docs" / "role_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("path", GROUP_VARS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_project_variable_is_in_the_readme(path: Path):
    for variable in variables_in(path):
        assert documented(variable, REPO_ROOT / "README.md"), variable


def declared_settings(role: Path) -> set[str]:
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return {name for entry in specs.values() for name in entry["options"]}


@pytest.mark.parametrize("path", GROUP_VARS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_role_setting_the_project_sets_is_declared_by_that_role(path: Path):
    """What preflight's misspelling check enforces at run time, checked on the repository."""
    for variable in variables_in(path):
        owners = [role for role in ROLES if variable.startswith(f"{role.name}_")]
        for role in owners:
            assert variable in declared_settings(role), (
                f"{variable} is not a setting of {role.name}"
            )


def test_make_help_prints_commands_that_work_when_pasted():
    """`make help` shows the ## comments as written: a make-escaped `$$` would break a paste."""
    shown = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert 'eval "$(make -s local-env)"' in shown
    assert "$$" not in shown
