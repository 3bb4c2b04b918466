#!/usr/bin/env python3
"""Writes docs/roles.md from each role's meta/argument_specs.yml: every setting, its type,
default and description, as `ansible-doc -t role` shows them, on one page that renders on the
project's web page. The specs are the only source; `make docs` rewrites the page and
tests/test_project_docs.py fails when it is out of date.

Usage: docs/role_docs.py [--check]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGE = REPO_ROOT / "docs" / "roles.md"
HEADER = """# Role settings

Generated from each role's `meta/argument_specs.yml` by `docs/role_docs.py` (`make docs`): do
not edit by hand. The same text, per role, in a terminal: `ansible-doc -t role -r roles <role>`.
Settings the project sets for every run are in `inventory/group_vars/` (README, Variables).
"""


def cell(text: object) -> str:
    """One Markdown table cell: no line breaks, no bare pipes."""
    if isinstance(text, list):
        text = " ".join(str(t) for t in text)
    return " ".join(str(text).split()).replace("|", "\\|")


def shown_default(option: dict[str, Any]) -> str:
    if "default" not in option:
        return "required" if option.get("required") else ""
    value = option["default"]
    return f"`{value}`" if isinstance(value, str) else f"`{json.dumps(value)}`"


def shown_type(option: dict[str, Any]) -> str:
    kind = option.get("type", "str")
    return f"{kind} of {option['elements']}" if "elements" in option else kind


def option_rows(options: dict[str, Any], prefix: str = "") -> list[str]:
    rows = []
    for name, option in options.items():
        rows.append(
            f"| `{prefix}{name}` | {shown_type(option)} | {cell(shown_default(option))} "
            f"| {cell(option.get('description', ''))} |"
        )
        if option.get("choices"):
            rows[-1] = rows[-1][:-2] + f" One of: {', '.join(map(str, option['choices']))}. |"
        rows += option_rows(option.get("options", {}), prefix=f"{prefix}{name}[].")
    return rows


def role_section(role: Path) -> list[str]:
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    lines = [f"## {role.name}", ""]
    main = specs.get("main", {})
    lines += [cell(main.get("short_description", "")), ""]
    lines += ["| setting | type | default | description |", "|---|---|---|---|"]
    lines += option_rows(main.get("options", {}))
    others = [name for name in specs if name != "main"]
    if others:
        lines += ["", "Other entry points (same settings):", ""]
        lines += [
            f"- `{name}`: {cell(specs[name].get('short_description', ''))}"
            for name in sorted(others)
        ]
    return [*lines, ""]


def page() -> str:
    roles = sorted(p.parent.parent for p in REPO_ROOT.glob("roles/*/meta/argument_specs.yml"))
    lines = [HEADER]
    lines += [f"- [{role.name}](#{role.name})" for role in roles]
    lines.append("")
    for role in roles:
        lines += role_section(role)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = page()
    if argv[:1] == ["--check"]:
        if PAGE.read_text() != text:
            print(f"{PAGE.relative_to(REPO_ROOT)} is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
