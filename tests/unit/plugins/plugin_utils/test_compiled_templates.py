"""plugin_utils/compiled_templates.py: each distinct template compiled once per run, shared by
the task workers through the run's spool, with the results Ansible gives without it."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ansible._internal._templating import _jinja_bits
from ansible.template import Templar, trust_as_template
from ansible_collections.taskstack.aws.plugins.plugin_utils import compiled_templates

Environment = _jinja_bits.AnsibleEnvironment


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What Jinja really compiles (its own Environment.compile), as text or as a tree."""
    seen: list[str] = []
    jinja_compile = Environment.compile

    def counted(self, source, *args, **kwargs):
        seen.append(source if isinstance(source, str) else "<tree>")
        return jinja_compile(self, source, *args, **kwargs)

    monkeypatch.setattr(Environment, "compile", counted)
    return seen


@pytest.fixture
def installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, compiles: list[str]
) -> Iterator[compiled_templates.CompiledTemplates]:
    """The cache installed over the counting compile; both taken back after the test."""
    monkeypatch.setattr(Environment, "compile_expression", Environment.compile_expression)
    templates = compiled_templates.install(str(tmp_path))
    assert templates is not None
    yield templates


def render(template: str, **variables) -> object:
    return Templar(loader=None, variables=variables).template(trust_as_template(template))


def condition(expression: str, **variables) -> bool:
    return Templar(loader=None, variables=variables).evaluate_conditional(
        trust_as_template(expression)
    )


def test_a_template_is_compiled_once_and_gives_the_same_result(installed, compiles: list[str]):
    assert render("{{ a + 1 }}", a=1) == 2
    assert render("{{ a + 1 }}", a=41) == 42
    assert render("{{ a | string }}-{{ b }}", a=1, b="x") == "1-x"
    assert compiles == ["{{ a + 1 }}", "{{ a | string }}-{{ b }}"]


def test_an_expression_is_compiled_once_and_gives_the_same_result(installed, compiles: list[str]):
    assert condition("a > 1 and b is defined", a=2, b=0) is True
    assert condition("a > 1 and b is defined", a=2) is False
    assert condition("a > 1 and b is defined", a=1, b=0) is False
    assert compiles == ["<tree>"]


def test_an_undefined_variable_still_fails_as_without_the_cache(installed):
    from ansible.errors import AnsibleUndefinedVariable

    for _attempt in range(2):
        with pytest.raises(AnsibleUndefinedVariable, match="'missing' is undefined"):
            render("{{ missing + 1 }}")


def test_a_syntax_error_is_reported_every_time_and_never_kept(installed, compiles: list[str]):
    from ansible.errors import AnsibleTemplateError

    for _attempt in range(2):
        with pytest.raises(AnsibleTemplateError):
            render("{{ a + }}", a=1)
    assert installed.codes == {}


def test_other_delimiters_are_another_entry(installed, compiles: list[str]):
    """A `#jinja2:` header gives the template an environment of other delimiters: the same
    text must not reuse the code compiled under the usual ones."""
    body = "<< a >>{{ a }}"
    assert render(body, a=1) == "<< a >>1"
    assert render(f"#jinja2:variable_start_string:'<<', variable_end_string:'>>'\n{body}", a=1) == (
        "1{{ a }}"
    )
    assert len(compiles) == 2


def forked(work: Callable[[], object]) -> None:
    """Runs `work` in a fork of this process, as Ansible runs each task's worker."""
    process = multiprocessing.get_context("fork").Process(target=work)
    process.start()
    process.join(30)
    assert process.exitcode == 0


def test_what_a_worker_compiled_reaches_the_next_worker_through_the_main_process(
    installed, compiles: list[str]
):
    forked(lambda: render("{{ b * 2 }}", b=2))
    assert compiles == [], "the worker's compilation happened in the worker"
    assert installed.absorb_spool() == 1
    assert installed.absorb_spool() == 0, "each line is taken once"
    assert render("{{ b * 2 }}", b=3) == 6
    assert compiles == [], "the main process got the worker's code, not the text"

    marker = installed.spool_path + ".compiled"

    def next_worker() -> None:
        render("{{ b * 2 }}", b=4)
        Path(marker).write_text(repr(compiles))

    forked(next_worker)
    assert Path(marker).read_text() == "[]"


def test_only_complete_lines_of_the_spool_are_taken(installed):
    forked(lambda: render("{{ c }}", c=1))
    with open(installed.spool_path, "rb") as spool:
        written = spool.read()
    half = len(written) // 2
    Path(installed.spool_path).write_bytes(written[:half])
    assert installed.absorb_spool() == 0
    with open(installed.spool_path, "ab") as spool:
        spool.write(written[half:])
    assert installed.absorb_spool() == 1


def test_the_main_process_writes_no_spool(installed):
    render("{{ d }}", d=1)
    assert len(installed.codes) == 1
    assert os.path.getsize(installed.spool_path) == 0


def test_installing_twice_is_installing_once(installed, tmp_path: Path):
    again = compiled_templates.install(str(tmp_path))
    assert again is installed
    assert len(list(tmp_path.glob("compiled-templates-*"))) == 1


def test_a_templating_laid_out_otherwise_is_left_as_it_is(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.delattr(_jinja_bits, "_TemplateCompileContext")
    compile_before = Environment.compile
    assert compiled_templates.install(str(tmp_path)) is None
    assert Environment.compile is compile_before
    assert list(tmp_path.iterdir()) == []
