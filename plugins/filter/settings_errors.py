# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""The preflight's one-line messages about settings, each naming the role to look at."""

from __future__ import annotations

DOCUMENTATION = r"""
name: settings_errors
short_description: One-line messages about misspelt settings or values of the wrong type, by role
description:
  - The preflight's settings check (role C(aws_preflight), C(tasks/settings_checks.yml)) asks
    Ansible once for every variable named after a checked role, and validates every role's
    settings in one C(ansible.builtin.validate_argument_spec) call. This turns what came back
    into one message per role at fault, in the order of the roles, each naming the role.
  - With O(kind=unknown), the input is the names of the variables set for the run. A name with a
    role's prefix that the role neither accepts nor defines in its C(vars/) is a misspelt
    setting (Ansible would ignore it).
  - With O(kind=spec), the input is the C(argument_errors) of the validation. Each is given to
    the role whose setting it names, and "is of type ... and we were unable to convert to ..."
    reads as "must be a ...".
  - An empty list means nothing to refuse.
positional: _input, known, kind
options:
  _input:
    description: Variable names (O(kind=unknown)) or argument errors (O(kind=spec)).
    type: list
    elements: str
    required: true
  known:
    description: What each role accepts, as the filter C(taskstack.aws.role_settings) returns it.
    type: dict
    required: true
  kind:
    description: What the input is.
    type: str
    choices: [unknown, spec]
    required: true
author:
  - taskstack maintainers (@taskstack)
"""

EXAMPLES = r"""
- name: Refuse settings that no role knows
  ansible.builtin.assert:
    that: unknown | length == 0
    fail_msg: "{{ unknown | join(' ') }}"
  vars:
    known: "{{ ['aws_network'] | taskstack.aws.role_settings('roles') }}"
    unknown: >-
      {{ query('ansible.builtin.varnames', '^aws_network_')
         | taskstack.aws.settings_errors(known, 'unknown') }}
"""

RETURN = r"""
_value:
  description: One message per role at fault, in the order of O(known).
  type: list
  elements: str
"""

import re
from typing import Any

from ansible.errors import AnsibleFilterError

# validate_argument_spec's message when a value does not convert, said as what to give instead.
NOT_CONVERTIBLE = re.compile(
    r"^argument '(\w+)' is of type (\w+) and we were unable to convert to (\w+).*$", re.DOTALL
)


def unknown_names(names: list[str], known: dict[str, Any]) -> list[str]:
    messages = []
    for role, settings in known.items():
        accepted = set(settings["options"]) | set(settings["internal"])
        unknown = sorted(n for n in set(names) if n.startswith(f"{role}_") and n not in accepted)
        if unknown:
            known_names = ", ".join(sorted(settings["options"]))
            messages.append(
                f"{', '.join(unknown)}: not a setting of role {role}; check the spelling against"
                f" roles/{role}/meta/argument_specs.yml (known: {known_names})."
            )
    return messages


def role_of(error: str, known: dict[str, Any]) -> str | None:
    """The role whose setting the error names: the first role, in order, with a setting in it."""
    words = set(re.findall(r"\w+", error))
    return next(
        (role for role, settings in known.items() if words & set(settings["options"])), None
    )


def spec_errors(errors: list[str], known: dict[str, Any]) -> list[str]:
    by_role: dict[str | None, list[str]] = {}
    for error in errors:
        said = NOT_CONVERTIBLE.sub(r"\1 must be a \3 (it is a \2 that does not convert)", error)
        by_role.setdefault(role_of(error, known), []).append(said)
    return [
        f"{'; '.join(said)} (role {role})." if role else f"{'; '.join(said)}."
        for role, said in sorted(by_role.items(), key=lambda item: order_of(item[0], known))
    ]


def order_of(role: str | None, known: dict[str, Any]) -> int:
    return list(known).index(role) if role in known else len(known)


def settings_errors(items: Any, known: Any, kind: Any) -> list[str]:
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise AnsibleFilterError("settings_errors: the input must be a list of strings")
    if not isinstance(known, dict):
        raise AnsibleFilterError("settings_errors: known must be what role_settings returns")
    if kind == "unknown":
        return unknown_names(items, known)
    if kind == "spec":
        return spec_errors(items, known)
    raise AnsibleFilterError(f"settings_errors: kind must be unknown or spec, not {kind!r}")


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"settings_errors": settings_errors}
