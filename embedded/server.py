"""The embedded AWS emulator: a moto server whose EC2 instances can become local hosts.

Always: the AWS Budgets calls moto lacks (UpdateBudget, the subscriber calls) are added the way
AWS documents them (embedded/budgets.py).

With EMBEDDED_HOSTS=true, every instance the emulator launches is materialized as a host
container (embedded/hosts.py), stopped and started again with the instance, and removed when
the instance is terminated, so the very same playbooks can reach it over SSH. Without it,
instances exist only in moto.

With --realistic (or EMBEDDED_REALISM=true), the EC2 behaviours moto skips are modelled the
way AWS documents them (embedded/realism.py, docs/emulator.md): instances pending and
shutting-down for a while, interfaces released on termination, DependencyViolation while
something still uses what is deleted, a share of EC2 calls throttled.

Always: a CloudWatch alarm that changes state publishes its notification to the SNS topics
among its actions, and each e-mail subscriber gets a JSON line in EMBEDDED_OUTBOX=<file>, when
set (embedded/alarms.py).

With EMBEDDED_REQUEST_LOG=<file>, every AWS API request is appended to that file as one JSON
line {"time", "service", "action"} (bench/ counts the calls of each phase from it).

Usage: python embedded/server.py [--realistic] -H 127.0.0.1 -p 4566
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import alarms
import budgets
import hosts
import realism
from moto import server
from moto.ec2.models.instances import InstanceBackend
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

# SigV4: "Credential=<key>/<date>/<region>/<service>/aws4_request".
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/")


def instance_project(instance: Any) -> str:
    return instance.get_tags().get("Project", "") if hasattr(instance, "get_tags") else ""


def public_key_of(backend: Any, key_name: str | None) -> str | None:
    if not key_name or key_name not in backend.key_pairs:
        return None
    material = backend.key_pairs[key_name].material_public
    # moto keeps imported keys as bytes, generated ones as text.
    return material.decode() if isinstance(material, bytes) else material


def user_data_of(instance: Any) -> bytes | None:
    """The document RunInstances was given (moto keeps it base64-encoded), or None."""
    encoded = getattr(instance, "user_data", None)
    return base64.b64decode(encoded.as_bytes()) if encoded is not None else None


def opened_tcp_ports(instance: Any) -> list[int]:
    """The TCP ports the instance's security groups open to anyone at all (the groups given at
    launch and those of its network interfaces). A protocol of -1 opens nothing here: the host
    publishes ports one by one, and the project's groups never open everything."""
    groups = list(getattr(instance, "security_groups", []) or [])
    for nic in getattr(instance, "nics", {}).values():
        groups += list(nic.group_set)
    ports: set[int] = set()
    for group in groups:
        for rule in getattr(group, "ingress_rules", []):
            if str(rule.ip_protocol).lower() not in ("tcp", "6") or rule.from_port is None:
                continue
            if rule.to_port - rule.from_port < hosts.MAX_PUBLISHED_RANGE:
                ports.update(range(rule.from_port, rule.to_port + 1))
    return sorted(ports)


def install_host_hooks() -> None:
    run_instances = InstanceBackend.run_instances
    terminate_instances = InstanceBackend.terminate_instances
    stop_instances = InstanceBackend.stop_instances
    start_instances = InstanceBackend.start_instances
    reset = type(moto_api_backend).reset

    def run_and_materialize(self: Any, *args: Any, **kwargs: Any) -> Any:
        reservation = run_instances(self, *args, **kwargs)
        for instance in reservation.instances:
            hosts.materialize_in_background(
                instance.id,
                instance_project_from_kwargs(kwargs) or instance_project(instance),
                public_key_of(self, kwargs.get("key_name")),
                opened_tcp_ports(instance),
                user_data_of(instance),
            )
        return reservation

    def terminate_and_remove(self: Any, instance_ids: list[str]) -> Any:
        terminated = terminate_instances(self, instance_ids)
        for instance, _ in terminated:
            hosts.remove(instance.id)
        return terminated

    # Only the instances the call changed: stopping a stopped one leaves its host as it is.
    def stop_hosts(self: Any, instance_ids: list[str]) -> Any:
        stopped = stop_instances(self, instance_ids)
        for instance, previous in stopped:
            if previous.name in ("pending", "running"):
                hosts.stop_in_background(instance.id)
        return stopped

    def start_hosts(self: Any, instance_ids: list[str]) -> Any:
        started = start_instances(self, instance_ids)
        for instance, previous in started:
            if previous.name in ("stopping", "stopped"):
                hosts.start_in_background(instance.id)
        return started

    def reset_and_remove_hosts(self: Any) -> None:
        hosts.remove_all()
        reset(self)

    InstanceBackend.run_instances = run_and_materialize
    InstanceBackend.terminate_instances = terminate_and_remove
    InstanceBackend.stop_instances = stop_hosts
    InstanceBackend.start_instances = start_hosts
    type(moto_api_backend).reset = reset_and_remove_hosts


def instance_project_from_kwargs(kwargs: dict[str, Any]) -> str:
    """The Project tag as given in RunInstances' TagSpecifications."""
    tags: dict[str, dict[str, str]] = kwargs.get("tags") or {}
    return tags.get("instance", {}).get("Project", "")


def request_service(environ: dict[str, Any]) -> str:
    match = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else ""


def request_action(environ: dict[str, Any], body: str | None) -> str:
    """JSON protocols name the action in X-Amz-Target ("AWSBudgetServiceGateway.X"), query
    protocols (EC2, STS) in the form body's or the URL's Action parameter."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    for text in (body or "", environ.get("QUERY_STRING", "")):
        action = urllib.parse.parse_qs(text).get("Action")
        if action:
            return action[0]
    return ""


def install_request_log(path: Path) -> None:
    """One JSON line per AWS request; moto's own /moto-api/ calls are not AWS calls."""
    dispatch = DomainDispatcherApplication.__call__
    lock = threading.Lock()

    def log_and_dispatch(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("PATH_INFO", "").startswith("/moto-api"):
            # _get_body puts the body back in wsgi.input for the backend to read.
            body = self._get_body(environ)
            record = {
                "time": time.time(),
                "service": request_service(environ),
                "action": request_action(environ, body),
            }
            with lock, path.open("a") as log:
                log.write(json.dumps(record) + "\n")
        return dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = log_and_dispatch


REALISTIC_FLAG = "--realistic"


def wants_realism(argv: list[str]) -> tuple[bool, list[str]]:
    """--realistic or EMBEDDED_REALISM=true; the flag is ours, the other arguments moto's."""
    flagged = REALISTIC_FLAG in argv
    rest = [arg for arg in argv if arg != REALISTIC_FLAG]
    return flagged or os.environ.get("EMBEDDED_REALISM", "").lower() == "true", rest


def install_realism() -> None:
    try:
        settings = realism.Settings.from_env(os.environ)
    except realism.SettingError as exc:
        sys.exit(f"error: {exc}")
    # After the host hooks: a launched instance still becomes a host container, a terminated
    # one still loses it at TerminateInstances (the machine shuts down), as without realism.
    realism.install(settings, request_service)
    logging.getLogger("embedded").info("realistic EC2 behaviours: %s", settings)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    realistic, moto_args = wants_realism(sys.argv[1:])
    budgets.install()
    outbox = os.environ.get("EMBEDDED_OUTBOX", "")
    alarms.install(Path(outbox) if outbox else None)
    if os.environ.get("EMBEDDED_HOSTS", "").lower() == "true":
        install_host_hooks()
        logging.getLogger("embedded").info("instances become host containers")
    if realistic:
        install_realism()
    request_log = os.environ.get("EMBEDDED_REQUEST_LOG", "")
    if request_log:
        # Installed last, so that throttled requests are logged too: they were sent.
        install_request_log(Path(request_log))
        logging.getLogger("embedded").info("AWS requests logged to %s", request_log)
    server.main(moto_args)


if __name__ == "__main__":
    main()
