"""tests/images/build.sh on a machine made of stubs: no Docker engine is touched.

The PATH holds real shell utilities and stubs for id (root), debootstrap, chown (logs, then
runs the real one) and docker, whose engine is two text files the test seeds and reads:
`tags` ("name id" lines) and `labels` ("id [kit label]" lines). The kit runs end to end on
it: debootstrap, builds, the retirement of official names, `docker save`, the cache's owner.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BUILD = Path(__file__).resolve().parents[2] / "tests" / "images" / "build.sh"
REAL_TOOLS = (
    "bash", "cat", "mkdir", "rm", "cp", "mv", "rmdir", "awk", "find", "sort", "xargs",
    "sha256sum", "cut", "tar", "dirname", "basename", "tail", "chmod", "stat", "touch",
)  # fmt: skip

DOCKER_STUB = r"""#!/bin/bash
# docker on a fake engine: @ENGINE@/tags holds "name id" lines, @ENGINE@/labels "id [label]"
E=@ENGINE@
printf '%s\n' "$*" >>"$E/calls"
id_of() { awk -v r="$1" '$1 == r { print $2 }' "$E/tags"; }
untag() { awk -v r="$1" '$1 != r' "$E/tags" >"$E/tags.new" && mv "$E/tags.new" "$E/tags"; }
add_image() {  # NAME LABEL: a new image under NAME
  local id
  id="sha256:built$(awk 'END { print NR + 1 }' "$E/labels")"
  echo "$id $2" >>"$E/labels"
  untag "$1"
  echo "$1 $id" >>"$E/tags"
}
case "$1 $2" in
  "info "*) ;;
  "image inspect")
    id="$(id_of "$5")"
    [[ -n $id ]] || { echo "Error: No such image: $5" >&2; exit 1; }
    case $4 in
      *Labels*) awk -v i="$id" '$1 == i { print $2 }' "$E/labels" ;;
      *) echo "$id" ;;
    esac ;;
  "image rm")
    if [[ -e $E/rm-error ]]; then cat "$E/rm-error" >&2; exit 1; fi
    [[ -n "$(id_of "$3")" ]] || { echo "Error: No such image: $3" >&2; exit 1; }
    untag "$3"
    echo "Untagged: $3" ;;
  "tag "*)
    id="$(id_of "$2")"
    untag "$3"
    echo "$3 $id" >>"$E/tags" ;;
  "import "*)
    tar -t >"$E/imported"
    add_image "${!#}" "${3#*=}" ;;
  "build "*)
    while (($#)); do
      case $1 in --label) label="${2#*=}"; shift ;; -t) name="$2"; shift ;; esac
      shift
    done
    add_image "$name" "$label" ;;
  "save -o")
    for n in "${@:4}"; do [[ -n "$(id_of "$n")" ]] || exit 1; done
    printf '%s\n' "${@:4}" >"$3"
    chmod 0600 "$3" ;;  # as the real one: the archive is mode 0600 whatever the umask
  *) echo "docker stub: unexpected call: $*" >&2; exit 2 ;;
esac
"""

DEBOOTSTRAP_STUB = """#!/bin/bash
# debootstrap --variant=minbase SUITE ROOTFS MIRROR: the folders the kit writes into, and a
# package's documentation, manual page and translations, as the real one installs them
mkdir -p "$3"/etc/apt/apt.conf.d "$3"/etc/dpkg/dpkg.cfg.d "$3"/usr/sbin "$3"/usr/bin \\
  "$3"/usr/share/doc/bash "$3"/usr/share/man/man1 "$3"/usr/share/locale/de/LC_MESSAGES
touch "$3"/usr/bin/bash "$3"/usr/share/doc/bash/copyright "$3"/usr/share/doc/bash/changelog.gz \\
  "$3"/usr/share/man/man1/bash.1.gz "$3"/usr/share/locale/de/LC_MESSAGES/bash.mo \\
  "$3"/usr/share/locale/locale.alias
"""

CA_BUNDLE = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def names() -> tuple[str, str]:
    """The official name the tests retire and the kit's own name for it, from build.sh."""
    result = subprocess.run(
        ["bash", str(BUILD), "--names"], capture_output=True, text=True, timeout=30, check=True
    )
    description = json.loads(result.stdout)
    variable = "TASKAPP_NGINX_IMAGE"
    return description["stands_in_for"][variable], description["env"][variable]


OFFICIAL, STAND_IN = names()
DOCKER_ERROR = (
    'Error response from daemon: conflict: unable to remove repository reference "nginx:1.27"'
    "\n(must force) - container 0123abcd is using its referenced image 4567ef\n"
)


def write_stub(path: Path, body: str) -> None:
    path.write_text(body)
    path.chmod(0o755)


@dataclass
class Kit:
    """A machine with a fake Docker engine; the kit's cache is <root>/repo/.cache/images."""

    root: Path
    images: dict[str, str] = field(default_factory=dict)  # tag -> image id
    labels: dict[str, str | None] = field(default_factory=dict)  # image id -> kit label
    saved_ids: str | None = None  # the .ids an earlier kit left beside its archive
    rm_error: str | None = None
    sudo: bool = False
    built: bool = False

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def engine(self) -> Path:
        return self.root / "engine"

    @property
    def cache(self) -> Path:
        return self.root / "repo" / ".cache" / "images"

    @property
    def chown_log(self) -> Path:
        return self.root / "chown.log"

    def build(self) -> None:
        self.bin.mkdir()
        for tool in REAL_TOOLS:
            os.symlink(shutil.which(tool), self.bin / tool)
        write_stub(self.bin / "id", '#!/bin/bash\n[[ $1 == -u ]] && echo 0 || echo "uid=0"\n')
        write_stub(
            self.bin / "chown",
            f'#!/bin/bash\necho "$*" >>{self.chown_log}\nexec {shutil.which("chown")} "$@"\n',
        )
        write_stub(self.bin / "debootstrap", DEBOOTSTRAP_STUB)
        write_stub(self.bin / "docker", DOCKER_STUB.replace("@ENGINE@", str(self.engine)))
        self.engine.mkdir()
        self.cache.parent.parent.mkdir()  # the repository; .cache is build.sh's to create
        (self.engine / "tags").write_text("".join(f"{n} {i}\n" for n, i in self.images.items()))
        (self.engine / "labels").write_text(
            "".join(f"{i} {label or ''}".rstrip() + "\n" for i, label in self.labels.items())
        )
        if self.rm_error is not None:
            (self.engine / "rm-error").write_text(self.rm_error)
        if self.saved_ids is not None:
            self.cache.mkdir(parents=True)
            (self.cache / "app-base-images.tar.ids").write_text(self.saved_ids)
        (self.root / "ca.crt").write_text(CA_BUNDLE)
        self.built = True

    def env(self) -> dict[str, str]:
        if not self.built:
            self.build()
        env = {
            "PATH": str(self.bin),
            "HOME": str(self.root),
            "KIT_CACHE_DIR": str(self.cache),
            "KIT_CA_BUNDLE": str(self.root / "ca.crt"),
            "KIT_LOCK": str(self.root / "kit.lock"),
        }
        if self.sudo:
            env |= {"SUDO_UID": str(os.getuid()), "SUDO_GID": str(os.getgid())}
        return env

    def run(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "bash"), str(BUILD)],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.bin / "bash"), str(BUILD)],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def tags(self) -> dict[str, str]:
        lines = (self.engine / "tags").read_text().splitlines()
        return dict(line.split() for line in lines)

    def calls(self) -> list[str]:
        calls = self.engine / "calls"  # written by the docker stub's first call
        return calls.read_text().splitlines() if calls.exists() else []

    def chown_calls(self) -> list[str]:
        return self.chown_log.read_text().splitlines() if self.chown_log.exists() else []


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit(root=tmp_path)


def lines_about_official(stderr: str) -> list[str]:
    """The lines naming the official name itself (not inside the stand-in's name)."""
    official = re.compile(rf"(?<![\w/]){re.escape(OFFICIAL)}(?![\w.])")
    return [line for line in stderr.splitlines() if official.search(line)]


def retirement_calls(kit: Kit) -> list[str]:
    """The docker calls that change the official name's tag."""
    return [call for call in kit.calls() if call.startswith((f"tag {OFFICIAL} ", "image rm "))]


# --- the official names that earlier kits left ---------------------------------------------


@pytest.mark.parametrize("stand_in_present", [False, True], ids=["name-free", "name-rebuilt"])
def test_an_earlier_kits_stand_in_recorded_beside_its_archive_loses_the_official_tag(
    kit: Kit, stand_in_present: bool
):
    # what the kits before the namespace left: the stand-in saved under the official name
    kit.images = {OFFICIAL: "sha256:old"}
    kit.labels = {"sha256:old": "an-earlier-kits-hash"}
    kit.saved_ids = f"python:3.13-slim sha256:py\n{OFFICIAL} sha256:old\npostgres:17 sha256:pg\n"
    if stand_in_present:
        kit.images[STAND_IN] = "sha256:new"
        kit.labels["sha256:new"] = "this-kits-hash"

    result = kit.run()

    assert result.returncode == 0, result.stderr
    assert OFFICIAL not in kit.tags()
    assert STAND_IN in kit.tags()
    renamed = [f"tag {OFFICIAL} {STAND_IN}"] if not stand_in_present else []
    assert retirement_calls(kit) == [*renamed, f"image rm {OFFICIAL}"]
    assert lines_about_official(result.stderr) == [
        f"[kit] {OFFICIAL} was an earlier kit's stand-in: tag removed (now {STAND_IN})"
    ]


def test_an_official_tag_on_the_stand_ins_own_image_is_removed(kit: Kit):
    kit.images = {OFFICIAL: "sha256:kit", STAND_IN: "sha256:kit"}
    kit.labels = {"sha256:kit": "a-kit-hash"}

    result = kit.run()

    assert result.returncode == 0, result.stderr
    assert OFFICIAL not in kit.tags()
    assert kit.tags()[STAND_IN]
    assert retirement_calls(kit) == [f"image rm {OFFICIAL}"]
    assert lines_about_official(result.stderr) == [
        f"[kit] {OFFICIAL} was an earlier kit's stand-in: tag removed (now {STAND_IN})"
    ]


def test_a_real_image_of_an_official_name_is_left_alone(kit: Kit):
    # pulled or loaded by the user: no kit label, even if an earlier kit recorded that id
    kit.images = {OFFICIAL: "sha256:real"}
    kit.labels = {"sha256:real": None}
    kit.saved_ids = f"{OFFICIAL} sha256:real\n"

    result = kit.run()

    assert result.returncode == 0, result.stderr
    assert kit.tags()[OFFICIAL] == "sha256:real"
    assert retirement_calls(kit) == []
    assert lines_about_official(result.stderr) == []


@pytest.mark.parametrize(
    ("stand_in", "saved_ids"),
    [
        ("sha256:kit", None),
        (None, None),
        (None, f"{OFFICIAL} sha256:old\n"),
    ],
    ids=["stand-in-present", "stand-in-missing", "earlier-kit-recorded-another-id"],
)
def test_a_users_image_built_from_a_stand_in_keeps_its_official_tag(
    kit: Kit, stand_in: str | None, saved_ids: str | None
):
    # FROM <stand-in> copies the kit's label into the user's image, which the user tagged with
    # the official name: the label is the kit's, the image (its id) is not
    kit.images = {OFFICIAL: "sha256:users"}
    kit.labels = {"sha256:users": "a-kit-hash"}
    if stand_in:
        kit.images[STAND_IN] = stand_in
        kit.labels[stand_in] = "a-kit-hash"
    kit.saved_ids = saved_ids

    result = kit.run()

    assert result.returncode == 0, result.stderr
    assert kit.tags()[OFFICIAL] == "sha256:users"
    assert retirement_calls(kit) == []
    assert lines_about_official(result.stderr) == [
        f"[kit] {OFFICIAL} carries the kit's label but is not the kit's own image"
        " (an image built FROM a stand-in?): left alone"
    ]


def test_an_official_tag_that_cannot_be_removed_gives_one_clear_line_and_the_kit_goes_on(
    kit: Kit,
):
    kit.images = {OFFICIAL: "sha256:kit", STAND_IN: "sha256:kit"}
    kit.labels = {"sha256:kit": "a-kit-hash"}
    kit.rm_error = DOCKER_ERROR

    result = kit.run()

    assert result.returncode == 0, result.stderr
    assert kit.tags()[OFFICIAL] == "sha256:kit"
    assert lines_about_official(result.stderr) == [
        f"[kit] WARNING: {OFFICIAL}, an earlier kit's stand-in, keeps its tag: "
        + DOCKER_ERROR.strip().replace("\n", " ")
        + f" (remove it yourself: docker image rm {OFFICIAL})"
    ]
    assert "kit ready" in result.stderr


# --- the cache after `sudo make host-images` ------------------------------------------------


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_without_sudo_the_archive_and_its_description_are_readable_by_all(kit: Kit):
    result = kit.run()

    assert result.returncode == 0, result.stderr
    assert mode(kit.cache / "app-base-images.tar") == 0o644
    assert mode(kit.cache / "app-base-images.json") == 0o644
    assert kit.chown_calls() == []


def test_under_sudo_the_cache_and_the_cache_folder_it_created_go_back_to_the_user(kit: Kit):
    kit.sudo = True

    result = kit.run()

    assert result.returncode == 0, result.stderr
    owner = f"{os.getuid()}:{os.getgid()}"
    assert kit.chown_calls() == [f"-R {owner} {kit.cache} {kit.cache.parent}"]
    assert mode(kit.cache / "app-base-images.tar") == 0o644
    assert mode(kit.cache / "app-base-images.json") == 0o644


def test_under_sudo_a_folder_above_the_cache_that_existed_keeps_its_owner(kit: Kit):
    kit.sudo = True
    kit.build()
    kit.cache.parent.mkdir()

    result = kit.run()

    assert result.returncode == 0, result.stderr
    assert kit.chown_calls() == [f"-R {os.getuid()}:{os.getgid()} {kit.cache}"]


def test_under_sudo_a_failed_build_still_gives_the_cache_back(kit: Kit):
    kit.sudo = True
    kit.build()
    write_stub(kit.bin / "debootstrap", "#!/bin/bash\necho 'E: no mirror'\nexit 1\n")

    result = kit.run()

    assert result.returncode == 1
    assert "[kit] ERROR: debootstrap failed" in result.stderr
    assert kit.chown_calls() == [f"-R {os.getuid()}:{os.getgid()} {kit.cache} {kit.cache.parent}"]


def test_an_up_to_date_archive_an_earlier_kit_left_mode_0600_becomes_readable_by_all(kit: Kit):
    assert kit.run().returncode == 0
    (kit.cache / "app-base-images.tar").chmod(0o600)

    result = kit.run()

    assert result.returncode == 0, result.stderr
    assert "[kit] app-base-images.tar up to date" in result.stderr
    assert mode(kit.cache / "app-base-images.tar") == 0o644


def test_the_base_keeps_the_licences_but_not_the_docs_manuals_and_translations(kit: Kit):
    # Each test host loads the base with the stand-ins, and the load's time grows with its files.
    run = kit.run()
    assert run.returncode == 0, run.stderr
    imported = {
        line.removeprefix("./").rstrip("/")
        for line in (kit.engine / "imported").read_text().splitlines()
    }
    assert {
        "usr/bin/bash",
        "usr/share/doc/bash/copyright",
        "usr/share/locale/locale.alias",
    } <= imported
    assert (
        not {
            "usr/share/doc/bash/changelog.gz",
            "usr/share/man/man1/bash.1.gz",
            "usr/share/locale/de",
            "usr/share/locale/de/LC_MESSAGES/bash.mo",
        }
        & imported
    )


def test_a_second_build_waits_for_the_one_that_holds_the_machines_kit_lock(kit: Kit):
    # Two stages of `make test` run side by side, each with its own `make host-images`.
    kit.build()
    os.symlink(shutil.which("flock"), kit.bin / "flock")
    with open(kit.root / "kit.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        build = kit.start()
        with pytest.raises(subprocess.TimeoutExpired):
            build.wait(timeout=2)
        # only the engine's check (`docker info`) comes before the lock
        assert [call for call in kit.calls() if not call.startswith("info")] == []
    _, stderr = build.communicate(timeout=120)
    assert build.returncode == 0, stderr
    assert "another kit build runs on this machine: waiting for it" in stderr
    assert "kit ready" in stderr
