#!/usr/bin/env python3
"""IAM enforcement for the embedded emulator: every request is checked against the caller's
IAM policies before moto runs it (embedded/emulator.py start --enforce-iam starts this).

moto's own check (moto/iam/access_control.py, switched on by INITIAL_NO_AUTH_ACTION_COUNT)
names actions after API operations ("budgets:CreateBudget", "tagging:GetResources"), matches
Resource only against "*" and does not evaluate conditions. A policy written for AWS would
therefore fail on it, or pass for the wrong reason. This wrapper keeps moto's authentication
(signature, access key lookup) and replaces the authorization step with one that:
- uses IAM's action names (budgets:ViewBudget / budgets:ModifyBudget, tag:GetResources);
- evaluates aws:RequestedRegion (the region the request is signed for),
  aws:RequestTag/<key> (the tags an EC2 request creates: TagSpecification or Tag parameters)
  and aws:PrincipalTag/<key> (the calling user's tags), also as policy variables such as
  "${aws:PrincipalTag/Project}" in condition values; a missing key fails the condition, as
  on AWS;
- does not evaluate other condition keys (aws:ResourceTag needs the resources a request
  touches, which moto does not tell): they count as met; Resource is not evaluated either;
- writes one JSON line per decision to EMBEDDED_IAM_LOG when set, so tests can compare the
  actions a run needs with a policy.

An administrator exists from the start and after every reset, with the emulator's usual fake
credentials (AWS_ACCESS_KEY_ID=testing, AWS_SECRET_ACCESS_KEY=testing): it creates the
deployer. No request is ever let through unauthenticated (INITIAL_NO_AUTH_ACTION_COUNT=0).

Usage: python embedded/iam_enforcement.py -H 127.0.0.1 -p 4566   (same options as server.py)
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import runpy
import sys
import threading
from pathlib import Path
from typing import Any

# Read by moto.settings at import: every request needs credentials, none is let through.
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.core.responses import ActionResult
from moto.iam.access_control import IAMPolicy, IAMRequestBase
from moto.iam.models import iam_backends
from moto.iam.responses import IamResponse
from moto.moto_api._internal.models import moto_api_backend

HERE = Path(__file__).resolve().parent
ADMIN_USER = "emulator-admin"
# The emulator's fake credentials (embedded/emulator.py FAKE_CREDENTIALS) become the admin's.
ADMIN_ACCESS_KEY = ("testing", "testing")
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
# Services whose IAM prefix differs from their signing name.
IAM_PREFIX = {"tagging": "tag"}
# IAM has two Budgets actions; which API operations need which (Budgets' IAM documentation).
BUDGETS_VIEW_PREFIXES = ("Describe", "List")

# The condition keys this emulator can evaluate (the others need the touched resources).
KNOWN_CONDITION_KEYS = ("aws:RequestedRegion", "aws:RequestTag/", "aws:PrincipalTag/")
POLICY_VARIABLE = re.compile(r"\$\{([^}]+)\}")

_log_lock = threading.Lock()


def iam_action(service: str, operation: str) -> str:
    """The IAM action a request needs, from its signing name and API operation."""
    if service == "budgets":
        return (
            "budgets:ViewBudget"
            if operation.startswith(BUDGETS_VIEW_PREFIXES)
            else "budgets:ModifyBudget"
        )
    return f"{IAM_PREFIX.get(service, service)}:{operation}"


def first(value: Any) -> str:
    """moto's query parameters are lists of strings."""
    return value[0] if isinstance(value, list) else str(value)


def request_tags(data: dict[str, Any]) -> dict[str, str]:
    """Tags an EC2 (query protocol) request puts on resources: TagSpecification.N.Tag.M.Key
    on Create*/RunInstances/ImportKeyPair, Tag.N.Key on CreateTags."""
    tags = {}
    for name, value in data.items():
        if not name.endswith(".Key"):
            continue
        prefix = name[: -len("Key")]
        parts = prefix.split(".")
        if parts[0] in ("TagSpecification", "Tag") and f"{prefix}Value" in data:
            tags[first(value)] = first(data[f"{prefix}Value"])
    return tags


def substitute(value: str, context: dict[str, str]) -> str | None:
    """Policy variables ("${aws:PrincipalTag/Project}"); None when one is unknown, because
    AWS then treats the value as matching nothing."""
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        if match[1] not in context:
            missing = True
        return context.get(match[1], "")

    result = POLICY_VARIABLE.sub(replace, value)
    return None if missing else result


def condition_met(operator: str, key: str, expected: Any, context: dict[str, str]) -> bool:
    """One condition key. Keys the emulator knows are evaluated; others count as met."""
    if not key.startswith(KNOWN_CONDITION_KEYS):
        return True
    base = operator.removesuffix("IfExists")
    if key not in context:
        return operator.endswith("IfExists") or base.startswith("StringNot")
    values = expected if isinstance(expected, list) else [expected]
    patterns = [v for v in (substitute(str(v), context) for v in values) if v is not None]
    actual = context[key]
    if base == "StringEquals":
        return actual in patterns
    if base == "StringLike":
        return any(fnmatch.fnmatchcase(actual, p) for p in patterns)
    if base == "StringNotEquals":
        return actual not in patterns
    if base == "StringNotLike":
        return not any(fnmatch.fnmatchcase(actual, p) for p in patterns)
    return True


def statement_applies(statement: dict[str, Any], action: str, context: dict[str, str]) -> bool:
    def matches(field: str) -> bool:
        patterns = statement[field] if isinstance(statement[field], list) else [statement[field]]
        # Action names are case-insensitive in IAM.
        return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)

    if "NotAction" in statement:
        if matches("NotAction"):
            return False
    elif not matches("Action"):
        return False
    return all(
        condition_met(operator, key, expected, context)
        for operator, keys in statement.get("Condition", {}).items()
        for key, expected in keys.items()
    )


def is_allowed(documents: list[dict[str, Any]], action: str, context: dict[str, str]) -> bool:
    """IAM's rule for one principal's policies: an explicit Deny wins, else any Allow."""
    statements = []
    for document in documents:
        found = document["Statement"]
        statements += found if isinstance(found, list) else [found]
    applying = [s for s in statements if statement_applies(s, action, context)]
    if any(s["Effect"] == "Deny" for s in applying):
        return False
    return any(s["Effect"] == "Allow" for s in applying)


def log_decision(record: dict[str, Any]) -> None:
    path = os.environ.get("EMBEDDED_IAM_LOG")
    if not path:
        return
    with _log_lock, open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


def principal_tags(request: IAMRequestBase) -> dict[str, str]:
    """Tags of the calling IAM user or role."""
    key = request._access_key
    backend = request.backend
    user = getattr(key, "_owner_user_name", None)
    if user:
        tags = backend.list_user_tags(user)
    else:
        tags = backend.get_role(key._owner_role_name).get_tags()
    return {t["Key"]: t["Value"] for t in tags}


def check_action_permitted(self: IAMRequestBase, resource: str) -> None:
    """Replaces moto's authorization step (authentication already happened in __init__)."""
    service, operation = self._action.split(":", 1)
    action = iam_action(service, operation)
    context = {"aws:RequestedRegion": self._region}
    context.update({f"aws:RequestTag/{k}": v for k, v in request_tags(self._data).items()})
    context.update({f"aws:PrincipalTag/{k}": v for k, v in principal_tags(self).items()})
    # AWS answers GetCallerIdentity whatever the policies say.
    if action == "sts:GetCallerIdentity":
        allowed = True
    else:
        documents = [IAMPolicy(p)._policy_json for p in self._access_key.collect_policies()]
        allowed = is_allowed(documents, action, context)
    principal = self._access_key.arn
    log_decision(
        {"action": action, "allowed": allowed, "principal": principal, "region": self._region}
    )
    if not allowed:
        raise access_denied(self, principal, action)


def access_denied(request: IAMRequestBase, principal: str, action: str) -> Exception:
    """AWS's answer in the request's protocol: moto's is XML, which botocore cannot read for
    JSON services such as Budgets (it would only see "403")."""
    if "X-Amz-Target" in request._headers:
        message = f"User: {principal} is not authorized to perform: {action}"
        return JsonRESTError("AccessDeniedException", message)
    return AccessDeniedError(user_arn=principal, action=action)


def seed_admin() -> None:
    backend = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_user("us-east-1", ADMIN_USER)
    backend.put_user_policy(ADMIN_USER, "administrator", json.dumps(ADMIN_POLICY))
    key = backend.create_access_key(ADMIN_USER)
    key.access_key_id, key.secret_access_key = ADMIN_ACCESS_KEY


def list_service_specific_credentials(self: IamResponse) -> ActionResult:
    """moto 5.2.5 lacks this call, which amazon.aws.iam_user makes before deleting a user.
    The emulator never creates such credentials (CodeCommit, Keyspaces): the list is empty."""
    self.backend.get_user(self._get_param("UserName"))  # NoSuchEntity like AWS
    return ActionResult({"ServiceSpecificCredentials": []})


def install() -> None:
    IAMRequestBase.check_action_permitted = check_action_permitted
    IamResponse.list_service_specific_credentials = list_service_specific_credentials
    reset = type(moto_api_backend).reset

    # A reset forgets every IAM user: the admin comes back at once, or nobody could sign in.
    def reset_and_seed(self: Any) -> None:
        reset(self)
        seed_admin()

    type(moto_api_backend).reset = reset_and_seed
    seed_admin()


def main() -> None:
    install()
    # server.py (moto plus host containers) runs as if started directly, with these options.
    sys.argv = [str(HERE / "server.py"), *sys.argv[1:]]
    runpy.run_path(str(HERE / "server.py"), run_name="__main__")


if __name__ == "__main__":
    main()
