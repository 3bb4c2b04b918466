#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""Tag the project's CloudWatch alarms and SNS topics, and refuse those of another owner."""

from __future__ import annotations

DOCUMENTATION = r"""
module: monitoring_tags
short_description: Tag CloudWatch alarms and SNS topics by name, refusing those of another owner
description:
  - Looks up CloudWatch alarms and SNS topics by name in the region, reads their tags, and adds
    the O(tags) an existing one lacks (tags it has besides are kept).
  - M(amazon.aws.cloudwatch_metric_alarm) cannot tag an alarm, and both it and
    M(community.aws.sns_topic) update a resource of the given name whoever made it. Run this
    module first with O(owner_tags) (in check mode it changes nothing) to refuse a name that is
    someone else's, and after them to tag what they made.
  - A name that does not exist is returned with C(exists=false); nothing is created.
author:
  - taskstack maintainers (@taskstack)
options:
  alarms:
    description: Names of CloudWatch alarms (metric or composite).
    type: list
    elements: str
    default: []
  topics:
    description: Names of standard SNS topics of the region.
    type: list
    elements: str
    default: []
  tags:
    description:
      - Tags each existing alarm and topic must carry; the missing ones are added.
    type: dict
    default: {}
  owner_tags:
    description:
      - 'Tags that mark the caller''s resources, for example C({"Project": "taskstack"}). An
        existing alarm or topic without all of them belongs to someone else, and the module
        fails (C(error_code=ResourceNotOwned)) before it changes anything.'
      - Left out, resources are tagged whoever made them (taking them over).
    type: dict
notes:
  - "Permissions: C(cloudwatch:DescribeAlarms), C(cloudwatch:ListTagsForResource),
    C(cloudwatch:TagResource) on the alarms; C(sns:GetTopicAttributes),
    C(sns:ListTagsForResource), C(sns:TagResource) on the topics. The account id comes from
    C(sts:GetCallerIdentity), which needs no permission."
  - Supports check mode, which reports the tags it would add as a change.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Refuse alarm and topic names that are another project's
  taskstack.aws.monitoring_tags:
    alarms: [taskstack-status-check, taskstack-cpu-high]
    topics: [taskstack-alarms]
    owner_tags:
      Project: taskstack
  check_mode: true

- name: Tag the alarms made by amazon.aws.cloudwatch_metric_alarm
  taskstack.aws.monitoring_tags:
    alarms: [taskstack-status-check, taskstack-cpu-high]
    tags:
      Project: taskstack
      Environment: dev
    owner_tags: {}
"""

RETURN = r"""
resources:
  description: Each alarm, then each topic, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: C(alarm) or C(topic).
      type: str
    name:
      description: Its name.
      type: str
    arn:
      description: Its ARN (the one it would have when it does not exist).
      type: str
    exists:
      description: Whether it exists.
      type: bool
    tags:
      description: Its tags after the run (what they would be, in check mode).
      type: dict
  sample:
    - {kind: alarm, name: taskstack-cpu-high, exists: true, tags: {Project: taskstack},
       arn: "arn:aws:cloudwatch:eu-west-3:123456789012:alarm:taskstack-cpu-high"}
added:
  description: The tags added (or that would be), by ARN.
  returned: always
  type: dict
  sample: {"arn:aws:sns:eu-west-3:123456789012:taskstack-alarms": {Environment: dev}}
"""

from dataclasses import asdict, dataclass, field
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.taskstack.aws.plugins.module_utils.cloudwatch_alarms import (
    describe_alarms,
)
from ansible_collections.taskstack.aws.plugins.module_utils.stack_aws import (
    account_id_of,
    answer_member,
    aws_client,
    aws_errors,
    boto3_tags_to_dict,
    dict_to_boto3_tags,
    error_code,
    partition_of_region,
)


@dataclass
class Found:
    kind: str
    name: str
    arn: str
    exists: bool
    tags: dict[str, str] = field(default_factory=dict)


def arn(service: str, where: tuple[str, str, str], resource: str) -> str:
    """arn:<partition>:<service>:<region>:<account>:<resource>, ``where`` giving the first three."""
    partition, region, account = where
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def find_alarms(module: AnsibleAWSModule, cloudwatch, names: list[str], where) -> list[Found]:
    found_alarms = describe_alarms(module, cloudwatch, names) if names else []
    arns = {alarm["AlarmName"]: alarm["AlarmArn"] for alarm in found_alarms}
    found = []
    for name in names:
        if name not in arns:
            found.append(Found("alarm", name, arn("cloudwatch", where, f"alarm:{name}"), False))
            continue
        with aws_errors(module, f"read the tags of alarm {name}", "cloudwatch:ListTagsForResource"):
            answer = cloudwatch.list_tags_for_resource(ResourceARN=arns[name], aws_retry=True)
        tags = boto3_tags_to_dict(answer_member(answer, "Tags"))
        found.append(Found("alarm", name, arns[name], True, tags))
    return found


def find_topic(module: AnsibleAWSModule, sns, name: str, arn: str) -> Found:
    try:
        sns.get_topic_attributes(TopicArn=arn, aws_retry=True)
    except Exception as exc:
        if error_code(exc) == "NotFound":
            return Found("topic", name, arn, False)
        with aws_errors(module, f"look up the SNS topic {name}", "sns:GetTopicAttributes"):
            raise
    with aws_errors(module, f"read the tags of the SNS topic {name}", "sns:ListTagsForResource"):
        answer = sns.list_tags_for_resource(ResourceArn=arn, aws_retry=True)
    return Found("topic", name, arn, True, boto3_tags_to_dict(answer_member(answer, "Tags")))


def refuse_if_not_owned(module: AnsibleAWSModule, found: list[Found]) -> None:
    owner = {str(k): str(v) for k, v in (module.params.get("owner_tags") or {}).items()}
    for resource in found:
        lacking = {k: v for k, v in owner.items() if resource.tags.get(k) != v}
        if resource.exists and lacking:
            shown = ", ".join(f"{k}={v}" for k, v in lacking.items())
            module.fail_json(
                msg=f"The {'SNS topic' if resource.kind == 'topic' else 'CloudWatch alarm'} "
                f"{resource.name!r} exists without the tags {shown}: it is not the caller's. "
                "Choose another name, or leave owner_tags out to take it over",
                error_code="ResourceNotOwned",
                resource=resource.name,
            )


def add_tags(module: AnsibleAWSModule, clients: dict[str, Any], resource: Found, tags: dict):
    if resource.kind == "alarm":
        with aws_errors(module, f"tag alarm {resource.name}", "cloudwatch:TagResource"):
            clients["alarm"].tag_resource(
                ResourceARN=resource.arn, Tags=dict_to_boto3_tags(tags), aws_retry=True
            )
        return
    with aws_errors(module, f"tag the SNS topic {resource.name}", "sns:TagResource"):
        clients["topic"].tag_resource(
            ResourceArn=resource.arn, Tags=dict_to_boto3_tags(tags), aws_retry=True
        )


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            alarms=dict(type="list", elements="str", default=[]),
            topics=dict(type="list", elements="str", default=[]),
            tags=dict(type="dict", default={}),
            owner_tags=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    empty = [name for name in params["alarms"] + params["topics"] if not name.strip()]
    if empty:
        module.fail_json(msg="alarms and topics must not hold an empty name: remove it")
    clients = {"alarm": aws_client(module, "cloudwatch"), "topic": aws_client(module, "sns")}
    region = clients["topic"].meta.region_name
    account = account_id_of(module) if params["alarms"] or params["topics"] else ""
    where = (partition_of_region(region), region, account)
    found = find_alarms(module, clients["alarm"], params["alarms"], where)
    found += [
        find_topic(module, clients["topic"], name, arn("sns", where, name))
        for name in params["topics"]
    ]
    refuse_if_not_owned(module, found)
    wanted = {str(k): str(v) for k, v in params["tags"].items()}
    added: dict[str, dict[str, str]] = {}
    for resource in found:
        lacking = {k: v for k, v in wanted.items() if resource.tags.get(k) != v}
        if resource.exists and lacking:
            added[resource.arn] = lacking
            if not module.check_mode:
                add_tags(module, clients, resource, lacking)
            resource.tags.update(lacking)
    module.exit_json(
        changed=bool(added), resources=[asdict(resource) for resource in found], added=added
    )


if __name__ == "__main__":
    main()
