# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared AWS plumbing for this project's modules.

One way to build clients (through amazon.aws's AnsibleAWSModule, so the endpoint, credential,
profile and CA settings are exactly those of the collection's modules, the local emulator
included), one retry policy for throttling, and one error translator that turns botocore
exceptions into a single line naming the permission or the value to fix.

Modules import it as
``from ansible_collections.taskstack.aws.plugins.module_utils.stack_aws import ...``; Ansible
ships this file along with the module.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import Any

try:
    from botocore.exceptions import (
        BotoCoreError,
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
        TokenRetrievalError,
        UnauthorizedSSOTokenError,
        UnknownRegionError,
    )
    from botocore.loaders import create_loader
    from botocore.regions import EndpointResolver
except ImportError:  # AnsibleAWSModule reports a missing boto3/botocore by itself
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# Where each partition's global services (STS's global answer, IAM, EC2 DescribeRegions) answer.
PARTITION_HOME_REGION = {
    "aws": "us-east-1",
    "aws-cn": "cn-north-1",
    "aws-us-gov": "us-gov-west-1",
}
# AWS Budgets has a single endpoint per partition; in the commercial one it lives in us-east-1.
BUDGETS_REGION = {"aws": "us-east-1", "aws-cn": "cn-northwest-1"}

# Throttling codes that amazon.aws's AWSRetry does not already retry (Budgets says
# ThrottlingException, some JSON APIs say RequestThrottledException).
EXTRA_THROTTLING_CODES = ["ThrottlingException", "RequestThrottledException", "SlowDown"]

ACCESS_DENIED_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
    "Forbidden",
}
BAD_CREDENTIAL_CODES = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "AuthFailure",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "IncompleteSignature",
    "MissingAuthenticationToken",
}
EXPIRED_CREDENTIAL_CODES = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}

NO_CREDENTIALS_MSG = (
    "No AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
    "or run `aws sso login`"
)


def aws_retry():
    """Retry policy of every call made with ``aws_retry=True``: jittered backoff on throttling."""
    return AWSRetry.jittered_backoff(
        retries=8, delay=2, max_delay=30, catch_extra_error_codes=EXTRA_THROTTLING_CODES
    )


def partition_of_region(region: str | None) -> str:
    """The partition (aws, aws-cn, aws-us-gov...) a region name belongs to; ``aws`` when unknown."""
    if not region:
        return "aws"
    # From botocore's endpoint data, not a session: a session reads the profile (AWS_PROFILE),
    # and a profile that does not exist must be reported by the call that uses it, in one line.
    resolver = EndpointResolver(create_loader().load_data("endpoints"))
    try:
        return resolver.get_partition_for_region(region)
    except UnknownRegionError:
        return "aws"


def aws_client(module: AnsibleAWSModule, service: str, region: str | None = None):
    """A boto3 client built like amazon.aws builds them, wrapped for ``aws_retry=True`` calls.

    ``region`` overrides the module's region (global services); the endpoint and credentials
    still come from the module options and environment (endpoint_url, AWS_URL,
    AWS_ENDPOINT_URL, profile, keys).
    """
    check_endpoint(module)
    extra = {"region": region} if region else {}
    return module.client(service, retry_decorator=aws_retry(), **extra)


# Where an endpoint can come from, in the order amazon.aws and botocore read them.
ENDPOINT_SOURCES = ("AWS_URL", "EC2_URL", "AWS_ENDPOINT_URL")


def check_endpoint(module: AnsibleAWSModule) -> None:
    """Refuse an endpoint that is not a URL, naming where it was set (botocore would only say
    "Invalid endpoint")."""
    # The environment first: amazon.aws copies AWS_URL and EC2_URL into endpoint_url.
    given = [(name, os.environ.get(name)) for name in ENDPOINT_SOURCES] + [
        ("endpoint_url", module.params.get("endpoint_url"))
    ]
    for source, value in given:
        if value and not re.match(r"^https?://[^/\s]+", value):
            module.fail_json(
                msg=f"{source}={value!r} is not an endpoint URL: write it with its scheme, "
                f"like http://127.0.0.1:4566 or https://ec2.eu-west-3.amazonaws.com"
            )


def warn(module: AnsibleAWSModule, message: str) -> None:
    """A warning for the task output.

    Goes straight to AnsibleModule: AnsibleAWSModule.warn also copies its warnings into the
    result, which ansible-core 2.19 reports as a deprecated use of ``warnings``.
    """
    module._module.warn(message)


def home_region(module: AnsibleAWSModule) -> str:
    """The region that always answers for the partition of the module's region."""
    return PARTITION_HOME_REGION.get(partition_of_region(module.region), "us-east-1")


def budgets_client(module: AnsibleAWSModule):
    """The Budgets client: a global API, so its region is fixed whatever ``region`` says."""
    partition = partition_of_region(module.region)
    return aws_client(module, "budgets", region=BUDGETS_REGION.get(partition, "us-east-1"))


def paginate(client, operation: str, **kwargs: Any) -> dict[str, Any]:
    """Every page of ``operation`` merged into one result, the whole walk retried on throttling."""

    @aws_retry()
    def _walk() -> dict[str, Any]:
        return client.get_paginator(operation).paginate(**kwargs).build_full_result()

    return _walk()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError, or the exception class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return type(exc).__name__


def _http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _is_access_denied(exc: ClientError) -> bool:
    code = error_code(exc)
    # A 403 whose body botocore could not parse (its code is then the bare status, "403") comes
    # from proxies and emulators answering in the wrong protocol; it is still a refusal.
    return code in ACCESS_DENIED_CODES or code == "403"


def explain_aws_error(exc: BaseException, action: str, permission: str) -> str:
    """One line saying what went wrong while trying to ``action`` and what to fix.

    ``permission`` is the IAM action the call needs; it is named when AWS refuses the call.
    """
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return NO_CREDENTIALS_MSG
    if isinstance(exc, (SSOTokenLoadError, UnauthorizedSSOTokenError, TokenRetrievalError)):
        return f"The AWS SSO session could not be used ({exc}): run `aws sso login`"
    if isinstance(exc, ProfileNotFound):
        return f"{exc}: fix AWS_PROFILE or the profile option, or define it in ~/.aws/config"
    if isinstance(exc, NoRegionError):
        return "No AWS region set: set the region option, AWS_REGION or AWS_DEFAULT_REGION"
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)):
        return (
            f"Could not reach the AWS endpoint while trying to {action} ({exc}): check the "
            "region, endpoint_url / AWS_URL / AWS_ENDPOINT_URL and that the emulator is running"
        )
    if isinstance(exc, ParamValidationError):
        return f"Invalid value while trying to {action}: {exc}"
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", "")).splitlines()
        detail = message[0] if message and not message[0].startswith("<") else str(exc)
        if _is_access_denied(exc):
            return (
                f"Access denied while trying to {action}: the credentials need the "
                f"{permission} permission ({code})"
            )
        if code in BAD_CREDENTIAL_CODES:
            return (
                f"AWS rejected the credentials while trying to {action} ({code}): check "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile"
            )
        if code in EXPIRED_CREDENTIAL_CODES:
            return (
                f"The AWS credentials have expired ({code}): refresh them "
                "(`aws sso login`, or a new session token)"
            )
        if code == "OptInRequired":
            return f"Could not {action}: the region is not enabled for this account ({code})"
        return f"Could not {action}: {code}: {detail}"
    return f"Could not {action}: {exc}"


def fail_aws(module: AnsibleAWSModule, exc: BaseException, action: str, permission: str, **extra):
    """Fail the module with the one-line explanation of ``exc``.

    ansible-core picks the traceback of the exception being handled up by itself (shown with -vvv).
    """
    module.fail_json(
        msg=explain_aws_error(exc, action, permission), error_code=error_code(exc), **extra
    )


@contextlib.contextmanager
def aws_errors(module: AnsibleAWSModule, action: str, permission: str) -> Iterator[None]:
    """Turn any AWS failure inside the block into ``fail_aws``.

    Callers catch the errors they expect (not found, ...) inside the block themselves.
    """
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        fail_aws(module, exc, action, permission)
    except (KeyError, TypeError, ValueError) as exc:
        if not _raised_by_botocore_parser(exc):
            raise
        module.fail_json(
            msg=(
                f"Could not {action}: the endpoint's answer is not AWS's ({type(exc).__name__}: "
                f"{exc}): check endpoint_url / AWS_URL / AWS_ENDPOINT_URL"
            ),
            error_code=type(exc).__name__,
        )


def _raised_by_botocore_parser(exc: BaseException) -> bool:
    """botocore's response parsers fail with plain KeyError/TypeError/ValueError on a body that
    is not the protocol's (a web page from a proxy or a wrong endpoint)."""
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename.replace("\\", "/").endswith("botocore/parsers.py"):
            return True
        frame = frame.tb_next
    return False


def boto3_tags_to_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """EC2's [{'Key': k, 'Value': v}] (``Tags`` or ``TagSet``) as a plain dict."""
    return {tag["Key"]: tag.get("Value", "") for tag in tags or []}


def dict_to_boto3_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def dict_to_filters(filters: dict[str, Any]) -> list[dict[str, Any]]:
    """Ansible-style filters ({'tag:Project': 'taskstack'}) as EC2 filters (values always lists)."""
    result = []
    for name, value in filters.items():
        values = value if isinstance(value, list) else [value]
        result.append({"Name": name, "Values": [str(item) for item in values]})
    return result
