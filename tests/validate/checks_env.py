"""The environment of the playbooks tests/validate runs: the project's ansible.cfg and
group_vars, no AWS (only the yaml inventory plugin is enabled), no emulator, no Mitogen."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def checks_environment(**settings: str) -> dict[str, str]:
    """This process's environment without AWS, Ansible, emulator or project settings, then
    the checks' own, then ``settings``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "ANSIBLE_", "EMBEDDED_", "TASKSTACK_"))
        and k not in {"PROJECT_NAME", "BUDGET_ALERT_EMAIL"}
    }
    env.update(
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        # The project's group_vars come from beside inventory/aws_ec2.yml, as in a real run;
        # only the yaml plugin is enabled, so that the AWS inventory itself is never asked.
        ANSIBLE_INVENTORY_ENABLED="yaml",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
        ANSIBLE_CACHE_PLUGIN="memory",
        # Each case is a host: the templates every task compiles again for each are compiled
        # once per run (callback_plugins/template_cache.py).
        ANSIBLE_CALLBACK_PLUGINS=str(Path(__file__).parent / "callback_plugins"),
        ANSIBLE_CALLBACKS_ENABLED="template_cache",
        # Every task is an action on localhost (assert, set_fact, include_role): Mitogen has no
        # interpreter to keep, only a cost per task. Measured alone on 2 vCPUs, 89 cases:
        # 233 s with the project's strategy, 191 s with ansible.builtin.linear.
        TASKSTACK_MITOGEN="0",
        BUDGET_ALERT_EMAIL="alerts@example.com",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update(settings)
    return env
