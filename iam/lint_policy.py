#!/usr/bin/env python3
"""Lint the deployer's IAM policies with parliament; fail on any finding not accepted.

Each accepted finding is listed in iam/parliament-accepted.yml with a one-line reason. An
accepted finding that parliament no longer reports fails too, so the list never goes stale.

Usage: python iam/lint_policy.py   (make lint runs it)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from parliament import analyze_policy_string

HERE = Path(__file__).resolve().parent
POLICIES = ("deployer-policy.json", "deployer-policy-alarms.json", "deployer-policy-kms.json")
ACCEPTED = HERE / "parliament-accepted.yml"

Finding = tuple[str, str, str]  # file, issue, statement Sid


def statement_sid(lines: list[str], line: int) -> str:
    """The Sid of the statement that starts at a 1-based line (parliament's location)."""
    for text in lines[line - 1 :]:
        if '"Sid"' in text:
            return text.split(":", 1)[1].strip().strip('",')
    return "?"


def findings(name: str) -> list[Finding]:
    text = (HERE / name).read_text()
    lines = text.splitlines()
    found = []
    for finding in analyze_policy_string(text).findings:
        line = (finding.location or {}).get("line") or 0
        found.append((name, finding.issue, statement_sid(lines, line) if line else "?"))
    return found


def accepted() -> dict[Finding, str]:
    entries: list[dict[str, Any]] = yaml.safe_load(ACCEPTED.read_text()) or []
    for entry in entries:
        if not all(
            str(entry.get(field) or "").strip() for field in ("file", "issue", "sid", "reason")
        ):
            raise SystemExit(
                f"{ACCEPTED.name}: every entry needs file, issue, sid and a reason: {entry}"
            )
    return {(e["file"], e["issue"], e["sid"]): e["reason"] for e in entries}


def main() -> int:
    known = accepted()
    found = {f for name in POLICIES for f in findings(name)}
    new = sorted(found - set(known))
    stale = sorted(set(known) - found)
    for file, issue, sid in new:
        print(f"{file}: {issue} in {sid}: fix it, or accept it in {ACCEPTED.name} with a reason")
    for file, issue, sid in stale:
        print(f"{file}: {issue} in {sid} is no longer reported: remove it from {ACCEPTED.name}")
    if not new and not stale:
        print(f"parliament: {len(found)} finding(s), all accepted in {ACCEPTED.name}")
    return 1 if new or stale else 0


if __name__ == "__main__":
    sys.exit(main())
