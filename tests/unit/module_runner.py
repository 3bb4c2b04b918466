"""Run the collection's modules in process the way Ansible runs them.

Modules are imported by their collection name, as ansible-test units imports them; a bare
pytest finds the collection through collections/ (pyproject.toml: pythonpath).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
from types import ModuleType
from typing import Any

import pytest
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.testing import patch_module_args

COLLECTION = "ansible_collections.taskstack.aws"
REGION = "eu-west-3"
ACCOUNT_ID = "123456789012"  # moto's default account


def load_module(name: str) -> ModuleType:
    """The module taskstack.aws.<name>."""
    return importlib.import_module(f"{COLLECTION}.plugins.modules.{name}")


def run_module(
    name: str, args: dict[str, Any], check_mode: bool = False, diff: bool = False
) -> dict:
    """Run a module's main() with ``args`` as Ansible hands them over; return its JSON result.

    Each run starts with no warning, as a module does in its own process on a host: ansible-core
    keeps them for the process, and a result would otherwise carry an earlier test's.
    """
    module_args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    for pending in ("_global_warnings", "_global_deprecations"):
        getattr(module_warnings, pending, {}).clear()
    stdout = io.StringIO()
    with (
        patch_module_args(module_args),
        contextlib.redirect_stdout(stdout),
        pytest.raises(SystemExit),
    ):
        load_module(name).main()
    output = stdout.getvalue().strip().splitlines()
    assert output, "the module printed no result"
    return json.loads(output[-1])
