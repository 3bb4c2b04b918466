"""The modules' documentation renders and agrees with their argument_spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible_collections.taskstack.aws.tests.unit.module_runner import load_module

# Every module of the collection (the clone or the built copy), so none can be left out.
MODULES = sorted(
    p.stem for p in (Path(__file__).resolve().parents[4] / "plugins" / "modules").glob("[a-z]*.py")
)


class SpecCaptured(Exception):
    def __init__(self, spec: dict) -> None:
        super().__init__("argument_spec captured")
        self.spec = spec


def argument_spec_of(name: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The module's own options, as main() declares them (AnsibleAWSModule adds the AWS ones)."""
    module = load_module(name)

    def capture(**kwargs):
        raise SpecCaptured(kwargs["argument_spec"])

    # AWS modules build an AnsibleAWSModule; the others (host_state_info) an AnsibleModule.
    kind = "AnsibleAWSModule" if hasattr(module, "AnsibleAWSModule") else "AnsibleModule"
    monkeypatch.setattr(module, kind, capture)
    with pytest.raises(SpecCaptured) as captured:
        module.main()
    return captured.value.spec


@pytest.mark.parametrize("name", MODULES)
def test_documentation_matches_argument_spec(name, monkeypatch: pytest.MonkeyPatch):
    module = load_module(name)
    documented = yaml.safe_load(module.DOCUMENTATION)
    assert documented["module"] == name
    options = documented["options"]
    spec = argument_spec_of(name, monkeypatch)
    assert set(options) == set(spec)
    for option, declared in spec.items():
        doc = options[option]
        assert doc.get("type", "str") == declared.get("type", "str"), option
        assert doc.get("default") == declared.get("default"), option
        assert doc.get("choices") == declared.get("choices"), option
        assert doc.get("required", False) == declared.get("required", False), option
        assert doc.get("elements") == declared.get("elements"), option


@pytest.mark.parametrize("name", MODULES)
def test_examples_and_return_are_yaml(name):
    module = load_module(name)
    examples = yaml.safe_load(module.EXAMPLES)
    fqcn = f"taskstack.aws.{name}"
    # An _info module's examples also show what to do with its answer.
    assert examples and any(fqcn in task for task in examples)
    assert all(fqcn in task for task in examples if not name.endswith("_info")), fqcn
    returned = yaml.safe_load(module.RETURN)
    assert all("description" in value and "returned" in value for value in returned.values())
