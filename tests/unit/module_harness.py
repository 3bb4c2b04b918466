"""Run the project's modules in process the way Ansible runs them.

The project's module_utils resolve as ``ansible.module_utils.<name>`` at run time (ansible.cfg's
``module_utils = plugins/module_utils``); importing this file does the same by extending the
package path. Kept out of conftest.py so that tests import it under a name no other test folder
uses.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import ansible.module_utils
import pytest
from ansible.module_utils.testing import patch_module_args

ROOT = Path(__file__).resolve().parents[2]
MODULES_DIR = ROOT / "plugins" / "modules"
MODULE_UTILS_DIR = str(ROOT / "plugins" / "module_utils")
if MODULE_UTILS_DIR not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(MODULE_UTILS_DIR)

REGION = "eu-west-3"
ACCOUNT_ID = "123456789012"  # moto's default account

_loaded: dict[str, ModuleType] = {}


def load_module(name: str) -> ModuleType:
    """Import plugins/modules/<name>.py once (the folder is not a package)."""
    if name not in _loaded:
        path = MODULES_DIR / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"project_module_{name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while it loads
        spec.loader.exec_module(module)
        _loaded[name] = module
    return _loaded[name]


def run_module(
    name: str, args: dict[str, Any], check_mode: bool = False, diff: bool = False
) -> dict:
    """Run a module's main() with ``args`` as Ansible hands them over; return its JSON result."""
    module_args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
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
