"""The shared module_utils: client factory, retries, error translator."""

from __future__ import annotations

import boto3
import botocore.loaders
import botocore.session
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.taskstack.aws.plugins.module_utils import stack_aws
from ansible_collections.taskstack.aws.plugins.module_utils.stack_aws import (
    NO_CREDENTIALS_MSG,
    NotAwsAnswer,
    aws_errors,
    aws_retry,
    budgets_client,
    explain_aws_error,
    partition_of_region,
    refuse_foreign_answer,
)
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError


def client_error(code: str, status: int = 400, message: str = "nope") -> ClientError:
    error = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(error, "AnyOperation")


def aws_module(**args) -> AnsibleAWSModule:
    with patch_module_args(args):
        return AnsibleAWSModule(argument_spec={})


# ---------------------------------------------------------------- clients


def test_budgets_client_is_global_but_keeps_the_endpoint(monkeypatch: pytest.MonkeyPatch):
    client = budgets_client(aws_module(region="eu-west-3"))
    assert client.meta.region_name in ("us-east-1", "aws-global")  # botocore's name for it
    assert client.meta.endpoint_url == "https://budgets.amazonaws.com"

    option = budgets_client(aws_module(region="eu-west-3", endpoint_url="http://127.0.0.1:4566"))
    assert option.meta.endpoint_url == "http://127.0.0.1:4566"

    monkeypatch.setenv("AWS_URL", "http://127.0.0.1:4567")  # amazon.aws's own variable
    assert budgets_client(aws_module()).meta.endpoint_url == "http://127.0.0.1:4567"


def test_botocore_endpoint_variable_is_honoured(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")  # the embedded default's
    assert budgets_client(aws_module()).meta.endpoint_url == "http://127.0.0.1:4566"


def test_sessions_share_parsed_service_models_once_a_client_was_built(
    monkeypatch: pytest.MonkeyPatch,
):
    # As in a module process: botocore's own factory (conftest installs the shared one).
    monkeypatch.setattr(botocore.session, "create_loader", botocore.loaders.create_loader)
    budgets_client(aws_module(region="eu-west-3"))
    assert botocore.session.create_loader is stack_aws._shared_loader

    # What amazon.aws builds for each module run: a new session, a new client.
    first = boto3.session.Session()._session
    second = boto3.session.Session()._session
    assert first.get_component("data_loader") is second.get_component("data_loader")
    model = first.get_service_model("ec2")
    assert second.get_service_model("ec2").operation_names == model.operation_names

    # boto3 adds its own folder to the loader of each session: the list must not grow with them.
    loader = first.get_component("data_loader")
    length = len(loader.search_paths)
    for region in ("eu-west-1", "eu-west-2", "eu-west-3"):
        boto3.session.Session(region_name=region)
    assert len(loader.search_paths) == length

    # A session with its own data path (AWS_DATA_PATH) keeps a loader of its own.
    other = botocore.session.get_session()
    other.set_config_variable("data_path", "/nonexistent/models")
    assert other.get_component("data_loader") is not loader
    assert other.get_component("data_loader").search_paths[0] == "/nonexistent/models"


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("eu-west-3", "aws"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("nowhere", "aws"),
    ],
)
def test_partition_of_region(region, partition):
    assert partition_of_region(region) == partition


# ---------------------------------------------------------------- retries


def test_throttling_is_retried_with_backoff(monkeypatch: pytest.MonkeyPatch):
    sleeps: list[float] = []
    monkeypatch.setattr(cloud.time, "sleep", sleeps.append)
    calls = []

    @aws_retry()
    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise client_error("ThrottlingException")  # Budgets' spelling
        return "done"

    assert flaky() == "done"
    assert len(calls) == 3
    assert len(sleeps) == 2


def test_other_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(cloud.time, "sleep", lambda _: pytest.fail("slept"))

    @aws_retry()
    def denied():
        raise client_error("AccessDeniedException")

    with pytest.raises(ClientError):
        denied()


# ---------------------------------------------------------------- error translator


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            client_error("AccessDeniedException"),
            "Access denied while trying to read budget 'b': the credentials need the "
            "budgets:ViewBudget permission (AccessDeniedException)",
        ),
        (client_error("UnauthorizedOperation"), "need the budgets:ViewBudget permission"),
        (
            client_error("403", status=403, message="<?xml ..."),
            "need the budgets:ViewBudget permission",
        ),
        (client_error("InvalidClientTokenId", 403), "AWS rejected the credentials while trying to"),
        (client_error("ExpiredToken"), "The AWS credentials have expired (ExpiredToken)"),
        (
            client_error("ValidationException", message="bad\nthing"),
            "Could not read budget 'b': ValidationException: bad",
        ),
        (NoCredentialsError(), NO_CREDENTIALS_MSG),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:4566/"),
            "Could not reach the AWS endpoint while trying to read budget 'b'",
        ),
    ],
)
def test_errors_become_one_line(exc, expected):
    message = explain_aws_error(exc, "read budget 'b'", "budgets:ViewBudget")
    assert expected in message
    assert "\n" not in message


# ---------------------------------------------------------------- one path, but not for bugs


def test_a_bug_inside_aws_errors_is_not_taken_for_aws():
    """A KeyError of our own (not raised by botocore's parsers) keeps its traceback."""
    module = aws_module()
    with pytest.raises(KeyError, match="ours"), aws_errors(module, "do it", "x:Y"):
        raise KeyError("ours")


class Http:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


@pytest.mark.parametrize(
    ("status", "parsed", "refused"),
    [
        (200, {"ResponseMetadata": {"HTTPStatusCode": 200}}, True),  # a web page, parsed
        (200, {}, True),
        (200, {"Vpcs": [], "ResponseMetadata": {"RequestId": "r-1"}}, False),
        (400, {"Error": {"Code": "X"}, "ResponseMetadata": {}}, False),  # botocore's to raise
    ],
)
def test_a_successful_answer_without_request_id_is_not_aws(status, parsed, refused):
    if refused:
        with pytest.raises(NotAwsAnswer, match="no request id"):
            refuse_foreign_answer(http_response=Http(status), parsed=parsed)
    else:
        refuse_foreign_answer(http_response=Http(status), parsed=parsed)
