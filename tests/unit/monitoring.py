"""CloudWatch alarms and SNS topics in moto, for the modules that tag or digest them."""

from __future__ import annotations

from typing import Any

import boto3
from ansible_collections.taskstack.aws.tests.unit.module_runner import REGION


def tag_list(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in (tags or {}).items()]


def put_cpu_alarm(name: str, tags: dict[str, str] | None = None, **changes: Any) -> None:
    """A CPU alarm as roles/aws_alarms makes it (threshold 80, 3 periods of 5 minutes)."""
    alarm = {
        "AlarmName": name,
        "Namespace": "AWS/EC2",
        "MetricName": "CPUUtilization",
        "Statistic": "Average",
        "Period": 300,
        "EvaluationPeriods": 3,
        "Threshold": 80.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    if tags:
        alarm["Tags"] = tag_list(tags)
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(**alarm | changes)
