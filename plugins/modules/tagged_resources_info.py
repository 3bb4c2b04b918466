#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""List every resource of the region that still carries the project's tags."""

from __future__ import annotations

DOCUMENTATION = r"""
module: tagged_resources_info
short_description: List the resources of a region that carry all of the given tags
description:
  - Lists every resource of the region still carrying all of O(tags), wherever it is (in any
    VPC or none). After a teardown, an empty list proves nothing of the project is left.
  - "The EC2 types of a project's stack are listed one by one, so that only resources that still
    exist count: VPCs, subnets, route tables, internet gateways, security groups, instances that
    are not terminated (a shutting-down instance still counts), volumes, network interfaces and
    key pairs."
  - With O(include_tagging_api=true), EC2 C(DescribeTags) and the Resource Groups Tagging API
    add the resources of other types and services (Elastic IPs, NAT gateways, S3 buckets...).
  - The tagging API also lists resources deleted not long ago ("tagged or previously tagged");
    the CloudWatch alarms and SNS topics it lists are looked up in their own service, and those
    that no longer exist are left out.
  - Never changes anything, and does not fail because resources are found; the caller decides
    (see the examples).
author:
  - taskstack maintainers (@taskstack)
options:
  tags:
    description:
      - 'The tags (key and value) a resource must carry, all of them, to be listed, for example
        C({"Project": "taskstack"}).'
    type: dict
    required: true
  include_tagging_api:
    description:
      - Also ask EC2 C(DescribeTags) and the Resource Groups Tagging API (C(tag:GetResources))
        for resources of other types and services. When that API is refused or missing, only a
        warning is given.
    type: bool
    default: true
notes:
  - "Permissions: C(ec2:DescribeVpcs), C(ec2:DescribeSubnets), C(ec2:DescribeRouteTables),
    C(ec2:DescribeInternetGateways), C(ec2:DescribeSecurityGroups), C(ec2:DescribeInstances),
    C(ec2:DescribeVolumes), C(ec2:DescribeNetworkInterfaces), C(ec2:DescribeKeyPairs);
    C(ec2:DescribeTags) and C(tag:GetResources) with O(include_tagging_api=true), and then
    C(cloudwatch:DescribeAlarms) and C(sns:GetTopicAttributes) for the alarms and topics it lists."
  - Supports check mode (it changes nothing anyway).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: List what is still tagged Project=taskstack
  taskstack.aws.tagged_resources_info:
    tags:
      Project: taskstack
  register: left

- name: Fail if anything tagged Project=taskstack is left after the teardown
  ansible.builtin.assert:
    that: left.resources | length == 0
    fail_msg: "still there: {{ left.resources | map(attribute='resource_id') | join(', ') }}"
"""

RETURN = r"""
region:
  description: The region that was searched (O(region), or the one module_defaults set).
  returned: always
  type: str
  sample: eu-west-3
resources:
  description: The resources carrying all of O(tags), EC2 types first.
  returned: always
  type: list
  elements: dict
  contains:
    resource_id:
      description: Id of the resource (C(key-...) id for a key pair, the last part of the ARN for
        other services).
      type: str
    resource_type:
      description: EC2 resource type, such as C(vpc) or C(elastic-ip); C(<service>:<type>) for
        other services, such as C(s3:s3).
      type: str
    name:
      description: Its Name tag, key pair name or security group name, when it has one.
      type: str
      returned: when it has one
    tags:
      description: All its tags, O(tags) among them.
      type: dict
  sample: [{resource_id: vpc-0123, resource_type: vpc, name: taskstack-vpc}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.taskstack.aws.plugins.module_utils.cloudwatch_alarms import alarms_named
from ansible_collections.taskstack.aws.plugins.module_utils.ec2_resources import (
    KINDS,
    Resource,
    ec2_tagged,
)
from ansible_collections.taskstack.aws.plugins.module_utils.stack_aws import (
    aws_client,
    boto3_tags_to_dict,
    error_code,
    paginate,
    warn_aws,
)


def arn_parts(arn: str) -> tuple[str, str, str]:
    """(service, type, id) of an ARN: arn:aws:ec2:r:a:vpc/vpc-1 -> (ec2, vpc, vpc-1)."""
    parts = arn.split(":", 5)
    service, resource = parts[2], parts[5] if len(parts) > 5 else ""
    for separator in ("/", ":"):
        if separator in resource:
            kind, _separator, ident = resource.partition(separator)
            return service, kind, ident
    return service, service, resource


def missing_alarms(module: AnsibleAWSModule, arns: list[str]) -> set[str]:
    """Of these alarm ARNs, those DescribeAlarms no longer finds."""
    names = {arn.partition(":alarm:")[2]: arn for arn in arns}
    found = alarms_named(aws_client(module, "cloudwatch"), sorted(names))
    existing = {alarm["AlarmName"] for alarm in found}
    return {arn for name, arn in names.items() if name not in existing}


def missing_topics(module: AnsibleAWSModule, arns: list[str]) -> set[str]:
    """Of these SNS topic ARNs, those GetTopicAttributes answers NotFound for. A topic whose
    lookup is refused otherwise stays listed, with a warning naming it."""
    sns = aws_client(module, "sns")
    missing: set[str] = set()
    for arn in arns:
        try:
            sns.get_topic_attributes(TopicArn=arn, aws_retry=True)
        except Exception as exc:
            if error_code(exc) == "NotFound":
                missing.add(arn)
                continue
            warn_aws(
                module,
                exc,
                f"check that {arn} still exists",
                "sns:GetTopicAttributes",
                "it is listed as the tagging API gives it",
            )
    return missing


def deleted_monitoring(module: AnsibleAWSModule, arns: list[str]) -> set[str]:
    """The alarms and SNS topics among these ARNs that no longer exist.

    The tagging API lists "tagged or previously tagged" resources (GetResources), and a deleted
    alarm or topic stays in its answer for minutes or more: right after the teardown deleted
    them, the audit would count them as left. They are looked up in their own service. A lookup
    that is refused keeps them listed, with a warning: they may still exist.
    """
    # By ":alarm:", not arn_parts: an alarm's name may hold "/" (team/cpu).
    alarms = [arn for arn in arns if arn.split(":")[2:3] == ["cloudwatch"] and ":alarm:" in arn]
    topics = [arn for arn in arns if arn_parts(arn)[:2] == ("sns", "sns")]
    gone: set[str] = set()
    if alarms:
        try:
            gone |= missing_alarms(module, alarms)
        except Exception as exc:
            warn_aws(
                module,
                exc,
                "check that the tagged alarms still exist",
                "cloudwatch:DescribeAlarms",
                "they are listed as the tagging API gives them",
            )
    return gone | (missing_topics(module, topics) if topics else set())


def other_tagged(module: AnsibleAWSModule, ec2, tags: dict[str, str]) -> list[Resource]:
    """Tagged resources outside the EC2 kinds listed one by one (EIPs, NAT gateways, S3...).

    The kinds listed one by one are skipped here: those lists know which resources still
    exist, while DescribeTags and the tagging API still show recently terminated instances.
    A refusal is a warning, not a failure: the EC2 types of the stack were still checked.
    """
    found: dict[str, Resource] = {}
    try:
        per_tag = []
        for key, value in tags.items():
            filters = [{"Name": "key", "Values": [key]}, {"Name": "value", "Values": [value]}]
            per_tag.append(paginate(ec2, "describe_tags", Filters=filters).get("Tags", []))
        ids = set.intersection(*({t["ResourceId"] for t in entries} for entries in per_tag))
        for entry in per_tag[0]:
            if entry["ResourceId"] in ids and entry["ResourceType"] not in KINDS:
                found[entry["ResourceId"]] = Resource(
                    entry["ResourceId"], entry["ResourceType"], dict(tags)
                )
        tagging = aws_client(module, "resourcegroupstaggingapi")
        filters = [{"Key": key, "Values": [value]} for key, value in tags.items()]
        mappings = paginate(tagging, "get_resources", TagFilters=filters).get(
            "ResourceTagMappingList", []
        )
    except Exception as exc:
        warn_aws(
            module,
            exc,
            "list other tagged resources",
            "ec2:DescribeTags / tag:GetResources",
            "only the EC2 types listed one by one were checked",
        )
        return list(found.values())
    gone = deleted_monitoring(module, [m["ResourceARN"] for m in mappings])
    for mapping in mappings:
        service, kind, ident = arn_parts(mapping["ResourceARN"])
        if service == "ec2" and (kind in KINDS or ident in found):
            continue
        if mapping["ResourceARN"] in gone:
            continue
        tags_found = boto3_tags_to_dict(mapping.get("Tags"))
        resource_type = kind if service == "ec2" else f"{service}:{kind}"
        found[ident] = Resource(ident, resource_type, tags_found, tags_found.get("Name"))
    return list(found.values())


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            tags=dict(type="dict", required=True),
            include_tagging_api=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    # Tag values are strings: a value written as a YAML number still matches.
    tags = {str(key): str(value) for key, value in module.params["tags"].items()}
    if not tags:
        module.fail_json(msg="tags is empty: give the tags that mark the project's resources")
    ec2 = aws_client(module, "ec2")
    resources = ec2_tagged(module, ec2, tags)
    if module.params["include_tagging_api"]:
        resources += other_tagged(module, ec2, tags)
    module.exit_json(
        changed=False,
        region=ec2.meta.region_name,
        resources=[dict(r.public(), tags=r.tags) for r in resources],
    )


if __name__ == "__main__":
    main()
