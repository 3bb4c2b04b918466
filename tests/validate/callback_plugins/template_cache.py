"""Jinja templates compiled once per run instead of once per task and host, for the checks'
playbooks (tests/validate): their run has a host per case, 117 of them, and every task.

ansible-core 2.19 compiles each template string it renders (a task's arguments, each variable a
task reads, each `when:`) from its source, in the process it forks for that task and host, and
the code dies with that process: the validation fixture compiled the same strings once per case.
That was about 45 % of the CPU of a task's process there (cProfile of each forked worker).

Here the compiled code of a template goes to a folder of the run's own (Ansible's local temporary
folder, private to the user and removed when the run ends), named by a digest of everything the
compilation reads: the source, the environment's syntax settings, Ansible's compile-time options,
the versions of Python, Jinja and ansible-core. A later process of the same run loads it
(marshal) instead of compiling. Jinja's generated code also depends on how each filter and test
it calls takes its context (`pass_context`...), which comes from the installed plugins: an entry
keeps those and is compiled again when one differs. A template that fails to compile is not
cached: it fails as before. tests/validate/test_template_cache.py compares the cached code with
a fresh compilation for every template of the project.

Only the checks' runs use it (tests/validate/checks_env.py): a run of the project has one host,
whose tasks each compile their own templates, and there it saved nothing measurable (an A/B of
tests/integration/test_bad_input.py, 57 runs). It patches ansible-core's private templating and
turns itself off, with nothing cached, where those internals are not what it knows.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import marshal
import os
import re
import sys
import threading
from types import CodeType
from typing import Any

from ansible.plugins.callback import CallbackBase

# Bumped when what an entry holds changes.
ENTRY_FORMAT = 1
# Jinja's generated code binds each filter and test it calls in lines like
# `t_1 = environment.filters['community.general.dict_kv']`.
DEPENDENCY = re.compile(r"environment\.(filters|tests)\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]")
MISSING = "-"
IN_USE = "template_cache: compiled templates kept for this run in"
NOT_IN_USE = (
    "template_cache: this ansible-core's templating is not the one the cache knows (2.19): "
    "templates are compiled as usual, the validation cases run slower"
)

Dependencies = tuple[tuple[str, str, str], ...]


class TemplateCache:
    """Compiled template code in a folder, by a digest of what the compilation reads."""

    def __init__(self, folder: str, salt: str) -> None:
        self.folder = folder
        self.salt = salt
        self.entries: dict[str, tuple[CodeType, Dependencies]] = {}

    def key(self, *parts: Any) -> str:
        return hashlib.sha256(repr((self.salt, parts)).encode()).hexdigest()

    def load(self, key: str) -> tuple[CodeType, Dependencies] | None:
        found = self.entries.get(key)
        if found is not None:
            return found
        try:
            with open(os.path.join(self.folder, key), "rb") as entry:
                fmt, code, dependencies = marshal.load(entry)
        except (OSError, EOFError, ValueError, TypeError):
            return None
        if fmt != ENTRY_FORMAT or not isinstance(code, CodeType):
            return None
        self.entries[key] = (code, dependencies)
        return code, dependencies

    def store(self, key: str, code: CodeType, dependencies: Dependencies) -> None:
        self.entries[key] = (code, dependencies)
        # Written aside and renamed: a task's process reading it meanwhile sees all or nothing.
        path = os.path.join(self.folder, key)
        partial = f"{path}.{os.getpid()}.{threading.get_ident()}"
        try:
            with open(partial, "wb") as entry:
                marshal.dump((ENTRY_FORMAT, code, dependencies), entry)
            os.replace(partial, path)
        except OSError:
            # A full disk costs the saving, not the run.
            with contextlib.suppress(OSError):
                os.unlink(partial)


def dependencies_of(python_source: str) -> list[tuple[str, str]]:
    """The (filters|tests, name) pairs Jinja's generated Python looks up."""
    return sorted(
        {(kind, ast.literal_eval(name)) for kind, name in DEPENDENCY.findall(python_source)}
    )


def pass_arg_of(environment: Any, kind: str, name: str) -> str:
    """How the filter or test takes its context, as Jinja's code generator reads it."""
    from jinja2.utils import _PassArg

    function = getattr(environment, kind).get(name)
    if function is None:
        return MISSING
    pass_arg = _PassArg.from_obj(function)
    return pass_arg.name if pass_arg is not None else ""


def still_valid(environment: Any, dependencies: Dependencies) -> bool:
    try:
        return all(
            pass_arg_of(environment, kind, name) == pass_arg
            for kind, name, pass_arg in dependencies
        )
    except Exception:
        # A plugin that fails to load: compiling again raises what it raised before.
        return False


def install(folder: str) -> bool:
    """Patch ansible-core's Jinja environment to use a cache in folder; False where it cannot."""
    try:
        import jinja2
        from ansible import release
        from ansible._internal._templating import _jinja_bits as bits

        environment_class = bits.AnsibleEnvironment
        compile_context = bits._TemplateCompileContext
        config = bits._TemplateConfig
        override_fields = bits._TEMPLATE_OVERRIDE_FIELD_NAMES
        original_compile = environment_class.compile
        original_compile_expression = environment_class.compile_expression
        from jinja2.environment import TemplateExpression
    except (ImportError, AttributeError):
        return False
    if getattr(environment_class, "_taskstack_template_cache", None) is not None:
        return True
    os.makedirs(folder, mode=0o700, exist_ok=True)
    cache = TemplateCache(
        folder, f"{sys.version}|jinja {jinja2.__version__}|ansible-core {release.__version__}"
    )
    # An expression's template is compiled from a node tree, not a string: its code is caught
    # on its way through compile() and stored under the expression's own key.
    capture = threading.local()

    def settings(environment: Any) -> tuple[Any, ...]:
        context = compile_context.current(optional=True)
        return (
            type(environment).__qualname__,
            tuple(getattr(environment, name) for name in override_fields),
            tuple(sorted(environment.extensions)),
            environment.optimized,
            environment.is_async,
            repr(environment.autoescape),
            getattr(environment.finalize, "__qualname__", repr(environment.finalize)),
            context.escape_backslashes if context is not None else None,
            config.allow_embedded_templates,
        )

    def compiled(environment: Any, source: Any, name: Any, filename: Any, defer_init: bool):
        python_source = original_compile(environment, source, name, filename, True, defer_init)
        code = environment._compile(python_source, filename or "<template>")
        dependencies = tuple(
            (kind, dep_name, pass_arg_of(environment, kind, dep_name))
            for kind, dep_name in dependencies_of(python_source)
        )
        return code, dependencies

    def cached(environment: Any, key: str) -> CodeType | None:
        found = cache.load(key)
        if found is None or not still_valid(environment, found[1]):
            return None
        return found[0]

    def compile(self, source, name=None, filename=None, raw=False, defer_init=False):
        if raw or self._debuggable_template_source:
            return original_compile(self, source, name, filename, raw, defer_init)
        if not isinstance(source, str):
            code, dependencies = compiled(self, source, name, filename, defer_init)
            if getattr(capture, "slot", None) is not None:
                capture.slot.append((code, dependencies))
            return code
        key = cache.key("template", str(source), name, filename, defer_init, settings(self))
        code = cached(self, key)
        if code is None:
            code, dependencies = compiled(self, source, name, filename, defer_init)
            cache.store(key, code, dependencies)
        return code

    def compile_expression(self, source, undefined_to_none=True):
        if self._debuggable_template_source:
            return original_compile_expression(self, source, undefined_to_none)
        key = cache.key("expression", str(source), settings(self))
        code = cached(self, key)
        if code is not None:
            # What Jinja's compile_expression builds from the code it compiled.
            template = self.template_class.from_code(self, code, self.make_globals(None), None)
            return TemplateExpression(template, undefined_to_none)
        capture.slot = []
        try:
            expression = original_compile_expression(self, source, undefined_to_none)
            if len(capture.slot) == 1:
                cache.store(key, *capture.slot[0])
        finally:
            capture.slot = None
        return expression

    environment_class.compile = compile
    environment_class.compile_expression = compile_expression
    environment_class._taskstack_template_cache = (
        cache,
        original_compile,
        original_compile_expression,
    )
    return True


def installed() -> TemplateCache | None:
    """The cache ansible-core's Jinja environment uses, if one is installed."""
    from ansible._internal._templating._jinja_bits import AnsibleEnvironment

    found = getattr(AnsibleEnvironment, "_taskstack_template_cache", None)
    return found[0] if found else None


def uninstall() -> None:
    """Give ansible-core's Jinja environment its own compile methods back."""
    from ansible._internal._templating._jinja_bits import AnsibleEnvironment

    found = getattr(AnsibleEnvironment, "_taskstack_template_cache", None)
    if found:
        _, AnsibleEnvironment.compile, AnsibleEnvironment.compile_expression = found
        AnsibleEnvironment._taskstack_template_cache = None


DOCUMENTATION = """
name: template_cache
type: aggregate
short_description: Jinja templates compiled once per run (the checks' playbooks only)
description:
  - Installs a cache of compiled templates in the run's local temporary folder when the plugin
    is loaded, before the first task's process is forked.
requirements:
  - enabled in the callbacks_enabled setting
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "template_cache"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        from ansible import constants

        # Loaded in the controller when the run starts: every task's process inherits the patch.
        folder = os.path.join(constants.DEFAULT_LOCAL_TMP, "templates")
        if install(folder):
            self._display.vvv(f"{IN_USE} {folder}")
        else:
            self._display.warning(NOT_IN_USE)
