"""The checks' template cache (callback_plugins/template_cache.py) gives the code a fresh
compilation gives, for every template and condition of the project, and compiles again where
what the code was made from changed. In process, a few seconds."""

from __future__ import annotations

import importlib.util
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

import pytest
import yaml
from ansible._internal._templating._jinja_bits import _TemplateCompileContext
from ansible.template import Templar, trust_as_template
from checks_env import checks_environment
from jinja2 import TemplateSyntaxError, pass_context

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
CONDITION_KEYS = {"when", "until", "failed_when", "changed_when"}


def load_plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "template_cache_under_test", HERE / "callback_plugins" / "template_cache.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PLUGIN = load_plugin()


def strings_of(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """("expression" | "template", text) for each condition and each templated string."""
    if isinstance(node, dict):
        for name, value in node.items():
            yield from strings_of(value, str(name))
    elif isinstance(node, list):
        for item in node:
            yield from strings_of(item, key)
    elif isinstance(node, str):
        if key in CONDITION_KEYS and "{{" not in node:
            yield "expression", node
        elif "{{" in node or "{%" in node:
            yield "template", node


def project_strings() -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    folders = ("roles", "playbooks", "inventory", "molecule")
    files = [p for folder in folders for p in (REPO_ROOT / folder).rglob("*.yml")]
    files += list(REPO_ROOT.glob("*.yml"))
    for path in files:
        if path.parent.name == "templates":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            found.update(strings_of(document))
    return sorted(found)


PROJECT_STRINGS = project_strings()


@pytest.fixture(scope="module")
def fresh_codes() -> dict[tuple[str, str], CodeType | str]:
    """The code ansible-core's own compilation gives each string, no cache installed."""
    assert PLUGIN.installed() is None
    environment = Templar(loader=None)._engine.environment
    return {(kind, text): code_of(environment, kind, text) for kind, text in PROJECT_STRINGS}


@pytest.fixture
def environment(tmp_path: Path) -> Iterator[Any]:
    assert PLUGIN.install(str(tmp_path / "cache"))
    try:
        yield Templar(loader=None)._engine.environment
    finally:
        PLUGIN.uninstall()


def cache() -> Any:
    found = PLUGIN.installed()
    assert found is not None
    return found


def code_of(environment: Any, kind: str, text: str) -> CodeType | str:
    """The compiled code, or the error a string that does not compile here raises (a filter of
    a collection this process cannot find: the same in both)."""
    # As ansible-core compiles a task's strings: backslashes in its Jinja literals kept.
    try:
        with _TemplateCompileContext(escape_backslashes=True):
            if kind == "template":
                return environment.compile(text)
            expression = environment.compile_expression(text, False)
        return expression._template.root_render_func.__code__
    except Exception as error:
        return f"{type(error).__name__}: {error}"


def test_the_project_has_templates_and_conditions_to_compare() -> None:
    kinds = [kind for kind, _ in PROJECT_STRINGS]
    assert kinds.count("template") > 500 and kinds.count("expression") > 100, len(kinds)


def test_every_template_and_condition_of_the_project_gets_the_code_of_a_fresh_compile(
    fresh_codes: dict[tuple[str, str], CodeType | str], environment: Any
) -> None:
    stored = {key: code_of(environment, *key) for key in fresh_codes}
    # What another task's process of the run finds: the folder only.
    cache().entries.clear()
    loaded = {key: code_of(environment, *key) for key in fresh_codes}
    compiled = [key for key, code in fresh_codes.items() if isinstance(code, CodeType)]
    assert len(compiled) > 0.9 * len(fresh_codes)
    assert len(list(Path(cache().folder).iterdir())) == len(compiled)
    differ = [key for key, code in fresh_codes.items() if not code == stored[key] == loaded[key]]
    assert differ == []


def render(text: str, **variables: Any) -> Any:
    return Templar(loader=None, variables=variables).template(trust_as_template(text))


def test_a_template_renders_from_the_folder_without_compiling(
    environment: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "{{ names | map('upper') | join(',') if names | length > 1 else 'one' }}"
    assert render(text, names=["a", "b"]) == "A,B"
    cache().entries.clear()
    monkeypatch.setattr(type(environment), "_parse", None)  # compiling now fails
    assert render(text, names=["a", "b"]) == "A,B"
    assert render(text, names=["a"]) == "one"


def test_the_same_text_under_other_delimiters_is_compiled_for_them(environment: Any) -> None:
    """A `#jinja2:` header changes the syntax the rest of the template is read with."""
    text = "[[ 1 + 1 ]] {{ 1 }}"
    assert render(text) == "[[ 1 + 1 ]] 1"
    header = "#jinja2:variable_start_string:'[[',variable_end_string:']]'\n"
    assert render(header + text) == "2 {{ 1 }}"


def test_a_filter_that_now_takes_its_context_is_compiled_again(environment: Any) -> None:
    templar = Templar(loader=None, variables={"word": "x"})
    engine_environment = templar._engine.environment
    engine_environment.filters["twice"] = lambda value: value * 2
    assert templar.template(trust_as_template("{{ word | twice }}")) == "xx"

    @pass_context
    def twice_with_context(context: Any, value: str) -> str:
        return f"{value * 2}{'!' if context else ''}"

    engine_environment.filters["twice"] = twice_with_context
    cache().entries.clear()
    assert templar.template(trust_as_template("{{ word | twice }}")) == "xx!"


def test_a_damaged_entry_is_compiled_again(environment: Any) -> None:
    assert render("{{ 1 + n }}", n=1) == 2
    cache().entries.clear()
    for entry in Path(cache().folder).iterdir():
        entry.write_bytes(b"not marshal")
    assert render("{{ 1 + n }}", n=2) == 3


def test_a_template_that_does_not_compile_fails_as_before_and_is_not_kept(
    environment: Any,
) -> None:
    with pytest.raises(TemplateSyntaxError) as cached_error:
        environment.compile("{{ x | }}")
    assert list(Path(cache().folder).iterdir()) == []
    PLUGIN.uninstall()
    with pytest.raises(TemplateSyntaxError) as fresh_error:
        Templar(loader=None)._engine.environment.compile("{{ x | }}")
    assert str(cached_error.value) == str(fresh_error.value)


def test_uninstalled_the_environment_has_its_own_methods_back(tmp_path: Path) -> None:
    from ansible._internal._templating._jinja_bits import AnsibleEnvironment

    own = AnsibleEnvironment.compile, AnsibleEnvironment.compile_expression
    assert PLUGIN.install(str(tmp_path))
    assert AnsibleEnvironment.compile is not own[0]
    PLUGIN.uninstall()
    assert (AnsibleEnvironment.compile, AnsibleEnvironment.compile_expression) == own


def test_the_checks_runs_load_it(tmp_path: Path) -> None:
    """checks_env.py's environment enables the callback in a real run (else the cases would
    only be slower, with every test green)."""
    (tmp_path / "play.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        '    - ansible.builtin.debug:\n        msg: "{{ 1 + 1 }}"\n'
    )
    run = subprocess.run(
        ["ansible-playbook", "-vvv", "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml")],
        cwd=REPO_ROOT,
        env=checks_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert PLUGIN.IN_USE in run.stdout, run.stdout[-3000:]
    assert PLUGIN.NOT_IN_USE not in run.stdout + run.stderr
