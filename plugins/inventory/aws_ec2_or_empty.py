# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION and EXAMPLES come before the imports.
# ruff: noqa: E402
"""amazon.aws.aws_ec2, except that AWS being out of reach is one warning line, not a dozen."""

from __future__ import annotations

DOCUMENTATION = r"""
name: aws_ec2_or_empty
short_description: amazon.aws.aws_ec2, with one warning line and no hosts when AWS cannot be asked
description:
  - Parses an inventory file whose C(plugin) is C(amazon.aws.aws_ec2) with that plugin, unchanged
    (same options, same hosts, same variables).
  - When AWS cannot be asked (no credentials, rejected or expired ones, an endpoint that does not
    answer, DescribeInstances refused), amazon.aws.aws_ec2 fails and ansible-core reports it as
    a dozen lines of warnings before the playbook starts. This plugin reports it as one warning
    line and gives an empty inventory, so that the first error a user reads is the playbook's
    own check of the credentials (playbooks/preflight.yml), which says what to set.
  - Mistakes in the file itself (YAML, unknown options, a compose expression that fails with
    C(strict)) and a missing boto3 still fail the way amazon.aws.aws_ec2 reports them.
  - Enabled in ansible.cfg (C([inventory] enable_plugins)); the inventory file still names
    C(amazon.aws.aws_ec2) as its plugin, so it works unchanged where this one is not enabled.
author:
  - DevOps project maintainers
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# inventory_plugins = plugins/inventory
# [inventory]
# enable_plugins = aws_ec2_or_empty
"""

import contextlib

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible.plugins.loader import inventory_loader

try:
    from botocore.exceptions import BotoCoreError, ClientError

    AWS_ERRORS: tuple[type[BaseException], ...] = (BotoCoreError, ClientError)
except ImportError:  # amazon.aws.aws_ec2 reports a missing botocore itself
    AWS_ERRORS = ()

REAL_PLUGIN = "amazon.aws.aws_ec2"


def aws_cause(exc: BaseException) -> BaseException | None:
    """The botocore error behind ``exc`` (amazon.aws raises its AnsibleError while handling it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if AWS_ERRORS and isinstance(current, AWS_ERRORS):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class InventoryModule(BaseInventoryPlugin):
    NAME = "aws_ec2_or_empty"

    # Trust decisions are the real plugin's: it is swapped into the inventory wrapper below,
    # like ansible.builtin.auto does.

    def _real_plugin(self):
        plugin = inventory_loader.get(REAL_PLUGIN)
        if plugin is None:
            raise AnsibleError(
                f"{self.NAME} needs the {REAL_PLUGIN} inventory plugin: install the amazon.aws "
                "collection (ansible-galaxy collection install -r requirements.yml)"
            )
        return plugin

    def verify_file(self, path):
        if not str(path).endswith(("aws_ec2.yml", "aws_ec2.yaml")):
            return False
        return super().verify_file(path) and self._real_plugin().verify_file(path)

    def parse(self, inventory, loader, path, cache=True):
        plugin = self._real_plugin()
        inventory._target_plugin = plugin
        try:
            plugin.parse(inventory, loader, path, cache=cache)
        except AnsibleError as exc:
            if aws_cause(exc) is None:
                raise
            reason = " ".join(str(exc).split())
            self.display.warning(f"{path}: no hosts, AWS could not be asked ({reason})")
            return
        # Plugins without a cache have no such method.
        with contextlib.suppress(AttributeError):
            plugin.update_cache_if_changed()
