"""Fixtures that run the project's playbooks against a fresh embedded emulator.

Each test session (each pytest-xdist worker) starts its own moto server on a free port (the
user's emulator on 4566 is never touched), and every test starts from an empty emulator and an
empty key folder, except the tests that read the one provisioned stack (`provisioned_stack`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The harness (embedded/harness.py) and the emulator's own module.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "embedded"))
from harness import Emulator, Runner, free_port
from stack_testing import SharedStack, playbook_env_for, provision_once


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = Emulator(port=free_port(), state_dir=tmp_path_factory.mktemp("emulator"))
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def provisioned_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedStack]:
    """The provisioning phases of site.yml run once, on an emulator of their own (the tests
    that reset the session's emulator never touch it), for the tests that read the result. A
    test that changes it puts it back before it ends. Its files share one pytest-xdist worker
    (tests/conftest.py), which provisions it once."""
    emu = Emulator(port=free_port(), state_dir=tmp_path_factory.mktemp("stack-emulator"))
    emu.start()
    try:
        yield provision_once(emu, tmp_path_factory.mktemp("stack-state"))
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def iam_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An emulator of the module's own that enforces IAM policies (emulator.py --enforce-iam):
    the usual fake credentials are its administrator's, other users get what their policies
    allow. Tests reset it before use."""
    emu = Emulator(
        port=free_port(), state_dir=tmp_path_factory.mktemp("iam-emulator"), enforce_iam=True
    )
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def fresh_emulator(emulator: Emulator) -> Emulator:
    emulator.reset()
    return emulator


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """Replaces the project's .state folder (keys, secrets) for one test."""
    path = tmp_path / "state"
    path.mkdir()
    return path


@pytest.fixture
def playbook_env(fresh_emulator: Emulator) -> dict[str, str]:
    return playbook_env_for(fresh_emulator)


@pytest.fixture
def runner(playbook_env: dict[str, str], state_dir: Path) -> Runner:
    return Runner(playbook_env, state_dir)


@pytest.fixture
def run_playbook(runner: Runner):
    return runner.playbook


@pytest.fixture
def ec2(fresh_emulator: Emulator):
    return fresh_emulator.client("ec2")
