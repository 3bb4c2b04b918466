"""embedded/prerequisites.sh, what `make demo` runs first, on a machine made of stubs.

Each test builds a machine: a PATH holding real shell utilities and stubs for id, apt-get,
docker, ssh and python3, and, outside PATH as on Debian, an sbin folder where debootstrap and
dockerd land when their packages are installed. apt-get's stub "installs" a package by
creating what it brings. Nothing is installed or started on the real machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "embedded" / "prerequisites.sh"
REAL_TOOLS = (
    "bash",
    "sed",
    "seq",
    "sleep",
    "grep",
    "nohup",
    "setsid",
    "cat",
    "touch",
    "rm",
    "chmod",
    "tr",
)
EVERYTHING = {
    "docker.io",
    "debootstrap",
    "openssh-client",
    "ca-certificates",
    "debian-archive-keyring",
}


def write_stub(path: Path, body: str) -> None:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


@dataclass
class Machine:
    """A fake machine: who runs the script and what is installed."""

    root: Path
    uid: int = 0
    user: str = "root"
    groups: str = "root"
    installed: set[str] = field(default_factory=set)
    has_apt: bool = True
    engine_running: bool = False
    host_image: bool = True
    python_has_venv: bool = True
    apt_fails: bool = False

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def sbin(self) -> Path:
        return self.root / "sbin"

    @property
    def apt_log(self) -> Path:
        return self.root / "apt-get.log"

    @property
    def engine_flag(self) -> Path:
        return self.root / "engine-running"

    def package_files(self, package: str) -> dict[Path, str]:
        """What each package brings: a file and its content (a script for commands)."""
        image = "exit 0" if self.host_image else "exit 1"
        return {
            "docker.io": {
                self.bin / "docker": (
                    f"case $1 in info) [[ -e {self.engine_flag} ]];; image) {image};; esac\n"
                ),
                self.sbin / "dockerd": f"touch {self.engine_flag}\n",
            },
            "debootstrap": {self.sbin / "debootstrap": "exit 0\n"},
            "openssh-client": {self.bin / "ssh": "exit 0\n"},
            "ca-certificates": {self.root / "ca-certificates.crt": ""},
            "debian-archive-keyring": {self.root / "debian-archive-keyring.gpg": ""},
        }[package]

    def install(self, package: str) -> None:
        for path, body in self.package_files(package).items():
            if path.parent in (self.bin, self.sbin):
                write_stub(path, body)
            else:
                path.write_text(body)

    def apt_stub(self) -> str:
        install = "".join(
            f"    {package}) {self.install_command(package)};;\n" for package in EVERYTHING
        )
        return (
            f'echo "$*" >>{self.apt_log}\n'
            + ("exit 100\n" if self.apt_fails else "")
            + 'for word in "$@"; do [[ $word == install ]] && installing=1; done\n'
            "[[ -n $installing ]] || exit 0\n"
            'for package in "$@"; do\n  case $package in\n' + install + "  esac\ndone\n"
        )

    def install_command(self, package: str) -> str:
        commands = []
        for path, body in self.package_files(package).items():
            commands.append(f"printf '#!/bin/bash\\n%s' '{body}' >{path}")
            if path.parent in (self.bin, self.sbin):
                commands.append(f"chmod +x {path}")
        return " && ".join(commands)

    def build(self) -> None:
        self.bin.mkdir(parents=True)
        self.sbin.mkdir()
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
            write_stub(self.bin / "apt-get", self.apt_stub())

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.build()
        env = {
            "PATH": str(self.bin),
            "PREREQ_SBIN_DIRS": str(self.sbin),
            "KIT_CA_BUNDLE": str(self.root / "ca-certificates.crt"),
            "PREREQ_DEBIAN_KEYRING": str(self.root / "debian-archive-keyring.gpg"),
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

    def apt_installs(self) -> list[list[str]]:
        """The packages of each `apt-get install` call."""
        calls = self.apt_log.read_text().splitlines() if self.apt_log.exists() else []
        return [
            [word for word in call.split() if not word.startswith("-") and "=" not in word][1:]
            for call in calls
            if " install " in f" {call} "
        ]


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(root=tmp_path)


def non_root(machine: Machine, groups: str = "alice") -> None:
    machine.uid, machine.user, machine.groups = 1000, "alice", groups


def test_root_on_a_fresh_machine_installs_every_missing_package_at_once_and_starts_docker(
    machine: Machine,
):
    machine.installed = {"openssh-client", "ca-certificates"}

    result = machine.run()

    assert result.returncode == 0, result.stderr
    assert machine.apt_installs() == [["docker.io", "debootstrap", "debian-archive-keyring"]]
    assert "DPkg::Lock::Timeout=300" in machine.apt_log.read_text(), "waits for cloud-init's apt"
    assert result.stderr.splitlines() == [
        "prerequisites: installing docker.io debootstrap debian-archive-keyring",
        "prerequisites: installed docker.io debootstrap debian-archive-keyring",
        "prerequisites: starting the Docker engine",
        "prerequisites: the Docker engine answers",
    ]
    assert machine.engine_flag.exists()


def test_root_with_everything_in_place_says_nothing_and_installs_nothing(machine: Machine):
    machine.installed = set(EVERYTHING)
    machine.engine_running = True

    result = machine.run()

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert machine.apt_installs() == []


def test_root_with_an_installed_but_stopped_engine_only_starts_it(machine: Machine):
    machine.installed = set(EVERYTHING)

    result = machine.run()

    assert result.returncode == 0, result.stderr
    assert machine.apt_installs() == []
    assert "prerequisites: starting the Docker engine" in result.stderr


def test_a_python_without_venv_support_asks_for_python3_venv(machine: Machine):
    machine.installed = set(EVERYTHING)
    machine.engine_running = True
    machine.python_has_venv = False

    result = machine.run()

    assert result.returncode == 0, result.stderr
    assert machine.apt_installs() == [["python3-venv"]]


def test_an_install_that_fails_twice_ends_with_one_error_line(machine: Machine):
    machine.installed = EVERYTHING - {"debootstrap"}
    machine.apt_fails = True

    result = machine.run()

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "prerequisites: ERROR: apt-get could not install debootstrap (its messages are above)"
    )


def test_a_non_root_user_gets_one_line_listing_everything_and_the_one_command(
    machine: Machine,
):
    non_root(machine)
    machine.python_has_venv = False

    result = machine.run()

    assert result.returncode == 1
    assert machine.apt_installs() == []
    assert result.stderr.splitlines() == [
        "error: make demo needs: python3 -m venv (the project's .venv), "
        "ssh (Ansible's connection to the host), "
        "the CA bundle " + str(machine.root / "ca-certificates.crt") + " (trusted in the images), "
        "a Docker engine (the EC2 host is a container), "
        "debootstrap (builds the host image), "
        "Debian's archive keyring (debootstrap checks the packages). "
        "Run: sudo make host-images && sudo usermod -aG docker alice (then log in again)"
    ]


def test_tools_in_sbin_count_for_a_user_whose_path_leaves_sbin_out(machine: Machine):
    """Debian puts debootstrap and dockerd in /usr/sbin, outside a normal user's PATH (and
    sudo's secure_path is not always there either)."""
    machine.installed = set(EVERYTHING)
    machine.engine_running = True

    result = machine.run()

    assert (result.returncode, result.stderr) == (0, "")
    assert machine.apt_installs() == [], "debootstrap and dockerd were found in sbin"


def test_a_user_outside_the_docker_group_is_told_so_not_to_install_docker(machine: Machine):
    non_root(machine, groups="alice docker-users")
    machine.installed = set(EVERYTHING)
    machine.engine_running = False

    result = machine.run()

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: make demo needs: access to the Docker engine for alice (the docker group). "
        "Run: sudo make host-images && sudo usermod -aG docker alice (then log in again)"
    ]


def test_a_docker_user_without_the_host_image_is_told_to_build_it_once_as_root(
    machine: Machine,
):
    non_root(machine, groups="alice docker")
    machine.installed = set(EVERYTHING)
    machine.engine_running = True
    machine.host_image = False

    result = machine.run()

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: make demo needs: the host image, built once as root (debootstrap needs root). "
        "Run: sudo make host-images"
    ]


def test_a_docker_user_with_the_host_image_does_not_need_debootstrap(machine: Machine):
    non_root(machine, groups="alice docker")
    machine.installed = EVERYTHING - {"debootstrap", "debian-archive-keyring"}
    machine.engine_running = True

    result = machine.run()

    assert (result.returncode, result.stderr) == (0, "")


def test_without_apt_the_advice_follows_the_problems(machine: Machine):
    machine.has_apt = False
    machine.installed = {"openssh-client", "ca-certificates", "debian-archive-keyring"}

    result = machine.run()

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: make demo needs: a Docker engine (the EC2 host is a container), "
        "debootstrap (builds the host image). "
        "Run: install docker.io debootstrap (or your distribution's names) with your package "
        "manager && start Docker && sudo make host-images"
    ]


def test_without_apt_a_missing_host_image_only_asks_for_the_image(machine: Machine):
    non_root(machine, groups="alice docker")
    machine.has_apt = False
    machine.installed = EVERYTHING - {"debootstrap", "debian-archive-keyring"}
    machine.engine_running = True
    machine.host_image = False

    result = machine.run()

    assert result.stderr.splitlines() == [
        "error: make demo needs: debootstrap (builds the host image), "
        "Debian's archive keyring (debootstrap checks the packages), "
        "the host image, built once as root (debootstrap needs root). "
        "Run: install debootstrap debian-archive-keyring (or your distribution's names) with "
        "your package manager && sudo make host-images"
    ]


def test_check_mode_reports_as_root_and_installs_nothing(machine: Machine):
    result = machine.run("--check")

    assert result.returncode == 1
    assert machine.apt_installs() == []
    assert result.stderr.startswith("error: make demo needs: ssh")
