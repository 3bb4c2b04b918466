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

import os
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


class StrategyModule(*BASES):  # type: ignore[misc]
    """The class of every play: Ansible's linear strategy, run by Mitogen when it loads."""

    def __init__(self, *args, **kwargs) -> None:
        announce_strategy()
        if len(BASES) > 1:
            list_collection_dirs_once()
        super().__init__(*args, **kwargs)
