"""The image kit on this machine's Docker engine: no image it builds carries an official name.

Runs tests/images/build.sh (cached: under a second when the kit is up to date; `make
test-python` builds it first), then reads the engine. Needs the Docker engine, and root only
when the kit's base image must be built.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD = REPO_ROOT / "tests" / "images" / "build.sh"
CACHE = Path(os.environ.get("KIT_CACHE_DIR", REPO_ROOT / ".cache" / "images"))
LABEL = "org.taskstack.kit.hash"
# Marks the throw-away image test_a_real_image_of_an_official_name_is_left_alone makes.
TEST_LABEL = "org.taskstack.kit.test-stand-in"


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


def label_of(reference: str, label: str = LABEL) -> str:
    template = f'{{{{ index .Config.Labels "{label}" }}}}'
    return docker("image", "inspect", "--format", template, reference).stdout.strip()


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
        pytest.fail("the Docker engine does not answer: make docker-engine", pytrace=False)
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
        # Images built FROM a stand-in inherit the label; only the official names matter there.
        assert name not in officials, f"{name} is a stand-in under the official name"
        if image in kit_ids:
            assert name in description["images"], f"{name} is an extra name of a kit image"
    for name in description["env"].values():
        assert name.startswith(description["namespace"] + "/")


@pytest.fixture
def official_name_is_free(description: dict) -> Iterator[str]:
    """An official name the kit stands in for, absent from this engine (never a user's image)."""
    official = description["stands_in_for"]["TASKAPP_NGINX_IMAGE"]
    if image_id(official) is not None:
        pytest.skip(f"{official} is on this engine: the test does not touch a real image")
    yield official
    if image_id(official) and label_of(official, TEST_LABEL):
        docker("image", "rm", official)


def test_an_earlier_kits_official_name_is_removed(description: dict, official_name_is_free: str):
    stand_in = description["env"]["TASKAPP_NGINX_IMAGE"]
    before = image_id(stand_in)
    docker("tag", stand_in, official_name_is_free)  # what kits before this one left

    log = build()

    assert image_id(official_name_is_free) is None
    assert image_id(stand_in) == before
    assert f"{official_name_is_free} was an earlier kit's stand-in" in log


def test_a_real_image_of_an_official_name_is_left_alone(
    description: dict, official_name_is_free: str, tmp_path: Path
):
    # An image without the kit's label, as a pull would give: an empty one, marked for clean-up.
    empty = tmp_path / "empty.tar"
    subprocess.run(["tar", "-cf", str(empty), "-T", "/dev/null"], check=True)
    docker("import", "--change", f"LABEL {TEST_LABEL}=true", str(empty), official_name_is_free)
    real = image_id(official_name_is_free)

    build()

    assert image_id(official_name_is_free) == real
    assert label_of(official_name_is_free) == ""
