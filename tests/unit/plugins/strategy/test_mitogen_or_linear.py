"""taskstack.aws.mitogen_or_linear: Mitogen's linear strategy when it loads, else Ansible's own.

The class is built when Ansible's plugin loader imports the file, so each test imports it
afresh with the situation it describes (Mitogen missing, refusing this ansible-core, switched
off, present) and looks at the bases and at the warnings it gave.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from ansible.module_utils import _internal

PLUGIN = "ansible_collections.taskstack.aws.plugins.strategy.mitogen_or_linear"
FALLBACK_START = "Mitogen for Ansible cannot be loaded ("
# What ansible_mitogen.loaders raises on an ansible-core outside what it supports.
UNSUPPORTED = "Your version of Ansible (2.99.0) is not supported by Mitogen for Ansible"


@pytest.fixture(autouse=True)
def controller_flag() -> Iterator[None]:
    """Ansible's controller code (the plugin loader, the display) imported by these tests makes
    the modules run in process send their warnings to the display instead of their result:
    the flag is put back after each test, so the module tests that read ``warnings`` see them."""
    was_controller = _internal.is_controller
    yield
    _internal.is_controller = was_controller


@pytest.fixture
def linear() -> type:
    from ansible.plugins.loader import strategy_loader

    return strategy_loader.get("linear", class_only=True)


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The warnings the plugin gives while the test imports it."""
    from ansible.utils.display import Display

    given: list[str] = []
    monkeypatch.setattr(Display, "warning", lambda self, msg, *a, **k: given.append(msg))
    return given


@pytest.fixture
def load_plugin(monkeypatch: pytest.MonkeyPatch, warnings: list[str]) -> Callable[[], ModuleType]:
    """Imports the plugin afresh (the import decides the strategy, silently: ansible-test's
    import check fails on any output), then says what a play's start says; sys.modules put
    back after."""

    def load() -> ModuleType:
        monkeypatch.delitem(sys.modules, PLUGIN, raising=False)
        plugin = importlib.import_module(PLUGIN)
        assert warnings == [], "the import itself warned"
        plugin.announce_strategy()
        return plugin

    return load


def hide_mitogen(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the mitogen package were not installed: None in sys.modules fails the import."""
    monkeypatch.delenv("TASKSTACK_MITOGEN", raising=False)
    for name in [n for n in sys.modules if n.startswith("ansible_mitogen.")]:
        monkeypatch.delitem(sys.modules, name)
    for name in ("ansible_mitogen", "ansible_mitogen.loaders", "ansible_mitogen.strategy"):
        monkeypatch.setitem(sys.modules, name, None)


def test_without_mitogen_the_run_is_ansible_linear_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, load_plugin, warnings: list[str], linear: type
):
    hide_mitogen(monkeypatch)
    plugin = load_plugin()
    assert plugin.StrategyModule.__bases__ == (linear,)
    assert len(warnings) == 1
    assert warnings[0].startswith(FALLBACK_START + "ModuleNotFoundError")
    assert "\n" not in warnings[0]
    # It says how to get Mitogen back and how to silence the warning.
    assert "requirements.txt" in warnings[0]
    assert "TASKSTACK_MITOGEN=0" in warnings[0]


def test_a_mitogen_that_refuses_this_ansible_core_is_a_fallback_too(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    load_plugin,
    warnings: list[str],
    linear: type,
):
    """ansible_mitogen.loaders raises AnsibleError (not ImportError) for an unsupported core."""
    hide_mitogen(monkeypatch)
    fake = tmp_path / "ansible_mitogen"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "loaders.py").write_text(
        f"from ansible.errors import AnsibleError\nraise AnsibleError({UNSUPPORTED!r})\n"
    )
    monkeypatch.delitem(sys.modules, "ansible_mitogen")
    monkeypatch.delitem(sys.modules, "ansible_mitogen.loaders")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin = load_plugin()
    assert plugin.StrategyModule.__bases__ == (linear,)
    assert warnings == [plugin.FALLBACK_WARNING.format(reason=f"AnsibleError: {UNSUPPORTED}")]


@pytest.mark.parametrize("value", ["0", "false", "off", "no", " OFF "])
def test_the_off_switch_gives_ansible_linear_without_a_warning_or_an_import(
    monkeypatch: pytest.MonkeyPatch, load_plugin, warnings: list[str], linear: type, value: str
):
    # An import of ansible_mitogen would fail this test: the switch must not even try.
    hide_mitogen(monkeypatch)
    monkeypatch.setitem(sys.modules, "ansible_mitogen", None)
    monkeypatch.setenv("TASKSTACK_MITOGEN", value)
    plugin = load_plugin()
    assert plugin.StrategyModule.__bases__ == (linear,)
    assert warnings == []


def test_with_mitogen_the_strategy_is_mitogens_linear(
    monkeypatch: pytest.MonkeyPatch, load_plugin, warnings: list[str], linear: type
):
    """Needs the mitogen package (requirements.txt) importable by this Python."""
    strategy = pytest.importorskip("ansible_mitogen.strategy")
    monkeypatch.delenv("TASKSTACK_MITOGEN", raising=False)
    plugin = load_plugin()
    assert plugin.StrategyModule.__bases__ == (strategy.StrategyMixin, linear)
    assert warnings == []


def test_the_collections_are_listed_once_for_every_task_of_the_run(
    monkeypatch: pytest.MonkeyPatch, load_plugin
) -> None:
    """Mitogen's planner lists the installed collections for each collection module, in each
    task's worker: the plugin lists them once, before any worker is forked."""
    import ansible.collections.list as collection_list

    asked: list[tuple] = []

    def listing(*args, **kwargs):
        asked.append((args, kwargs))
        return iter([b"/collections/ansible_collections/amazon/aws"])

    monkeypatch.setattr(collection_list, "list_collection_dirs", listing)
    monkeypatch.setenv("TASKSTACK_MITOGEN", "0")
    plugin = load_plugin()
    plugin.list_collection_dirs_once()
    plugin.list_collection_dirs_once()
    for _run in range(3):
        assert list(collection_list.list_collection_dirs()) == [
            b"/collections/ansible_collections/amazon/aws"
        ]
    assert asked == [((), {})]
    # Any other question (a filter, other paths) is asked afresh.
    list(collection_list.list_collection_dirs(coll_filter="amazon.aws"))
    assert asked[-1] == ((), {"coll_filter": "amazon.aws"})


@pytest.mark.parametrize("mitogen", [True, False], ids=["mitogen", "switched-off"])
def test_each_play_of_a_mitogen_run_has_the_collections_listed_before_its_workers(
    monkeypatch: pytest.MonkeyPatch, load_plugin, linear: type, mitogen: bool
) -> None:
    """The listing happens when a play's strategy is made (in the process the workers are
    forked from), and only when Mitogen runs the play."""
    if mitogen:
        pytest.importorskip("ansible_mitogen.strategy")
        monkeypatch.delenv("TASKSTACK_MITOGEN", raising=False)
    else:
        monkeypatch.setenv("TASKSTACK_MITOGEN", "0")
    import ansible.collections.list as collection_list

    asked: list[int] = []

    def listing(*args, **kwargs):
        asked.append(1)
        return iter([])

    monkeypatch.setattr(collection_list, "list_collection_dirs", listing)
    if mitogen:
        # The planner is patched too (async tasks): put back after the test.
        from ansible_mitogen import planner

        original = planner.NewStylePlanner.get_kwargs
        monkeypatch.setattr(planner.NewStylePlanner, "get_kwargs", original)
        # And the multiplexer's set-up and module scan.
        from ansible_mitogen import module_finder, process

        monkeypatch.setattr(process, "_setup_responder", process._setup_responder)
        monkeypatch.setattr(module_finder, "compile", compile, raising=False)
    # The linear strategy's own start needs a task queue manager: not what is looked at here.
    monkeypatch.setattr(linear, "__init__", lambda self, *args, **kwargs: None)
    plugin = load_plugin()
    plugin.StrategyModule(object())
    plugin.StrategyModule(object())
    assert asked == ([1] if mitogen else [])


def test_a_listing_that_fails_is_left_to_the_planner(
    monkeypatch: pytest.MonkeyPatch, load_plugin
) -> None:
    import ansible.collections.list as collection_list

    def broken(*args, **kwargs):
        raise ValueError("a collection this ansible-core cannot read")

    monkeypatch.setattr(collection_list, "list_collection_dirs", broken)
    monkeypatch.setenv("TASKSTACK_MITOGEN", "0")
    load_plugin().list_collection_dirs_once()
    assert collection_list.list_collection_dirs is broken


COLLECTION_MODULE = "ansible_collections.taskstack.aws.plugins.modules.stack_state_info"
COLLECTION_ROOT = Path(__file__).resolve().parents[4]


def test_a_collection_modules_controller_imports_are_found_parents_first(load_plugin) -> None:
    """What the host's Python must import from the controller before an async task detaches:
    the module's packages, its module_utils and theirs (other collections' too), and
    ansible.module_utils; never what the host has itself (boto3, the standard library)."""
    plugin = load_plugin()
    path = COLLECTION_ROOT / "plugins" / "modules" / "stack_state_info.py"
    found = plugin.controller_imports(COLLECTION_MODULE, str(path))
    for name in [
        "ansible_collections",
        "ansible_collections.taskstack.aws.plugins.modules",
        "ansible_collections.taskstack.aws.plugins.module_utils.stack_aws",
        "ansible_collections.amazon.aws.plugins.module_utils.modules",
        # imported by amazon.aws's module_utils, not by the module itself
        "ansible_collections.amazon.aws.plugins.module_utils.botocore",
        "ansible.module_utils.basic",
    ]:
        assert name in found, name
    assert not [name for name in found if name.split(".")[0] in {"boto3", "botocore", "json"}]
    assert COLLECTION_MODULE not in found, "the module itself is sent as the task's code"
    for position, name in enumerate(found):
        assert set(plugin.parent_names(name)) <= set(found[:position]), name


@pytest.mark.parametrize(
    ("wrap_async", "module_path", "preloaded"),
    [
        (True, "/c/ansible_collections/taskstack/aws/plugins/modules/stack_state_info.py", True),
        (False, "/c/ansible_collections/taskstack/aws/plugins/modules/stack_state_info.py", False),
        (True, "/site-packages/ansible/modules/command.py", False),
    ],
    ids=["async-collection-module", "collection-module", "async-builtin-module"],
)
def test_only_async_tasks_of_collection_modules_get_their_imports_preloaded(
    monkeypatch: pytest.MonkeyPatch,
    load_plugin,
    wrap_async: bool,
    module_path: str,
    preloaded: bool,
) -> None:
    planner = pytest.importorskip("ansible_mitogen.planner")
    planned = {
        "module_map": {"builtin": ["ansible.module_utils.six"], "custom": []},
        "py_module_name": COLLECTION_MODULE,
    }
    monkeypatch.setattr(planner.NewStylePlanner, "get_kwargs", lambda self, **kw: dict(planned))
    plugin = load_plugin()
    scanned: list[tuple[str, str]] = []

    def controller_imports(fullname: str, path: str) -> list[str]:
        scanned.append((fullname, path))
        return ["ansible_collections", "ansible.module_utils.six", "ansible_collections.taskstack"]

    monkeypatch.setattr(plugin, "controller_imports", controller_imports)
    plugin.preload_imports_of_async_collection_modules()
    plugin.preload_imports_of_async_collection_modules()
    invocation = SimpleNamespace(wrap_async=wrap_async, module_path=module_path)
    kwargs = planner.NewStylePlanner.get_kwargs(SimpleNamespace(_inv=invocation))
    if preloaded:
        assert scanned == [(COLLECTION_MODULE, module_path)]
        assert kwargs["module_map"]["builtin"] == [
            "ansible.module_utils.six",
            "ansible_collections",
            "ansible_collections.taskstack",
        ]
    else:
        assert scanned == []
        assert kwargs["module_map"] == planned["module_map"]


def test_relative_imports_are_read_as_python_resolves_them(load_plugin) -> None:
    plugin = load_plugin()
    code = compile(
        "from . import x\nfrom .y import z\nfrom .. import w\nimport q.r\n", "m.py", "exec"
    )
    assert plugin.imported_names("a.b.mod", False, code) == [
        "a.b", "a.b.x", "a.b.y", "a.b.y.z", "a", "a.w", "q.r",
    ]  # fmt: skip
    # In a package's __init__, "." is the package itself.
    package_code = compile("from . import x\n", "__init__.py", "exec")
    assert plugin.imported_names("a.b", True, package_code) == ["a.b", "a.b.x"]


def test_the_imports_of_the_modules_it_imports_are_followed_into_functions(
    monkeypatch: pytest.MonkeyPatch, load_plugin, tmp_path: Path
) -> None:
    """A module_utils taken with `from package import helper`, which imports another only
    inside a function: both must be loaded before the job detaches; the controller's own code
    (plugin_utils, which would need Ansible's settings on the host) must not."""
    mitogen_master = pytest.importorskip("mitogen.master")
    utils = "ansible_collections.ns.coll.plugins.module_utils"
    files = {
        f"{utils}": ("", True),
        f"{utils}.helper": (
            f"def later():\n    from {utils} import other\n"
            # controller code that a module_utils may name: never sent to the host
            "def on_the_controller():\n    from ..plugin_utils import action\n",
            False,
        ),
        "ansible_collections.ns.coll.plugins.plugin_utils.action": (
            "import ansible.config\n",
            False,
        ),
        f"{utils}.other": ("import json\nfrom ansible.module_utils.six import PY3\n", False),
        "ansible.module_utils.six": ("PY3 = True\n", False),
    }

    def get_module_source(self, fullname: str):
        source, is_package = files.get(fullname, (None, False))
        return (f"/{fullname}.py", source, is_package)

    monkeypatch.setattr(mitogen_master.ModuleFinder, "get_module_source", get_module_source)
    module = tmp_path / "mod.py"
    module.write_text(f"from {utils} import helper\n")
    found = load_plugin().controller_imports(
        "ansible_collections.ns.coll.plugins.modules.mod", str(module)
    )
    assert f"{utils}.other" in found
    assert "ansible.module_utils.six" in found
    assert "json" not in found
    assert not [
        name for name in found if "plugin_utils" in name or name.startswith("ansible.config")
    ]


def test_an_async_task_whose_imports_cannot_be_read_runs_as_mitogen_plans_it(
    monkeypatch: pytest.MonkeyPatch, load_plugin
) -> None:
    planner = pytest.importorskip("ansible_mitogen.planner")
    from ansible.utils.display import Display

    planned = {"module_map": {"builtin": ["x"], "custom": []}, "py_module_name": COLLECTION_MODULE}
    monkeypatch.setattr(planner.NewStylePlanner, "get_kwargs", lambda self, **kw: dict(planned))
    said: list[str] = []
    monkeypatch.setattr(Display, "vvv", lambda self, msg, *a, **k: said.append(msg))
    plugin = load_plugin()

    def unreadable(fullname: str, path: str) -> list[str]:
        raise SyntaxError("invalid syntax")

    monkeypatch.setattr(plugin, "controller_imports", unreadable)
    plugin.preload_imports_of_async_collection_modules()
    invocation = SimpleNamespace(
        wrap_async=True, module_path="/c/ansible_collections/ns/coll/plugins/modules/mod.py"
    )
    assert planner.NewStylePlanner.get_kwargs(SimpleNamespace(_inv=invocation)) == planned
    assert said == [f"{plugin.PRELOAD_FAILED}: SyntaxError: invalid syntax"]


def test_only_the_python_running_ansible_counts_as_the_controllers(
    load_plugin, tmp_path: Path
) -> None:
    """A virtualenv's python is a link to the base interpreter: the same file, but another
    site-packages, which may not hold Ansible. Mitogen gives the path as a list of one."""
    plugin = load_plugin()
    elsewhere = tmp_path / "bin" / "python3"
    elsewhere.parent.mkdir()
    elsewhere.symlink_to(sys.executable)
    assert plugin.runs_the_controllers_python(sys.executable)
    assert plugin.runs_the_controllers_python([sys.executable])
    assert not plugin.runs_the_controllers_python(str(elsewhere))
    assert not plugin.runs_the_controllers_python([sys.executable, "-X", "utf8"])
    assert not plugin.runs_the_controllers_python("python3")
    assert not plugin.runs_the_controllers_python(str(tmp_path / "missing" / "python3"))


def test_what_the_plays_were_loaded_with_is_frozen_once_and_after_every_fork(
    monkeypatch: pytest.MonkeyPatch, load_plugin
) -> None:
    """Every play builds a strategy: the controller freezes once, and registers one hook."""
    frozen: list[bool] = []
    hooks: list[dict[str, Callable[[], None]]] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(os, "register_at_fork", lambda **hook: hooks.append(hook))
    plugin = load_plugin()
    plugin.freeze_what_the_plays_were_loaded_with()
    plugin.freeze_what_the_plays_were_loaded_with()
    assert frozen == [True]
    assert len(hooks) == 1 and set(hooks[0]) == {"after_in_child"}
    hooks[0]["after_in_child"]()
    assert frozen == [True, True]


def test_a_mitogen_without_the_internals_it_changes_runs_as_it_is(
    monkeypatch: pytest.MonkeyPatch, load_plugin
) -> None:
    """A newer Mitogen may rename what the local-import change replaces: no error, no change."""
    parent = pytest.importorskip("mitogen.parent")
    services = pytest.importorskip("ansible_mitogen.services")
    build_config = parent.Connection.get_econtext_config
    monkeypatch.delattr(services.ContextService, "_send_module_forwards")
    plugin = load_plugin()
    plugin.local_children_import_ansible_from_disk()
    assert parent.Connection.get_econtext_config is build_config


def test_a_jinja_plugin_loader_that_fails_ahead_is_left_to_the_task(
    monkeypatch: pytest.MonkeyPatch, load_plugin
) -> None:
    """Loading ansible-core's filters ahead is an optimisation: a failure there stops nothing
    (the task that templates a filter meets it as it did before), and the tests still load."""
    from ansible.plugins.loader import filter_loader, test_loader

    def broken(*args: object, **kwargs: object) -> Iterator[object]:
        # Fails halfway through the map, as a file that does not import would.
        filter_loader._cached_non_collection_wrappers["half"] = object()
        raise OSError("plugin folder unreadable")

    asked: list[str] = []
    monkeypatch.setattr(filter_loader, "_cached_non_collection_wrappers", {})
    monkeypatch.setattr(filter_loader, "all", broken)
    monkeypatch.setattr(test_loader, "all", lambda: asked.append("test") or iter(()))
    load_plugin().load_the_jinja_plugins_of_ansible_core()
    assert asked == ["test"]
    # Nothing half made is left for the tasks' processes to inherit.
    assert filter_loader._cached_non_collection_wrappers == {}


def responder_and_process(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """A module responder of Mitogen's as the multiplexer makes one, and ansible_mitogen's
    process module with its set-up function put back after the test."""
    core = pytest.importorskip("mitogen.core")
    master = pytest.importorskip("mitogen.master")
    process = pytest.importorskip("ansible_mitogen.process")
    # As ansible_mitogen defines it, whatever a strategy built by an earlier test put over it.
    monkeypatch.setattr(process, "_setup_responder", inspect.unwrap(process._setup_responder))
    router = SimpleNamespace(add_handler=lambda **kwargs: None)
    return master.ModuleResponder(router, core.ImportPolicy()), process


def modules_read_for_their_imports(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The modules Mitogen's module finders compile to list their imports, from now on."""
    master = pytest.importorskip("mitogen.master")
    read: list[str] = []
    find_imports = master.ModuleFinder.find_related_imports

    def recorded(self: Any, fullname: str) -> list[str]:
        read.append(fullname)
        return find_imports(self, fullname)

    monkeypatch.setattr(master.ModuleFinder, "find_related_imports", recorded)
    return read


def threads_started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The threads started from now on, whether or not they have ended."""
    import threading

    started: list[Any] = []
    start = threading.Thread.start

    def recorded(self: Any) -> None:
        started.append(self)
        start(self)

    monkeypatch.setattr(threading.Thread, "start", recorded)
    return started


def test_the_multiplexer_prepares_what_every_child_starts_with(
    monkeypatch: pytest.MonkeyPatch, load_plugin
) -> None:
    """The responder set up in the multiplexer builds, on a thread of its own, the replies for
    the modules ansible_mitogen sends every child and for every module those import, and they
    are the replies it would have built when asked."""

    responder, process = responder_and_process(monkeypatch)
    set_up_by_ansible_mitogen = process._setup_responder
    read = modules_read_for_their_imports(monkeypatch)
    threads = threads_started(monkeypatch)
    plugin = load_plugin()
    plugin.multiplexer_prepares_what_children_start_with()
    plugin.multiplexer_prepares_what_children_start_with()
    process._setup_responder(responder)
    assert [t.name for t in threads] == ["taskstack-prepare-for-children"], (
        "one preparation per multiplexer, however many plays"
    )
    threads[0].join(timeout=60)

    cached = responder._cache
    starts = plugin.modules_every_child_starts_with()
    assert {"ansible", "ansible.module_utils.basic", "ansible_mitogen.target"} <= set(starts)
    assert set(starts) <= set(cached)
    imports = {name for reply in cached.values() for name in reply[4]}
    assert "ansible.module_utils.common.parameters" in imports
    assert imports <= set(cached), "an import of a prepared module was left for the child"
    # ansible_mitogen's own set-up ran as before: only its packages and mitogen's are served.
    assert {"mitogen", "ansible", "ansible_mitogen"} <= responder.policy.overrides
    # ansible.module_utils.distro imports the distro package, which is not sent: not read.
    assert "ansible.module_utils.distro" in read
    assert [name for name in read if responder.policy.denied(name)] == []

    fresh = responder_and_process(monkeypatch)[0]
    set_up_by_ansible_mitogen(fresh)
    for name in ("ansible.module_utils.basic", "mitogen.parent"):
        assert cached[name] == fresh._build_tuple(name)


def test_a_module_the_multiplexer_cannot_prepare_is_left_to_the_childs_request(load_plugin) -> None:
    """Preparing ahead is an optimisation: a reply that fails to build is skipped (the child's
    request meets the same failure as before) and the others are still built."""
    replies = {
        "a": ("a", None, "a.py", b"", ["a.broken", "b"]),
        "b": ("b", None, "b.py", b"", ["a"]),
    }

    def build(name: str) -> tuple:
        if name not in replies:
            raise ImportError(name)
        return replies[name]

    assert load_plugin().prepare_for_children(build, ["a"]) == 3


def test_a_mitogen_without_the_responder_set_up_it_wraps_runs_as_it_is(
    monkeypatch: pytest.MonkeyPatch, load_plugin
) -> None:
    process = pytest.importorskip("ansible_mitogen.process")
    monkeypatch.delattr(process, "_setup_responder")
    load_plugin().multiplexer_prepares_what_children_start_with()
    assert not hasattr(process, "_setup_responder")


def test_a_modules_imports_are_read_no_further_than_what_the_multiplexer_sends(
    monkeypatch: pytest.MonkeyPatch, load_plugin
) -> None:
    """amazon.aws's module_utils import botocore, which children import from their own disk:
    the list of what to send along is the same without reading botocore's modules."""
    name = "ansible_collections.amazon.aws.plugins.module_utils.modules"
    pytest.importorskip(name)
    plugin = load_plugin()
    replies = []
    for walk_changed in (False, True):
        responder, process = responder_and_process(monkeypatch)
        process._setup_responder(responder)
        read = modules_read_for_their_imports(monkeypatch)
        if walk_changed:
            responder._finder.find_related = plugin.imports_walk_stopping_at_refused_modules(
                responder._finder, responder.policy
            )
        replies.append(responder._build_tuple(name))
        refused = {n.partition(".")[0] for n in read if responder.policy.denied(n)}
        assert ("botocore" in refused) is not walk_changed
    assert replies[0] == replies[1]
    assert "ansible_collections.amazon.aws.plugins.module_utils.botocore" in replies[1][4]


def test_the_scan_of_a_modules_module_utils_compiles_each_file_once_per_run(
    monkeypatch: pytest.MonkeyPatch, load_plugin
) -> None:
    """The second module scanned compiles its own file and the module_utils the first did not
    reach, and the lists are those found with every file compiled again."""
    import builtins

    import ansible

    module_finder = pytest.importorskip("ansible_mitogen.module_finder")
    core = Path(ansible.__file__).parent
    search_path = (str(core / "module_utils"),)

    def scan(module: str) -> list[tuple[str, str, bool]]:
        path = str(core / "modules" / f"{module}.py")
        return module_finder.scan(f"ansible_module_{module}", path, search_path)

    expected = {module: scan(module) for module in ("stat", "file")}
    monkeypatch.setattr(module_finder, "compile", builtins.compile, raising=False)
    compiled: list[str] = []
    compile_builtin = builtins.compile

    def counted(source: Any, filename: str, mode: str, *args: Any, **kwargs: Any) -> Any:
        compiled.append(filename)
        return compile_builtin(source, filename, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "compile", counted)
    plugin = load_plugin()
    plugin.module_scans_compile_each_file_once()
    plugin.module_scans_compile_each_file_once()
    assert scan("stat") == expected["stat"]
    assert "ansible.module_utils.basic" in compiled
    compiled.clear()
    assert scan("file") == expected["file"]
    reached_by_stat = {found[0] for found in expected["stat"]}
    new = [found[0] for found in expected["file"] if found[0] not in reached_by_stat]
    assert len(new) < len(reached_by_stat) / 10
    assert sorted(compiled) == sorted(["ansible_module_file", *new])


def test_a_preparation_that_fails_prints_nothing_and_leaves_the_multiplexer_serving(
    monkeypatch: pytest.MonkeyPatch, load_plugin
) -> None:
    """The thread's failure is not reported by Python's thread hook (it would print a
    traceback in the run's output): the child meets it, if at all, where it needs the module."""
    import threading

    responder, process = responder_and_process(monkeypatch)
    plugin = load_plugin()

    def broken() -> list[str]:
        raise RuntimeError("ansible_mitogen changed")

    monkeypatch.setattr(plugin, "modules_every_child_starts_with", broken)
    reported: list[object] = []
    monkeypatch.setattr(threading, "excepthook", reported.append)
    threads = threads_started(monkeypatch)
    plugin.multiplexer_prepares_what_children_start_with()
    process._setup_responder(responder)
    assert len(threads) == 1
    threads[0].join(timeout=60)
    assert reported == []
    assert responder._cache == {}
    assert responder._build_tuple("ansible.module_utils.basic")[0] == "ansible.module_utils.basic"
