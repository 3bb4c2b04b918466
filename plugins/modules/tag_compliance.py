#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""Check or enforce tagging rules on the project's stack."""

from __future__ import annotations

DOCUMENTATION = r"""
module: tag_compliance
short_description: Audit or enforce tagging rules on a VPC stack
description:
  - Applies tagging rules to every resource of one project's stack. The resources are found by
    where they are, not by their tags (an untagged resource cannot be found by its tag) -
    the project's VPC and what is in it - so an untagged one is reported too.
  - "The stack is: the VPC, its subnets, its route tables, the internet gateways attached to
    it, its security groups, its instances that are not terminated or shutting down, their EBS
    volumes, the network interfaces in the VPC (except those AWS manages for other services),
    and the key pairs named in O(key_names)."
  - The main route table and the C(default) security group are created by AWS along with the
    VPC, are deleted with it and are not tagged by the tools that create VPCs; they are skipped
    unless O(include_vpc_defaults=true).
  - A default VPC is never audited nor tagged, and nothing outside the chosen VPC is looked at
    (apart from O(key_names)).
  - O(mode=audit) returns the violations and fails when there are any. O(mode=enforce) adds
    the missing tags whose value is known from O(required_tags), then fails if some violations
    cannot be fixed that way.
  - To list what still carries the project's tags anywhere in the region (after a teardown),
    use M(taskstack.aws.tagged_resources_info).
author:
  - taskstack maintainers (@taskstack)
options:
  mode:
    description:
      - V(audit) reports violations and fails when there are any; never changes anything.
      - V(enforce) adds missing keys of O(required_tags) with their value. Wrong values and
        missing keys without a known value (O(required_keys) only) are not fixed but returned in
        RV(unfixable), and the module then fails.
    type: str
    choices: [audit, enforce]
    default: audit
  vpc_id:
    description:
      - Id of the project's VPC.
      - One of O(vpc_id) and O(vpc_filters) is required.
    type: str
  vpc_filters:
    description:
      - 'EC2 filters finding the project''s VPC, for example C({"tag:Project": "taskstack"}).'
      - Default VPCs never match. Matching more than one VPC is an error.
    type: dict
  required_tags:
    description:
      - Keys every resource must have, with the value V(enforce) gives them when missing.
      - The audit only requires the key to be present; restrict values with O(allowed_values).
    type: dict
  required_keys:
    description:
      - More keys every resource must have, with no value to give them (V(enforce) cannot add
        them).
    type: list
    elements: str
  owner_tags:
    description:
      - 'Tags that mark a resource as the owner''s, for example
        C({"Project": "taskstack", "ManagedBy": "ansible"}).'
      - With O(mode=enforce), only resources that carry all of them get missing tags. Another
        resource in the VPC (someone's instance or security group placed there, or one whose
        owner tags were taken off) is never tagged, since tagging it as the owner's would make
        it the owner's to delete. Its violations go to RV(unfixable) with C(not_owned=true).
      - Without this option, V(enforce) tags every resource of the stack.
    type: dict
  allowed_values:
    description:
      - 'Per key, the list of accepted values, for example
        C({"Environment": [dev, staging, prod]}). Checked when the key is present.'
    type: dict
  key_names:
    description:
      - Names of the key pairs of the stack (key pairs are not in a VPC). A name not found is
        reported as a warning.
    type: list
    elements: str
    default: []
  include_vpc_defaults:
    description:
      - Also check the VPC's main route table and its C(default) security group.
    type: bool
    default: false
notes:
  - "Permissions: C(ec2:DescribeVpcs), C(ec2:DescribeSubnets), C(ec2:DescribeRouteTables),
    C(ec2:DescribeInternetGateways), C(ec2:DescribeSecurityGroups), C(ec2:DescribeInstances),
    C(ec2:DescribeVolumes), C(ec2:DescribeNetworkInterfaces), C(ec2:DescribeKeyPairs);
    C(ec2:CreateTags) for V(enforce)."
  - C(ec2_instance) from amazon.aws tags the instance and its volumes but not its network
    interface; tag it (for example with C(amazon.aws.ec2_tag)) or run V(enforce).
  - Supports check mode; with V(enforce) it reports what it would tag in RV(fixed).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Every resource of the stack has Project, Environment and Owner, Environment is known
  taskstack.aws.tag_compliance:
    vpc_filters:
      "tag:Project": taskstack
    key_names: [taskstack-key]
    required_tags:
      Project: taskstack
      Environment: dev
    required_keys: [Owner]
    allowed_values:
      Environment: [dev, staging, prod]

- name: Add the missing Project and Environment tags
  taskstack.aws.tag_compliance:
    mode: enforce
    vpc_id: vpc-0123456789abcdef0
    required_tags:
      Project: taskstack
      Environment: dev

- name: Add them only to what the project made (never to someone else's resource in the VPC)
  taskstack.aws.tag_compliance:
    mode: enforce
    vpc_id: vpc-0123456789abcdef0
    required_tags:
      Project: taskstack
      Environment: dev
      ManagedBy: ansible
    owner_tags:
      Project: taskstack
      ManagedBy: ansible
"""

RETURN = r"""
vpc_id:
  description: The VPC that was checked.
  returned: always
  type: str
  sample: vpc-0123456789abcdef0
resources:
  description: Every resource checked.
  returned: always
  type: list
  elements: dict
  sample: [{resource_id: subnet-0123, resource_type: subnet, name: taskstack-public}]
violations:
  description: Resources breaking a rule (before any fix with O(mode=enforce)).
  returned: always
  type: list
  elements: dict
  contains:
    resource_id:
      description: Id of the resource (C(key-...) id for a key pair).
      type: str
    resource_type:
      description: EC2 resource type, such as C(subnet) or C(network-interface).
      type: str
    name:
      description: Its Name tag, key pair name or security group name, when it has one.
      type: str
    missing_keys:
      description: Required keys it does not have.
      type: list
      elements: str
    bad_values:
      description: Keys whose value is not in O(allowed_values), with that value.
      type: dict
  sample:
    - resource_id: i-0123
      resource_type: instance
      name: taskstack-app
      missing_keys: []
      bad_values: {Environment: qa}
fixed:
  description: Tags added (or that would be added in check mode) by O(mode=enforce).
  returned: with O(mode=enforce)
  type: list
  elements: dict
  sample: [{resource_id: subnet-0123, resource_type: subnet, added_tags: {Project: taskstack}}]
unfixable:
  description:
    - Violations O(mode=enforce) cannot fix, in the form of RV(violations).
    - C(not_owned) is true for a resource without all of O(owner_tags), which is never tagged.
  returned: with O(mode=enforce)
  type: list
  elements: dict
"""

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.taskstack.aws.plugins.module_utils.ec2_resources import (
    LIVE_INSTANCE_STATES,
    Resource,
    describe,
)
from ansible_collections.taskstack.aws.plugins.module_utils.stack_aws import (
    aws_client,
    aws_errors,
    dict_to_boto3_tags,
    dict_to_filters,
    warn,
)

MAX_LISTED = 10  # violations spelled out in a failure message


# ---------------------------------------------------------------- validation (no AWS call)


def validation_errors(params: dict[str, Any]) -> list[str]:
    errors = []
    required_tags = params["required_tags"] or {}
    allowed = params["allowed_values"] or {}
    for key, value in required_tags.items():
        if not key or key.lower().startswith("aws:"):
            errors.append(f"required_tags key {key!r} is not valid: 'aws:' is reserved by AWS")
        if not isinstance(value, str):
            errors.append(f"required_tags.{key} must be a string (got {value!r}): quote it")
    for key, values in allowed.items():
        if not isinstance(values, list) or not values:
            errors.append(f"allowed_values.{key} must be a non-empty list of values")
        elif key in required_tags and str(required_tags[key]) not in map(str, values):
            errors.append(
                f"required_tags.{key}={required_tags[key]!r} is not in allowed_values.{key} "
                f"{values}: make them agree"
            )
    rules = (params["required_tags"], params["required_keys"], params["allowed_values"])
    if not any(rules):
        errors.append("no rule given: set required_tags, required_keys or allowed_values")
    for key, value in (params["owner_tags"] or {}).items():
        if not isinstance(value, str):
            errors.append(f"owner_tags.{key} must be a string (got {value!r}): quote it")
    if params["vpc_filters"] == {}:
        errors.append("vpc_filters is empty: give at least one filter, e.g. tag:Project")
    return errors


# ---------------------------------------------------------------- reading EC2


def find_vpc(module: AnsibleAWSModule, ec2) -> Resource:
    """The project's VPC; never a default VPC."""
    vpc_id, filters = module.params["vpc_id"], module.params["vpc_filters"]
    if vpc_id:
        # A filter rather than VpcIds: an unknown id is then an empty answer, not an error.
        vpcs = describe(module, ec2, "vpc", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        if not vpcs:
            module.fail_json(msg=f"VPC {vpc_id} does not exist in region {module.region}")
        if vpcs[0].raw.get("IsDefault"):
            module.fail_json(msg=f"{vpc_id} is the default VPC: it is never audited nor tagged")
        return vpcs[0]
    vpcs = [
        v
        for v in describe(module, ec2, "vpc", Filters=dict_to_filters(filters))
        if not v.raw.get("IsDefault")
    ]
    if len(vpcs) != 1:
        found = ", ".join(v.resource_id for v in vpcs) or "none"
        module.fail_json(
            msg=f"vpc_filters {filters} must match exactly one non-default VPC in region "
            f"{module.region} (found {found}): fix the filters or give vpc_id",
        )
    return vpcs[0]


def is_main_route_table(resource: Resource) -> bool:
    return any(a.get("Main") for a in resource.raw.get("Associations", []))


def stack_resources(module: AnsibleAWSModule, ec2, vpc: Resource) -> list[Resource]:
    """Everything the rules apply to, found by location."""
    in_vpc = [{"Name": "vpc-id", "Values": [vpc.resource_id]}]
    defaults = module.params["include_vpc_defaults"]
    resources = [vpc]
    resources += describe(module, ec2, "subnet", Filters=in_vpc)
    resources += [
        rt
        for rt in describe(module, ec2, "route-table", Filters=in_vpc)
        if defaults or not is_main_route_table(rt)
    ]
    resources += describe(
        module,
        ec2,
        "internet-gateway",
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc.resource_id]}],
    )
    resources += [
        sg
        for sg in describe(module, ec2, "security-group", Filters=in_vpc)
        if defaults or sg.raw.get("GroupName") != "default"
    ]
    instances = describe(
        module,
        ec2,
        "instance",
        Filters=[*in_vpc, {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}],
    )
    resources += instances
    volume_ids = sorted(
        mapping["Ebs"]["VolumeId"]
        for instance in instances
        for mapping in instance.raw.get("BlockDeviceMappings", [])
        if "Ebs" in mapping
    )
    if volume_ids:
        resources += describe(
            module, ec2, "volume", Filters=[{"Name": "volume-id", "Values": volume_ids}]
        )
    # Interfaces AWS manages for other services (load balancers, NAT...) are not ours to tag.
    resources += [
        eni
        for eni in describe(module, ec2, "network-interface", Filters=in_vpc)
        if not eni.raw.get("RequesterManaged")
    ]
    resources += key_pairs(module, ec2)
    return resources


def key_pairs(module: AnsibleAWSModule, ec2) -> list[Resource]:
    names = module.params["key_names"]
    if not names:
        return []
    found = describe(module, ec2, "key-pair", Filters=[{"Name": "key-name", "Values": names}])
    missing = sorted(set(names) - {kp.name for kp in found})
    if missing:
        warn(module, f"key pair(s) {', '.join(missing)} not found in {module.region}: not checked")
    return found


# ---------------------------------------------------------------- rules


def violation_of(resource: Resource, required: list[str], allowed: dict[str, list]) -> dict | None:
    missing = [key for key in required if key not in resource.tags]
    bad = {
        key: resource.tags[key]
        for key, values in sorted(allowed.items())
        if key in resource.tags and resource.tags[key] not in values
    }
    if not missing and not bad:
        return None
    return dict(resource.public(), missing_keys=missing, bad_values=bad)


def describe_violation(violation: dict, allowed: dict[str, list]) -> str:
    """'subnet subnet-1 (web): missing Owner; Environment=qa not in dev|prod'."""
    name = violation.get("name")
    label = f"{violation['resource_type']} {violation['resource_id']}"
    if name and name != violation["resource_id"]:
        label += f" ({name})"
    problems = []
    if violation.get("not_owned"):
        problems.append("without the owner tags, not tagged (tag it by hand if it is the owner's)")
    if violation["missing_keys"]:
        problems.append("missing " + ", ".join(violation["missing_keys"]))
    for key, value in violation["bad_values"].items():
        problems.append(f"{key}={value} not in {'|'.join(map(str, allowed[key]))}")
    return f"{label}: {'; '.join(problems)}"


def summary_line(violations: list[dict], allowed: dict[str, list]) -> str:
    shown = [describe_violation(v, allowed) for v in violations[:MAX_LISTED]]
    more = len(violations) - MAX_LISTED
    if more > 0:
        shown.append(f"... and {more} more (see violations)")
    return " | ".join(shown)


def owned_ids(resources: list[Resource], owner_tags: dict[str, str] | None) -> set[str] | None:
    """The resources that carry every owner tag; None when any resource may be tagged."""
    if not owner_tags:
        return None
    return {
        r.resource_id
        for r in resources
        if all(r.tags.get(key) == value for key, value in owner_tags.items())
    }


def plan_fixes(
    violations: list[dict], required_tags: dict[str, str], owned: set[str] | None = None
) -> tuple[list[dict], list[dict]]:
    """Split violations into tags to add and what enforce cannot fix."""
    fixes, unfixable = [], []
    for violation in violations:
        if owned is not None and violation["resource_id"] not in owned:
            unfixable.append(dict(violation, not_owned=True))
            continue
        added = {k: required_tags[k] for k in violation["missing_keys"] if k in required_tags}
        if added:
            fixes.append(
                {
                    "resource_id": violation["resource_id"],
                    "resource_type": violation["resource_type"],
                    "added_tags": added,
                }
            )
        left = [k for k in violation["missing_keys"] if k not in required_tags]
        if left or violation["bad_values"]:
            unfixable.append(dict(violation, missing_keys=left))
    return fixes, unfixable


def apply_fixes(module: AnsibleAWSModule, ec2, fixes: list[dict]) -> None:
    """One CreateTags call per distinct set of tags (and per 500 resources)."""
    groups: dict[tuple, list[str]] = {}
    for fix in fixes:
        groups.setdefault(tuple(sorted(fix["added_tags"].items())), []).append(fix["resource_id"])
    for tags, ids in groups.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            with aws_errors(module, f"tag {', '.join(chunk)}", "ec2:CreateTags"):
                ec2.create_tags(
                    Resources=chunk, Tags=dict_to_boto3_tags(dict(tags)), aws_retry=True
                )


def run_rules(module: AnsibleAWSModule, ec2) -> None:
    params = module.params
    required_tags = params["required_tags"] or {}
    required = list(dict.fromkeys(list(required_tags) + (params["required_keys"] or [])))
    # Tag values are strings: an allowed value written as a YAML number still matches.
    allowed = {
        k: [str(v) for v in values] for k, values in (params["allowed_values"] or {}).items()
    }
    vpc = find_vpc(module, ec2)
    resources = stack_resources(module, ec2, vpc)
    violations = [v for r in resources if (v := violation_of(r, required, allowed))]
    result: dict[str, Any] = {
        "changed": False,
        "vpc_id": vpc.resource_id,
        "resources": [r.public() for r in resources],
        "violations": violations,
    }
    if params["mode"] == "audit":
        if violations:
            module.fail_json(
                msg=f"{len(violations)} tag violation(s) in {vpc.resource_id}: "
                + summary_line(violations, allowed),
                **result,
            )
        module.exit_json(**result)

    owned = owned_ids(resources, params["owner_tags"])
    fixes, unfixable = plan_fixes(violations, required_tags, owned)
    if fixes and not module.check_mode:
        apply_fixes(module, ec2, fixes)
    result.update(changed=bool(fixes), fixed=fixes, unfixable=unfixable)
    if unfixable:
        verb = "would add" if module.check_mode else "added"
        module.fail_json(
            msg=f"{verb} missing tags on {len(fixes)} resource(s), but {len(unfixable)} "
            "violation(s) need a person (wrong value, no value in required_tags, or a resource "
            "that is not the owner's): " + summary_line(unfixable, allowed),
            **result,
        )
    module.exit_json(**result)


# ---------------------------------------------------------------- main


def main() -> None:
    vpc_choice = ("vpc_id", "vpc_filters")
    module = AnsibleAWSModule(
        argument_spec=dict(
            mode=dict(type="str", default="audit", choices=["audit", "enforce"]),
            vpc_id=dict(type="str"),
            vpc_filters=dict(type="dict"),
            required_tags=dict(type="dict"),
            required_keys=dict(type="list", elements="str", no_log=False),
            owner_tags=dict(type="dict"),
            allowed_values=dict(type="dict"),
            key_names=dict(type="list", elements="str", default=[], no_log=False),
            include_vpc_defaults=dict(type="bool", default=False),
        ),
        mutually_exclusive=[vpc_choice],
        required_one_of=[vpc_choice],
        required_if=[
            ("mode", "audit", ("required_tags", "required_keys", "allowed_values"), True),
            ("mode", "enforce", ("required_tags",)),
        ],
        supports_check_mode=True,
    )
    errors = validation_errors(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors))
    run_rules(module, aws_client(module, "ec2"))


if __name__ == "__main__":
    main()
