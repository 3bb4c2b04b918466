"""The names of the image kit's stand-ins: written once in tests/images/build.sh, read by the rest.

`build.sh --names` prints the description the kit writes beside its tarball
(app-base-images.json) without Docker; embedded/emulator.py turns that file into the
EMBEDDED_HOST_APP_ENV export that inventory/group_vars/all/app.yml gives to app_deploy_env.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD = REPO_ROOT / "tests" / "images" / "build.sh"
COMPOSE_FILE = REPO_ROOT / "app" / "compose.yaml"
sys.path.insert(0, str(REPO_ROOT / "embedded"))

import emulator  # noqa: E402 - embedded/ is not a package


def kit_description() -> dict:
    result = subprocess.run(
        ["bash", str(BUILD), "--names"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def compose_image_defaults() -> dict[str, str]:
    """TASKAPP_*_IMAGE -> default, as app/compose.yaml writes them: ${VAR:-default}."""
    return dict(re.findall(r"\$\{(TASKAPP_\w+_IMAGE):-([^}]+)\}", COMPOSE_FILE.read_text()))


def is_docker_hub_name(reference: str) -> bool:
    """True for a name Docker resolves on Docker Hub (no registry host in front)."""
    first, _, rest = reference.partition("/")
    return not rest or not ("." in first or ":" in first or first == "localhost")


def test_the_kit_stands_in_for_every_base_image_of_the_compose_file():
    description = kit_description()

    assert description["stands_in_for"] == compose_image_defaults()
    assert set(description["env"]) == set(compose_image_defaults())


def test_each_stand_in_is_its_official_name_in_the_kit_namespace():
    description = kit_description()
    namespace = description["namespace"]

    for variable, name in description["env"].items():
        assert name == f"{namespace}/{description['stands_in_for'][variable]}"
        assert name in description["images"]


def test_no_stand_in_has_a_name_docker_hub_resolves():
    # A name without a registry host is pulled from Docker Hub when missing: an official name
    # shadows the user's real image, any other one may be someone else's image.
    description = kit_description()

    assert description["namespace"].split("/")[0] == "localhost"
    for name in description["env"].values():
        assert not is_docker_hub_name(name), name
    for official in description["stands_in_for"].values():
        assert official not in description["images"]


def test_the_description_names_the_archive_the_emulator_copies():
    description = kit_description()

    assert description["archive"].endswith(".tar")
    assert Path(description["archive"]).with_suffix(".json").name == "app-base-images.json"


def test_the_emulator_reads_the_names_beside_each_archive(tmp_path: Path):
    description = kit_description()
    archive = tmp_path / description["archive"]
    archive.touch()
    (tmp_path / "app-base-images.json").write_text(json.dumps(description))
    older = tmp_path / "older-kit.tar"  # an archive without a description: defaults apply
    older.touch()

    assert emulator.app_env_of([str(archive), str(older)]) == description["env"]
    assert emulator.app_env_of([str(older)]) == {}


def test_the_emulator_refuses_a_broken_description(tmp_path: Path):
    archive = tmp_path / "app-base-images.tar"
    archive.touch()
    (tmp_path / "app-base-images.json").write_text("TASKAPP_PYTHON_IMAGE=x\n")

    with pytest.raises(emulator.EmulatorError, match=r"run tests/images/build\.sh"):
        emulator.app_env_of([str(archive)])


def test_the_hosts_settings_export_the_names_for_app_deploy_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    description = kit_description()
    cache = tmp_path / "images"
    cache.mkdir()
    (cache / description["archive"]).touch()
    (cache / "app-base-images.json").write_text(json.dumps(description))
    monkeypatch.setattr(emulator, "IMAGE_CACHE", cache)
    monkeypatch.setattr(emulator.shutil, "which", lambda _: "/usr/bin/docker")
    state_dir = tmp_path / "state"
    state_dir.mkdir()

    emulator.enable_hosts({}, 4599, state_dir)
    exports = {
        key: json.loads(value)
        for key, _, value in (
            line.removeprefix("export ").partition("=")
            for line in emulator.shell_env(4599, state_dir).splitlines()
            if line.startswith("export ")
        )
    }

    assert json.loads(exports["EMBEDDED_HOST_APP_ENV"]) == description["env"]
    assert exports["EMBEDDED_HOST_IMAGE_ARCHIVES"].endswith("/" + description["archive"])
