#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""Check or enforce tagging rules on the project's stack, or list what is left after teardown."""

from __future__ import annotations

DOCUMENTATION = r"""
module: tag_compliance
short_description: Audit or enforce tagging rules on a VPC stack, or find tagged leftovers
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
    cannot be fixed that way. O(mode=leftovers) lists every resource of the region still
    carrying all of O(tags) and fails if there is any; it is the last check of a teardown.
author:
  - DevOps project maintainers
options:
  mode:
    description:
      - V(audit) reports violations and fails when there are any; never changes anything.
      - V(enforce) adds missing keys of O(required_tags) with their value. Wrong values and
        missing keys without a known value (O(required_keys) only) are not fixed but returned in
        RV(unfixable), and the module then fails.
      - V(leftovers) ignores the rules and the VPC and lists the resources still tagged with
        O(tags).
    type: str
    choices: [audit, enforce, leftovers]
    default: audit
  vpc_id:
    description:
      - Id of the project's VPC.
      - One of O(vpc_id) and O(vpc_filters) is required by V(audit) and V(enforce).
    type: str
  vpc_filters:
    description:
      - 'EC2 filters finding the project''s VPC, for example C({"tag:Project": "devops"}).'
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
  tags:
    description:
      - 'With O(mode=leftovers), the tags (key and value) a resource must carry, all of them, to
        count as a leftover, for example C({"Project": "devops"}).'
    type: dict
  include_tagging_api:
    description:
      - With O(mode=leftovers), also ask the Resource Groups Tagging API
        (C(tag:GetResources)) and EC2 C(DescribeTags) for resources of other types and services.
        When that API is refused or missing, only a warning is given.
    type: bool
    default: true
notes:
  - "Permissions: C(ec2:DescribeVpcs), C(ec2:DescribeSubnets), C(ec2:DescribeRouteTables),
    C(ec2:DescribeInternetGateways), C(ec2:DescribeSecurityGroups), C(ec2:DescribeInstances),
    C(ec2:DescribeVolumes), C(ec2:DescribeNetworkInterfaces), C(ec2:DescribeKeyPairs);
    C(ec2:CreateTags) for V(enforce); C(ec2:DescribeTags) and C(tag:GetResources) for
    V(leftovers)."
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
  tag_compliance:
    vpc_filters:
      "tag:Project": devops
    key_names: [devops-key]
    required_tags:
      Project: devops
      Environment: dev
    required_keys: [Owner]
    allowed_values:
      Environment: [dev, staging, prod]

- name: Add the missing Project and Environment tags
  tag_compliance:
    mode: enforce
    vpc_id: vpc-0123456789abcdef0
    required_tags:
      Project: devops
      Environment: dev

- name: Nothing tagged Project=devops is left after the teardown
  tag_compliance:
    mode: leftovers
    tags:
      Project: devops
"""

RETURN = r"""
vpc_id:
  description: The VPC that was checked.
  returned: with O(mode=audit) and O(mode=enforce)
  type: str
  sample: vpc-0123456789abcdef0
resources:
  description: Every resource checked.
  returned: with O(mode=audit) and O(mode=enforce)
  type: list
  elements: dict
  sample: [{resource_id: subnet-0123, resource_type: subnet, name: devops-public}]
violations:
  description: Resources breaking a rule (before any fix with O(mode=enforce)).
  returned: with O(mode=audit) and O(mode=enforce)
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
      name: devops-app
      missing_keys: []
      bad_values: {Environment: qa}
fixed:
  description: Tags added (or that would be added in check mode) by O(mode=enforce).
  returned: with O(mode=enforce)
  type: list
  elements: dict
  sample: [{resource_id: subnet-0123, resource_type: subnet, added_tags: {Project: devops}}]
unfixable:
  description: Violations O(mode=enforce) cannot fix, in the form of RV(violations).
  returned: with O(mode=enforce)
  type: list
  elements: dict
leftovers:
  description: Resources still carrying all of O(tags).
  returned: with O(mode=leftovers)
  type: list
  elements: dict
  sample: [{resource_id: vpc-0123, resource_type: vpc, name: devops-vpc}]
"""

from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.stack_aws import (
    aws_client,
    aws_errors,
    boto3_tags_to_dict,
    dict_to_boto3_tags,
    dict_to_filters,
    explain_aws_error,
    paginate,
    warn,
)
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

try:  # noqa: SIM105 - Ansible's optional-import idiom
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing boto3

LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]
# A shutting-down instance still exists: after a teardown it is a leftover.
EXISTING_INSTANCE_STATES = [*LIVE_INSTANCE_STATES, "shutting-down"]
MAX_LISTED = 10  # violations spelled out in a failure message


@dataclass(frozen=True)
class Kind:
    """How to list one EC2 resource type."""

    name: str  # EC2 resource type, as DescribeTags spells it
    operation: str
    result_key: str
    id_key: str
    permission: str


KINDS = {
    kind.name: kind
    for kind in (
        Kind("vpc", "describe_vpcs", "Vpcs", "VpcId", "ec2:DescribeVpcs"),
        Kind("subnet", "describe_subnets", "Subnets", "SubnetId", "ec2:DescribeSubnets"),
        Kind(
            "route-table",
            "describe_route_tables",
            "RouteTables",
            "RouteTableId",
            "ec2:DescribeRouteTables",
        ),
        Kind(
            "internet-gateway",
            "describe_internet_gateways",
            "InternetGateways",
            "InternetGatewayId",
            "ec2:DescribeInternetGateways",
        ),
        Kind(
            "security-group",
            "describe_security_groups",
            "SecurityGroups",
            "GroupId",
            "ec2:DescribeSecurityGroups",
        ),
        Kind(
            "instance", "describe_instances", "Reservations", "InstanceId", "ec2:DescribeInstances"
        ),
        Kind("volume", "describe_volumes", "Volumes", "VolumeId", "ec2:DescribeVolumes"),
        Kind(
            "network-interface",
            "describe_network_interfaces",
            "NetworkInterfaces",
            "NetworkInterfaceId",
            "ec2:DescribeNetworkInterfaces",
        ),
        Kind("key-pair", "describe_key_pairs", "KeyPairs", "KeyPairId", "ec2:DescribeKeyPairs"),
    )
}


@dataclass
class Resource:
    resource_id: str
    resource_type: str
    tags: dict[str, str]
    name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def public(self) -> dict[str, Any]:
        result = {"resource_id": self.resource_id, "resource_type": self.resource_type}
        if self.name:
            result["name"] = self.name
        return result

    def label(self) -> str:
        """'subnet subnet-0123 (devops-public)' for messages."""
        suffix = f" ({self.name})" if self.name and self.name != self.resource_id else ""
        return f"{self.resource_type} {self.resource_id}{suffix}"


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
    if params["mode"] != "leftovers" and not any(rules):
        errors.append("no rule given: set required_tags, required_keys or allowed_values")
    if params["vpc_filters"] == {}:
        errors.append("vpc_filters is empty: give at least one filter, e.g. tag:Project")
    if params["mode"] == "leftovers" and not params["tags"]:
        errors.append("tags is empty: give the tags that mark the project's resources")
    return errors


# ---------------------------------------------------------------- reading EC2


def resource_from(kind: Kind, item: dict[str, Any]) -> Resource:
    tags = boto3_tags_to_dict(item.get("Tags") or item.get("TagSet"))
    name = tags.get("Name") or item.get("KeyName") or item.get("GroupName")
    return Resource(item[kind.id_key], kind.name, tags, name, item)


def describe(module: AnsibleAWSModule, ec2, kind_name: str, **kwargs: Any) -> list[Resource]:
    """Every resource of one kind matching the request (instances flattened)."""
    kind = KINDS[kind_name]
    with aws_errors(module, f"list {kind.name}s", kind.permission):
        if kind.name == "key-pair":  # no paginator for DescribeKeyPairs
            items = ec2.describe_key_pairs(aws_retry=True, **kwargs)[kind.result_key]
        else:
            items = paginate(ec2, kind.operation, **kwargs).get(kind.result_key, [])
    if kind.name == "instance":
        items = [instance for reservation in items for instance in reservation["Instances"]]
    return [resource_from(kind, item) for item in items]


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


def plan_fixes(
    violations: list[dict], required_tags: dict[str, str]
) -> tuple[list[dict], list[dict]]:
    """Split violations into tags to add and what enforce cannot fix."""
    fixes, unfixable = [], []
    for violation in violations:
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

    fixes, unfixable = plan_fixes(violations, required_tags)
    if fixes and not module.check_mode:
        apply_fixes(module, ec2, fixes)
    result.update(changed=bool(fixes), fixed=fixes, unfixable=unfixable)
    if unfixable:
        verb = "would add" if module.check_mode else "added"
        module.fail_json(
            msg=f"{verb} missing tags on {len(fixes)} resource(s), but {len(unfixable)} "
            "violation(s) need a person (wrong value or no value in required_tags): "
            + summary_line(unfixable, allowed),
            **result,
        )
    module.exit_json(**result)


# ---------------------------------------------------------------- leftovers


def arn_parts(arn: str) -> tuple[str, str, str]:
    """(service, type, id) of an ARN: arn:aws:ec2:r:a:vpc/vpc-1 -> (ec2, vpc, vpc-1)."""
    parts = arn.split(":", 5)
    service, resource = parts[2], parts[5] if len(parts) > 5 else ""
    for separator in ("/", ":"):
        if separator in resource:
            kind, _, ident = resource.partition(separator)
            return service, kind, ident
    return service, service, resource


def other_tagged(module: AnsibleAWSModule, ec2, tags: dict[str, str]) -> list[Resource]:
    """Tagged resources outside the EC2 kinds listed one by one (EIPs, NAT gateways, S3...).

    The kinds listed one by one are skipped here: those lists know which resources still
    exist, while DescribeTags and the tagging API still show recently terminated instances.
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
    except (ClientError, BotoCoreError) as exc:
        warn(
            module,
            explain_aws_error(
                exc, "list other tagged resources", "ec2:DescribeTags / tag:GetResources"
            )
            + ": only the EC2 types listed one by one were checked",
        )
        return list(found.values())
    for mapping in mappings:
        service, kind, ident = arn_parts(mapping["ResourceARN"])
        if service == "ec2" and (kind in KINDS or ident in found):
            continue
        tags_found = boto3_tags_to_dict(mapping.get("Tags"))
        resource_type = kind if service == "ec2" else f"{service}:{kind}"
        found[ident] = Resource(ident, resource_type, tags_found, tags_found.get("Name"))
    return list(found.values())


def run_leftovers(module: AnsibleAWSModule, ec2) -> None:
    tags = {str(k): str(v) for k, v in module.params["tags"].items()}
    tag_filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in tags.items()]
    leftovers: list[Resource] = []
    for kind in KINDS:
        filters = list(tag_filters)
        if kind == "instance":
            filters.append({"Name": "instance-state-name", "Values": EXISTING_INSTANCE_STATES})
        leftovers += describe(module, ec2, kind, Filters=filters)
    if module.params["include_tagging_api"]:
        leftovers += other_tagged(module, ec2, tags)
    result = {"changed": False, "leftovers": [r.public() for r in leftovers]}
    if leftovers:
        shown = ", ".join(r.label() for r in leftovers[:MAX_LISTED])
        more = f" and {len(leftovers) - MAX_LISTED} more" if len(leftovers) > MAX_LISTED else ""
        tag_text = ", ".join(f"{k}={v}" for k, v in tags.items())
        module.fail_json(
            msg=f"{len(leftovers)} resource(s) still tagged {tag_text} in {module.region}: "
            f"{shown}{more}",
            **result,
        )
    module.exit_json(**result)


# ---------------------------------------------------------------- main


def main() -> None:
    vpc_choice = ("vpc_id", "vpc_filters")
    module = AnsibleAWSModule(
        argument_spec=dict(
            mode=dict(type="str", default="audit", choices=["audit", "enforce", "leftovers"]),
            vpc_id=dict(type="str"),
            vpc_filters=dict(type="dict"),
            required_tags=dict(type="dict"),
            required_keys=dict(type="list", elements="str", no_log=False),
            allowed_values=dict(type="dict"),
            key_names=dict(type="list", elements="str", default=[], no_log=False),
            include_vpc_defaults=dict(type="bool", default=False),
            tags=dict(type="dict"),
            include_tagging_api=dict(type="bool", default=True),
        ),
        mutually_exclusive=[vpc_choice],
        required_if=[
            ("mode", "audit", vpc_choice, True),
            ("mode", "enforce", vpc_choice, True),
            ("mode", "audit", ("required_tags", "required_keys", "allowed_values"), True),
            ("mode", "enforce", ("required_tags",)),
            ("mode", "leftovers", ("tags",)),
        ],
        supports_check_mode=True,
    )
    errors = validation_errors(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors))
    ec2 = aws_client(module, "ec2")
    if module.params["mode"] == "leftovers":
        run_leftovers(module, ec2)
    run_rules(module, ec2)


if __name__ == "__main__":
    main()
