"""embedded/alarms.py: an alarm that changes state notifies the SNS topics among its actions,
and each e-mail subscriber gets a line in the outbox, as AWS would send it a message."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch.models import CloudWatchBackend
from moto.sns.models import Subscription

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "embedded"))
import alarms as embedded_alarms  # noqa: E402 - embedded/ is found through sys.path

REGION = "eu-west-3"
PATCHED = (
    (CloudWatchBackend, "put_metric_alarm"),
    (CloudWatchBackend, "set_alarm_state"),
    (Subscription, "publish"),
)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Path]:
    """moto in process with the alarm actions installed, put back as they were afterwards."""
    saved = [(owner, name, getattr(owner, name)) for owner, name in PATCHED]
    path = tmp_path / "outbox.jsonl"
    embedded_alarms.install(path)
    try:
        with mock_aws():
            yield path
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def mails(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def alarm_on_topic(enabled: bool = True, ok_too: bool = False) -> tuple[Any, str]:
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="taskstack-alarms")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    cloudwatch.put_metric_alarm(
        AlarmName="taskstack-cpu-high",
        AlarmDescription="CPU above 80%",
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}],
        Statistic="Average",
        Period=300,
        EvaluationPeriods=3,
        Threshold=80.0,
        ComparisonOperator="GreaterThanThreshold",
        ActionsEnabled=enabled,
        AlarmActions=[topic],
        OKActions=[topic] if ok_too else [],
    )
    return cloudwatch, topic


def set_state(cloudwatch: Any, state: str) -> None:
    cloudwatch.set_alarm_state(
        AlarmName="taskstack-cpu-high", StateValue=state, StateReason=f"test: {state}"
    )


def test_a_new_alarm_has_insufficient_data_as_on_aws(outbox: Path):
    cloudwatch, _topic = alarm_on_topic()
    (alarm,) = cloudwatch.describe_alarms()["MetricAlarms"]
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    assert mails(outbox) == []


def test_an_alarm_going_off_e_mails_each_subscriber_once(outbox: Path):
    cloudwatch, topic = alarm_on_topic()
    set_state(cloudwatch, "ALARM")
    (mail,) = mails(outbox)
    assert (mail["to"], mail["topic"]) == ("ops@example.com", topic)
    assert mail["subject"] == 'ALARM: "taskstack-cpu-high" in Europe (Paris)'
    body = json.loads(mail["body"])
    assert body["AlarmDescription"] == "CPU above 80%"
    assert (body["OldStateValue"], body["NewStateValue"]) == ("INSUFFICIENT_DATA", "ALARM")
    assert body["Trigger"]["Threshold"] == 80.0
    set_state(cloudwatch, "ALARM")  # no change of state: no new e-mail
    assert len(mails(outbox)) == 1


def test_only_the_new_states_actions_run(outbox: Path):
    cloudwatch, _topic = alarm_on_topic(ok_too=False)
    set_state(cloudwatch, "OK")
    assert mails(outbox) == []


def test_an_alarm_with_actions_disabled_stays_silent(outbox: Path):
    cloudwatch, _topic = alarm_on_topic(enabled=False)
    set_state(cloudwatch, "ALARM")
    assert mails(outbox) == []
