#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""One digest of what a host's configuration and deployment leave on it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: host_state_info
short_description: Digest the files, services and containers a host's converge leaves on it
description:
  - Returns one SHA-256 digest of the host's state that the configuration and the deployment
    manage, together with O(salt). It covers the files under O(paths) (content, mode, owner,
    link targets), the state of the systemd O(units), and the containers of the Compose project
    O(compose_project) (image, labels, which hold Compose's configuration hash, state, health).
  - Recorded after a converge that succeeded, the digest tells a later run that nothing it
    would check has changed on the host since. Any change gives another digest (a file edited,
    a package upgraded, a service stopped, a container removed or unhealthy).
  - Files larger than O(large_file_bytes) count by size and modification time, not content, so
    that image archives of hundreds of megabytes are not read on every run.
  - Never changes anything.
author:
  - taskstack maintainers (@taskstack)
options:
  paths:
    description:
      - Files and folders whose content is part of the digest. A missing path counts as
        missing, not as an error.
    type: list
    elements: path
    default: []
  units:
    description:
      - systemd units whose activity and enablement are part of the digest.
    type: list
    elements: str
    default: []
  compose_project:
    description:
      - Name of the Compose project whose containers are part of the digest; empty for none.
    type: str
    default: ""
  salt:
    description:
      - A value mixed into the digest, such as the digest of the settings and code the host is
        converged from.
    type: str
    default: ""
  large_file_bytes:
    description:
      - Files larger than this count by size and modification time instead of content.
    type: int
    default: 1048576
notes:
  - Supports check mode (it changes nothing anyway).
  - Run it with the privileges that can read every path (become).
"""

EXAMPLES = r"""
- name: Digest what the converge left on the host
  taskstack.aws.host_state_info:
    paths: [/etc, /opt/taskapp, /var/lib/dpkg/status]
    units: [ssh.service, docker.service]
    compose_project: taskapp
  become: true
  register: host_state
"""

RETURN = r"""
digest:
  description: SHA-256 (hex) of the paths, units, containers and O(salt).
  returned: always
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
file_count:
  description: How many files, folders and links under O(paths) the digest covers (a missing
    path counts as one).
  returned: always
  type: int
  sample: 1830
container_count:
  description: How many containers of O(compose_project) the digest covers.
  returned: always
  type: int
  sample: 3
"""

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule

# Not SubState: a timer reads "running" while its job runs, with nothing changed.
UNIT_PROPERTIES = "Id,LoadState,ActiveState,UnitFileState"


def file_entry(path: Path, info: os.stat_result, large_file_bytes: int) -> list[Any]:
    meta = [stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid]
    if stat.S_ISLNK(info.st_mode):
        try:
            return ["link", os.readlink(path), *meta]
        except OSError as exc:
            return ["unreadable link", exc.errno, *meta]
    if stat.S_ISDIR(info.st_mode):
        return ["dir", *meta]
    if not stat.S_ISREG(info.st_mode):
        return ["special", *meta]  # sockets and pipes: their content is not state
    if info.st_size > large_file_bytes:
        return ["large", info.st_size, info.st_mtime_ns, *meta]
    try:
        return ["file", hashlib.sha256(path.read_bytes()).hexdigest(), *meta]
    except OSError as exc:
        return ["unreadable", exc.errno, *meta]


def walk(root: Path) -> list[Path]:
    if root.is_symlink() or not root.is_dir():
        return [root]
    found = [root]
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        found += [Path(folder, name) for name in sorted(dirs + files)]
    return found


def files_state(paths: list[str], large_file_bytes: int) -> dict[str, list[Any]]:
    state: dict[str, list[Any]] = {}
    for given in paths:
        root = Path(given)
        if not os.path.lexists(root):
            state[given] = ["missing"]
            continue
        for path in walk(root):
            try:
                state[str(path)] = file_entry(path, path.lstat(), large_file_bytes)
            except FileNotFoundError:  # removed while walking: not part of the state
                continue
    return state


def units_state(module: AnsibleModule, units: list[str]) -> str:
    if not units:
        return ""
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        return "no systemctl"
    rc, out, err = module.run_command([systemctl, "show", f"--property={UNIT_PROPERTIES}", *units])
    # A failing systemctl is a state too (one a converge that succeeded never recorded).
    return out if rc == 0 else f"systemctl failed ({rc}): {err.strip()}"


def containers_state(module: AnsibleModule, project: str) -> list[dict[str, Any]]:
    if not project:
        return []
    docker = module.get_bin_path("docker") or shutil.which("docker")
    if docker is None:
        return [{"docker": "missing"}]
    label = f"label=com.docker.compose.project={project}"
    rc, out, err = module.run_command(
        [docker, "ps", "--all", "--quiet", "--no-trunc", "--filter", label]
    )
    if rc != 0:
        return [{"docker": "not answering", "error": err.strip()}]
    ids = out.split()
    if not ids:
        return []
    rc, out, err = module.run_command([docker, "inspect", *ids])
    if rc != 0:  # a container removed between the two calls: state is moving, not settled
        return [{"docker": "inspect failed", "error": err.strip()}]
    try:
        containers = json.loads(out)
    except ValueError:
        return [{"docker": "inspect answered no JSON"}]
    return sorted((container_summary(c) for c in containers), key=lambda c: str(c["name"]))


def container_summary(container: dict[str, Any]) -> dict[str, Any]:
    state = container.get("State") or {}
    return {
        "name": container.get("Name"),
        "id": container.get("Id"),
        "image": container.get("Image"),
        "labels": (container.get("Config") or {}).get("Labels") or {},
        "status": state.get("Status"),
        # Not RestartCount: a restart policy moves it with nothing changed.
        "health": (state.get("Health") or {}).get("Status"),
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", default=[]),
            units=dict(type="list", elements="str", default=[]),
            compose_project=dict(type="str", default=""),
            salt=dict(type="str", default="", no_log=False),
            large_file_bytes=dict(type="int", default=1048576),
        ),
        supports_check_mode=True,
    )
    params = module.params
    files = files_state(params["paths"], params["large_file_bytes"])
    containers = containers_state(module, params["compose_project"])
    everything = {
        "files": files,
        "units": units_state(module, params["units"]),
        "containers": containers,
        "salt": params["salt"],
    }
    canonical = json.dumps(everything, sort_keys=True, separators=(",", ":"))
    module.exit_json(
        changed=False,
        digest=hashlib.sha256(canonical.encode()).hexdigest(),
        file_count=len(files),
        container_count=len(containers),
    )


if __name__ == "__main__":
    main()
