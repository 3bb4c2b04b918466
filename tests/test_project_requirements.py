"""requirements.yml lists exactly the collections the project uses; requirements.txt their Python.

A collection missing from requirements.yml works here (the `ansible` package bundles it) and
breaks for users who install from Galaxy; a listed one nothing uses is a download for nothing.
References are found by where Ansible takes a plugin name, not by any a.b.c in a string (host
names and attribute chains look the same).
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterator
from pathlib import Path

import ansible
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
# Ansible content: the playbooks, roles, inventory and Molecule scenarios (the app's compose
# file and CI settings are not).
YAML_PLACES = [
    "site.yml",
    "teardown.yml",
    "stop.yml",
    "start.yml",
    "backup.yml",
    "restore.yml",
    "playbooks",
    "roles",
    "inventory",
    "molecule",
    "tests",
]
SKIPPED_PARTS = {".venv", ".state", ".cache", "node_modules"}
NAME = r"[a-z_][a-z0-9_]*"
FQCN = re.compile(rf"^({NAME})\.({NAME})\.({NAME}(?:\.{NAME})*)$")
# In Jinja: filters, tests and lookups.
JINJA_REFERENCES = [
    re.compile(rf"\|\s*({NAME}\.{NAME}\.{NAME})\b"),
    re.compile(rf"\bis\s+(?:not\s+)?({NAME}\.{NAME}\.{NAME})\b"),
    re.compile(rf"\b(?:lookup|query|q)\(\s*['\"]({NAME}\.{NAME}\.{NAME})['\"]"),
]
# Keys whose value names a plugin or a role.
NAMING_KEYS = {"plugin", "role", "name", "action", "local_action", "module", "strategy"}
# Python: imports of collection code, and plugin names given as strings.
PYTHON_REFERENCES = [
    re.compile(rf"\bansible_collections\.({NAME})\.({NAME})\b"),
    re.compile(rf"['\"]({NAME}\.{NAME}\.{NAME})['\"]"),
]
# Python packages the collections need on the controller, stated in requirements.txt.
PYTHON_NEEDS = {
    "amazon.aws": {"boto3", "botocore"},
    "community.docker": {"docker", "requests"},
    "community.crypto": {"cryptography"},
}


def project_collection() -> str | None:
    galaxy = REPO_ROOT / "galaxy.yml"
    if not galaxy.exists():
        return None
    meta = yaml.safe_load(galaxy.read_text())
    return f"{meta['namespace']}.{meta['name']}"


def yaml_files() -> Iterator[Path]:
    for place in YAML_PLACES:
        path = REPO_ROOT / place
        candidates = [path] if path.is_file() else [*path.rglob("*.yml"), *path.rglob("*.yaml")]
        for candidate in candidates:
            if not SKIPPED_PARTS.intersection(candidate.relative_to(REPO_ROOT).parts):
                yield candidate


def collection_of(name: str) -> str | None:
    match = FQCN.match(name.strip())
    return f"{match[1]}.{match[2]}" if match else None


def references_in_yaml(node, *, in_list: bool = False, key: str = "") -> Iterator[str]:
    """Collections named by a task's module key, a naming key, module_defaults or Jinja."""
    if isinstance(node, dict):
        for child_key, value in node.items():
            child_key = str(child_key)
            # A task is a mapping inside a list; its module is a key (labels and the like are
            # mappings too, but never list items).
            if in_list or key == "module_defaults":
                found = collection_of(child_key.removeprefix("group/"))
                if found:
                    yield found
            yield from references_in_yaml(value, key=child_key)
    elif isinstance(node, list):
        for item in node:
            yield from references_in_yaml(item, in_list=True, key=key)
    elif isinstance(node, str):
        if key in NAMING_KEYS or key == "collections":
            found = collection_of(node.split()[0] if node.split() else "")
            if found:
                yield found
        for pattern in JINJA_REFERENCES:
            for match in pattern.finditer(node):
                yield collection_of(match[1])


def references_in_cfg(path: Path) -> Iterator[str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    for section in parser.sections():
        for value in parser[section].values():
            for token in re.split(r"[,\s]+", value):
                found = collection_of(token)
                if found:
                    yield found


def references_in_python(path: Path) -> Iterator[str]:
    text = path.read_text()
    for match in PYTHON_REFERENCES[0].finditer(text):
        yield f"{match[1]}.{match[2]}"
    for match in PYTHON_REFERENCES[1].finditer(text):
        yield collection_of(match[1])


def used_collections() -> dict[str, set[str]]:
    """Collection -> the files that use it (ansible.builtin and the project itself left out)."""
    used: dict[str, set[str]] = {}

    def add(found: str | None, path: Path) -> None:
        if found and found not in {"ansible.builtin", project_collection()}:
            used.setdefault(found, set()).add(str(path.relative_to(REPO_ROOT)))

    for path in yaml_files():
        for document in yaml.safe_load_all(path.read_text()):
            for found in references_in_yaml(document):
                add(found, path)
    for found in references_in_cfg(REPO_ROOT / "ansible.cfg"):
        add(found, REPO_ROOT / "ansible.cfg")
    for path in (REPO_ROOT / "plugins").rglob("*.py"):
        for found in references_in_python(path):
            add(found, path)
    return used


def listed_collections() -> set[str]:
    requirements = yaml.safe_load((REPO_ROOT / "requirements.yml").read_text())
    return {entry["name"] for entry in requirements["collections"]}


def pinned_packages() -> dict[str, str]:
    """requirements.txt: package name (lowercase, extras dropped) -> its line."""
    pinned = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name = re.split(r"[\[=<>~! ]", line, maxsplit=1)[0].lower()
            pinned[name] = line
    return pinned


def test_the_scan_sees_what_the_project_is_known_to_use():
    """Guards the scanner itself: a module, a filter, an inventory plugin, a Python import."""
    used = used_collections()
    assert "roles/aws_network/tasks/network.yml" in used["amazon.aws"]
    assert "inventory/aws_ec2.yml" in used["amazon.aws"]
    assert "plugins/modules/account_guard.py" in used["amazon.aws"]
    assert "roles/aws_teardown/tasks/vpc.yml" in used["community.general"]
    # Attribute chains and host names are not collections.
    assert not {"download.docker", "aws_network_vpc_result.vpc", "item.stat"} & set(used)


def test_every_collection_the_project_uses_is_in_requirements_yml():
    used = used_collections()
    missing = {name: sorted(paths)[:3] for name, paths in used.items()} if used else {}
    missing = {name: paths for name, paths in missing.items() if name not in listed_collections()}
    assert not missing, f"add to requirements.yml (used in): {missing}"


def test_every_collection_in_requirements_yml_is_used():
    unused = listed_collections() - set(used_collections())
    assert not unused, f"nothing uses {sorted(unused)}: remove them from requirements.yml"


def test_requirements_yml_ranges_admit_the_bundled_collections():
    """Offline the bundled versions are the ones that run: the ranges must include them."""
    collections = Path(ansible.__file__).resolve().parents[1] / "ansible_collections"
    if not collections.is_dir():
        pytest.skip("the `ansible` package's collections are not beside this Python's packages")
    requirements = yaml.safe_load((REPO_ROOT / "requirements.yml").read_text())["collections"]
    for entry in requirements:
        namespace, name = entry["name"].split(".")
        manifest = collections / namespace / name / "MANIFEST.json"
        version = yaml.safe_load(manifest.read_text())["collection_info"]["version"]
        for bound in entry["version"].split(","):
            operator, number = re.match(r"\s*([<>=!]+)\s*(\S+)", bound).groups()
            as_tuple = tuple(int(part) for part in number.split("."))
            bundled = tuple(int(part) for part in version.split(".")[:3])
            assert {
                ">=": bundled >= as_tuple,
                "<": bundled < as_tuple,
                ">": bundled > as_tuple,
                "<=": bundled <= as_tuple,
                "==": bundled == as_tuple,
                "!=": bundled != as_tuple,
            }[operator], f"{entry['name']} {entry['version']} excludes the bundled {version}"


@pytest.mark.parametrize("collection", sorted(PYTHON_NEEDS))
def test_the_python_packages_of_each_used_collection_are_pinned_and_said_why(collection: str):
    if collection not in used_collections():
        pytest.skip(f"{collection} is not used")
    pinned = pinned_packages()
    missing = sorted(PYTHON_NEEDS[collection] - set(pinned))
    assert not missing, f"{collection} needs {missing} in requirements.txt"
    comments = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("#") and collection in line for line in comments), (
        f"requirements.txt: say in a comment which packages {collection} needs"
    )


def test_galaxy_yml_depends_on_what_requirements_yml_lists():
    """Users of the built collection get the same collections, in the same ranges, as a clone."""
    requirements = yaml.safe_load((REPO_ROOT / "requirements.yml").read_text())
    listed = {entry["name"]: entry["version"] for entry in requirements["collections"]}
    galaxy = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
    assert galaxy["dependencies"] == listed
