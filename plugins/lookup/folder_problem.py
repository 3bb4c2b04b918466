# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""Why a folder on the controller could not hold a run's files, or "" when it can."""

from __future__ import annotations

DOCUMENTATION = r"""
name: folder_problem
short_description: Why a controller folder could not hold the run's files, or an empty string
description:
  - For each path, on the controller, returns an empty string when the run can write files
    there (a writable folder, or a path whose parent is a writable folder or does not exist
    yet, so that the run can create it), and otherwise one sentence naming the path that is in
    the way (C(X is not a folder), C(X is not writable), C(PARENT is not a writable folder)).
  - C(~) and environment variables are expanded, as for a module's path option, and a
    relative path counts from the playbook's folder, as the run's modules and lookups write
    it; a trailing slash is ignored; symbolic links are followed, so a link to a folder counts
    as that folder. An empty path is a problem (C(the path is empty)), and so is a path that
    cannot be looked at (C(X cannot be looked at (Permission denied))).
  - Read in the calling process, with no module run, so that preflight's check costs no
    Python start per folder.
options:
  _terms:
    description: Paths of folders the run writes to.
    type: list
    elements: path
    required: true
author:
  - taskstack maintainers (@taskstack)
"""

EXAMPLES = r"""
- name: Refuse a state folder the run could not write to
  ansible.builtin.assert:
    that: __problem == ''
    fail_msg: "project_state_dir cannot hold the run's files: {{ __problem }}"
  vars:
    __problem: "{{ lookup('taskstack.aws.folder_problem', project_state_dir) }}"
"""

RETURN = r"""
_raw:
  description: One string per path, empty when the run can write there.
  type: list
  elements: str
"""

import errno
import os
import stat
from typing import Any

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

# The path itself, or one of its parents, is a file: neither can be a folder.
THROUGH_A_FILE = "through a file"


def mode_of(path: str) -> int | str | None:
    """The mode of what `path` leads to (links followed), None when nothing is there, or
    THROUGH_A_FILE when a parent on the way is not a folder."""
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        # A dangling link is something in the way too.
        return stat.S_IFLNK if os.path.islink(path) else None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            return THROUGH_A_FILE
        raise


def is_writable_folder(mode: int | str | None, path: str) -> bool:
    return isinstance(mode, int) and stat.S_ISDIR(mode) and os.access(path, os.W_OK)


def expanded(path: str, base: str) -> str:
    """`path` as the run's modules and lookups would write to it: `~` and variables expanded,
    relative to `base` (the playbook's folder), without a trailing slash (which would make the
    system follow a link or refuse a file before this function could name it)."""
    path = os.path.expanduser(os.path.expandvars(path))
    return os.path.join(base, path).rstrip(os.sep) or os.sep


def folder_problem(path: str) -> str:
    """Why the folder `path` (already expanded) could not hold the run's files, or ""."""
    mode = mode_of(path)
    if isinstance(mode, int):
        if not stat.S_ISDIR(mode):
            return f"{path} is not a folder"
        return "" if os.access(path, os.W_OK) else f"{path} is not writable"
    parent = os.path.dirname(path)
    parent_mode = mode_of(parent) if mode is None else THROUGH_A_FILE
    if parent_mode is None or is_writable_folder(parent_mode, parent):
        return ""
    return f"{parent} is not a writable folder"


class LookupModule(LookupBase):
    def run(
        self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[str]:
        base = self._loader.get_basedir()
        problems = []
        for term in terms:
            if not isinstance(term, str):
                raise AnsibleError(f"folder_problem takes paths, not {term!r}")
            if not term.strip():
                problems.append("the path is empty")
                continue
            path = expanded(term, base)
            try:
                problems.append(folder_problem(path))
            except OSError as exc:
                # A parent the caller may not search, a loop of links: in the way all the same.
                problems.append(f"{path} cannot be looked at ({exc.strerror})")
        return problems
