"""account_guard against moto in process."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import boto3
import pytest
from ansible_collections.taskstack.aws.tests.unit.module_runner import (
    ACCOUNT_ID,
    REGION,
    run_module,
)

ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"


def guard(check_mode: bool = False, **args) -> dict:
    return run_module("account_guard", args, check_mode=check_mode)


def test_reports_identity_partition_and_region(aws):
    boto3.client("iam", region_name="us-east-1").create_account_alias(
        AccountAlias="taskstack-sandbox"
    )
    result = guard()
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is False
    assert result["account_id"] == ACCOUNT_ID
    assert result["arn"].startswith(f"arn:aws:sts::{ACCOUNT_ID}:")
    assert result["user_id"]
    assert result["account_alias"] == "taskstack-sandbox"
    assert (result["partition"], result["region"]) == ("aws", REGION)


def test_check_mode_gives_the_same_answer(aws):
    result = guard(check_mode=True)
    assert result["changed"] is False
    assert result["account_id"] == ACCOUNT_ID
    assert result["account_alias"] is None


def test_root_credentials_are_refused(aws, aws_answer):
    aws_answer("GetCallerIdentity", {"Account": ACCOUNT_ID, "Arn": ROOT_ARN, "UserId": ACCOUNT_ID})
    result = guard()
    assert result["failed"] is True
    assert result["msg"] == (
        f"Refusing the root user of account {ACCOUNT_ID} ({ROOT_ARN}): use an IAM user or role "
        "(or set allow_root: true)"
    )


def test_root_credentials_allowed_on_request(aws, aws_answer):
    aws_answer("GetCallerIdentity", {"Account": ACCOUNT_ID, "Arn": ROOT_ARN, "UserId": ACCOUNT_ID})
    result = guard(allow_root=True)
    assert result.get("failed") is not True
    assert result["arn"] == ROOT_ARN


def test_other_account_is_refused(aws):
    result = guard(allowed_account_ids=["111122223333"])
    assert result["failed"] is True
    assert f"Account {ACCOUNT_ID} is not in allowed_account_ids (111122223333)" in result["msg"]


def test_unknown_region_suggests_close_names(aws):
    result = guard(region="eu-wset-3")
    assert result["failed"] is True
    assert result["msg"].startswith("Unknown AWS region 'eu-wset-3': did you mean eu-west-3")
    assert "\n" not in result["msg"]


def test_region_not_enabled_for_the_account(aws):
    result = guard(region="ap-east-1")  # an opt-in region, not enabled in moto's account
    assert result["failed"] is True
    assert result["msg"].startswith(f"Region ap-east-1 is not enabled for account {ACCOUNT_ID}")


def test_region_checked_against_botocore_when_describe_regions_is_denied(restricted_credentials):
    keys = restricted_credentials(["sts:GetCallerIdentity", "iam:ListAccountAliases"])
    good = guard(**keys)
    assert good.get("failed") is not True, good.get("msg")
    assert "ec2:DescribeRegions" in str(good["warnings"])
    bad = guard(region="eu-wset-3", **keys)
    assert bad["failed"] is True
    assert "did you mean eu-west-3" in bad["msg"]


def test_alias_denied_is_a_warning_not_a_failure(restricted_credentials):
    keys = restricted_credentials(["sts:GetCallerIdentity", "ec2:DescribeRegions"])
    result = guard(**keys)
    assert result.get("failed") is not True, result.get("msg")
    assert result["account_alias"] is None
    assert "iam:ListAccountAliases" in str(result["warnings"])


def test_missing_credentials(monkeypatch: pytest.MonkeyPatch):
    # no moto: botocore gives up before sending anything
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup
    result = guard()
    assert result["failed"] is True
    assert result["msg"] == (
        "No AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
        "or run `aws sso login`"
    )


def test_missing_region(aws, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = guard()
    assert result["failed"] is True
    assert result["msg"] == (
        "No AWS region set: set the region option, AWS_REGION or AWS_DEFAULT_REGION"
    )


def test_rejected_credentials(aws, aws_error):
    aws_error("GetCallerIdentity", "InvalidClientTokenId", "The security token is invalid")
    result = guard()
    assert result["failed"] is True
    assert result["msg"].startswith(
        "AWS rejected the credentials while trying to identify the caller"
    )


def test_expired_credentials(aws, aws_error):
    aws_error("GetCallerIdentity", "ExpiredToken", "The security token has expired", status=400)
    result = guard()
    assert result["failed"] is True
    assert result["msg"].startswith("The AWS credentials have expired (ExpiredToken)")


def test_a_profile_that_does_not_exist_is_one_line(aws, monkeypatch):
    """The partition is read without a session, so the missing profile is reported by the call
    that uses it, through fail_json, and no ProfileNotFound escapes."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    result = guard()
    assert result["failed"] is True
    assert "no-such-profile" in result["msg"]
    assert "\n" not in result["msg"]


class WebPage(http.server.BaseHTTPRequestHandler):
    """An endpoint that answers every call with a web page (a proxy, a wrong port)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        page = b"<html><body>It works!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web_page_endpoint(monkeypatch) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WebPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_endpoint_that_answers_with_a_web_page_is_one_line(web_page_endpoint):
    result = guard(endpoint_url=web_page_endpoint, region=REGION)
    assert result["failed"] is True
    assert result["msg"].startswith("Could not identify the caller: the endpoint's answer is not")
    assert "check endpoint_url / AWS_URL / AWS_ENDPOINT_URL" in result["msg"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [("AWS_ENDPOINT_URL", "127.0.0.1:4566"), ("AWS_URL", "localhost:4566")],
)
def test_an_endpoint_without_its_scheme_is_named(variable, value, monkeypatch, no_aws_calls):
    monkeypatch.setenv(variable, value)
    result = guard(region=REGION)
    assert result["failed"] is True
    assert result["msg"].startswith(f"{variable}={value!r} is not an endpoint URL")


@pytest.mark.parametrize(
    ("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_a_region_of_another_partition_than_the_credentials_is_refused(
    aws, aws_answer, region, partition
):
    # An endpoint that answers a commercial identity for that region (moto answers as an
    # account of the region's partition).
    aws_answer(
        "GetCallerIdentity",
        {"Arn": f"arn:aws:iam::{ACCOUNT_ID}:user/deployer", "Account": ACCOUNT_ID, "UserId": "X"},
    )
    result = guard(region=region)
    assert result["failed"] is True
    assert result["msg"].startswith(
        f"AWS_REGION={region} is in the {partition} partition, but the credentials are of the "
        f"aws partition (arn:aws:"
    )
    assert "\n" not in result["msg"]


def test_credentials_refused_by_another_partition_say_why(aws, aws_error):
    """What AWS itself answers: China's STS does not know a commercial access key."""
    aws_error("GetCallerIdentity", "InvalidClientTokenId", "The security token is invalid")
    result = guard(region="cn-north-1")
    assert result["failed"] is True
    assert result["msg"].startswith(
        "AWS rejected the credentials in cn-north-1 (InvalidClientTokenId): that region is in "
        "the aws-cn partition, whose accounts are separate"
    )
