# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""The settings each role accepts, read from its files in one pass."""

from __future__ import annotations

DOCUMENTATION = r"""
name: role_settings
short_description: The settings a list of roles accept, from their argument specs and vars
description:
  - For each role named in the input, reads C(<roles_dir>/<role>/meta/argument_specs.yml) and
    returns the options of its C(validate) entry point (else C(main)) without their defaults,
    and the names its C(vars/*.yml) files define (internal names, settings of the OS too).
  - The preflight check uses it to refuse a misspelt setting and to check the types of the
    values set for a run. Reading the files in Python takes a few milliseconds, where the same
    work as a looped template took seconds on every run.
positional: _input, roles_dir
options:
  _input:
    description: Role names.
    type: list
    elements: str
    required: true
  roles_dir:
    description: The folder holding the roles.
    type: path
    required: true
author:
  - taskstack maintainers (@taskstack)
"""

EXAMPLES = r"""
- name: List the settings of the network role
  ansible.builtin.debug:
    msg: "{{ (['aws_network'] | taskstack.aws.role_settings('roles')).aws_network.options }}"
"""

RETURN = r"""
_value:
  description: Role name to C(options) (argument spec, defaults removed) and C(internal) (names).
  type: dict
"""

from pathlib import Path
from typing import Any

import yaml
from ansible.errors import AnsibleFilterError

# libyaml's parser when PyYAML has it: every run reads all the roles' argument specs.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def without_defaults(spec: Any) -> Any:
    """The spec with every 'default' key removed, at every depth: defaults are templates."""
    if isinstance(spec, dict):
        return {k: without_defaults(v) for k, v in spec.items() if k != "default"}
    if isinstance(spec, list):
        return [without_defaults(item) for item in spec]
    return spec


def read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise AnsibleFilterError(f"role_settings: cannot read {path}: {exc}") from exc


def settings_of(role_dir: Path) -> dict[str, Any]:
    specs = (read_yaml(role_dir / "meta" / "argument_specs.yml") or {}).get("argument_specs", {})
    entry = specs.get("validate") or specs.get("main") or {}
    internal: list[str] = []
    for vars_file in sorted((role_dir / "vars").glob("*.yml")):
        internal += list(read_yaml(vars_file) or {})
    return {"options": without_defaults(entry.get("options") or {}), "internal": internal}


def role_settings(roles: Any, roles_dir: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(roles, list) or not isinstance(roles_dir, str):
        raise AnsibleFilterError("role_settings needs a list of role names and the roles folder")
    return {role: settings_of(Path(roles_dir) / role) for role in roles}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"role_settings": role_settings}
