# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""One cloud-config document from the parts that several roles describe."""

from __future__ import annotations

DOCUMENTATION = r"""
name: cloud_config
short_description: Join parts of a cloud-init configuration into one cloud-config document
description:
  - Each part is a dictionary of cloud-config keys (C(packages), C(write_files), C(runcmd)...).
    Lists under the same key are joined in the order of the parts; any other value of a later
    part replaces an earlier one.
  - Returns the text of the document, starting with the C(#cloud-config) line cloud-init
    requires, with the keys in the order cloud-init runs them (bootcmd, package_update,
    packages, write_files, runcmd, then any other) and multi-line strings written as literal
    blocks, so that the document reads like one written by hand (C(cloud-init query userdata) on
    the host).
  - An empty list of parts gives an empty string (no user data).
positional: _input
options:
  _input:
    description: The parts, in order; C(null) entries are skipped.
    type: list
    elements: dict
    required: true
author:
  - taskstack maintainers (@taskstack)
"""

EXAMPLES = r"""
- name: Join the parts of two roles
  ansible.builtin.set_fact:
    user_data: >-
      {{ [{'packages': ['a']}, {'packages': ['b'], 'runcmd': [['true']]}]
         | taskstack.aws.cloud_config }}
"""

RETURN = r"""
_value:
  description: The document, or an empty string when there are no parts.
  type: str
  sample: "#cloud-config\npackages:\n- a\n- b\nruncmd:\n- - 'true'\n"
"""

from collections.abc import Mapping
from typing import Any

import yaml
from ansible.errors import AnsibleFilterError

HEADER = "#cloud-config\n"
# cloud-init's own order of the modules that read these keys (init, config, final stages).
KEY_ORDER = ("bootcmd", "package_update", "packages", "write_files", "runcmd")


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks; values Ansible hands over as its own str types."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(text), style=style)


_Dumper.add_representer(str, _represent_str)


def merge_parts(parts: list[Mapping[str, Any] | None]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for index, part in enumerate(parts):
        if part is None:
            continue
        if not isinstance(part, Mapping):
            raise AnsibleFilterError(
                f"cloud_config: part {index} is a {type(part).__name__}, not a dictionary"
            )
        for key, value in part.items():
            if isinstance(value, list) and isinstance(merged.get(key), list):
                merged[key] = merged[key] + list(value)
            else:
                merged[key] = list(value) if isinstance(value, list) else value
    return merged


def in_run_order(config: dict[str, Any]) -> dict[str, Any]:
    ordered = {key: config[key] for key in KEY_ORDER if key in config}
    ordered.update({key: value for key, value in config.items() if key not in ordered})
    return ordered


def _plain(value: Any) -> Any:
    """Ansible's tagged str/list/dict subclasses as the plain types SafeDumper knows."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def cloud_config(parts: list[Mapping[str, Any] | None]) -> str:
    if not isinstance(parts, list):
        raise AnsibleFilterError("cloud_config: give a list of dictionaries (the parts)")
    config = in_run_order(merge_parts(parts))
    if not config:
        return ""
    body = yaml.dump(
        _plain(config), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000
    )
    return HEADER + body


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cloud_config": cloud_config}
