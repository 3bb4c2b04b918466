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
import functools
import os
import re
from collections.abc import Iterator
from typing import Any

try:
    import boto3
    from botocore import session as botocore_session
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        PartialCredentialsError,
        ProfileNotFound,
        SSOTokenLoadError,
        TokenRetrievalError,
        UnauthorizedSSOTokenError,
        UnknownRegionError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.loaders import create_loader
    from botocore.parsers import ResponseParserError
    from botocore.regions import EndpointResolver
except ImportError:  # AnsibleAWSModule reports a missing boto3/botocore by itself
    BotoCoreError = Exception  # the base of NotAwsAnswer below, never raised without botocore

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
# ThrottlingException, some JSON APIs say RequestThrottledException, SNS says Throttled).
EXTRA_THROTTLING_CODES = [
    "ThrottlingException",
    "RequestThrottledException",
    "SlowDown",
    "Throttled",
]

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


class NotAwsAnswer(BotoCoreError):
    """An answer without a member AWS always sends: the endpoint is not AWS (a web page from a
    proxy or a captive portal, another service). A BotoCoreError, so every handler of AWS
    failures handles it too."""

    fmt = "the answer has no {member}"


def answer_member(answer: dict[str, Any], member: str) -> Any:
    """``answer[member]``, or NotAwsAnswer: botocore parses a web page into an answer without
    members (EC2 and JSON protocols), which a plain ``[member]`` turns into a bare KeyError."""
    try:
        return answer[member]
    except (KeyError, TypeError):
        raise NotAwsAnswer(member=member) from None


def aws_retry():
    """Retry policy of every call made with ``aws_retry=True``: jittered backoff on throttling."""
    return AWSRetry.jittered_backoff(
        retries=8, delay=2, max_delay=30, catch_extra_error_codes=EXTRA_THROTTLING_CODES
    )


@functools.cache
def _endpoint_resolver() -> EndpointResolver:
    """botocore's endpoint data, read once: the file is large and a run asks several times.

    From the data, not a session: a session reads the profile (AWS_PROFILE), and a profile that
    does not exist must be reported by the call that uses it, in one line.
    """
    return EndpointResolver(_loader_of_data_path(None).load_data("endpoints"))


def _share_service_models() -> None:
    """One botocore loader per data path for the whole interpreter, instead of one per session.

    Every boto3 session (amazon.aws builds one per module run) makes its own loader, which reads
    and parses the service's model again (bench/aws_task_cost.py: an ec2_instance_info run took
    0.38 s so, 0.10 s with one loader). Under Mitogen the modules of a run share one
    interpreter, so a shared loader keeps the parsed models from one task to the next, for
    amazon.aws's modules too once one of this project's has run (preflight's identity check is
    the first task of site.yml and teardown.yml). Safe because the models are files that do not
    change during a run, and botocore's own per-loader cache already hands the same parsed model
    to every client of one session. In a process per module (the linear strategy) it changes
    nothing.
    """
    if botocore_session.create_loader is _shared_loader:
        return
    botocore_session.create_loader = _shared_loader


@functools.cache
def _loader_of_data_path(search_path_string: str | None):
    return create_loader(search_path_string)


def _shared_loader(search_path_string: str | None = None):
    loader = _loader_of_data_path(search_path_string)
    # boto3 appends its own data folder to the loader of each session it makes, after this:
    # the list keeps one copy of it too many, not one per session.
    loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))
    return loader


def partition_of_region(region: str | None) -> str:
    """The partition (aws, aws-cn, aws-us-gov...) a region name belongs to; ``aws`` when unknown."""
    if not region:
        return "aws"
    try:
        return _endpoint_resolver().get_partition_for_region(region)
    except UnknownRegionError:
        return "aws"


def aws_client(module: AnsibleAWSModule, service: str, region: str | None = None):
    """A boto3 client built like amazon.aws builds them, wrapped for ``aws_retry=True`` calls.

    ``region`` overrides the module's region (global services); the endpoint and credentials
    still come from the module options and environment (endpoint_url, AWS_URL,
    AWS_ENDPOINT_URL, profile, keys).
    """
    check_endpoint(module)
    check_session(module)
    _share_service_models()
    extra = {"region": region} if region else {}
    client = module.client(service, retry_decorator=aws_retry(), **extra)
    client.meta.events.register("after-call", refuse_foreign_answer)
    return client


def refuse_foreign_answer(http_response: Any, parsed: dict[str, Any], **kwargs: Any) -> None:
    """Raise NotAwsAnswer for a successful answer without a request id.

    AWS stamps every answer with one (the x-amzn-RequestId header, or RequestId / requestId in
    the body), and so does the emulator. A web page from a proxy or a wrong endpoint has none,
    and botocore parses it, for EC2 and the JSON APIs, into an answer without any member: an
    empty list would read as "nothing there" (a teardown check would find nothing left).
    """
    if http_response.status_code >= 300:
        return  # botocore raises the ClientError itself
    if not (parsed.get("ResponseMetadata") or {}).get("RequestId"):
        raise NotAwsAnswer(member="request id")


def check_session(module: AnsibleAWSModule) -> None:
    """Refuse a profile that does not exist in one line naming AWS_PROFILE.

    amazon.aws reads the region through the same profile and takes the failure for "no region",
    then reports it as "Couldn't connect to AWS" when it builds the client.
    """
    # The profile option also carries AWS_PROFILE and AWS_DEFAULT_PROFILE (amazon.aws reads
    # them into it): without one, there is no profile to miss.
    # botocore's PartialCredentialsError says "explicit" and names no variable.
    for given, missing in (("access_key", "secret_key"), ("secret_key", "access_key")):
        if module.params.get(given) and not module.params.get(missing):
            names = {"access_key": "AWS_ACCESS_KEY_ID", "secret_key": "AWS_SECRET_ACCESS_KEY"}
            module.fail_json(
                msg=f"{names[given]} is set but {names[missing]} is empty: set both, or "
                "neither (and AWS_PROFILE)",
                error_code="PartialCredentialsError",
            )
    profile = module.params.get("profile")
    if not profile:
        return
    with aws_errors(module, "open the AWS session", "none"):
        # Reading the region reads the profile: the first use that can fail.
        boto3.session.Session(profile_name=profile).region_name  # noqa: B018


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


def account_id_of(module: AnsibleAWSModule) -> str:
    """The module's account_id option when it has one, else the account of the credentials."""
    if module.params.get("account_id"):
        return module.params["account_id"]
    sts = aws_client(module, "sts", region=home_region(module))
    with aws_errors(module, "find the account id", "sts:GetCallerIdentity"):
        return answer_member(sts.get_caller_identity(aws_retry=True), "Account")


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
    # botocore's texts can span lines (ParamValidationError lists one problem per line, a
    # parser error quotes the body): a task's message is one line.
    return " ".join(_explain(exc, action, permission).split())


def _explain(exc: BaseException, action: str, permission: str) -> str:
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return NO_CREDENTIALS_MSG
    if isinstance(exc, (SSOTokenLoadError, UnauthorizedSSOTokenError, TokenRetrievalError)):
        return f"The AWS SSO session could not be used ({exc}): run `aws sso login`"
    if isinstance(exc, ProfileNotFound):
        return f"{exc}: fix AWS_PROFILE or the profile option, or define it in ~/.aws/config"
    if isinstance(exc, NoRegionError):
        return "No AWS region set: set the region option, AWS_REGION or AWS_DEFAULT_REGION"
    if isinstance(exc, (HTTPClientError, BotoConnectionError)):
        return (
            f"Could not reach the AWS endpoint while trying to {action} ({exc}): check the "
            "region, endpoint_url / AWS_URL / AWS_ENDPOINT_URL and that the emulator is running"
        )
    if isinstance(exc, ParamValidationError):
        return f"Invalid value while trying to {action}: {exc}"
    if _is_not_aws_answer(exc):
        return (
            f"Could not {action}: the endpoint's answer is not AWS's ({type(exc).__name__}: "
            f"{exc}): check endpoint_url / AWS_URL / AWS_ENDPOINT_URL"
        )
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


def warn_aws(
    module: AnsibleAWSModule, exc: BaseException, action: str, permission: str, outcome: str
) -> None:
    """For a call the module can do without: a warning naming the AWS error, the permission and
    what the module does instead (``outcome``). Anything but an AWS failure is raised again: a
    bug of ours, whose traceback is what the report needs."""
    if not is_aws_failure(exc):
        raise exc
    warn(module, f"{explain_aws_error(exc, action, permission)}: {outcome}")


@contextlib.contextmanager
def aws_errors(module: AnsibleAWSModule, action: str, permission: str) -> Iterator[None]:
    """Turn any AWS failure inside the block into ``fail_aws``.

    Callers catch the errors they expect (not found, ...) inside the block themselves.
    """
    try:
        yield
    except Exception as exc:
        if not is_aws_failure(exc):
            raise  # a bug of ours: its traceback is what the report needs
        fail_aws(module, exc, action, permission)


def is_aws_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is AWS (or the way to it) failing, rather than a bug in the caller.

    Besides botocore's own exceptions: ResponseParserError (a plain Exception, not a
    BotoCoreError) and the KeyError/TypeError/ValueError botocore's parsers raise on a body that
    is not the protocol's.
    """
    return isinstance(exc, (ClientError, BotoCoreError)) or _is_not_aws_answer(exc)


def _is_not_aws_answer(exc: BaseException) -> bool:
    if isinstance(exc, (NotAwsAnswer, ResponseParserError)):
        return True
    return isinstance(exc, (KeyError, TypeError, ValueError)) and _raised_by_botocore_parser(exc)


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
