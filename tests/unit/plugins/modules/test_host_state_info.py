"""host_state_info in process, on a folder and a stand-in docker: one digest of a host's state."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ansible_collections.taskstack.aws.tests.unit.module_runner import run_module

CONTAINERS = [
    {
        "Name": "/taskapp-web-1",
        "Id": "c1",
        "Image": "sha256:web",
        "Config": {"Labels": {"com.docker.compose.config-hash": "abc"}},
        "State": {"Status": "running", "Health": {"Status": "healthy"}},
        "RestartCount": 0,
    }
]


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    root = tmp_path / "etc"
    (root / "ssh" / "sshd_config.d").mkdir(parents=True)
    (root / "ssh" / "sshd_config.d" / "00-hardening.conf").write_text("PasswordAuthentication no\n")
    (root / "resolv.conf").symlink_to("../run/resolv.conf")
    return root


@pytest.fixture
def docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A docker on PATH that answers `ps` and `inspect` from containers.json."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    answers = tmp_path / "containers.json"
    answers.write_text(json.dumps(CONTAINERS))
    script = bin_dir / "docker"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"containers = json.load(open({str(answers)!r}))\n"
        "if sys.argv[1] == 'ps':\n"
        "    print('\\n'.join(c['Id'] for c in containers))\n"
        "else:\n"
        "    print(json.dumps([c for c in containers if c['Id'] in sys.argv[2:]]))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return answers


def digest(**args) -> dict:
    result = run_module("host_state_info", args)
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is False
    return result


def test_an_unchanged_host_has_a_stable_digest(etc: Path, docker: Path):
    first = digest(paths=[str(etc)], compose_project="taskapp")
    assert digest(paths=[str(etc)], compose_project="taskapp")["digest"] == first["digest"]
    assert first["container_count"] == 1
    assert first["file_count"] == 5  # etc, ssh, sshd_config.d, the file, the link


def test_an_edited_file_changes_the_digest(etc: Path):
    before = digest(paths=[str(etc)])["digest"]
    with (etc / "ssh" / "sshd_config.d" / "00-hardening.conf").open("a") as dropin:
        dropin.write("PasswordAuthentication yes\n")
    assert digest(paths=[str(etc)])["digest"] != before


def test_a_file_made_readable_by_all_changes_the_digest(etc: Path):
    before = digest(paths=[str(etc)])["digest"]
    (etc / "ssh" / "sshd_config.d" / "00-hardening.conf").chmod(0o666)
    assert digest(paths=[str(etc)])["digest"] != before


def test_a_link_pointing_elsewhere_changes_the_digest(etc: Path):
    before = digest(paths=[str(etc)])["digest"]
    (etc / "resolv.conf").unlink()
    (etc / "resolv.conf").symlink_to("/elsewhere")
    assert digest(paths=[str(etc)])["digest"] != before


def test_a_large_file_counts_by_size_and_date(tmp_path: Path):
    archive = tmp_path / "images.tar"
    archive.write_bytes(b"a" * 2048)
    before = digest(paths=[str(archive)], large_file_bytes=1024)["digest"]
    archive.write_bytes(b"b" * 2048)  # same size, new date
    os.utime(archive, ns=(1, 1))
    assert digest(paths=[str(archive)], large_file_bytes=1024)["digest"] != before


def test_a_stopped_or_unhealthy_container_changes_the_digest(docker: Path):
    before = digest(compose_project="taskapp")["digest"]
    stopped = [dict(CONTAINERS[0], State={"Status": "exited"})]
    docker.write_text(json.dumps(stopped))
    assert digest(compose_project="taskapp")["digest"] != before
    unhealthy = [
        dict(CONTAINERS[0], State={"Status": "running", "Health": {"Status": "unhealthy"}})
    ]
    docker.write_text(json.dumps(unhealthy))
    assert digest(compose_project="taskapp")["digest"] != before


def test_the_salt_and_a_missing_path_are_part_of_the_digest(tmp_path: Path):
    missing = str(tmp_path / "opt" / "taskapp")
    base = digest(paths=[missing], salt="settings-1")
    assert base["file_count"] == 1
    assert digest(paths=[missing], salt="settings-2")["digest"] != base["digest"]
    Path(missing).mkdir(parents=True)
    assert digest(paths=[missing], salt="settings-1")["digest"] != base["digest"]


def test_a_host_without_docker_reads_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert digest(compose_project="taskapp")["container_count"] == 1  # the "missing" entry
