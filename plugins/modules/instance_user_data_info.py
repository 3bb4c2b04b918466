#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""The user data an EC2 instance was launched with."""

from __future__ import annotations

DOCUMENTATION = r"""
module: instance_user_data_info
short_description: Read the user data an EC2 instance was launched with
description:
  - Asks EC2 C(DescribeInstanceAttribute) for the C(userData) attribute of O(instance_id) and
    returns it decoded, with its SHA-256 digest.
  - User data runs only at an instance's first boot, and C(amazon.aws.ec2_instance) never
    compares it on an instance that exists. Comparing RV(sha256) with the digest of the
    document a run would launch tells whether the instance was prepared by that document.
  - Never changes anything.
author:
  - taskstack maintainers (@taskstack)
options:
  instance_id:
    description:
      - The instance, C(i-) followed by 8 or 17 hexadecimal digits.
    type: str
    required: true
notes:
  - "Permissions: C(ec2:DescribeInstanceAttribute)."
  - Supports check mode (it changes nothing anyway).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read the user data of the instance
  taskstack.aws.instance_user_data_info:
    instance_id: i-0123456789abcdef0
  register: launched_with

- name: Say when the instance was launched with another document
  ansible.builtin.debug:
    msg: The instance was launched with other user data; it runs at the first boot only.
  when: launched_with.sha256 != (my_document | hash('sha256'))
"""

RETURN = r"""
user_data:
  description: The user data, decoded as UTF-8 (undecodable bytes replaced); empty when the
    instance was launched without any.
  returned: always
  type: str
  sample: "#cloud-config\npackage_update: true\n"
sha256:
  description: SHA-256 of the user data's bytes (hexadecimal); empty when there is none.
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
"""

import base64
import binascii
import hashlib
import re

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.taskstack.aws.plugins.module_utils.stack_aws import (
    answer_member,
    aws_client,
    aws_errors,
)

PERMISSION = "ec2:DescribeInstanceAttribute"
INSTANCE_ID = re.compile(r"^i-([0-9a-f]{8}|[0-9a-f]{17})$")


def option_errors(instance_id: str) -> list[str]:
    if not INSTANCE_ID.match(instance_id):
        return [
            f"instance_id={instance_id!r} is not an instance id: write i- followed by 8 or 17 "
            "hexadecimal digits"
        ]
    return []


def user_data_bytes(module: AnsibleAWSModule, ec2, instance_id: str) -> bytes:
    """The attribute's bytes; AWS answers them base64-encoded, or no value at all."""
    with aws_errors(module, f"read the user data of {instance_id}", PERMISSION):
        answer = ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="userData", aws_retry=True
        )
        # AWS always names the instance; an answer without it is not EC2's (a web page).
        answer_member(answer, "InstanceId")
    encoded = (answer.get("UserData") or {}).get("Value", "")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        module.fail_json(
            msg=f"EC2 answered user data of {instance_id} that is not base64: the endpoint "
            "(AWS_ENDPOINT_URL) is not EC2, or the answer was damaged; try again"
        )
        raise  # fail_json exits; this only tells type checkers so


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(instance_id=dict(type="str", required=True)),
        supports_check_mode=True,
    )
    instance_id = module.params["instance_id"]
    errors = option_errors(instance_id)
    if errors:
        module.fail_json(msg="; ".join(errors))
    raw = user_data_bytes(module, aws_client(module, "ec2"), instance_id)
    module.exit_json(
        changed=False,
        user_data=raw.decode("utf-8", errors="replace"),
        sha256=hashlib.sha256(raw).hexdigest() if raw else "",
    )


if __name__ == "__main__":
    main()
