"""embedded/prerequisites.sh, what `make demo` runs first, on a machine made of stubs.

Each test builds a PATH holding only the tools the script may use: real shell utilities, and
stubs for id, apt-get, docker, dockerd, debootstrap, ssh and python3 whose behaviour the test
chooses. Nothing is installed or started on the real machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "embedded" / "prerequisites.sh"
REAL_TOOLS = ("bash", "sed", "seq", "sleep", "grep", "nohup", "cat", "touch", "rm", "chmod", "ln")


def write_stub(path: Path, body: str) -> None:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


@dataclass
class Machine:
    """A fake machine: which user runs the script and what is installed."""

    root: Path
    uid: int = 0
    user: str = "root"
    groups: str = "root"
    installed: set[str] = field(default_factory=set)
    has_apt: bool = True
    engine_running: bool = False
    host_image: bool = True
    python_has_venv: bool = True

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def apt_log(self) -> Path:
        return self.root / "apt-get.log"

    @property
    def engine_flag(self) -> Path:
        return self.root / "engine-running"

    def build(self) -> None:
        self.bin.mkdir(parents=True)
        for tool in REAL_TOOLS:
            os.symlink(shutil.which(tool), self.bin / tool)
        write_stub(
            self.bin / "id",
            f'case "$*" in -u) echo {self.uid};; -un) echo {self.user};;'
            f' -nG) echo {self.groups};; *) echo "uid={self.uid}";; esac\n',
        )
        write_stub(self.bin / "python3", f"exit {0 if self.python_has_venv else 1}\n")
        if self.engine_running:
            self.engine_flag.touch()
        for package in self.installed:
            self.install(package)
        if self.has_apt:
            write_stub(
                self.bin / "apt-get",
                f'echo "$*" >>{self.apt_log}\n'
                "if [[ $1 == install ]]; then\n"
                '  for p in "$@"; do case $p in -*|install) ;; *)\n'
                f"    touch {self.root}/pkg-$p;; esac; done\n"
                "fi\n"
                # what each package brings, as the real ones do
                f"[[ -e {self.root}/pkg-debootstrap ]] && ln -sf true {self.bin}/debootstrap\n"
                f"[[ -e {self.root}/pkg-openssh-client ]] && ln -sf true {self.bin}/ssh\n"
                f"[[ -e {self.root}/pkg-docker.io ]] && {self.docker_stubs()}\n"
                "exit 0\n",
            )
            os.symlink(shutil.which("true"), self.bin / "true")

    def docker_stubs(self) -> str:
        """Shell that writes the docker client and dockerd stubs (what docker.io installs)."""
        image = "exit 0" if self.host_image else "exit 1"
        client = f"case $1 in info) [[ -e {self.engine_flag} ]];; image) {image};; *) exit 0;; esac"
        return (
            f"printf '#!/bin/bash\\n%s\\n' '{client}' >{self.bin}/docker"
            f" && chmod +x {self.bin}/docker"
            f" && printf '#!/bin/bash\\ntouch {self.engine_flag}\\n' >{self.bin}/dockerd"
            f" && chmod +x {self.bin}/dockerd"
        )

    def install(self, package: str) -> None:
        if package == "docker.io":
            subprocess.run(["bash", "-c", self.docker_stubs()], check=True)
        elif package == "debootstrap":
            write_stub(self.bin / "debootstrap", "exit 0\n")
        elif package == "openssh-client":
            write_stub(self.bin / "ssh", "exit 0\n")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.build()
        env = {
            "PATH": str(self.bin),
            "PYTHON": "python3",
            "DOCKERD_LOG": str(self.root / "dockerd.log"),
            "HOME": str(self.root),
        }
        return subprocess.run(
            [str(self.bin / "bash"), str(SCRIPT), *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def apt_calls(self) -> list[str]:
        return self.apt_log.read_text().splitlines() if self.apt_log.exists() else []


EVERYTHING = {"docker.io", "debootstrap", "openssh-client"}


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(root=tmp_path)


def test_root_on_a_fresh_machine_installs_every_missing_package_at_once_and_starts_docker(
    machine: Machine,
):
    machine.installed = {"openssh-client"}

    result = machine.run()

    assert result.returncode == 0, result.stderr
    assert machine.apt_calls() == ["install -y -q --no-install-recommends debootstrap docker.io"]
    assert result.stderr.splitlines() == [
        "prerequisites: installing debootstrap docker.io",
        "prerequisites: installed debootstrap docker.io",
        "prerequisites: starting the Docker engine",
        "prerequisites: the Docker engine answers",
    ]
    assert machine.engine_flag.exists()


def test_root_with_everything_in_place_says_nothing_and_installs_nothing(machine: Machine):
    machine.installed = set(EVERYTHING)
    machine.engine_running = True

    result = machine.run()

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert machine.apt_calls() == []


def test_root_with_an_installed_but_stopped_engine_only_starts_it(machine: Machine):
    machine.installed = set(EVERYTHING)

    result = machine.run()

    assert result.returncode == 0, result.stderr
    assert machine.apt_calls() == []
    assert "prerequisites: starting the Docker engine" in result.stderr


def test_a_python_without_venv_support_asks_for_python3_venv(machine: Machine):
    machine.installed = set(EVERYTHING)
    machine.engine_running = True
    machine.python_has_venv = False

    result = machine.run()

    assert result.returncode == 0, result.stderr
    assert machine.apt_calls() == ["install -y -q --no-install-recommends python3-venv"]


def test_a_non_root_user_gets_one_line_listing_everything_and_the_one_command(
    machine: Machine,
):
    machine.uid, machine.user, machine.groups = 1000, "alice", "alice"
    machine.python_has_venv = False

    result = machine.run()

    assert result.returncode == 1
    assert machine.apt_calls() == []
    assert result.stderr.splitlines() == [
        "error: make demo needs: python3 -m venv (the project's .venv), "
        "ssh (Ansible's connection to the host), debootstrap (builds the host image), "
        "a Docker engine (the EC2 host is a container). "
        "Run: sudo make host-images && sudo usermod -aG docker alice (then log in again)"
    ]


def test_a_non_root_docker_user_without_the_host_image_is_told_to_build_it_once_as_root(
    machine: Machine,
):
    machine.uid, machine.user, machine.groups = 1000, "alice", "alice docker"
    machine.installed = set(EVERYTHING)
    machine.engine_running = True
    machine.host_image = False

    result = machine.run()

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: make demo needs: the host image, built once as root (debootstrap needs root). "
        "Run: sudo make host-images"
    ]


def test_a_non_root_user_with_everything_passes_silently(machine: Machine):
    machine.uid, machine.user, machine.groups = 1000, "alice", "alice docker"
    machine.installed = set(EVERYTHING)
    machine.engine_running = True

    result = machine.run()

    assert (result.returncode, result.stderr) == (0, "")


def test_without_apt_the_message_names_the_packages_for_another_package_manager(
    machine: Machine,
):
    machine.has_apt = False
    machine.installed = {"openssh-client"}

    result = machine.run()

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: make demo needs: debootstrap (builds the host image), "
        "a Docker engine (the EC2 host is a container). "
        "Run: install debootstrap docker.io with your package manager and start Docker"
    ]


def test_check_mode_reports_as_root_and_installs_nothing(machine: Machine):
    result = machine.run("--check")

    assert result.returncode == 1
    assert machine.apt_calls() == []
    assert result.stderr.startswith("error: make demo needs: ssh")
