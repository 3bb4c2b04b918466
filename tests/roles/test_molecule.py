"""Molecule scenarios of the host roles, as pytest tests (one per role).

They need root, a running Docker engine and debootstrap, and take minutes, so they run only
when RUN_MOLECULE=1: `RUN_MOLECULE=1 pytest tests/roles`. Each test builds the offline image
kit first (cached: under a second when it is up to date), then runs `molecule test` in the
role's folder with the project's venv first on PATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLES = ["package_lists", "host_hardening", "docker_engine", "app_deploy"]

pytestmark = pytest.mark.skipif(
    os.environ.get("RUN_MOLECULE") != "1",
    reason="Molecule scenarios run only with RUN_MOLECULE=1 (root, Docker, debootstrap)",
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # molecule calls ansible-playbook and ansible-config by name: the venv's bin comes first
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env.setdefault("PY_COLORS", "0")
    env.setdefault("NO_COLOR", "1")
    return env


@pytest.fixture(scope="session")
def image_kit() -> None:
    subprocess.run(["bash", str(ROOT / "tests/images/build.sh")], check=True, env=_env())


@pytest.mark.parametrize("role", ROLES)
def test_molecule_scenario(role: str, image_kit: None) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "molecule"), "test"],
        cwd=ROOT / "roles" / role,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-80:])
    assert result.returncode == 0, f"molecule test failed for {role}:\n{tail}"
