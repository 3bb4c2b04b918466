# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""One digest of the settings a run was given, for the checks and the rerun's fast path."""

from __future__ import annotations

DOCUMENTATION = r"""
name: vars_digest
short_description: SHA-256 of the variables whose names match a pattern, with their values
description:
  - Returns one SHA-256 (hexadecimal) of the name and templated value of every variable whose
    name matches one of the regular expressions given (searched as
    C(ansible.builtin.varnames) does), in the order of the names.
  - A value that cannot be templated, such as a setting derived from another whose value is
    wrong, counts as the error's message instead of failing the lookup, so that the check
    that judges that value (the role's own C(validate)) still runs and says what to fix.
  - Only the digest comes back; values may hold secrets.
options:
  _terms:
    description: Regular expressions of variable names.
    type: list
    elements: str
    required: true
author:
  - taskstack maintainers (@taskstack)
"""

EXAMPLES = r"""
- name: Digest every setting of the network role
  ansible.builtin.set_fact:
    network_settings_digest: "{{ lookup('taskstack.aws.vars_digest', '^aws_network_') }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: One SHA-256, hexadecimal.
  type: list
  elements: str
"""

import hashlib
import json
import re
from typing import Any

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase


def name_patterns(terms: list[Any]) -> list[re.Pattern[str]]:
    patterns = []
    for term in terms:
        if not isinstance(term, str):
            raise AnsibleError(f"vars_digest takes regular expressions of names, not {term!r}")
        try:
            patterns.append(re.compile(term))
        except re.error as exc:
            raise AnsibleError(f"vars_digest: {term!r} is not a regular expression: {exc}") from exc
    return patterns


def with_string_keys(value: Any) -> Any:
    """``value`` with every mapping's keys as strings: YAML allows {22: ssh, web: 80}, which
    JSON cannot sort."""
    if isinstance(value, dict):
        return {str(key): with_string_keys(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [with_string_keys(item) for item in value]
    return value


def sha256_of(values: dict[str, Any]) -> str:
    # default=str: a templated value may hold dates or other non-JSON types.
    text = json.dumps(with_string_keys(values), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class LookupModule(LookupBase):
    def run(
        self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[str]:
        if variables is None:
            raise AnsibleError("vars_digest: no variables to digest")
        self.set_options(var_options=variables, direct=kwargs)
        patterns = name_patterns(terms)
        names = sorted(name for name in variables if any(p.search(name) for p in patterns))
        return [sha256_of({name: self._templated(variables[name]) for name in names})]

    def _templated(self, value: Any) -> Any:
        try:
            return self._templar.template(value)
        except AnsibleError as exc:
            return {"templating error": exc.message}
