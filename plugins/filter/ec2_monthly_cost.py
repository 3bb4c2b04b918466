# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""What an instance of the stack costs a month, from the project's one price table."""

from __future__ import annotations

DOCUMENTATION = r"""
name: ec2_monthly_cost
short_description: Estimate what one instance of the stack costs per month, on demand
description:
  - Returns the on-demand hourly price of an EC2 instance type in a region and what the stack's
    instance costs in a month of 730 hours when left running, that is the instance, its public
    IPv4 address and its gp3 root volume.
  - The prices are the project's table, read from AWS's on-demand price list for Linux in 2025
    (estimates only; U(https://aws.amazon.com/ec2/pricing/on-demand/) has today's). It covers the
    T3 family (nano to 2xlarge, in the commercial regions listed); other types and regions are
    not estimated and come back as C(null), so that a caller can say so rather than guess.
  - The preflight check refuses a type whose estimate exceeds the budget, the summary prints the
    estimate. Both read this table, which is the only one.
positional: _input, region, volume_gb
options:
  _input:
    description: The instance type, for example V(t3.micro).
    type: str
    required: true
  region:
    description: The region, for example V(eu-west-3).
    type: str
    required: true
  volume_gb:
    description: Size of the gp3 root volume in GiB.
    type: int
    default: 0
author:
  - taskstack maintainers (@taskstack)
"""

EXAMPLES = r"""
- name: Print what a t3.micro with a 10 GiB disk costs a month in Paris
  ansible.builtin.debug:
    msg: "{{ ('t3.micro' | taskstack.aws.ec2_monthly_cost('eu-west-3', 10)).total_usd }} USD"
"""

RETURN = r"""
_value:
  description:
    - The estimate, in USD. C(instance_hourly_usd), C(instance_usd) and C(total_usd) are
      C(null) when the type or region is not in the table.
  type: dict
  contains:
    instance_hourly_usd:
      description: On-demand price of the instance per hour.
      type: float
    instance_usd:
      description: The instance alone for a month (730 hours).
      type: float
    public_ipv4_usd:
      description: Its public IPv4 address for a month (billed since February 2024).
      type: float
    volume_usd:
      description: The gp3 root volume for a month; what a stopped instance still costs.
      type: float
    total_usd:
      description: The sum, rounded to cents.
      type: float
    hours:
      description: Hours in the month the estimate counts (730).
      type: int
"""

from typing import Any

from ansible.errors import AnsibleFilterError

HOURS_PER_MONTH = 730

# t3.micro, USD per hour, on-demand Linux (AWS price list, 2025).
T3_MICRO_HOURLY_USD = {
    "us-east-1": 0.0104,
    "us-east-2": 0.0104,
    "us-west-1": 0.0124,
    "us-west-2": 0.0104,
    "ca-central-1": 0.0116,
    "eu-west-1": 0.0114,
    "eu-west-2": 0.0118,
    "eu-west-3": 0.0118,
    "eu-central-1": 0.0120,
    "eu-north-1": 0.0108,
    "ap-south-1": 0.0112,
    "ap-northeast-1": 0.0136,
    "ap-southeast-1": 0.0132,
    "ap-southeast-2": 0.0132,
    "sa-east-1": 0.0168,
}
# Within T3 the price doubles with each size (AWS's price list).
T3_SIZE_FACTOR = {
    "nano": 0.5,
    "micro": 1,
    "small": 2,
    "medium": 4,
    "large": 8,
    "xlarge": 16,
    "2xlarge": 32,
}
# gp3, USD per GiB-month; regions not listed are charged like us-east-1 or a little more, so
# the dearest listed price is used for them (a disk is never the deciding figure).
GP3_GB_MONTH_USD = {"us-east-1": 0.080, "eu-west-3": 0.0928}
PUBLIC_IPV4_HOURLY_USD = 0.005


def instance_hourly_usd(instance_type: str, region: str) -> float | None:
    family, _dot, size = instance_type.partition(".")
    if family != "t3" or size not in T3_SIZE_FACTOR or region not in T3_MICRO_HOURLY_USD:
        return None
    return T3_MICRO_HOURLY_USD[region] * T3_SIZE_FACTOR[size]


def ec2_monthly_cost(instance_type: Any, region: Any, volume_gb: Any = 0) -> dict[str, Any]:
    if not isinstance(instance_type, str) or not isinstance(region, str):
        raise AnsibleFilterError(
            "ec2_monthly_cost needs an instance type and a region as text, "
            f"got {instance_type!r} and {region!r}"
        )
    try:
        gigabytes = int(volume_gb)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(
            f"ec2_monthly_cost: volume_gb={volume_gb!r} is not a number"
        ) from exc
    hourly = instance_hourly_usd(instance_type, region)
    instance = None if hourly is None else round(hourly * HOURS_PER_MONTH, 2)
    ipv4 = round(PUBLIC_IPV4_HOURLY_USD * HOURS_PER_MONTH, 2)
    volume = round(gigabytes * GP3_GB_MONTH_USD.get(region, max(GP3_GB_MONTH_USD.values())), 2)
    return {
        "instance_hourly_usd": hourly,
        "instance_usd": instance,
        "public_ipv4_usd": ipv4,
        "volume_usd": volume,
        "total_usd": None if hourly is None else round(hourly * HOURS_PER_MONTH + ipv4 + volume, 2),
        "hours": HOURS_PER_MONTH,
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ec2_monthly_cost": ec2_monthly_cost}
