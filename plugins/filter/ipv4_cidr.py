# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402
"""What the network and firewall checks need to know of an IPv4 CIDR, from Python's ipaddress."""

from __future__ import annotations

DOCUMENTATION = r"""
name: ipv4_cidr
short_description: Read an IPv4 CIDR such as 10.0.0.0/16 or 203.0.113.7/32
description:
  - Returns what the checks of networks in roles C(aws_network) and C(aws_security_group) need.
    Whether the value is an IPv4 CIDR as AWS writes one, the network it lies in, its prefix
    length and number of addresses, and which of other networks hold it.
  - Only the written form AWS returns counts as valid, C(a.b.c.d/n) with no leading zeros,
    spaces or netmask; host bits may be set (C(203.0.113.7/24)), RV(network) says where they are
    not. Anything else, a number or a list included, is not valid and reads as no network.
  - The same checks with C(ansible.utils.ipaddr) and C(ansible.utils.network_in_network) took
    about 0.19 s of each task that used them, to load that collection's filters and netaddr in
    the process Ansible forks for each task.
positional: _input
options:
  _input:
    description: The value to read.
    type: raw
    required: true
  within:
    description:
      - IPv4 CIDRs that may hold the input (the same network counts).
      - Those that are not valid hold nothing.
    type: list
    elements: raw
    default: []
author:
  - taskstack maintainers (@taskstack)
"""

EXAMPLES = r"""
- name: Refuse a subnet outside the VPC
  ansible.builtin.assert:
    that: (subnet | taskstack.aws.ipv4_cidr(within=[vpc])).inside | length == 1
    fail_msg: >-
      {{ subnet }} is outside {{ vpc }}: pick one inside it, like
      {{ (vpc | taskstack.aws.ipv4_cidr).example_subnet }}.
"""

RETURN = r"""
_value:
  description: What the input is.
  type: dict
  contains:
    valid:
      description: Whether the input is an IPv4 CIDR written as C(a.b.c.d/n).
      type: bool
    network:
      description: The network it lies in, host bits at zero (C(203.0.113.0/24)), or empty.
      type: str
    prefix:
      description: Its prefix length; -1 when not valid.
      type: int
    size:
      description: The number of addresses of its network; 0 when not valid.
      type: int
    inside:
      description: The entries of O(within) that hold it, in their order; empty when not valid.
      type: list
      elements: str
    example_subnet:
      description: A subnet of it to suggest, its second /24 (or itself when it holds fewer than
        two); empty when not valid.
      type: str
"""

import ipaddress
from typing import Any

from ansible.errors import AnsibleFilterError

EXAMPLE_PREFIX = 24
# What a value that is not an IPv4 CIDR reads as.
NO_NETWORK = dict(valid=False, network="", prefix=-1, size=0, inside=[], example_subnet="")


def interface_of(value: Any) -> ipaddress.IPv4Interface | None:
    """The address and network the value writes, when it writes them as AWS does."""
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        interface = ipaddress.IPv4Interface(value)
    except ValueError:
        return None
    return interface if interface.with_prefixlen == value else None


def example_subnet(network: ipaddress.IPv4Network) -> str:
    if network.prefixlen >= EXAMPLE_PREFIX:
        return str(network)
    subnets = network.subnets(new_prefix=EXAMPLE_PREFIX)
    next(subnets)
    return str(next(subnets))


def ipv4_cidr(value: Any, within: Any = None) -> dict[str, Any]:
    if within is None:
        within = []
    if not isinstance(within, list):
        raise AnsibleFilterError("ipv4_cidr: within must be a list of IPv4 CIDRs")
    interface = interface_of(value)
    if interface is None:
        return dict(NO_NETWORK, inside=[])
    network = interface.network
    holders = [
        other
        for other in within
        if (held_by := interface_of(other)) is not None and network.subnet_of(held_by.network)
    ]
    return {
        "valid": True,
        "network": str(network),
        "prefix": network.prefixlen,
        "size": network.num_addresses,
        "inside": holders,
        "example_subnet": example_subnet(network),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ipv4_cidr": ipv4_cidr}
