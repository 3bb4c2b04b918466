"""Collection rules shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

# tests/readme runs the README's `make demo` and `make destroy` in a clean clone (minutes,
# Docker, the image kit): a bare `pytest` leaves it out; `make test-readme` names it.
README_TESTS = Path(__file__).resolve().parent / "readme"


def named_on_the_command_line(path: Path, config: pytest.Config) -> bool:
    """True when an argument is `path` or inside it (a file, a node id).

    testpaths (pyproject.toml) count as a bare run: they are what `pytest` alone collects.
    """
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return False
    for arg in config.args:
        given = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if given == path or path in given.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path == README_TESTS and not named_on_the_command_line(README_TESTS, config):
        return True
    return None
