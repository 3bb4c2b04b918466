"""The embedded AWS emulator: a moto server whose EC2 instances can become local hosts.

With EMBEDDED_HOSTS=true, every instance the emulator launches is materialized as a host
container (embedded/hosts.py) and removed when the instance is terminated, so the very same
playbooks can reach it over SSH. Without it, this is a plain moto server.

Usage: python embedded/server.py -H 127.0.0.1 -p 4566
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hosts
from moto import server
from moto.ec2.models.instances import InstanceBackend
from moto.moto_api._internal.models import moto_api_backend


def instance_project(instance: Any) -> str:
    return instance.get_tags().get("Project", "") if hasattr(instance, "get_tags") else ""


def public_key_of(backend: Any, key_name: str | None) -> str | None:
    if not key_name or key_name not in backend.key_pairs:
        return None
    material = backend.key_pairs[key_name].material_public
    # moto keeps imported keys as bytes, generated ones as text.
    return material.decode() if isinstance(material, bytes) else material


def install_host_hooks() -> None:
    run_instances = InstanceBackend.run_instances
    terminate_instances = InstanceBackend.terminate_instances
    reset = type(moto_api_backend).reset

    def run_and_materialize(self: Any, *args: Any, **kwargs: Any) -> Any:
        reservation = run_instances(self, *args, **kwargs)
        for instance in reservation.instances:
            hosts.materialize_in_background(
                instance.id,
                instance_project_from_kwargs(kwargs) or instance_project(instance),
                public_key_of(self, kwargs.get("key_name")),
            )
        return reservation

    def terminate_and_remove(self: Any, instance_ids: list[str]) -> Any:
        terminated = terminate_instances(self, instance_ids)
        for instance, _ in terminated:
            hosts.remove(instance.id)
        return terminated

    def reset_and_remove_hosts(self: Any) -> None:
        hosts.remove_all()
        reset(self)

    InstanceBackend.run_instances = run_and_materialize
    InstanceBackend.terminate_instances = terminate_and_remove
    type(moto_api_backend).reset = reset_and_remove_hosts


def instance_project_from_kwargs(kwargs: dict[str, Any]) -> str:
    """The Project tag as given in RunInstances' TagSpecifications."""
    tags: dict[str, dict[str, str]] = kwargs.get("tags") or {}
    return tags.get("instance", {}).get("Project", "")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if os.environ.get("EMBEDDED_HOSTS", "").lower() == "true":
        install_host_hooks()
        logging.getLogger("embedded").info("instances become host containers")
    server.main(sys.argv[1:])


if __name__ == "__main__":
    main()
