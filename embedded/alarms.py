"""Alarm actions for the embedded emulator, and the e-mails they would send.

moto 5.2 stores CloudWatch alarms but never acts on them: SetAlarmState changes the state and
nothing else, and an SNS e-mail subscription receives nothing. On AWS, an alarm that changes
state runs the actions of its new state (AlarmActions for ALARM, OKActions for OK,
InsufficientDataActions for INSUFFICIENT_DATA), SetAlarmState included (CloudWatch API
reference: "the alarm [...] sends an SNS message"); an SNS topic sends each e-mail subscriber
the message with the subject CloudWatch gave it ('ALARM: "<name>" in <region>').

`install(outbox)` patches moto so that:
- a new alarm starts in INSUFFICIENT_DATA, as on AWS ("Unchecked: Initial alarm creation"),
  where moto starts it in OK;
- a state change (SetAlarmState, the only way a moto alarm changes state) publishes
  CloudWatch's notification, a JSON document with the alarm, its old and new states and its
  trigger, to every SNS topic among the new state's actions, when the alarm's actions are
  enabled;
- each e-mail subscriber of a topic that publishes gets one JSON line in the outbox file:
  {"time", "to", "subject", "body", "topic"}. Nothing leaves the machine.

Not modelled: the e-mail confirmation (moto answers as if every subscription were confirmed),
metric evaluation (moto never moves an alarm by itself), EC2 actions (recover, stop...).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import botocore.loaders
from moto.cloudwatch.models import CloudWatchBackend
from moto.sns.models import Subscription, sns_backends

ACTIONS_OF_STATE = {
    "ALARM": "alarm_actions",
    "OK": "ok_actions",
    "INSUFFICIENT_DATA": "insufficient_data_actions",
}
E_MAIL_PROTOCOLS = ("email", "email-json")
_lock = threading.Lock()


def region_description(region: str) -> str:
    """ "Europe (Paris)" for eu-west-3, from botocore's endpoint data; the name if unknown."""
    data = botocore.loaders.create_loader().load_data("endpoints")
    for partition in data["partitions"]:
        if region in partition["regions"]:
            return partition["regions"][region].get("description", region)
    return region


def notification(alarm: Any, old_state: str, account_id: str) -> dict[str, Any]:
    """CloudWatch's SNS message for a state change (the fields AWS documents, in its order)."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account_id,
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": alarm.state_updated_timestamp.isoformat(),
        "Region": region_description(alarm.region_name),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "Trigger": {
            "MetricName": alarm.metric_name,
            "Namespace": alarm.namespace,
            "Statistic": alarm.statistic,
            "Dimensions": [{"name": d.name, "value": d.value} for d in alarm.dimensions],
            "Period": alarm.period,
            "EvaluationPeriods": alarm.evaluation_periods,
            "ComparisonOperator": alarm.comparison_operator,
            "Threshold": alarm.threshold,
        },
    }


def subject(alarm: Any) -> str:
    return f'{alarm.state_value}: "{alarm.name}" in {region_description(alarm.region_name)}'


def run_actions(backend: CloudWatchBackend, alarm: Any, old_state: str) -> None:
    """Publish the notification to each SNS topic among the new state's actions."""
    if not alarm.actions_enabled or alarm.state_value == old_state:
        return
    actions = getattr(alarm, ACTIONS_OF_STATE.get(alarm.state_value, ""), None) or []
    sns = sns_backends[backend.account_id][backend.region_name]
    message = json.dumps(notification(alarm, old_state, backend.account_id))
    for action in actions:
        if action.split(":")[2:3] == ["sns"] and action in sns.topics:
            sns.topics[action].publish(message, subject=subject(alarm))


def install(outbox: Path | None) -> None:
    set_alarm_state = CloudWatchBackend.set_alarm_state
    put_metric_alarm = CloudWatchBackend.put_metric_alarm
    publish = Subscription.publish

    def put_unchecked(self: CloudWatchBackend, name: str, *args: Any, **kwargs: Any) -> Any:
        new = name not in self.alarms
        alarm = put_metric_alarm(self, name, *args, **kwargs)
        if new:
            self.alarms[name].state_value = "INSUFFICIENT_DATA"
        return alarm

    def set_state_and_act(
        self: CloudWatchBackend, alarm_name: str, reason: str, reason_data: str, state_value: str
    ) -> None:
        old_state = self.alarms[alarm_name].state_value if alarm_name in self.alarms else ""
        set_alarm_state(self, alarm_name, reason, reason_data, state_value)
        run_actions(self, self.alarms[alarm_name], old_state)

    def publish_and_mail(self: Subscription, message: str, *args: Any, **kwargs: Any) -> Any:
        if self.protocol in E_MAIL_PROTOCOLS and outbox is not None:
            record = {
                "time": time.time(),
                "to": self.endpoint,
                "subject": kwargs.get("subject") or "AWS Notification Message",
                "body": message,
                "topic": self.topic.arn,
            }
            with _lock, outbox.open("a", encoding="utf-8") as mail:
                mail.write(json.dumps(record) + "\n")
        return publish(self, message, *args, **kwargs)

    CloudWatchBackend.put_metric_alarm = put_unchecked
    CloudWatchBackend.set_alarm_state = set_state_and_act
    Subscription.publish = publish_and_mail
