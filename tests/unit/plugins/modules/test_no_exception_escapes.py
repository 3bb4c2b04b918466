"""Fault injection: every AWS call a module makes can fail, and the module still ends in one line.

Issue 15 ("Modules fail through one path"). For each module, a typical successful run is recorded
against moto (the operations it calls, in order, and their answers). Then the run is repeated
with the recorded answers replayed up to call #k and a fault from call #k on: AWS refusals,
throttling that outlasts the retries, unreachable endpoints, a web page instead of AWS's answer,
missing credentials... Whatever happens, the module must end through ``fail_json`` (or, where it
deliberately degrades, ``exit_json`` with a warning): one non-empty line, and no Python exception
out of ``main()`` (``run_module`` only catches ``SystemExit``: anything else fails the test with
its traceback).

The fault is persistent (every call from #k on fails the same way), like an endpoint that stays
down: the module's retries see it again and give up, and a module that degrades meets it again on
its next call. Replayed answers keep the runs free of moto, so several hundred runs take seconds.
"""

from __future__ import annotations

import atexit
import copy
import os
import pickle
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.client
import botocore.parsers
import pytest
from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.taskstack.aws.tests.unit.ec2_stack import TAGS, build_stack, run_instance
from ansible_collections.taskstack.aws.tests.unit.module_runner import (
    ACCOUNT_ID,
    REGION,
    run_module,
)
from ansible_collections.taskstack.aws.tests.unit.monitoring import put_cpu_alarm, tag_list
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
    SSLError,
)

BUDGET = "taskstack-monthly"
ALARM = "taskstack-cpu-high"
TOPIC = "taskstack-alarms"
MONITORING_ARGS = {
    "alarms": [ALARM],
    "topics": [TOPIC],
    "tags": TAGS,
    "owner_tags": {"Project": "taskstack"},
}
OLD_EMAIL, NEW_EMAIL = "old@example.com", "new@example.com"

# ---------------------------------------------------------------- typical runs


def budgets() -> Any:
    return boto3.client("budgets", region_name="us-east-1")


def no_setup() -> None:
    """Nothing in the account beyond moto's defaults."""


def stack_setup() -> None:
    build_stack(boto3.client("ec2", region_name=REGION))


def untagged_stack_setup() -> None:
    """The stack with one subnet lacking its Environment tag: enforce has something to add."""
    ec2 = boto3.client("ec2", region_name=REGION)
    stack = build_stack(ec2)
    ec2.delete_tags(Resources=[stack.subnet], Tags=[{"Key": "Environment"}])


def budget_setup(tags: dict[str, str] | None = None) -> Callable[[], None]:
    """A 5 USD budget alerting OLD_EMAIL at 80% actual and 100% forecast, with ``tags``."""

    def setup() -> None:
        args: dict[str, Any] = {"name": BUDGET, "emails": [OLD_EMAIL], "tags": tags}
        result = run_module("budget_alert", args)
        assert result.get("failed") is not True, result.get("msg")

    return setup


def monitoring_setup() -> None:
    """The project's CPU alarm and alarm topic, each lacking the Environment tag."""
    owner = {"Project": "taskstack"}
    put_cpu_alarm(ALARM, owner)
    boto3.client("sns", region_name=REGION).create_topic(Name=TOPIC, Tags=tag_list(owner))


# The instance's id is known once the setup launched it: the setup writes it here.
USER_DATA_ARGS: dict[str, Any] = {"instance_id": "i-0123456789abcdef0"}


def user_data_setup() -> None:
    """An instance launched with a cloud-config document."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    USER_DATA_ARGS["instance_id"] = run_instance(ec2, subnet, None, UserData="#cloud-config\n")


@dataclass(frozen=True)
class Scenario:
    """One typical successful run of a module, and the operations it calls, in order."""

    name: str
    module: str
    args: dict[str, Any]
    calls: tuple[str, ...]
    setup: Callable[[], None] = no_setup
    # Operations whose failure the module reports as a warning and goes on (documented there).
    degrades: frozenset[str] = field(default_factory=frozenset)
    # Operations whose not-found answer means "nothing to do" (state=absent of a missing budget).
    done_when_not_found: frozenset[str] = field(default_factory=frozenset)


EC2_KINDS = (
    "DescribeVpcs",
    "DescribeSubnets",
    "DescribeRouteTables",
    "DescribeInternetGateways",
    "DescribeSecurityGroups",
    "DescribeInstances",
    "DescribeVolumes",
    "DescribeNetworkInterfaces",
    "DescribeKeyPairs",
)
COMPLIANCE_RULES = {
    "vpc_filters": {"tag:Project": "taskstack"},
    "required_tags": TAGS,
    "key_names": ["taskstack-key"],
}

SCENARIOS = [
    Scenario(
        "account_guard",
        "account_guard",
        {},
        ("GetCallerIdentity", "DescribeRegions", "ListAccountAliases"),
        degrades=frozenset({"DescribeRegions", "ListAccountAliases"}),
    ),
    Scenario(
        "instance_type_offerings_info",
        "instance_type_offerings_info",
        {"instance_types": ["t3.micro"]},
        ("DescribeInstanceTypeOfferings",),
    ),
    Scenario(
        "instance_user_data_info",
        "instance_user_data_info",
        USER_DATA_ARGS,
        ("DescribeInstanceAttribute",),
        setup=user_data_setup,
    ),
    Scenario(
        "tagged_resources_info",
        "tagged_resources_info",
        {"tags": TAGS},
        (*EC2_KINDS, "DescribeTags", "DescribeTags", "GetResources"),
        setup=stack_setup,
        degrades=frozenset({"DescribeTags", "GetResources"}),
    ),
    # The alarm and topic the tagging API lists are looked up in their own service (a topic
    # not found is gone).
    Scenario(
        "tagged_resources_info-monitoring",
        "tagged_resources_info",
        {"tags": {"Project": "taskstack"}},
        (*EC2_KINDS, "DescribeTags", "GetResources", "DescribeAlarms", "GetTopicAttributes"),
        setup=monitoring_setup,
        degrades=frozenset(
            {"DescribeTags", "GetResources", "DescribeAlarms", "GetTopicAttributes"}
        ),
        done_when_not_found=frozenset({"GetTopicAttributes"}),
    ),
    Scenario(
        "tag_compliance-enforce",
        "tag_compliance",
        dict(COMPLIANCE_RULES, mode="enforce"),
        (*EC2_KINDS, "CreateTags"),
        setup=untagged_stack_setup,
    ),
    Scenario(
        "budget_alert-create",
        "budget_alert",
        {"name": BUDGET, "emails": [NEW_EMAIL], "tags": TAGS},
        ("GetCallerIdentity", "DescribeBudget", "CreateBudget"),
    ),
    Scenario(
        "budget_alert-update",
        "budget_alert",
        {
            "name": BUDGET,
            "emails": [NEW_EMAIL],
            "limit": 8.0,
            "actual_threshold": 90.0,
            "tags": TAGS,
            "account_id": ACCOUNT_ID,
        },
        (
            "DescribeBudget",
            "DescribeNotificationsForBudget",
            "DescribeSubscribersForNotification",
            "ListTagsForResource",
            "UpdateBudget",
            "DeleteNotification",
            "CreateNotification",
            "CreateSubscriber",
            "DeleteSubscriber",
            "TagResource",
        ),
        setup=budget_setup(),
    ),
    Scenario(
        "budget_alert-absent",
        "budget_alert",
        {"name": BUDGET, "state": "absent", "tags": {"Project": "taskstack"}},
        ("GetCallerIdentity", "DescribeBudget", "ListTagsForResource", "DeleteBudget"),
        setup=budget_setup(TAGS),
        done_when_not_found=frozenset({"DescribeBudget"}),
    ),
    Scenario(
        "budget_alert-audit",
        "budget_alert",
        {"name": BUDGET, "state": "audit", "account_id": ACCOUNT_ID},
        ("DescribeBudget", "DescribeBudgets", "DescribeNotificationsForBudget"),
        setup=budget_setup(),
    ),
    Scenario(
        "monitoring_tags",
        "monitoring_tags",
        MONITORING_ARGS,
        (
            "GetCallerIdentity",
            "DescribeAlarms",
            "ListTagsForResource",
            "GetTopicAttributes",
            "ListTagsForResource",
            "TagResource",
            "TagResource",
        ),
        setup=monitoring_setup,
    ),
]
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}

# What a run gets: per call, its operation, HTTP status and parsed answer (errors included).
Recording = list[tuple[str, int, dict[str, Any]]]
RECORDINGS: dict[str, Recording] = {}
# `ansible-test units` runs each test in a fork of the process that collected it (its
# ansible_forked plugin): what a test adds to RECORDINGS goes with its fork. So each recording
# is also written to this folder, which every fork of the process reads (made at import,
# removed when the process ends; forks end with os._exit and leave it).
RECORDINGS_DIR = Path(tempfile.mkdtemp(prefix="taskstack-fault-recordings-"))
atexit.register(shutil.rmtree, RECORDINGS_DIR, ignore_errors=True)


def keep(name: str, calls: Recording) -> None:
    RECORDINGS[name] = calls
    path = RECORDINGS_DIR / f"{name}.pickle"
    partial = path.with_name(f"{name}.{os.getpid()}.partial")
    partial.write_bytes(pickle.dumps(calls))
    partial.replace(path)


def kept(name: str) -> Recording | None:
    if name not in RECORDINGS:
        path = RECORDINGS_DIR / f"{name}.pickle"
        if not path.exists():
            return None
        RECORDINGS[name] = pickle.loads(path.read_bytes())
    return RECORDINGS[name]


@dataclass
class HttpAnswer:
    """The part of botocore's HTTP response that BaseClient._make_api_call reads."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


def record(scenario: Scenario) -> tuple[dict[str, Any], Recording]:
    """Run the scenario against moto (the caller holds the ``aws`` fixture) and record it.

    Recorded under BaseClient._make_api_call (at _make_request, which sends and parses), so that
    a replay still goes through botocore's events, its error classes and the modules' checks.
    """
    scenario.setup()
    calls: Recording = []
    original = botocore.client.BaseClient._make_request

    def recording(self, operation_model, request_dict, request_context):
        http, parsed = original(self, operation_model, request_dict, request_context)
        calls.append((operation_model.name, http.status_code, copy.deepcopy(parsed)))
        return http, parsed

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.client.BaseClient, "_make_request", recording)
        result = run_module(scenario.module, scenario.args)
    return result, calls


@pytest.fixture
def recording(request: pytest.FixtureRequest) -> Callable[[Scenario], Recording]:
    """The recorded typical run of a scenario, made once per test session."""

    def get(scenario: Scenario) -> Recording:
        calls = kept(scenario.name)
        if calls is None:
            request.getfixturevalue("aws")  # moto only for the recording
            result, calls = record(scenario)
            assert result.get("failed") is not True, result.get("msg")
            keep(scenario.name, calls)
        return calls

    return get


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_typical_run_makes_the_listed_calls(aws, scenario: Scenario):
    """The call lists below are the module's real ones (the fault tests cover each of them)."""
    result, calls = record(scenario)
    assert result.get("failed") is not True, result.get("msg")
    assert tuple(operation for operation, _status, _answer in calls) == scenario.calls
    keep(scenario.name, calls)


# ---------------------------------------------------------------- faults

SERVICE_CODES = {
    # service: (access denied, throttled, not found)
    "ec2": ("UnauthorizedOperation", "RequestLimitExceeded", "InvalidVpcID.NotFound"),
    "sts": ("AccessDenied", "Throttling", "NoSuchEntity"),
    "iam": ("AccessDenied", "Throttling", "NoSuchEntity"),
    "budgets": ("AccessDeniedException", "ThrottlingException", "NotFoundException"),
    "cloudwatch": ("AccessDenied", "Throttling", "ResourceNotFound"),
    "sns": ("AuthorizationError", "Throttled", "NotFound"),
    "resourcegroupstaggingapi": (
        "AccessDeniedException",
        "ThrottlingException",
        "InvalidParameterException",
    ),
}
THROTTLED_STATUS = {"ec2": 503}


def service_of(client: Any) -> str:
    return client.meta.service_model.service_name


def error_answer(code: str, status: int, message: str = "refused by test") -> tuple:
    """An AWS error answer as botocore parses it; BaseClient raises the ClientError."""
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"RequestId": "fault-test", "HTTPStatusCode": status},
    }
    return HttpAnswer(status), parsed


def body_answer(client: Any, operation: str, body: bytes, status: int = 200) -> tuple:
    """What botocore's own parser makes of ``body`` answered with ``status`` to ``operation``.

    It raises (KeyError on a query-protocol web page, ResponseParserError on broken XML) or
    returns an answer without any of the operation's members (EC2 and JSON protocols).
    """
    model = client.meta.service_model
    parser = botocore.parsers.create_parser(model.protocol)
    response = {"body": body, "headers": {}, "status_code": status}
    parsed = parser.parse(response, model.operation_model(operation).output_shape)
    return HttpAnswer(status), parsed


def codes(client: Any) -> tuple[str, str, str]:
    return SERVICE_CODES[client.meta.service_model.service_name]


def throttled(client: Any) -> tuple:
    status = THROTTLED_STATUS.get(client.meta.service_model.service_name, 400)
    return error_answer(codes(client)[1], status)


def _raise(exc: BaseException) -> Any:
    raise exc


WEB_PAGE = b"<html><head><title>Portal</title></head><body><p>Sign in</p></body></html>"

# name -> what the call meets instead of AWS: raise, or return an (HTTP, parsed) answer.
FAULTS: dict[str, Callable[[Any, str], Any]] = {
    "access-denied": lambda c, op: error_answer(codes(c)[0], 403),
    "throttled": lambda c, op: throttled(c),
    "internal-error": lambda c, op: error_answer("InternalError", 500, "try again"),
    "not-found": lambda c, op: error_answer(codes(c)[2], 400),
    "expired-token": lambda c, op: error_answer("ExpiredToken", 400),
    "multi-line-message": lambda c, op: error_answer("ValidationException", 400, "one\ntwo"),
    "proxy-error-page": lambda c, op: body_answer(c, op, WEB_PAGE, status=502),
    "endpoint-unreachable": lambda c, op: _raise(
        EndpointConnectionError(endpoint_url=c.meta.endpoint_url)
    ),
    "connect-timeout": lambda c, op: _raise(ConnectTimeoutError(endpoint_url=c.meta.endpoint_url)),
    "read-timeout": lambda c, op: _raise(ReadTimeoutError(endpoint_url=c.meta.endpoint_url)),
    "connection-closed": lambda c, op: _raise(
        ConnectionClosedError(endpoint_url=c.meta.endpoint_url)
    ),
    "tls-error": lambda c, op: _raise(
        SSLError(endpoint_url=c.meta.endpoint_url, error="certificate verify failed")
    ),
    "no-credentials": lambda c, op: _raise(NoCredentialsError()),
    "invalid-parameter": lambda c, op: _raise(
        ParamValidationError(report="Invalid type for parameter A\nMissing parameter B")
    ),
    "web-page": lambda c, op: body_answer(c, op, WEB_PAGE),
    "broken-xml": lambda c, op: body_answer(c, op, b"<html><body>unclosed"),
}


@pytest.fixture(autouse=True)
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """AWSRetry's sleeps (up to 30 s each) skipped; the delays it asked for are returned."""
    slept: list[float] = []
    monkeypatch.setattr(cloud, "time", SimpleNamespace(sleep=slept.append))
    return slept


def replay_then_fail(
    monkeypatch: pytest.MonkeyPatch, calls: Recording, at: int, fault: str
) -> list[str]:
    """Answer calls before #``at`` from the recording, every later one with ``fault``."""
    sent: list[str] = []

    def make_request(self, operation_model, request_dict, request_context):
        index = len(sent)
        sent.append(operation_model.name)
        if index < at:
            expected, status, parsed = calls[index]
            assert operation_model.name == expected, f"call #{index}: {sent[-1]} != {expected}"
            return HttpAnswer(status), copy.deepcopy(parsed)
        assert len(sent) < at + 50, f"the module keeps calling after the fault: {sent[at:]}"
        return FAULTS[fault](self, operation_model.name)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_request", make_request)
    return sent


def assert_one_line(text: Any, what: str) -> None:
    assert isinstance(text, str) and text.strip(), f"{what} is empty: {text!r}"
    assert "\n" not in text and "\r" not in text, f"{what} is more than one line: {text!r}"


def fault_cases() -> list[Any]:
    return [
        pytest.param(scenario, at, fault, id=f"{scenario.name}-{at}-{operation}-{fault}")
        for scenario in SCENARIOS
        for at, operation in enumerate(scenario.calls)
        for fault in FAULTS
    ]


@pytest.mark.parametrize(("scenario", "at", "fault"), fault_cases())
def test_a_failing_call_ends_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    recording,
    no_retry_sleep: list[float],
    scenario: Scenario,
    at: int,
    fault: str,
):
    calls = recording(scenario)
    operation = scenario.calls[at]
    sent = replay_then_fail(monkeypatch, calls, at, fault)
    warnings: list[str] = []
    monkeypatch.setattr(
        "ansible.module_utils.basic.AnsibleModule.warn", lambda self, w: warnings.append(w)
    )

    result = run_module(scenario.module, scenario.args)  # an escaping exception fails here

    assert sent[at] == operation
    if fault == "throttled":  # given up only after AWSRetry's backoff (its sleeps skipped)
        assert sent.count(operation) > 1 and no_retry_sleep, sent
    for warning in warnings:
        assert_one_line(warning, "a warning")
    if result.get("failed"):
        assert_one_line(result.get("msg"), "msg")
        # The one path: fail_aws names the error (the AWS code, or the botocore class). A
        # not-found answer may instead lead to the module's own refusal ("does not exist").
        assert fault == "not-found" or result.get("error_code"), f"not via fail_aws: {result}"
        if fault == "access-denied":
            assert ":" in result["msg"] and "permission" in result["msg"], result["msg"]
        return
    # Not failed: only where the module says it degrades, or where not found means done.
    if fault == "not-found" and operation in scenario.done_when_not_found:
        return
    assert operation in scenario.degrades, f"{operation} failed with {fault} but the run passed"
    assert warnings, "a degraded run must say so"


# ---------------------------------------------------------------- before any call

MODULE_ARGS = {
    "account_guard": {},
    "instance_type_offerings_info": {"instance_types": ["t3.micro"]},
    "instance_user_data_info": USER_DATA_ARGS,
    "tagged_resources_info": {"tags": TAGS},
    "tag_compliance": COMPLIANCE_RULES,
    "budget_alert": {"name": BUDGET, "emails": [NEW_EMAIL]},
    "monitoring_tags": MONITORING_ARGS,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SESSION_FAULTS: dict[str, tuple[dict[str, str | None], str]] = {
    # name: (environment, what the message must say)
    "profile-not-found": (
        {
            "AWS_PROFILE": "no-such-profile",
            "AWS_ACCESS_KEY_ID": None,
            "AWS_SECRET_ACCESS_KEY": None,
        },
        "AWS_PROFILE",
    ),
    "no-credentials": (
        {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
        "AWS_ACCESS_KEY_ID",
    ),
    "endpoint-not-a-url": ({"AWS_ENDPOINT_URL": "127.0.0.1:4566"}, "AWS_ENDPOINT_URL"),
    "endpoint-refuses": (
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:{port}", "AWS_MAX_ATTEMPTS": "1"},
        "AWS_ENDPOINT_URL",
    ),
}


@pytest.mark.parametrize("fault", SESSION_FAULTS)
@pytest.mark.parametrize("module", MODULE_ARGS)
def test_an_unusable_session_ends_in_one_line(
    aws, monkeypatch: pytest.MonkeyPatch, module: str, fault: str
):
    """Faults of the session itself, met by botocore as a real run meets them (moto behind)."""
    environment, named = SESSION_FAULTS[fault]
    port = free_port()
    for name, value in environment.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value.format(port=port))
    result = run_module(module, MODULE_ARGS[module])
    assert result.get("failed") is True, result
    assert_one_line(result.get("msg"), "msg")
    assert named in result["msg"], result["msg"]


# ---------------------------------------------------------------- refusals of the options
# Every fail_json site of the modules has a test; these are the branches no other file drives
# (the others: test_account_guard, test_budget_alert*, test_tag_compliance,
# test_instance_type_offerings_info, test_tagged_resources_info).

BUDGET_ARGS = {"name": BUDGET, "emails": [NEW_EMAIL]}
RULE_ARGS = {"vpc_id": "vpc-1"}


@pytest.mark.parametrize(
    ("module", "args", "expected"),
    [
        ("budget_alert", dict(BUDGET_ARGS, name=""), "name '' is not valid"),
        ("budget_alert", dict(BUDGET_ARGS, name="x" * 101), "use 1-100 characters"),
        ("budget_alert", dict(BUDGET_ARGS, name="a\\b"), "without ':' or '\\'"),
        ("budget_alert", dict(BUDGET_ARGS, limit=float("inf")), "limit must be greater than 0"),
        ("budget_alert", dict(BUDGET_ARGS, account_id="12345"), "account_id must be 12 digits"),
        (
            "budget_alert",
            dict(BUDGET_ARGS, emails=[f"ops{i}@example.com" for i in range(11)]),
            "at most 10 e-mail subscribers",
        ),
        (
            "tag_compliance",
            dict(RULE_ARGS, required_tags={"": "x"}),
            "required_tags key '' is not valid",
        ),
        (
            "tag_compliance",
            dict(RULE_ARGS, required_tags={"Owner": 7}),
            "required_tags.Owner must be a string (got 7): quote it",
        ),
        (
            "tag_compliance",
            dict(RULE_ARGS, allowed_values={"Environment": "dev"}),
            "allowed_values.Environment must be a non-empty list",
        ),
        (
            "tag_compliance",
            dict(RULE_ARGS, allowed_values={"Environment": []}),
            "allowed_values.Environment must be a non-empty list",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else None,
)
def test_a_bad_option_is_one_line_before_any_call(no_aws_calls, module, args, expected):
    result = run_module(module, args)
    assert result.get("failed") is True, result
    assert_one_line(result.get("msg"), "msg")
    assert expected in result["msg"]


def test_every_problem_of_the_options_is_in_the_same_line(no_aws_calls):
    """Several bad options: all named, still one line (a user fixes them in one go)."""
    args = dict(BUDGET_ARGS, limit=0, currency="usd", emails=["a\nb@example.com"])
    result = run_module("budget_alert", args)
    assert result.get("failed") is True, result
    for expected in ("limit must be", "currency must be", "invalid e-mail address"):
        assert expected in result["msg"]
    assert "\n" not in result["msg"], result["msg"]
