"""Helpers for the least-privilege tests: the deployer policy, its user, what the emulator saw."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from harness import REPO_ROOT, Emulator, PlaybookRun, Runner

POLICY_FILE = REPO_ROOT / "iam" / "deployer-policy.json"
# The deployer's other managed policy (roles/aws_deployer_iam: aws_deployer_iam_extra_policy_files).
ALARMS_POLICY_FILE = REPO_ROOT / "iam" / "deployer-policy-alarms.json"
DEPLOYER_PLAYBOOK = "playbooks/deployer_iam.yml"
DEPLOYER_ROLE = "aws_deployer_iam"
DEPLOYER = "taskstack-deployer"
# AWS and the emulator answer GetCallerIdentity whatever the policies say: not in the policy.
ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}
# AWS's own answer (amazon.aws modules show it), or the project's modules' one-line version.
DENIED = (
    re.compile(r"AccessDenied.*?not authorized to perform: (?P<action>[\w-]+:\w+)", re.S),
    re.compile(r"need the (?P<action>[\w-]+:\w+) permission \(AccessDenied(Exception)?\)"),
)


def load_policy(path: Path = POLICY_FILE) -> dict[str, Any]:
    return json.loads(path.read_text())


def deployer_policies() -> dict[str, Any]:
    """Every statement the deployer gets by default, its two documents as one."""
    main, alarms = load_policy(), load_policy(ALARMS_POLICY_FILE)
    return dict(main, Statement=main["Statement"] + alarms["Statement"])


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def policy_actions(policy: dict[str, Any]) -> set[str]:
    return {action for s in policy["Statement"] for action in as_list(s["Action"])}


def without_action(policy: dict[str, Any], action: str) -> dict[str, Any]:
    """The policy with one action taken out of every statement (emptied statements dropped)."""
    trimmed = copy.deepcopy(policy)
    statements = []
    for statement in trimmed["Statement"]:
        statement["Action"] = [a for a in as_list(statement["Action"]) if a != action]
        if statement["Action"]:
            statements.append(statement)
    trimmed["Statement"] = statements
    assert policy_actions(trimmed) == policy_actions(policy) - {action}
    return trimmed


def decisions(emulator: Emulator) -> list[dict[str, Any]]:
    """Every authorization decision of the emulator since its log was last cleared."""
    path = emulator.state_dir / "iam-decisions.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def clear_decisions(emulator: Emulator) -> None:
    (emulator.state_dir / "iam-decisions.jsonl").write_text("")


def deployer_principal(account: str = "123456789012") -> str:
    return f"arn:aws:iam::{account}:user/{DEPLOYER}"


def credentials_file(state_dir: Path) -> Path:
    return state_dir / "deployer" / f"{DEPLOYER}.credentials"


def deployer_runner(admin: Runner) -> Runner:
    """Runs playbooks as the deployer, the way the deployer playbook says to."""
    env = {
        k: v
        for k, v in admin.env.items()
        if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=str(credentials_file(admin.state_dir)),
        AWS_PROFILE=DEPLOYER,
    )
    return Runner(env, admin.state_dir)


def create_deployer(admin: Runner, *args: str) -> PlaybookRun:
    run = admin.playbook(DEPLOYER_PLAYBOOK, *args)
    assert run.returncode == 0, run.output[-3000:]
    return run


def denied_actions(run: PlaybookRun) -> set[str]:
    # The yaml callback folds long messages over several lines.
    text = " ".join(run.output.split())
    return {match["action"] for pattern in DENIED for match in pattern.finditer(text)}
