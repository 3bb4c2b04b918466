"""Fixtures for the unit tests of the project's modules: fake AWS, moto in process."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import botocore.session
import pytest
from ansible.module_utils import _internal
from ansible_collections.taskstack.aws.plugins.module_utils import stack_aws
from ansible_collections.taskstack.aws.tests.unit.ec2_stack import Stack, build_stack
from ansible_collections.taskstack.aws.tests.unit.module_runner import REGION
from botocore.exceptions import ClientError, DataNotFoundError
from moto import mock_aws

# The emulator's model of the Budgets calls moto lacks (embedded/budgets.py), the same one the
# emulator server runs. The collection as built leaves embedded/ out: tests/tools/ansible-test.sh
# puts the file beside this one for `ansible-test units`.
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "embedded"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import budgets as embedded_budgets  # noqa: E402 - found through sys.path (not a package)

# The services the project's modules call: their models are parsed once, when this file is
# imported. `ansible-test units` runs each test in a fork of the process that imported it
# (its ansible_forked plugin), so a model parsed in a test would be parsed again in every test.
SERVICES = ("ec2", "sts", "budgets", "cloudwatch", "sns", "iam", "resourcegroupstaggingapi")
# The project's own shared loader (module_utils/stack_aws.py), which a module run in a
# persistent interpreter installs itself: installed and filled here, before any fork.
shared_loader = stack_aws._shared_loader


def parse_the_models_once() -> None:
    loader = shared_loader()
    for name in ("endpoints", "partitions", "sdk-default-configuration", "_retry"):
        loader.load_data(name)
    for service in SERVICES:
        for type_name in ("service-2", "paginators-1", "waiters-2", "endpoint-rule-set-1"):
            # Not every service has every file; a model botocore lacks is one a test never asks for.
            with contextlib.suppress(DataNotFoundError):
                loader.load_service_model(service, type_name)


parse_the_models_once()


@pytest.fixture(autouse=True, scope="session")
def shared_botocore_loader():
    """One botocore data loader for the whole run, the one the project's modules install.

    Each module run builds new boto3 sessions, as a real module process does, and each new
    session parses the service models again (a third of a second for EC2). Sharing the loader
    (it caches what it parsed) keeps the suite fast; the amazon.aws modules' tests, which never
    build a client through stack_aws, share it too.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", shared_loader)
        yield


@pytest.fixture(autouse=True)
def modules_run_as_on_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing ansible-core's controller code (the filter and inventory plugins' tests do)
    sets a flag after which the warnings of modules run in process go to the display instead
    of their result: each test starts as a module process does, without it."""
    monkeypatch.setattr(_internal, "is_controller", False)


@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, a fixed region, and nothing from the developer's own AWS setup.

    AWS_ENDPOINT_URL (set by the embedded default) would send the calls to a real emulator
    instead of moto in process.
    """
    for name in list(os.environ):
        if name.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")):
            monkeypatch.delenv(name)
    for name in (
        "AWS_URL",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "AWS_CA_BUNDLE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    # moto's 1,300 default AMIs cost a second per test; tests register the image they need.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def aws():
    """moto in process for the whole test, with the emulator's Budgets calls, so that the
    modules meet the same AWS behaviour as on the embedded emulator (embedded/budgets.py)."""
    embedded_budgets.install()
    with mock_aws():
        yield


@pytest.fixture
def ec2(aws):
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def stack(ec2) -> Stack:
    """A compliant project stack, plus untagged resources in the default VPC and another VPC."""
    return build_stack(ec2)


@pytest.fixture
def restricted_credentials(aws, monkeypatch: pytest.MonkeyPatch):
    """Make moto enforce IAM, and return keys of a user allowed only ``actions``.

    The user is created with enforcement still off; every request after that is checked.
    """
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    def make(actions: list[str]) -> dict[str, str]:
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="restricted")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
        iam.put_user_policy(
            UserName="restricted", PolicyName="only", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName="restricted")["AccessKey"]
        monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
        monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
        return {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}

    return make


def _patch_operation(monkeypatch: pytest.MonkeyPatch, operation: str, answer) -> None:
    """Route one AWS operation to ``answer(self, api_params)``; the others go on as usual."""
    original = botocore.client.BaseClient._make_api_call

    def api_call(self, operation_name, api_params):
        if operation_name == operation:
            return answer(self, api_params)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", api_call)


@pytest.fixture
def aws_error(monkeypatch: pytest.MonkeyPatch):
    """Make one operation (e.g. "GetCallerIdentity") fail with an AWS error code.

    For refusals moto cannot produce (its IAM layer never denies GetCallerIdentity, and answers
    JSON services in XML).
    """

    def make(operation: str, code: str, message: str = "denied by test", status: int = 403):
        def fail(client, api_params):
            error = {"Error": {"Code": code, "Message": message}}
            error["ResponseMetadata"] = {"HTTPStatusCode": status}
            raise ClientError(error, operation)

        _patch_operation(monkeypatch, operation, fail)

    return make


@pytest.fixture
def aws_answer(monkeypatch: pytest.MonkeyPatch):
    """Make one operation return ``response`` (e.g. a root ARN moto would never give)."""

    def make(operation: str, response: dict[str, Any]) -> None:
        _patch_operation(monkeypatch, operation, lambda client, api_params: response)

    return make


@pytest.fixture
def tagging_lists_deleted(monkeypatch: pytest.MonkeyPatch):
    """GetResources as AWS answers it: a resource once listed is listed after its deletion too
    ("tagged or previously tagged"), as the embedded emulator models it (embedded/realism.py)."""
    original = botocore.client.BaseClient._make_api_call
    listed: dict[str, dict[str, Any]] = {}

    def api_call(
        self: botocore.client.BaseClient, operation_name: str, api_params: dict[str, Any]
    ) -> dict[str, Any]:
        answer = original(self, operation_name, api_params)
        if operation_name == "GetResources" and not api_params.get("PaginationToken"):
            mappings = answer.get("ResourceTagMappingList", [])
            live = {mapping["ResourceARN"] for mapping in mappings}
            listed.update({mapping["ResourceARN"]: mapping for mapping in mappings})
            mappings += [m for arn, m in listed.items() if arn not in live]
        return answer

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", api_call)
    return listed


@pytest.fixture
def no_aws_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any request to AWS fails the test: option checks must come first."""

    def refuse(self, operation_name, api_params):
        raise AssertionError(f"unexpected AWS call {operation_name}")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refuse)
