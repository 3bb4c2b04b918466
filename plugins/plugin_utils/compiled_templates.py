# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compiled templates kept for the whole run and shared by its task workers.

ansible-core 2.19 compiles a template or an expression each time it evaluates one: Jinja
parses it, generates Python and compiles that, with no cache (ansible/ansible#86881, open).
A variable read by every task (a connection setting, a role default built on others) is
compiled again by every task's worker, and each worker is a fork of the main process that
keeps nothing when it ends. On this project's first converge that was about 2,600
compilations of a few hundred distinct templates.

Here each compilation's code object is kept (in the process, keyed by the source and the
settings that shape the code) and a worker that compiled something new appends it to a
spool file of the run; the main process reads the spool before it forks the next worker, so
each distinct template is compiled about once per run. Only the run's own processes read
the spool, in Ansible's temporary folder of the run (private to the user, removed at the
end); nothing outlives the run, so a change of Ansible, Jinja, a collection or a setting
can never meet an old compilation.

What is compiled is unchanged: the same Jinja code for the same source under the same
settings. Left out: templates compiled under a debugger (ansible-core's
_ANSIBLE_TEMPLAR_DEBUGGABLE_TEMPLATE_SOURCE), those compiled by Jinja for its own imports and
includes (they have a name), and the spool for an environment with other delimiters (a
``#jinja2:`` header), which only its own worker keeps.
"""

from __future__ import annotations

import base64
import json
import marshal
import os
import tempfile
import types
from collections.abc import Callable
from typing import Any

# Set on the installed compile method: installing twice (a second strategy of the run) is once.
INSTALLED_MARK = "taskstack_compiled_templates"

# The kinds of entry: a whole template (Environment.compile of its text) or one expression
# (Environment.compile_expression, whose text Jinja parses itself before compiling a tree).
TEMPLATE = "t"
EXPRESSION = "e"


def code_settings(environment: Any, escape_backslashes: bool) -> tuple[Any, ...]:
    """Everything besides the source that Jinja's code for it depends on, in one run."""
    finalize = environment.finalize
    return (
        f"{type(environment).__module__}.{type(environment).__qualname__}",
        environment.block_start_string,
        environment.block_end_string,
        environment.variable_start_string,
        environment.variable_end_string,
        environment.comment_start_string,
        environment.comment_end_string,
        environment.line_statement_prefix,
        environment.line_comment_prefix,
        environment.trim_blocks,
        environment.lstrip_blocks,
        environment.newline_sequence,
        environment.keep_trailing_newline,
        environment.optimized,
        environment.is_async,
        bool(environment.autoescape) if not callable(environment.autoescape) else "callable",
        None if finalize is None else getattr(finalize, "__qualname__", repr(finalize)),
        tuple(sorted(environment.extensions)),
        escape_backslashes,
    )


def entry_key(kind: str, source: str, settings: tuple[Any, ...]) -> str:
    return json.dumps([kind, str(source), list(settings)])


class CompiledTemplates:
    """The run's compiled code by entry key, and the spool that carries new entries from the
    workers to the main process."""

    def __init__(self, spool_path: str) -> None:
        self.spool_path = spool_path
        self.codes: dict[str, types.CodeType] = {}
        self.main_pid = os.getpid()
        self._read_up_to = 0

    def get(self, key: str) -> types.CodeType | None:
        return self.codes.get(key)

    def add(self, key: str, code: types.CodeType) -> None:
        self.codes[key] = code
        if os.getpid() == self.main_pid:
            return
        line = json.dumps([key, base64.b64encode(marshal.dumps(code)).decode("ascii")]) + "\n"
        # One write with O_APPEND: lines of workers that end at the same time do not mix.
        descriptor = os.open(self.spool_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line.encode("utf-8"))
        finally:
            os.close(descriptor)

    def absorb_spool(self) -> int:
        """Take in what the workers compiled since the last call (main process); how many."""
        try:
            with open(self.spool_path, "rb") as spool:
                spool.seek(self._read_up_to)
                data = spool.read()
        except FileNotFoundError:
            return 0
        complete = data[: data.rfind(b"\n") + 1]
        self._read_up_to += len(complete)
        taken = 0
        for line in complete.splitlines():
            key, code = json.loads(line)
            if key not in self.codes:
                self.codes[key] = marshal.loads(base64.b64decode(code))
                taken += 1
        return taken


def wrap_compile(
    original: Callable[..., types.CodeType],
    templates: CompiledTemplates,
    escape_backslashes: Callable[[], bool],
    captures: list[list[types.CodeType]],
) -> Callable[..., types.CodeType]:
    """Environment.compile that keeps the code of a template given as text, and hands the
    code of a tree to the compile_expression that is waiting for it."""

    def compile(self: Any, source: Any, name=None, filename=None, raw=False, defer_init=False):
        plain = name is None and filename is None and not raw and not defer_init
        if not plain or self._debuggable_template_source:
            return original(self, source, name, filename, raw, defer_init)
        if not isinstance(source, str):
            code = original(self, source)
            if captures:
                captures[-1].append(code)
            return code
        key = entry_key(TEMPLATE, source, code_settings(self, escape_backslashes()))
        code = templates.get(key)
        if code is None:
            code = original(self, source)
            templates.add(key, code)
        return code

    return compile


def wrap_compile_expression(
    original: Callable[..., Any],
    templates: CompiledTemplates,
    escape_backslashes: Callable[[], bool],
    captures: list[list[types.CodeType]],
    expression_class: type,
) -> Callable[..., Any]:
    """Environment.compile_expression that keeps the code of the expression's template."""

    def compile_expression(self: Any, source: Any, undefined_to_none: bool = True) -> Any:
        if self._debuggable_template_source or not isinstance(source, str):
            return original(self, source, undefined_to_none)
        key = entry_key(EXPRESSION, source, code_settings(self, escape_backslashes()))
        code = templates.get(key)
        if code is not None:
            template = self.template_class.from_code(self, code, self.make_globals(None), None)
            return expression_class(template, undefined_to_none)
        captures.append([])
        try:
            expression = original(self, source, undefined_to_none)
        finally:
            compiled = captures.pop()
        if len(compiled) == 1:
            templates.add(key, compiled[0])
        return expression

    return compile_expression


def install(spool_dir: str) -> CompiledTemplates | None:
    """Keep compiled templates for the run (see the module's text), from the main process
    before it forks any worker; None, with nothing changed, where ansible-core's templating is
    not laid out as this expects (another version than 2.19's)."""
    try:
        from ansible._internal._templating import _jinja_bits
        from jinja2.environment import TemplateExpression
    except ImportError:
        return None
    environment_class = getattr(_jinja_bits, "AnsibleEnvironment", None)
    context_class = getattr(_jinja_bits, "_TemplateCompileContext", None)
    needed = ("compile", "compile_expression", "_debuggable_template_source", "template_class")
    if environment_class is None or context_class is None:
        return None
    if not all(hasattr(environment_class, name) for name in needed):
        return None
    installed = environment_class.compile
    if getattr(installed, INSTALLED_MARK, None) is not None:
        return getattr(installed, INSTALLED_MARK)

    def escape_backslashes() -> bool:
        context = context_class.current(optional=True)
        return bool(context and context.escape_backslashes)

    descriptor, spool_path = tempfile.mkstemp(dir=spool_dir, prefix="compiled-templates-")
    os.close(descriptor)
    templates = CompiledTemplates(spool_path)
    captures: list[list[types.CodeType]] = []
    compile_method = wrap_compile(installed, templates, escape_backslashes, captures)
    setattr(compile_method, INSTALLED_MARK, templates)
    environment_class.compile = compile_method
    environment_class.compile_expression = wrap_compile_expression(
        environment_class.compile_expression,
        templates,
        escape_backslashes,
        captures,
        TemplateExpression,
    )
    return templates
