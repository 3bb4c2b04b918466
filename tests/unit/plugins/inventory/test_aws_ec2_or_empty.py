"""aws_ec2_or_empty hides only what the credentials check reports better.

"AWS cannot be asked" (no, rejected or expired credentials, no region, no endpoint) is one
warning line and no hosts: the identity check that site.yml and teardown.yml run first says
what to fix. Any other failure of amazon.aws.aws_ec2 (DescribeInstances refused, throttling, a
bad filter...) goes to ansible-core, as without the plugin: hiding it would turn it into "no
hosts" and a run that blames PROJECT_NAME.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace

import pytest
from ansible.module_utils import _internal
from ansible_collections.taskstack.aws.plugins.module_utils.stack_aws import (
    BAD_CREDENTIAL_CODES,
    EXPIRED_CREDENTIAL_CODES,
)
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOTokenLoadError,
)

SOURCE = "/project/inventory/aws_ec2.yml"
HIDDEN_PREFIX = f"{SOURCE}: no hosts, AWS could not be asked: "


@pytest.fixture
def plugin_module() -> Iterator[ModuleType]:
    """taskstack.aws.aws_ec2_or_empty.

    Importing it imports ansible-core's controller code, which from then on sends the warnings
    of modules run in process to the display instead of their result: the flag is put back
    after each test, so the module tests that read ``warnings`` still see them.
    """
    was_controller = _internal.is_controller
    yield importlib.import_module(
        "ansible_collections.taskstack.aws.plugins.inventory.aws_ec2_or_empty"
    )
    _internal.is_controller = was_controller


def client_error(code: str, status: int = 400) -> ClientError:
    error = {
        "Error": {"Code": code, "Message": "the answer of AWS"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(error, "DescribeInstances")


class FailingRealPlugin:
    """amazon.aws.aws_ec2 failing the way it does: its AnsibleError raised while handling
    botocore's exception (plugin_utils fail_aws)."""

    def __init__(self, exc: BaseException, ansible_error: type[Exception]) -> None:
        self.exc = exc
        self.ansible_error = ansible_error

    def parse(self, inventory, loader, path, cache=True) -> None:
        try:
            raise self.exc
        except Exception as exc:
            raise self.ansible_error(f"Failed to describe instances: {exc}")  # noqa: B904


def parse_with(
    plugin_module: ModuleType, exc: BaseException, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """Parse through aws_ec2_or_empty with a real plugin that fails with ``exc``."""
    real = FailingRealPlugin(exc, plugin_module.AnsibleError)
    monkeypatch.setattr(plugin_module.inventory_loader, "get", lambda _: real)
    warnings: list[str] = []
    plugin = plugin_module.InventoryModule()
    monkeypatch.setattr(plugin, "display", SimpleNamespace(warning=warnings.append))
    plugin.parse(SimpleNamespace(), loader=None, path=SOURCE)
    return warnings


HIDDEN = {
    "no-credentials": (NoCredentialsError(), "no AWS credentials"),
    "partial-credentials": (
        PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
        "no AWS credentials",
    ),
    "sso-session": (SSOTokenLoadError(error_msg="no token"), "the AWS SSO session cannot be used"),
    "missing-profile": (ProfileNotFound(profile="nope"), "the AWS profile does not exist"),
    "no-region": (NoRegionError(), "no AWS region"),
    "no-endpoint": (
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1/"),
        "the AWS endpoint does not answer",
    ),
    "connect-timeout": (
        ConnectTimeoutError(endpoint_url="https://ec2.eu-west-3.amazonaws.com/"),
        "the AWS endpoint does not answer",
    ),
    **{
        code: (client_error(code, 401), "AWS rejected the credentials")
        for code in sorted(BAD_CREDENTIAL_CODES)
    },
    **{
        code: (client_error(code, 400), "the AWS credentials have expired")
        for code in sorted(EXPIRED_CREDENTIAL_CODES)
    },
}


@pytest.mark.parametrize(("exc", "what"), HIDDEN.values(), ids=HIDDEN.keys())
def test_aws_that_cannot_be_asked_is_one_warning_naming_the_check_that_says_more(
    plugin_module: ModuleType, exc: BaseException, what: str, monkeypatch: pytest.MonkeyPatch
):
    warnings = parse_with(plugin_module, exc, monkeypatch)
    assert len(warnings) == 1
    assert warnings[0].startswith(HIDDEN_PREFIX + what + " (")
    assert "\n" not in warnings[0]
    assert "(playbooks/preflight.yml) says what to fix" in warnings[0]


REPORTED = {
    "unauthorized-operation": client_error("UnauthorizedOperation", 403),
    "access-denied": client_error("AccessDenied", 403),
    "throttled": client_error("RequestLimitExceeded", 503),
    "bad-filter": client_error("InvalidParameterValue"),
    "region-not-enabled": client_error("OptInRequired", 403),
    "server-error": client_error("InternalError", 500),
    "read-timeout": ReadTimeoutError(endpoint_url="https://ec2.eu-west-3.amazonaws.com/"),
    "bad-parameter": ParamValidationError(report="Invalid type for parameter Filters"),
}


@pytest.mark.parametrize("exc", REPORTED.values(), ids=REPORTED.keys())
def test_every_other_aws_failure_reaches_ansible_core(
    plugin_module: ModuleType, exc: BaseException, monkeypatch: pytest.MonkeyPatch
):
    with pytest.raises(plugin_module.AnsibleError, match="Failed to describe instances"):
        parse_with(plugin_module, exc, monkeypatch)
