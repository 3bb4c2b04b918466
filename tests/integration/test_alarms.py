"""The instance's alarms (roles/aws_alarms): a system status check that recovers the instance and
a sustained-CPU alarm, both e-mailing the budget's addresses through an SNS topic; tagged like
the rest, removed by teardown, and never someone else's of the same name."""

from __future__ import annotations

import json

import pytest
from harness import Emulator
from stack_testing import PROJECT, PROVISIONING, REGION, TEST_SETTINGS, put_alarm_by_hand

pytestmark = pytest.mark.slow

STATUS, CPU, TOPIC = f"{PROJECT}-status-check", f"{PROJECT}-cpu-high", f"{PROJECT}-alarms"
TOPIC_ARN = f"arn:aws:sns:{REGION}:123456789012:{TOPIC}"
RECOVER = f"arn:aws:automate:{REGION}:ec2:recover"
NEW = "ops@example.org"
TAGS = {"Project": PROJECT, "Environment": "dev", "ManagedBy": "ansible"}


def alarms(emulator: Emulator) -> dict[str, dict]:
    found = emulator.client("cloudwatch").describe_alarms()["MetricAlarms"]
    return {alarm["AlarmName"]: alarm for alarm in found}


def tags_of(emulator: Emulator, alarm: dict) -> dict[str, str]:
    answer = emulator.client("cloudwatch").list_tags_for_resource(ResourceARN=alarm["AlarmArn"])
    return {tag["Key"]: tag["Value"] for tag in answer["Tags"]}


def topics(emulator: Emulator) -> list[str]:
    return [t["TopicArn"] for t in emulator.client("sns").list_topics()["Topics"]]


def subscribers(emulator: Emulator) -> list[tuple[str, str]]:
    answer = emulator.client("sns").list_subscriptions_by_topic(TopicArn=TOPIC_ARN)
    return sorted((s["Protocol"], s["Endpoint"]) for s in answer["Subscriptions"])


def the_instance_id(emulator: Emulator) -> str:
    reservations = emulator.client("ec2").describe_instances(
        Filters=[
            {"Name": "tag:Project", "Values": [PROJECT]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )["Reservations"]
    return reservations[0]["Instances"][0]["InstanceId"]


def test_the_alarms_watch_the_instance_and_teardown_removes_them(
    run_playbook, fresh_emulator: Emulator
):
    site = run_playbook(*PROVISIONING)
    assert site.returncode == 0, site.output[-3000:]
    instance = the_instance_id(fresh_emulator)
    found = alarms(fresh_emulator)
    assert sorted(found) == [CPU, STATUS]

    status = found[STATUS]
    assert (status["Namespace"], status["MetricName"]) == ("AWS/EC2", "StatusCheckFailed_System")
    assert status["Dimensions"] == [{"Name": "InstanceId", "Value": instance}]
    assert (status["Statistic"], status["ComparisonOperator"], status["Threshold"]) == (
        "Minimum",
        "GreaterThanThreshold",
        0.0,
    )
    assert (status["Period"], status["EvaluationPeriods"]) == (60, 2)
    assert status["AlarmActions"] == [RECOVER, TOPIC_ARN]

    cpu = found[CPU]
    assert (cpu["MetricName"], cpu["Statistic"], cpu["Threshold"]) == (
        "CPUUtilization",
        "Average",
        80.0,
    )
    assert (cpu["Period"], cpu["EvaluationPeriods"]) == (300, 3)
    assert cpu["Dimensions"] == [{"Name": "InstanceId", "Value": instance}]
    assert cpu["AlarmActions"] == [TOPIC_ARN]
    assert all(tags_of(fresh_emulator, alarm) == TAGS for alarm in found.values())

    # The same addresses as the billing alert, by e-mail only.
    assert subscribers(fresh_emulator) == [("email", TEST_SETTINGS["BUDGET_ALERT_EMAIL"])]
    topic_tags = fresh_emulator.client("sns").list_tags_for_resource(ResourceArn=TOPIC_ARN)
    assert {t["Key"]: t["Value"] for t in topic_tags["Tags"]} == TAGS
    email = TEST_SETTINGS["BUDGET_ALERT_EMAIL"]
    said = f"Alarms: status check (EC2 recovers the host) and sustained CPU, by e-mail to {email}"
    assert said in " ".join(site.output.split())

    # The host fails (AWS's own way to try an alarm: SetAlarmState): the budget's inbox hears.
    sent = len(fresh_emulator.outbox())
    fresh_emulator.client("cloudwatch").set_alarm_state(
        AlarmName=STATUS, StateValue="ALARM", StateReason="test: the host failed its check"
    )
    (mail,) = fresh_emulator.outbox()[sent:]
    assert mail["to"] == email and mail["topic"] == TOPIC_ARN
    assert mail["subject"] == f'ALARM: "{STATUS}" in Europe (Paris)'
    body = json.loads(mail["body"])
    assert (body["NewStateValue"], body["OldStateValue"]) == ("ALARM", "INSUFFICIENT_DATA")
    assert body["Trigger"]["MetricName"] == "StatusCheckFailed_System"
    assert body["Trigger"]["Dimensions"] == [{"name": "InstanceId", "value": instance}]
    # Back to OK: the alarms have no OK action, so no e-mail.
    fresh_emulator.client("cloudwatch").set_alarm_state(
        AlarmName=STATUS, StateValue="OK", StateReason="test: recovered"
    )
    assert len(fresh_emulator.outbox()) == sent + 1

    # Deleted by hand: the next run's digest (roles/stack_state) sees it, and it comes back.
    fresh_emulator.client("cloudwatch").delete_alarms(AlarmNames=[CPU])
    restored = run_playbook("playbooks/provision.yml")
    assert restored.returncode == 0, restored.output[-3000:]
    assert sorted(alarms(fresh_emulator)) == [CPU, STATUS]

    # A new threshold and address: the alarm changes in place, the old address goes.
    changed = run_playbook(
        "playbooks/provision.yml",
        "-e",
        json.dumps(
            {"aws_alarms_cpu_threshold_percent": 90, "aws_budget_emails": ["ops@example.org"]}
        ),
    )
    assert changed.returncode == 0, changed.output[-3000:]
    assert alarms(fresh_emulator)[CPU]["Threshold"] == 90.0
    assert subscribers(fresh_emulator) == [("email", NEW)]
    settled = run_playbook(
        "playbooks/provision.yml",
        "-e",
        json.dumps(
            {"aws_alarms_cpu_threshold_percent": 90, "aws_budget_emails": ["ops@example.org"]}
        ),
    )
    assert settled.returncode == 0 and settled.changed == 0, settled.output[-3000:]

    teardown = run_playbook("teardown.yml")
    assert teardown.returncode == 0, teardown.output[-3000:]
    assert alarms(fresh_emulator) == {}
    assert topics(fresh_emulator) == []
    assert "nothing tagged Project=taskstack is left in eu-west-3" in teardown.output


def test_teardown_keeps_an_alarm_of_our_name_that_is_not_ours(
    run_playbook, fresh_emulator: Emulator
):
    put_alarm_by_hand(fresh_emulator, CPU, {"Project": "billing"})
    teardown = run_playbook("teardown.yml")
    assert teardown.returncode == 0, teardown.output[-3000:]
    assert sorted(alarms(fresh_emulator)) == [CPU]
    assert f"kept the CloudWatch alarm {CPU}: it is not tagged Project=taskstack" in " ".join(
        teardown.output.split()
    )


def test_the_leftovers_audit_names_a_project_alarm_teardown_does_not_know(
    run_playbook, fresh_emulator: Emulator
):
    """An alarm added by hand with the project's tags is not deleted (teardown deletes only
    the names it made) but the audit that ends teardown names it: nothing is left unseen."""
    put_alarm_by_hand(fresh_emulator, f"{PROJECT}-disk-full", TAGS)
    teardown = run_playbook("teardown.yml")
    assert teardown.returncode != 0
    assert (
        f"1 resource(s) still tagged Project=taskstack in eu-west-3: cloudwatch:alarm "
        f"{PROJECT}-disk-full" in " ".join(teardown.output.split())
    ), teardown.output[-3000:]
