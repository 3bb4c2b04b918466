"""folder_problem: preflight's look at the folders a run writes to, without a module run."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible_collections.taskstack.aws.plugins.lookup import folder_problem as plugin


def problems(*paths: object, playbook_dir: Path | None = None) -> list[str]:
    loader = DataLoader()
    if playbook_dir is not None:
        loader.set_basedir(str(playbook_dir))
    lookup = plugin.LookupModule(loader=loader, templar=Templar(loader=loader))
    return lookup.run(list(paths), {})


def test_a_writable_folder_and_the_paths_the_run_can_create_pass(tmp_path: Path) -> None:
    assert problems(str(tmp_path), str(tmp_path / "new"), str(tmp_path / "new" / "deeper")) == [
        "",
        "",
        "",
    ]


def test_a_file_where_the_folder_should_be_is_named(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    assert problems(str(tmp_path / "state")) == [f"{tmp_path / 'state'} is not a folder"]


@pytest.mark.parametrize("below", ["keys", "keys/deeper"])
def test_a_path_through_a_file_names_the_parent(tmp_path: Path, below: str) -> None:
    (tmp_path / "README.md").write_text("")
    path = tmp_path / "README.md" / below
    assert problems(str(path)) == [f"{path.parent} is not a writable folder"]


def test_a_link_to_a_folder_is_that_folder_and_a_dangling_link_is_in_the_way(
    tmp_path: Path,
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    assert problems(str(tmp_path / "linked"), str(tmp_path / "dangling")) == [
        "",
        f"{tmp_path / 'dangling'} is not a folder",
    ]


def test_folders_the_caller_cannot_write_to_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As root (CI) every folder is writable: the permission answer is the one thing faked.
    monkeypatch.setattr(plugin.os, "access", lambda path, mode: False)
    assert problems(str(tmp_path), str(tmp_path / "new")) == [
        f"{tmp_path} is not writable",
        f"{tmp_path} is not a writable folder",
    ]


def test_home_and_variables_are_expanded_as_for_a_module_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("STATE_PARENT", str(tmp_path))
    (tmp_path / "file").write_text("")
    assert problems("~/file", "$STATE_PARENT/file") == [
        f"{tmp_path / 'file'} is not a folder",
        f"{tmp_path / 'file'} is not a folder",
    ]


@pytest.mark.parametrize("term", [None, 3, ["a"]])
def test_anything_but_a_path_is_refused(term: object) -> None:
    with pytest.raises(AnsibleError, match="folder_problem takes paths"):
        problems(term)


def test_an_empty_path_is_a_problem_for_the_check_to_name(tmp_path: Path) -> None:
    assert problems("", " ") == ["the path is empty", "the path is empty"]


def test_a_relative_path_counts_from_the_playbooks_folder_as_the_run_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "state").write_text("")
    monkeypatch.chdir(tmp_path)  # where the shell is does not count
    assert problems("state", playbook_dir=playbooks) == [f"{playbooks / 'state'} is not a folder"]
    assert problems("new", playbook_dir=playbooks) == [""]


def test_a_trailing_slash_names_what_is_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    assert problems(f"{tmp_path}/file/", f"{tmp_path}/dangling/", f"{tmp_path}/") == [
        f"{tmp_path / 'file'} is not a folder",
        f"{tmp_path / 'dangling'} is not a folder",
        "",
    ]


def test_a_path_that_cannot_be_looked_at_is_in_the_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As root (CI) every folder can be searched: the refusal of the system is the one thing faked.
    def refuse(path: str) -> None:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(plugin.os, "stat", refuse)
    assert problems(str(tmp_path / "state")) == [
        f"{tmp_path / 'state'} cannot be looked at (Permission denied)"
    ]
