#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""Say which AWS account and region a run would use, and stop it on the dangerous ones."""

from __future__ import annotations

DOCUMENTATION = r"""
module: account_guard
short_description: Check the AWS identity and region before anything is created
description:
  - Returns who the credentials belong to (account id, ARN, user id, account alias), the
    partition and the region.
  - Fails, with one line each, when there are no credentials, when they are the account's
    root user (unless O(allow_root=true)), when the account is not one of
    O(allowed_account_ids), when the region is in another partition than the credentials (for
    example C(cn-north-1) with commercial AWS keys), and when the region does not exist or is
    not enabled for the account.
  - The region is checked against EC2 C(DescribeRegions) (all regions, enabled or not); when
    that call is refused, against the regions botocore knows, with a warning.
  - Never changes anything.
author:
  - taskstack maintainers (@taskstack)
options:
  allow_root:
    description:
      - Accept credentials of the account's root user. Everyday work should use an IAM user or
        role.
    type: bool
    default: false
  allowed_account_ids:
    description:
      - When set, fail unless the credentials belong to one of these accounts.
    type: list
    elements: str
notes:
  - "Permissions: none for C(sts:GetCallerIdentity); C(ec2:DescribeRegions) for the region
    check and C(iam:ListAccountAliases) for the alias. Without the last two the module still
    works: the region is checked against botocore's list and the alias is null, with a
    warning."
  - Supports check mode (it never changes anything anyway).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Stop here on root credentials or a region that does not exist
  taskstack.aws.account_guard:
    region: "{{ aws_region }}"
  register: aws_account

- name: Only ever deploy into the sandbox account
  taskstack.aws.account_guard:
    allowed_account_ids: ["123456789012"]
"""

RETURN = r"""
account_id:
  description: Id of the account the credentials belong to.
  returned: success
  type: str
  sample: "123456789012"
account_alias:
  description: The account's alias, null when it has none or when it cannot be read.
  returned: success
  type: str
  sample: my-company-sandbox
arn:
  description: ARN of the caller.
  returned: success
  type: str
  sample: arn:aws:iam::123456789012:user/deployer
user_id:
  description: Unique id of the caller.
  returned: success
  type: str
  sample: AIDAEXAMPLEUSERID
partition:
  description: Partition of the account (C(aws), C(aws-cn), C(aws-us-gov)).
  returned: success
  type: str
  sample: aws
region:
  description: The region the run uses, checked.
  returned: success
  type: str
  sample: eu-west-3
"""

import difflib
from typing import Any

try:
    import boto3
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing boto3

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.taskstack.aws.plugins.module_utils.stack_aws import (
    BAD_CREDENTIAL_CODES,
    PARTITION_HOME_REGION,
    answer_member,
    aws_client,
    aws_errors,
    check_session,
    error_code,
    partition_of_region,
    warn_aws,
)


def caller_identity(module: AnsibleAWSModule, home: str) -> dict[str, Any]:
    # The partition's home region, not the requested one: a region that does not exist must
    # not stop us from saying who the caller is (and STS answers everywhere).
    sts = aws_client(module, "sts", region=home)
    with aws_errors(module, "identify the caller", "sts:GetCallerIdentity"):
        try:
            answer = sts.get_caller_identity(aws_retry=True)
        except ClientError as exc:
            refuse_credentials_of_another_partition(module, exc)
            raise
        return {member: answer_member(answer, member) for member in ("Account", "Arn", "UserId")}


def refuse_credentials_of_another_partition(module: AnsibleAWSModule, exc: ClientError) -> None:
    """Each partition has its own accounts: commercial keys are unknown to China's STS."""
    partition = partition_of_region(module.region)
    if partition != "aws" and error_code(exc) in BAD_CREDENTIAL_CODES:
        module.fail_json(
            msg=f"AWS rejected the credentials in {module.region} ({error_code(exc)}): that "
            f"region is in the {partition} partition, whose accounts are separate; use "
            f"credentials of an {partition} account, or a region of your account's partition "
            "(AWS_REGION)",
            error_code=error_code(exc),
        )


def check_partition(module: AnsibleAWSModule, region: str, arn: str) -> None:
    """The caller's partition (from its ARN) must be the region's."""
    caller, wanted = arn.split(":")[1], partition_of_region(region)
    if caller != wanted:
        module.fail_json(
            msg=f"AWS_REGION={region} is in the {wanted} partition, but the credentials are of "
            f"the {caller} partition ({arn}): choose a region of {caller}, or credentials of an "
            f"{wanted} account"
        )


def check_caller(module: AnsibleAWSModule, identity: dict[str, Any]) -> None:
    arn, account = identity["Arn"], identity["Account"]
    if arn.endswith(":root") and not module.params["allow_root"]:
        module.fail_json(
            msg=f"Refusing the root user of account {account} ({arn}): use an IAM user or role "
            "(or set allow_root: true)"
        )
    allowed = module.params["allowed_account_ids"]
    if allowed and account not in allowed:
        module.fail_json(
            msg=f"Account {account} is not in allowed_account_ids ({', '.join(allowed)}): "
            "switch AWS_PROFILE or credentials"
        )


def known_regions(module: AnsibleAWSModule, home: str, partition: str) -> dict[str, str]:
    """Region name -> opt-in status, from EC2 when allowed, else from botocore's own list."""
    ec2 = aws_client(module, "ec2", region=home)
    try:
        answer = ec2.describe_regions(AllRegions=True, aws_retry=True)
        regions = answer_member(answer, "Regions")
        return {r["RegionName"]: r.get("OptInStatus", "opt-in-not-required") for r in regions}
    except Exception as exc:
        warn_aws(
            module,
            exc,
            "list the regions",
            "ec2:DescribeRegions",
            "the region was checked against botocore's list of regions instead",
        )
    names = boto3.session.Session().get_available_regions("ec2", partition_name=partition)
    return {name: "unknown" for name in names}


def check_region(
    module: AnsibleAWSModule, region: str, regions: dict[str, str], account: str
) -> None:
    if region not in regions:
        close = difflib.get_close_matches(region, regions, n=3, cutoff=0.6)
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else f"valid ones include {', '.join(sorted(regions)[:5])}"
        )
        module.fail_json(msg=f"Unknown AWS region {region!r}: {hint}")
    if regions[region] == "not-opted-in":
        module.fail_json(
            msg=f"Region {region} is not enabled for account {account}: enable it in the "
            "account settings or choose another region"
        )


def account_alias(module: AnsibleAWSModule, home: str) -> str | None:
    """The alias, or None (with a warning) when it cannot be read: it is only informative."""
    iam = aws_client(module, "iam", region=home)
    try:
        aliases = answer_member(iam.list_account_aliases(aws_retry=True), "AccountAliases")
    except Exception as exc:
        warn_aws(
            module, exc, "read the account alias", "iam:ListAccountAliases", "account_alias is null"
        )
        return None
    return aliases[0] if aliases else None


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            allow_root=dict(type="bool", default=False),
            allowed_account_ids=dict(type="list", elements="str"),
        ),
        supports_check_mode=True,
    )
    # A profile that does not exist reads as "no region" below: name the profile instead.
    check_session(module)
    region = module.region
    if not region:
        module.fail_json(
            msg="No AWS region set: set the region option, AWS_REGION or AWS_DEFAULT_REGION"
        )
    home = PARTITION_HOME_REGION.get(partition_of_region(region), "us-east-1")

    identity = caller_identity(module, home)
    partition = identity["Arn"].split(":")[1]
    check_caller(module, identity)
    check_partition(module, region, identity["Arn"])
    check_region(module, region, known_regions(module, home, partition), identity["Account"])

    module.exit_json(
        changed=False,
        account_id=identity["Account"],
        account_alias=account_alias(module, home),
        arn=identity["Arn"],
        user_id=identity["UserId"],
        partition=partition,
        region=region,
    )


if __name__ == "__main__":
    main()
