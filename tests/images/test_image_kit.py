"""The image kit on this machine's Docker engine: no image it builds carries an official name.

Runs tests/images/build.sh (cached: under a second when the kit is up to date; `make
test-python` builds it first), then reads the engine. Needs the Docker engine, and root only
when the kit's base image must be built. It never puts an image under an official name on
this engine: how build.sh retires the official tags of earlier kits is tested on a stub engine
(tests/unit/test_kit_build.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD = REPO_ROOT / "tests" / "images" / "build.sh"
CACHE = Path(os.environ.get("KIT_CACHE_DIR", REPO_ROOT / ".cache" / "images"))
LABEL = "org.taskstack.kit.hash"
ENGINE_ROLE = REPO_ROOT / "roles" / "docker_engine"


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=300, check=False
    )
    if check:
        assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
    return result


def build() -> str:
    result = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=1800, check=False)
    assert result.returncode == 0, result.stderr
    return result.stderr


def image_id(reference: str) -> str | None:
    result = docker("image", "inspect", "--format", "{{.Id}}", reference, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def labelled_images() -> list[tuple[str, str]]:
    """(name, id) of every tagged image carrying the kit's label."""
    template = "{{.Repository}}:{{.Tag}} {{.ID}}"
    listing = docker(
        "image", "ls", "--no-trunc", "--filter", f"label={LABEL}", "--format", template
    )
    pairs = (line.split() for line in listing.stdout.splitlines())
    return [(name, image) for name, image in pairs if not name.endswith(":<none>")]


@pytest.fixture(scope="module")
def description() -> dict:
    if docker("info", check=False).returncode != 0:
        pytest.fail("the Docker engine does not answer: make prerequisites", pytrace=False)
    build()
    return json.loads((CACHE / "app-base-images.json").read_text())


def test_the_description_beside_the_tarball_is_the_one_build_sh_declares(description: dict):
    declared = subprocess.run(
        [str(BUILD), "--names"], capture_output=True, text=True, check=True
    ).stdout

    assert json.loads(declared) == description


def test_the_tarball_holds_exactly_the_images_the_description_names(description: dict):
    with tarfile.open(CACHE / description["archive"]) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))

    saved = sorted(tag for image in manifest for tag in image["RepoTags"])
    assert saved == sorted(description["env"].values())


def test_no_image_the_kit_builds_carries_an_official_name(description: dict):
    kit_ids = {image_id(name) for name in description["images"]}
    officials = set(description["stands_in_for"].values())

    assert None not in kit_ids, "an image the kit declares is missing after build.sh"
    for name, image in labelled_images():
        # Images built FROM a stand-in inherit the label and keep whatever name their owner gave
        # them, an official one included (build.sh leaves them alone): only the kit's own
        # images are checked, and they carry the kit's names only.
        if image in kit_ids:
            assert name not in officials, f"{name} is a stand-in under the official name"
            assert name in description["images"], f"{name} is an extra name of a kit image"
    for name in description["env"].values():
        assert name.startswith(description["namespace"] + "/")


def engine_packages() -> set[str]:
    """What roles/docker_engine installs on the stand-in host (Debian 13) with its defaults."""
    platform = yaml.safe_load((ENGINE_ROLE / "vars" / "Debian-13.yml").read_text())
    defaults = yaml.safe_load((ENGINE_ROLE / "defaults" / "main.yml").read_text())
    return set(
        platform["docker_engine_os_distribution_packages"]
        + defaults["docker_engine_python_packages"]
    )


def test_the_host_image_has_every_engine_package_installed_or_in_apts_cache(description: dict):
    (host,) = (name for name in description["images"] if name.startswith("taskstack-testhost:"))
    listing = docker(
        "run",
        "--rm",
        "--network=none",
        "--entrypoint=sh",
        host,
        "-c",
        "dpkg-query -W -f='${Package} ${Status}\\n'; ls /var/cache/apt/archives",
    ).stdout.splitlines()
    installed = {line.split()[0] for line in listing if line.endswith(" installed")}
    cached = {line.split("_")[0] for line in listing if line.endswith(".deb")}

    assert engine_packages() - installed <= cached, "build.sh no longer reads the role's list"
    assert cached - installed, "the engine's packages are installed in the image, not cached"
