"""vars_digest: one digest of the matching settings, which a value that fails to template does
not stop."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.taskstack.aws.plugins.lookup.vars_digest import LookupModule

SETTINGS: dict[str, Any] = {
    "net_cidr": "10.0.0.0/16",
    "net_ports": trust_as_template("{{ net_rules | map(attribute='port') | list }}"),
    "net_rules": [{"name": "ssh", "port": 22}],
    "other_setting": "not digested",
}


def digest(variables: dict[str, Any], *patterns: str) -> str:
    loader = DataLoader()
    lookup = LookupModule(loader=loader, templar=Templar(loader=loader, variables=variables))
    (value,) = lookup.run(list(patterns), variables)
    return value


def test_the_same_settings_give_the_same_digest() -> None:
    assert digest(dict(SETTINGS), "^net_") == digest(dict(SETTINGS), "^net_")
    assert len(digest(SETTINGS, "^net_")) == 64


def test_a_changed_value_or_a_new_name_changes_it() -> None:
    before = digest(SETTINGS, "^net_")
    assert digest({**SETTINGS, "net_cidr": "10.1.0.0/16"}, "^net_") != before
    assert digest({**SETTINGS, "net_cidrr": "10.0.0.0/16"}, "^net_") != before
    # A derived value is digested as templated: its input counts.
    assert digest({**SETTINGS, "net_rules": [{"name": "ssh", "port": 2222}]}, "^net_") != before


def test_names_that_do_not_match_are_left_out() -> None:
    before = digest(SETTINGS, "^net_")
    assert digest({**SETTINGS, "other_setting": "changed"}, "^net_") == before
    assert digest({**SETTINGS, "other_setting": "changed"}, "^net_", "^other_") != before


def test_a_value_that_does_not_template_counts_as_its_error() -> None:
    broken = {**SETTINGS, "net_rules": {"ssh": 22}}  # no list of rules: net_ports cannot template
    first = digest(broken, "^net_")
    assert first == digest(dict(broken), "^net_")
    assert first != digest(SETTINGS, "^net_")


def test_a_mapping_with_number_and_string_keys_is_digested() -> None:
    ports = {**SETTINGS, "net_ports": {22: "ssh", "web": 80}}
    assert digest(ports, "^net_") == digest(dict(ports), "^net_")
    assert digest(ports, "^net_") != digest({**ports, "net_ports": {22: "ssh"}}, "^net_")


def test_a_pattern_that_is_not_a_regular_expression_is_refused() -> None:
    with pytest.raises(AnsibleError, match="is not a regular expression"):
        digest(SETTINGS, "^(net_")
