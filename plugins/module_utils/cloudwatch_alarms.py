# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CloudWatch alarms by name, for this project's modules (monitoring_tags, stack_state_info,
tagged_resources_info)."""

from __future__ import annotations

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.taskstack.aws.plugins.module_utils.stack_aws import (
    answer_member,
    aws_errors,
)

# DescribeAlarms takes at most 100 names at a time.
ALARM_NAMES_PER_CALL = 100


def alarms_named(cloudwatch, names: list[str]) -> list[dict[str, Any]]:
    """The metric and composite alarms of these names that exist, as DescribeAlarms gives them;
    an AWS error is raised as botocore raises it."""
    alarms: list[dict[str, Any]] = []
    for start in range(0, len(names), ALARM_NAMES_PER_CALL):
        answer = cloudwatch.describe_alarms(
            AlarmNames=names[start : start + ALARM_NAMES_PER_CALL],
            AlarmTypes=["MetricAlarm", "CompositeAlarm"],
            aws_retry=True,
        )
        alarms += answer_member(answer, "MetricAlarms") + answer.get("CompositeAlarms", [])
    return alarms


def describe_alarms(module: AnsibleAWSModule, cloudwatch, names: list[str]) -> list[dict[str, Any]]:
    """alarms_named, failing the module with one line on an AWS error."""
    with aws_errors(module, "look up the alarms", "cloudwatch:DescribeAlarms"):
        return alarms_named(cloudwatch, names)
