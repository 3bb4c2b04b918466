# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Ansible's layout: DOCUMENTATION and EXAMPLES come before the imports.
# ruff: noqa: E402
"""amazon.aws.aws_ec2, except that AWS that cannot be asked at all is one warning line."""

from __future__ import annotations

DOCUMENTATION = r"""
name: aws_ec2_or_empty
short_description: amazon.aws.aws_ec2, with one warning line and no hosts when AWS cannot be asked
description:
  - Parses an inventory file whose C(plugin) is C(amazon.aws.aws_ec2) with that plugin, unchanged
    (same options, same hosts, same variables).
  - When AWS cannot be asked at all, amazon.aws.aws_ec2 fails and ansible-core reports it as a
    dozen lines of warnings before the playbook starts. This plugin reports it as one warning
    line and gives an empty inventory, so that the first error a user reads is the check of the
    credentials and the region that site.yml and teardown.yml run first
    (roles/aws_preflight/tasks/identity.yml, module M(taskstack.aws.account_guard)), which says
    what to fix.
  - "Only these failures count as AWS that cannot be asked, because that check reports each of
    them better: no credentials (botocore C(NoCredentialsError), C(PartialCredentialsError)),
    an unusable SSO session (C(SSOTokenLoadError), C(UnauthorizedSSOTokenError),
    C(TokenRetrievalError)), a profile that does not exist (C(ProfileNotFound)), no region
    (C(NoRegionError)), an endpoint that does not answer (C(EndpointConnectionError),
    C(ConnectTimeoutError)), and credentials that AWS rejects or that have expired (error codes
    C(AuthFailure), C(IncompleteSignature), C(InvalidAccessKeyId), C(InvalidClientTokenId),
    C(MissingAuthenticationToken), C(SignatureDoesNotMatch), C(UnrecognizedClientException),
    C(ExpiredToken), C(ExpiredTokenException), C(RequestExpired))."
  - Every other failure is amazon.aws.aws_ec2's, reported by ansible-core as without this plugin
    (with C(unparsed_is_failed=false), a few warning lines and no hosts), for example
    C(ec2:DescribeInstances) refused (C(UnauthorizedOperation), C(AccessDenied)), throttling
    (C(RequestLimitExceeded)), a bad filter, a read timeout, mistakes in the file itself (YAML,
    unknown options, a compose expression that fails with C(strict)) and a missing boto3.
    Playbooks that target the instance then stop on their own check of the C(aws_ec2) group
    (playbooks/tasks/require_instance.yml), which points at that warning.
  - Enabled in ansible.cfg (C([inventory] enable_plugins)); the inventory file still names
    C(amazon.aws.aws_ec2) as its plugin, so it works unchanged where this one is not enabled.
author:
  - taskstack maintainers (@taskstack)
"""

EXAMPLES = r"""
# ansible.cfg
# [inventory]
# enable_plugins = taskstack.aws.aws_ec2_or_empty, yaml
"""

import contextlib

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible.plugins.loader import inventory_loader
from ansible_collections.taskstack.aws.plugins.module_utils.stack_aws import (
    BAD_CREDENTIAL_CODES,
    EXPIRED_CREDENTIAL_CODES,
)

try:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
        SSOTokenLoadError,
        TokenRetrievalError,
        UnauthorizedSSOTokenError,
    )

    AWS_ERRORS: tuple[type[BaseException], ...] = (BotoCoreError, ClientError)
    # What the identity check says, by botocore exception (the first class that matches).
    UNASKABLE: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
        ((NoCredentialsError, PartialCredentialsError), "no AWS credentials"),
        (
            (SSOTokenLoadError, UnauthorizedSSOTokenError, TokenRetrievalError),
            "the AWS SSO session cannot be used",
        ),
        ((ProfileNotFound,), "the AWS profile does not exist"),
        ((NoRegionError,), "no AWS region"),
        ((EndpointConnectionError, ConnectTimeoutError), "the AWS endpoint does not answer"),
    )
except ImportError:  # amazon.aws.aws_ec2 reports a missing botocore itself
    AWS_ERRORS = ()
    UNASKABLE = ()

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


def unaskable(cause: BaseException) -> str | None:
    """What the identity check will report instead, when ``cause`` means AWS cannot be asked
    at all; None for every other failure, which amazon.aws.aws_ec2 reports itself."""
    if isinstance(cause, ClientError):
        code = str(cause.response.get("Error", {}).get("Code", ""))
        if code in BAD_CREDENTIAL_CODES:
            return "AWS rejected the credentials"
        if code in EXPIRED_CREDENTIAL_CODES:
            return "the AWS credentials have expired"
        return None
    for classes, what in UNASKABLE:
        if isinstance(cause, classes):
            return what
    return None


class InventoryModule(BaseInventoryPlugin):
    NAME = "taskstack.aws.aws_ec2_or_empty"

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
            cause = aws_cause(exc)
            what = unaskable(cause) if cause is not None else None
            if what is None:
                raise
            detail = " ".join(str(cause).split())
            self.display.warning(
                f"{path}: no hosts, AWS could not be asked: {what} ({detail}); the credentials "
                "check that site.yml and teardown.yml run first (playbooks/preflight.yml) says "
                "what to fix"
            )
            return
        # Plugins without a cache have no such method.
        with contextlib.suppress(AttributeError):
            plugin.update_cache_if_changed()
