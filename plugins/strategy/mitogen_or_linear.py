# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION and EXAMPLES come before the imports.
# ruff: noqa: E402
"""Mitogen's linear strategy when Mitogen loads, else ansible.builtin.linear with one warning."""

from __future__ import annotations

DOCUMENTATION = r"""
name: mitogen_or_linear
short_description: Mitogen for Ansible's linear strategy, or ansible.builtin.linear
description:
  - Runs plays as C(ansible.builtin.linear) does (every host finishes a task before the next
    task starts), with Mitogen for Ansible's persistent interpreters when the C(mitogen) Python
    package (requirements.txt) can be imported by the Python that runs Ansible. Each host keeps
    one Python for the whole run instead of one per task, and modules and their dependencies
    are sent once. On this project's rerun that is about 1.7 times faster (issue 17).
  - Found by its import name (C(ansible_mitogen)), not by a path under site-packages, so the
    setting in ansible.cfg does not depend on the Python version or where the virtualenv is.
  - When Mitogen cannot be loaded (not installed, or an ansible-core it does not support), the
    run goes on with C(ansible.builtin.linear) and one warning line that says why and how to
    get Mitogen back or silence the warning.
  - With Mitogen, the installed collections are listed once per run, before any task's worker
    is forked, for Mitogen's planner (which lists them for every module of a collection).
  - With Mitogen, a collection's module started with C(async) finishes, because its imports
    from the controller are loaded before the job detaches (Mitogen alone left the job waiting
    for ever for C(ansible_collections), mitogen-hq/mitogen#835).
  - With Mitogen, a task on localhost whose Python is the one running Ansible imports the
    C(ansible) and C(ansible_mitogen) packages from disk, with their bytecode, instead of
    receiving their source from the controller and compiling it on every run. Other Pythons
    (the EC2 host's) receive them from the controller as Mitogen sends them.
  - With or without Mitogen, ansible-core's own filters and tests are loaded in the controller
    before the first task, so the process forked for each task inherits them instead of
    importing them again to template its first filter or test.
  - With or without Mitogen, the objects that exist when the first play starts are left out of
    later garbage collections (C(gc.freeze)), in the controller and in each process forked from
    it (one per task and host), whose full collections walked them all to free a few hundred.
  - The off switch is C(TASKSTACK_MITOGEN=0) in the environment (no warning). Setting
    C(ANSIBLE_STRATEGY=linear) chooses Ansible's own strategy as for any project.
  - Set in ansible.cfg (C([defaults] strategy)).
author:
  - taskstack maintainers (@taskstack)
options: {}
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# strategy = taskstack.aws.mitogen_or_linear
#
# One run without Mitogen:
#   TASKSTACK_MITOGEN=0 ansible-playbook site.yml
"""

import functools
import gc
import os
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any

from ansible.plugins.loader import strategy_loader
from ansible.utils.display import Display

display = Display()

OFF_SWITCH = "TASKSTACK_MITOGEN"
# Values of OFF_SWITCH that mean "no Mitogen" (anything else, or unset, means use it).
OFF_VALUES = frozenset({"0", "false", "no", "off"})
FALLBACK_WARNING = (
    "Mitogen for Ansible cannot be loaded ({reason}): running with ansible.builtin.linear. "
    "Install the mitogen version pinned in requirements.txt into this Python, "
    f"or set {OFF_SWITCH}=0 to use ansible.builtin.linear without this warning."
)

# Printed with -v when Mitogen runs the plays.
STRATEGY_LINE = "strategy: Mitogen for Ansible's linear strategy (taskstack.aws.mitogen_or_linear)"

# By its short name, as Mitogen's own mitogen_linear does: outside a playbook run (the tests)
# the loader cannot resolve the ansible.builtin collection name yet.
LinearStrategy = strategy_loader.get("linear", class_only=True)


def mitogen_is_switched_off() -> bool:
    return os.environ.get(OFF_SWITCH, "").strip().lower() in OFF_VALUES


def load_mitogen_mixin() -> tuple[type | None, str]:
    """Mitogen's strategy mixin, or None and why it cannot be loaded.

    Any exception counts, not only ImportError: ansible_mitogen raises AnsibleError for an
    ansible-core it does not support, and may fail in other ways on one newer than it knows
    (it patches ansible-core's internals). A run without Mitogen is slower, never wrong.
    """
    try:
        # loaders first: it refuses an ansible-core older than Mitogen supports.
        import ansible_mitogen.loaders
        import ansible_mitogen.strategy
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
    return ansible_mitogen.strategy.StrategyMixin, ""


def strategy_bases() -> tuple[tuple[type, ...], str]:
    """The bases of this run's StrategyModule (Mitogen's mixin first when it is wanted and
    loads), and why Mitogen could not be loaded ("" when it was, or is switched off)."""
    if mitogen_is_switched_off():
        return (LinearStrategy,), ""
    mixin, reason = load_mitogen_mixin()
    if mixin is None:
        return (LinearStrategy,), reason
    return (mixin, LinearStrategy), ""


# Chosen when the plugin loader imports this file, once per run, silently: importing the file
# is not running a play (ansible-test's import check, ansible-doc).
# One name per line: ansible-doc reads this file's assignments and warns on a tuple.
STRATEGY_CHOICE = strategy_bases()
BASES = STRATEGY_CHOICE[0]
FALLBACK_REASON = STRATEGY_CHOICE[1]


def announce_strategy() -> None:
    """Say which strategy runs: one warning line for the fallback, the choice itself with -v.
    Display.warning prints a given message once per run, however many plays start."""
    if mitogen_is_switched_off():
        display.v(f"{OFF_SWITCH}=0: strategy ansible.builtin.linear")
    elif FALLBACK_REASON:
        display.warning(FALLBACK_WARNING.format(reason=FALLBACK_REASON))
    else:
        display.v(STRATEGY_LINE)


def list_collection_dirs_once() -> None:
    """List the installed collections once, in the process Ansible forks each task's worker
    from, for Mitogen's planner.

    For every module of a collection (amazon.aws's, this project's), the planner lists the
    folders of all installed collections (ansible_mitogen.planner._load_collections) to put
    them on the target's sys.path, in the task's worker process, where nothing outlives the
    task. With the `ansible` package's collections that was about a fifth of each AWS task's
    time. Calls with arguments (none in a playbook run) still list afresh. A listing that
    fails here is left to fail where Mitogen asks for it, as it did before.
    """
    import ansible.collections.list as collection_list

    if hasattr(collection_list.list_collection_dirs, "listed_once"):
        return
    original = collection_list.list_collection_dirs
    try:
        listed = tuple(original())
    except Exception:
        return

    def list_collection_dirs(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        return iter(listed) if not args and not kwargs else original(*args, **kwargs)

    list_collection_dirs.listed_once = listed  # type: ignore[attr-defined]
    collection_list.list_collection_dirs = list_collection_dirs


# Said with -vvv when an async task's imports cannot be read (the task runs as Mitogen plans it).
PRELOAD_FAILED = "mitogen_or_linear: the imports of this async task's module could not be read"
# What a module may import from the controller, as AnsiballZ ships it: ansible.module_utils and
# the collections' plugins/module_utils (ansible_collections exists only on the controller).
# Not their plugin_utils: controller code that a module_utils may name inside a function.
MODULE_UTILS = re.compile(
    r"ansible\.module_utils\.|ansible_collections\.\w+\.\w+\.plugins\.module_utils\."
)


def parent_names(fullname: str) -> list[str]:
    """The packages Python imports before a module, outermost first (all but its last part)."""
    parts = fullname.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def code_blocks(code: Any) -> Iterator[Any]:
    """A module's code and the code of every function and class in it (Mitogen's scanner
    reads one block, and an import inside a function runs after the job has detached)."""
    yield code
    for constant in code.co_consts:
        if hasattr(constant, "co_code"):
            yield from code_blocks(constant)


def imported_names(importer: str, is_package: bool, code: Any) -> list[str]:
    """The absolute names an import statement of `importer`'s code may load: each module, and
    each name taken from it (which may be a submodule)."""
    import mitogen.imports

    names: list[str] = []
    imports = (
        found for block in code_blocks(code) for found in mitogen.imports.codeobj_imports(block)
    )
    for level, name, fromlist in imports:
        if level > 0:
            # `from . import x` in a package is relative to the package itself.
            package = importer if is_package else importer.rpartition(".")[0]
            for _level in range(level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{name}" if name else package
        else:
            base = name
        names += [base, *(f"{base}.{attribute}" for attribute in fromlist)]
    return names


def controller_imports(module_fullname: str, module_path: str) -> list[str]:
    """Every module a collection's module imports from the controller, directly or through
    the modules it imports, with the packages above each, parents first.

    Each file's import statements are read with Mitogen's own scanner, those inside
    functions included. Finding where a module's file is may import its package in this
    (the task's) process. A name with no file is an attribute, or an import the code guards.
    """
    import mitogen.master

    finder = mitogen.master.ModuleFinder()
    with open(module_path, "rb") as module_file:
        code = compile(module_file.read(), module_path, "exec")
    pending = imported_names(module_fullname, False, code)
    found: set[str] = set()
    while pending:
        name = pending.pop()
        if name in found or not MODULE_UTILS.match(name):
            continue
        path, source, is_package = finder.get_module_source(name)
        if source is None:
            continue
        found.add(name)
        pending += imported_names(name, bool(is_package), compile(source, path, "exec"))
    # Python imports a module's packages first, found or not (ansible_collections has no file).
    found.update(*map(parent_names, [module_fullname, *found]))
    return sorted(found, key=lambda name: (name.count("."), name))


def preload_imports_of_async_collection_modules() -> None:
    """Let a collection's module run with `async` under Mitogen.

    Mitogen runs an async task in a child that detaches from the controller once the module's
    imports are loaded (ansible_mitogen.runner, NewStyleRunner._setup_imports), and for a
    collection's module its planner lists none of them: the child then asks the controller for
    ansible_collections after detaching, gets no answer and never finishes (mitogen-hq/mitogen
    #835; amazon.aws.ec2_vpc_net_info with `poll: 0` still "running" after 60 s). Here the
    planner adds them to the modules the child imports before it detaches. Tasks without
    `async` are planned as before.
    """
    from ansible_mitogen import planner

    original = planner.NewStylePlanner.get_kwargs
    if getattr(original, "preloads_async_imports", False):
        return

    def get_kwargs(self: Any, **kwargs: Any) -> dict[str, Any]:
        planned = original(self, **kwargs)
        if self._inv.wrap_async and "ansible_collections" in self._inv.module_path:
            try:
                imports = controller_imports(planned["py_module_name"], self._inv.module_path)
            except Exception as exc:
                # Mitogen's plan as it was: the task may still run (its imports may be loaded).
                display.vvv(f"{PRELOAD_FAILED}: {type(exc).__name__}: {exc}")
                return planned
            module_map = planned["module_map"]
            builtin = list(module_map["builtin"])
            builtin += [name for name in imports if name not in builtin]
            planned["module_map"] = dict(module_map, builtin=builtin)
        return planned

    get_kwargs.preloads_async_imports = True  # type: ignore[attr-defined]
    planner.NewStylePlanner.get_kwargs = get_kwargs


# The packages ansible_mitogen has every child ask the controller for (its import policy's
# overrides), which a child running the controller's own Python finds on disk.
ON_DISK_FOR_THE_CONTROLLERS_PYTHON = frozenset({"ansible", "ansible_mitogen"})


def runs_the_controllers_python(python_path: Any) -> bool:
    """Whether a Mitogen child's interpreter is the one running Ansible: the same file, in the
    same bin folder (a virtualenv's python links to the base one, whose site-packages differ)."""
    if isinstance(python_path, list) and len(python_path) == 1:
        python_path = python_path[0]
    if not isinstance(python_path, str) or not os.path.isabs(python_path):
        return False
    controller = sys.executable
    try:
        return os.path.realpath(os.path.dirname(python_path)) == os.path.realpath(
            os.path.dirname(controller)
        ) and os.path.samefile(python_path, controller)
    except OSError:
        return False


def local_children_import_ansible_from_disk() -> None:
    """Let a task on localhost import Ansible from disk, not from the controller.

    ansible_mitogen has every child it starts ask the controller for the `ansible` and
    `ansible_mitogen` packages, and sends ansible.module_utils.basic and its imports ahead, so
    that a remote host runs the controller's versions: the connection multiplexer reads and
    scans some 60 modules (250 KB) and the child compiles them from source, on every run, for
    the first task on localhost. A local child that runs the controller's own Python finds the
    same files on disk, with their bytecode: for it, those packages are left to Python's own
    import and nothing is sent ahead. Other children (SSH to the EC2 host, another Python on
    localhost, sudo) are started as Mitogen starts them.
    """
    import mitogen.parent
    from ansible_mitogen import services

    build_config = getattr(mitogen.parent.Connection, "get_econtext_config", None)
    send_ahead = getattr(services.ContextService, "_send_module_forwards", None)
    # A Mitogen without these internals runs as it is: slower, never wrong.
    if build_config is None or send_ahead is None:
        return
    if getattr(build_config, "leaves_ansible_on_disk", False):
        return
    # Context ids of the children started that way (the multiplexer's own bookkeeping).
    on_disk: set[int] = set()

    def get_econtext_config(self: Any) -> dict[str, Any]:
        config = build_config(self)
        # The base class is the "local" method; ssh, sudo and the others subclass it.
        if self.__class__ is mitogen.parent.Connection and runs_the_controllers_python(
            self.options.python_path
        ):
            overrides = config["import_overrides"]
            config["import_overrides"] = [
                name for name in overrides if name not in ON_DISK_FOR_THE_CONTROLLERS_PYTHON
            ]
            on_disk.add(self.context.context_id)
        return config

    def _send_module_forwards(self: Any, context: Any) -> None:
        if context.context_id not in on_disk:
            send_ahead(self, context)

    get_econtext_config.leaves_ansible_on_disk = True  # type: ignore[attr-defined]
    mitogen.parent.Connection.get_econtext_config = get_econtext_config
    services.ContextService._send_module_forwards = _send_module_forwards


def modules_every_child_starts_with() -> list[str]:
    """What the multiplexer sends each new child at its start, parents first: the module
    ansible_mitogen runs there first (init_child) and its preload list. Their imports follow."""
    from ansible_mitogen import services

    preload = getattr(services.ContextService, "ALWAYS_PRELOAD", ())
    names: list[str] = []
    for module in ("ansible_mitogen.target", *preload):
        for name in [*parent_names(module), module]:
            if name not in names:
                names.append(name)
    return names


def prepare_for_children(build_module_reply: Any, names: list[str]) -> int:
    """Have the responder build its reply for each module and for the modules each one imports,
    as the first child would have it do one request at a time; returns how many were built.
    A reply that fails to build is left for the child's request to meet as before."""
    import mitogen.parent

    mitogen.parent.get_core_source_partial()
    built: set[str] = set()
    queue = list(names)
    while queue:
        name = queue.pop(0)
        if name in built:
            continue
        built.add(name)
        try:
            # (name, package contents, path, compressed source, names of its imports)
            imports = list(build_module_reply(name)[4])
        except Exception:
            continue
        queue.extend(imports)
    return len(built)


def imports_walk_stopping_at_refused_modules(finder: Any, policy: Any) -> Any:
    """Mitogen's ModuleFinder.find_related (the modules a module imports, directly or not),
    which does not read further into a module the responder's policy refuses to send.

    The responder drops those names from the list afterwards; Mitogen still compiles each of
    them, and what they import: for the first amazon.aws module_utils, all of botocore's modules
    it reaches, 0.34 s of the multiplexer's CPU against 0.06 s (same reply, measured with
    ModuleResponder on this controller). A module reached only through a refused one is then no
    longer sent ahead; the child asks for it if it imports it, as for any other.
    """
    find_imports = finder.find_related_imports

    def find_related(fullname: str) -> list[str]:
        queue = [fullname]
        found: set[str] = set()
        while queue:
            name = queue.pop(0)
            if name != fullname and policy.denied(name):
                continue
            imports = find_imports(name)
            queue.extend(set(imports).difference(found, queue))
            found.update(imports)
        found.discard(fullname)
        return sorted(found)

    return find_related


def multiplexer_prepares_what_children_start_with() -> None:
    """Let Mitogen's connection multiplexer prepare, as soon as it starts, what it sends every
    new child, instead of while the first host task waits for it, and read no module it
    refuses to send (imports_walk_stopping_at_refused_modules).

    For the first task on a host (and the first on localhost), the multiplexer reads, minifies
    and compresses mitogen.core for the bootstrap, then some 70 modules the child asks for one
    after the other (ansible.module_utils.basic and its imports, ansible_mitogen's runner and
    mitogen's own), scanning each for the modules it imports: about 0.4 s of its CPU, measured
    with mitogen's ModuleResponder on this controller, most of it while the child waits. A
    thread started with the multiplexer builds the same replies into the responder's cache
    ahead; the child's requests then find them there. Replies are built the same way, only
    earlier. A child receives the same modules; one it imports only through a module the
    multiplexer refuses to send is asked for when imported instead of sent along.
    """
    from ansible_mitogen import process

    setup_responder = getattr(process, "_setup_responder", None)
    # A Mitogen without these internals runs as it is: slower, never wrong.
    if setup_responder is None or getattr(setup_responder, "prepares_ahead", False):
        return

    @functools.wraps(setup_responder)
    def _setup_responder(responder: Any) -> None:
        setup_responder(responder)
        finder = getattr(responder, "_finder", None)
        policy = getattr(responder, "policy", None)
        if hasattr(finder, "find_related_imports") and hasattr(policy, "denied"):
            finder.find_related = imports_walk_stopping_at_refused_modules(finder, policy)
        build_module_reply = getattr(responder, "_build_tuple", None)
        if build_module_reply is None:
            return

        def prepare() -> None:
            # A failure here is met again, and reported, where a child needs what failed.
            try:
                prepare_for_children(build_module_reply, modules_every_child_starts_with())
            except Exception:
                return

        threading.Thread(target=prepare, name="taskstack-prepare-for-children", daemon=True).start()

    _setup_responder.prepares_ahead = True  # type: ignore[attr-defined]
    # Called by name in the multiplexer's process (MuxProcess._setup_master), after its fork.
    process._setup_responder = _setup_responder


def module_scans_compile_each_file_once() -> None:
    """Let ansible_mitogen's scan of a module's module_utils compile each file once per run.

    Before a module's first task, the multiplexer lists the module_utils it imports
    (ansible_mitogen.module_finder.scan), compiling the module and, again for each module,
    every file of ansible.module_utils it reaches: basic and some 45 more, 55-100 ms per module,
    nine tenths of it in compile() (profiled on ten of ansible-core's modules). The code objects
    are only read for their imports; compiled once, the module's own file is what is left.
    """
    from ansible_mitogen import module_finder

    if getattr(getattr(module_finder, "compile", None), "compiles_once", False):
        return
    compiled: dict[tuple[Any, str, str], Any] = {}

    def compile_once(source: Any, filename: str, mode: str, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return compile(source, filename, mode, *args, **kwargs)
        key = (source, filename, mode)
        if key not in compiled:
            # As module_finder compiled it: its own __future__ imports, not this file's.
            compiled[key] = compile(source, filename, mode, dont_inherit=True)
        return compiled[key]

    compile_once.compiles_once = True  # type: ignore[attr-defined]
    # Found before the built-in by module_finder's own calls, and by no other module's.
    module_finder.compile = compile_once  # type: ignore[attr-defined]


def load_the_jinja_plugins_of_ansible_core() -> None:
    """Load ansible-core's own filters and tests in the controller, before the first task's
    process is forked from it, so that every such process inherits them.

    The first filter or test a process templates (a `when:`, an `| int`) has the plugin loader
    import every file of ansible-core's filters and tests (core, mathstuff, urls, encryption...)
    to map their names: about a dozen modules and 4 ms. The controller templates none before the
    first task, so each task's process loaded them again, in about half of a run's tasks
    (counted: the modules each task's process added to sys.modules, on a rerun of site.yml).
    Collections' filters are still loaded by name, where they are used. A loader that fails here
    is left to fail where a task asks for it, as it did before.
    """
    from ansible.plugins.loader import filter_loader, test_loader

    for loader in (filter_loader, test_loader):
        try:
            # all() maps every file of ansible-core's on its first step, and caches the map.
            next(iter(loader.all()), None)
        except Exception as exc:
            # A map left half made would be inherited as whole: each task's process would find
            # "no filter named ..." instead of this error. Emptied, it is made again there.
            cached = getattr(loader, "_cached_non_collection_wrappers", None)
            if isinstance(cached, dict):
                cached.clear()
            display.vvv(f"mitogen_or_linear: {loader.type} plugins not loaded ahead: {exc}")


def freeze_what_the_plays_were_loaded_with() -> None:
    """Leave the objects that exist when the first play starts out of later garbage collections.

    By then the controller holds what lives until the run ends (the plays, the inventory, the
    variables, the plugins). A full collection walks all of it, in the controller several times
    per run, and in the process Ansible forks for every task on every host, where it also writes
    to each page it walks (the pages the fork shared are then copied), to free a few hundred
    objects of the task's own: 0.1-0.2 s each (counted with gc.callbacks on a run of site.yml).
    Frozen once in the controller (gc.freeze), and in each forked process right after the fork
    (what it inherited since), they are no longer walked. What was garbage at that moment stays
    until the process ends. Mitogen's multiplexer is forked the same way.
    """
    if getattr(freeze_what_the_plays_were_loaded_with, "done", False):
        return
    gc.freeze()
    os.register_at_fork(after_in_child=gc.freeze)
    freeze_what_the_plays_were_loaded_with.done = True  # type: ignore[attr-defined]


class StrategyModule(*BASES):  # type: ignore[misc]
    """The class of every play: Ansible's linear strategy, run by Mitogen when it loads."""

    def __init__(self, *args, **kwargs) -> None:
        announce_strategy()
        load_the_jinja_plugins_of_ansible_core()
        freeze_what_the_plays_were_loaded_with()
        if len(BASES) > 1:
            list_collection_dirs_once()
            preload_imports_of_async_collection_modules()
            local_children_import_ansible_from_disk()
            multiplexer_prepares_what_children_start_with()
            module_scans_compile_each_file_once()
        super().__init__(*args, **kwargs)
