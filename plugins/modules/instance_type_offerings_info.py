#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""Where in a region EC2 offers the given instance types."""

from __future__ import annotations

DOCUMENTATION = r"""
module: instance_type_offerings_info
short_description: List the availability zones (or zone ids) of a region that offer instance types
description:
  - Asks EC2 C(DescribeInstanceTypeOfferings) where in the region each of O(instance_types) can
    be launched, and returns the locations that offer all of them, sorted by name.
  - Not every zone offers every type, and which ones do differs between accounts (AWS maps zone
    names to places per account). Choosing a subnet's zone among RV(locations) avoids a launch
    that fails with C(Unsupported).
  - Never changes anything, and does not fail because no location offers a type; the caller
    decides (see the examples).
author:
  - taskstack maintainers (@taskstack)
options:
  instance_types:
    description:
      - The instance types that must all be offered, for example C([t3.micro]).
    type: list
    elements: str
    required: true
  location_type:
    description:
      - V(availability-zone) answers zone names (C(eu-west-3a)), V(availability-zone-id) zone
        ids (C(euw3-az1)), the same place in every account; V(region) answers the region itself
        when it offers the types.
    type: str
    choices: [availability-zone, availability-zone-id, region]
    default: availability-zone
notes:
  - "Permissions: C(ec2:DescribeInstanceTypeOfferings)."
  - Supports check mode (it changes nothing anyway).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Find the zones that offer t3.micro
  taskstack.aws.instance_type_offerings_info:
    instance_types: [t3.micro]
  register: offered

- name: Fail when no zone of the region offers it
  ansible.builtin.assert:
    that: offered.locations | length > 0
    fail_msg: "no zone of {{ offered.region }} offers t3.micro: choose another instance type"
"""

RETURN = r"""
region:
  description: The region that was asked (O(region), or the one module_defaults set).
  returned: always
  type: str
  sample: eu-west-3
locations:
  description: The locations of O(location_type) that offer every one of O(instance_types),
    sorted.
  returned: always
  type: list
  elements: str
  sample: [eu-west-3a, eu-west-3b, eu-west-3c]
offerings:
  description: Per instance type, the locations that offer it, sorted.
  returned: always
  type: dict
  sample: {t3.micro: [eu-west-3a, eu-west-3b, eu-west-3c]}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.taskstack.aws.plugins.module_utils.stack_aws import (
    aws_client,
    aws_errors,
    paginate,
)

PERMISSION = "ec2:DescribeInstanceTypeOfferings"


def option_errors(instance_types: list[str]) -> list[str]:
    """What is wrong with instance_types, each as 'what is wrong: what to do'."""
    if not instance_types:
        return ["instance_types is empty: give at least one instance type, such as t3.micro"]
    blank = [t for t in instance_types if not t.strip()]
    if blank:
        return ["instance_types holds an empty name: remove it or write a type such as t3.micro"]
    return []


def offerings(module: AnsibleAWSModule, ec2, instance_types: list[str]) -> dict[str, list[str]]:
    """Sorted locations per instance type; a type offered nowhere maps to []."""
    location_type = module.params["location_type"]
    with aws_errors(module, f"list the {location_type} offerings", PERMISSION):
        found = paginate(
            ec2,
            "describe_instance_type_offerings",
            LocationType=location_type,
            Filters=[{"Name": "instance-type", "Values": instance_types}],
        ).get("InstanceTypeOfferings", [])
    per_type: dict[str, set[str]] = {t: set() for t in instance_types}
    for offering in found:
        per_type.setdefault(offering["InstanceType"], set()).add(offering["Location"])
    return {t: sorted(locations) for t, locations in per_type.items()}


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            instance_types=dict(type="list", elements="str", required=True),
            location_type=dict(
                type="str",
                default="availability-zone",
                choices=["availability-zone", "availability-zone-id", "region"],
            ),
        ),
        supports_check_mode=True,
    )
    # The same name twice asks nothing more: keep the first, in order.
    instance_types = list(dict.fromkeys(module.params["instance_types"]))
    errors = option_errors(instance_types)
    if errors:
        module.fail_json(msg="; ".join(errors))
    ec2 = aws_client(module, "ec2")
    per_type = offerings(module, ec2, instance_types)
    common = set.intersection(*(set(per_type[t]) for t in instance_types))
    module.exit_json(
        changed=False, region=ec2.meta.region_name, locations=sorted(common), offerings=per_type
    )


if __name__ == "__main__":
    main()
