"""A bare `pytest` leaves out tests/readme (minutes, Docker); naming it runs it."""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
README_TEST = "tests/readme/test_readme_commands.py::"


def collected(*args: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # 5: no tests collected, which is what the bare run below must give.
    assert run.returncode in (0, 5), run.stdout + run.stderr
    return [line for line in run.stdout.splitlines() if "::" in line]


def test_a_bare_run_leaves_the_readme_test_out():
    # A bare run that looks only at the README's test file name: cheap, and it would find it.
    assert collected("-o", "python_files=test_readme_commands.py") == []


@pytest.mark.parametrize(
    "args",
    [("tests/readme",), ("tests/readme/test_readme_commands.py",), ("tests/readme/",)],
    ids=["folder", "file", "folder-with-slash"],
)
def test_naming_the_readme_test_runs_it(args: tuple[str, ...]):
    assert any(
        line.startswith(README_TEST)
        for line in collected("-o", "python_files=test_readme_commands.py", *args)
    )


def suite_conftest():
    spec = importlib.util.spec_from_file_location(
        "suite_conftest", REPO_ROOT / "tests" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_file_that_needs_a_worker_of_its_own_exists():
    """tests/conftest.py names files by path: a renamed file would silently lose its worker."""
    missing = [p for p in suite_conftest().ONE_WORKER_FILES if not (REPO_ROOT / p).is_file()]
    assert missing == []


def test_every_test_that_needs_a_worker_of_its_own_exists():
    """The same for the tests it names by file and function."""
    missing = []
    for nodeid in suite_conftest().ONE_WORKER_TESTS:
        path, function = nodeid.split("::")
        file = REPO_ROOT / path
        if not file.is_file() or f"def {function}(" not in file.read_text():
            missing.append(nodeid)
    assert missing == []


def make_variable(name: str) -> str:
    """A variable of the Makefile as make expands it (make -p, nothing run)."""
    run = subprocess.run(
        ["make", "-pn", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    (line,) = [line for line in run.stdout.splitlines() if line.startswith(f"{name} := ")]
    return line.removeprefix(f"{name} := ")


def marker_expression(target: str) -> str:
    """The -m expression of the pytest command a make target runs (make -n, nothing run)."""
    run = subprocess.run(
        ["make", "-n", target], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    (command,) = [line for line in run.stdout.splitlines() if "/pytest " in line]
    words = shlex.split(command)
    return words[words.index("-m") + 1]


def test_make_test_runs_every_test_but_the_units_once_in_test_python_or_test_waits():
    """test-waits runs beside the converge stage what test-python leaves out: a test in neither
    (or in both) would be lost (or run twice) by `make test`."""
    suite = make_variable("SUITE")
    assert "test-waits" in suite and "test-python" in suite, suite
    everything = set(collected("--ignore=tests/unit"))
    python = set(collected("--ignore=tests/unit", "-m", marker_expression("test-python")))
    waits = set(collected("--ignore=tests/unit", "-m", marker_expression("test-waits")))
    assert waits, "no test is marked waits"
    assert python & waits == set()
    assert python | waits == everything
