"""The realistic mode of the embedded emulator: the EC2 behaviours moto 5.2 skips, modelled the
way AWS documents them (docs/emulator.md lists each with its source).

moto launches instances straight into `running`, terminates them and frees their network
interfaces at once, lets a security group, subnet or internet gateway go while an instance
still uses it, and never throttles. A stack that only ever ran against that has never met an
interrupted teardown on AWS. `install()` patches moto (embedded/server.py calls it when the
realistic mode is on) so that:

- an instance stays `pending` for `pending_s` after RunInstances, then is `running`;
- TerminateInstances leaves it `shutting-down` for `shutting_down_s`; only then is it
  `terminated` and its network interfaces (DeleteOnTermination) released;
- StopInstances leaves it `stopping` for `stopping_s`; only then is it `stopped` and its
  auto-assigned public IPv4 address released. StartInstances makes a stopped instance `pending`
  (with a new public address) for `pending_s`, then `running`. Stopping a `pending` instance or
  starting a `stopping` one answers IncorrectInstanceState, as AWS does;
- DeleteSecurityGroup, DeleteSubnet, DetachInternetGateway, DeleteInternetGateway and DeleteVpc
  answer DependencyViolation (HTTP 400, AWS's wording) while an instance that is not
  terminated, or a network interface, still uses what they delete;
- RunInstances refuses user data over 16384 bytes (before base64) with AWS's
  InvalidParameterValue, where moto takes any size;
- a share `throttle_share` of EC2 requests answers RequestLimitExceeded (HTTP 503), which
  botocore retries like any throttling error;
- the Resource Groups Tagging API (GetResources) goes on listing a CloudWatch alarm or an SNS
  topic for `stale_tags_s` after its deletion, with its tags, as AWS lists "tagged or previously
  tagged" resources and shows deleted ones for minutes or more; moto lists only live ones;
- the account is a commercial (`aws` partition) one, as AWS's accounts belong to one partition:
  a request signed for a region of another partition (cn-north-1, us-gov-west-1) is refused as
  AWS refuses unknown keys (InvalidClientTokenId, AuthFailure for EC2), where moto would answer
  as that partition.

State changes happen when the next request arrives after their deadline (every request first
calls `advance`), so what a client reads is always what the clock says, with no timer thread.

Settings (environment of the server process):
  EMBEDDED_PENDING_S        seconds an instance stays pending          (default 0.2)
  EMBEDDED_SHUTTING_DOWN_S  seconds an instance stays shutting-down    (default 2)
  EMBEDDED_STOPPING_S       seconds an instance stays stopping         (default 2)
  EMBEDDED_THROTTLE_SHARE   share of EC2 requests throttled, 0 to 1    (default 0.02)
  EMBEDDED_THROTTLE_SEED    seed of the throttling draw (default: unseeded)
  EMBEDDED_STALE_TAGS_S     seconds a deleted alarm or topic stays in GetResources (default 300)
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
import botocore.loaders
import botocore.regions
from moto.cloudwatch.models import CloudWatchBackend
from moto.core.resource_tagging import (
    TaggedResource,
    iter_taggable_backends,
    make_tag_matcher,
    match_resource_type,
)
from moto.ec2.exceptions import DependencyViolationError, EC2ClientError
from moto.ec2.models.instances import Instance, InstanceBackend
from moto.ec2.models.internet_gateways import InternetGatewayBackend
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.models.subnets import SubnetBackend
from moto.ec2.models.vpcs import VPCBackend
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.resourcegroupstaggingapi.models import ResourceGroupsTaggingAPIBackend
from moto.sns.models import SNSBackend

# InstanceState codes (EC2 API Reference, InstanceState): the low byte is the state.
PENDING = ("pending", 0)
RUNNING = ("running", 16)
SHUTTING_DOWN = ("shutting-down", 32)
TERMINATED = ("terminated", 48)
STOPPING = ("stopping", 64)
STOPPED = ("stopped", 80)
DEFAULTS = {
    "EMBEDDED_PENDING_S": "0.2",
    "EMBEDDED_SHUTTING_DOWN_S": "2",
    "EMBEDDED_STOPPING_S": "2",
    "EMBEDDED_THROTTLE_SHARE": "0.02",
    "EMBEDDED_STALE_TAGS_S": "300",
}
MARKER = "_embedded_realism_installed"
# moto's own terminate, stop and start, read before install() replaces them (install() runs
# once, see MARKER).
MOTO_TERMINATE = Instance.terminate
MOTO_STOP = Instance.stop
MOTO_START = Instance.start


class IncorrectInstanceStateError(EC2ClientError):
    """AWS's answer to a stop or start the instance's state does not allow (HTTP 400)."""

    def __init__(self, instance_id: str, action: str):
        super().__init__(
            "IncorrectInstanceState",
            f"The instance '{instance_id}' is not in a state from which it can be {action}.",
        )


class SettingError(ValueError):
    """A realism setting that is not a number in its range: the server refuses to start."""


@dataclass(frozen=True)
class Settings:
    pending_s: float = 0.2
    shutting_down_s: float = 2.0
    stopping_s: float = 2.0
    throttle_share: float = 0.02
    throttle_seed: int | None = None
    stale_tags_s: float = 300.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def number(name: str, upper: float | None = None) -> float:
            text = env.get(name) or DEFAULTS[name]
            try:
                value = float(text)
            except ValueError:
                raise SettingError(f"{name}={text!r} is not a number") from None
            if value < 0 or (upper is not None and value > upper):
                limit = f"0 to {upper:g}" if upper is not None else "0 or more"
                raise SettingError(f"{name}={text!r} must be {limit}")
            return value

        seed = env.get("EMBEDDED_THROTTLE_SEED", "")
        if seed and not seed.isdigit():
            raise SettingError(f"EMBEDDED_THROTTLE_SEED={seed!r} must be a whole number")
        return cls(
            pending_s=number("EMBEDDED_PENDING_S"),
            shutting_down_s=number("EMBEDDED_SHUTTING_DOWN_S"),
            stopping_s=number("EMBEDDED_STOPPING_S"),
            throttle_share=number("EMBEDDED_THROTTLE_SHARE", upper=1.0),
            throttle_seed=int(seed) if seed else None,
            stale_tags_s=number("EMBEDDED_STALE_TAGS_S"),
        )


# ---------------------------------------------------------------- instance lifecycle


@dataclass
class Transition:
    """A state an instance reaches at a given time."""

    instance: Instance
    deadline: float
    complete: Callable[[Instance], None]


_transitions: dict[str, Transition] = {}
_lock = threading.RLock()


def set_state(instance: Instance, state: tuple[str, int]) -> None:
    instance._state.name, instance._state.code = state


def schedule(instance: Instance, delay_s: float, complete: Callable[[Instance], None]) -> None:
    """One pending change per instance: a newer one (terminating a pending instance) wins."""
    with _lock:
        _transitions[instance.id] = Transition(instance, time.monotonic() + delay_s, complete)


def advance(now: float | None = None) -> None:
    """Complete every transition whose deadline has passed."""
    now = time.monotonic() if now is None else now
    with _lock:
        due = [t for t in _transitions.values() if t.deadline <= now]
        for transition in due:
            del _transitions[transition.instance.id]
            transition.complete(transition.instance)


def forget_transitions() -> None:
    with _lock:
        _transitions.clear()


def become_running(instance: Instance) -> None:
    if instance._state.name == PENDING[0]:
        set_state(instance, RUNNING)


def become_terminated(instance: Instance) -> None:
    # moto's own terminate: the state, and the interfaces marked DeleteOnTermination deleted.
    MOTO_TERMINATE(instance)


def become_stopped(instance: Instance) -> None:
    # moto's own stop: the state, the reason, and the auto-assigned public address released.
    if instance._state.name == STOPPING[0]:
        MOTO_STOP(instance)


def install_lifecycle(settings: Settings) -> None:
    # Whatever is installed now (the host containers' hook too) keeps running underneath.
    run_instances = InstanceBackend.run_instances

    def run_pending(self: Any, *args: Any, **kwargs: Any) -> Any:
        reservation = run_instances(self, *args, **kwargs)
        for instance in reservation.instances:
            set_state(instance, PENDING)
            schedule(instance, settings.pending_s, become_running)
        return reservation

    def terminate_later(self: Instance) -> Any:
        """TerminateInstances: AWS answers with the instance shutting-down (the previous state
        is what the response calls PreviousState); an instance already on its way stays so."""
        previous = copy.copy(self._state)
        if self._state.name in (SHUTTING_DOWN[0], TERMINATED[0]):
            return previous
        set_state(self, SHUTTING_DOWN)
        schedule(self, settings.shutting_down_s, become_terminated)
        return previous

    def stop_later(self: Instance) -> Any:
        """StopInstances: `stopping` first; a stopping or stopped instance stays as it is."""
        previous = copy.copy(self._state)
        if self._state.name == PENDING[0]:
            raise IncorrectInstanceStateError(self.id, "stopped")
        if self._state.name == RUNNING[0]:
            set_state(self, STOPPING)
            schedule(self, settings.stopping_s, become_stopped)
        return previous

    def start_pending(self: Instance) -> Any:
        """StartInstances: a stopped instance is `pending` (moto's start gives it its new public
        address), then `running`; a pending or running one stays as it is."""
        previous = copy.copy(self._state)
        if self._state.name == STOPPING[0]:
            raise IncorrectInstanceStateError(self.id, "started")
        if self._state.name == STOPPED[0]:
            MOTO_START(self)
            set_state(self, PENDING)
            schedule(self, settings.pending_s, become_running)
        return previous

    InstanceBackend.run_instances = run_pending
    Instance.terminate = terminate_later
    Instance.stop = stop_later
    Instance.start = start_pending


# ---------------------------------------------------------------- user data

# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html: "User data is limited to
# 16 KB, in raw form, before it is base64-encoded".
USER_DATA_MAX_BYTES = 16384


def user_data_size(user_data: Any) -> int:
    """Bytes of the document moto keeps base64-encoded (a Base64EncodedString), 0 for none."""
    if user_data is None:
        return 0
    return len(base64.b64decode(user_data.as_bytes()))


def install_user_data_limit() -> None:
    run_instances = InstanceBackend.run_instances

    def run_within_limit(
        self: Any, image_id: str, count: int, user_data: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if user_data_size(user_data) > USER_DATA_MAX_BYTES:
            raise EC2ClientError(
                "InvalidParameterValue", f"User data is limited to {USER_DATA_MAX_BYTES} bytes"
            )
        return run_instances(self, image_id, count, user_data, *args, **kwargs)

    InstanceBackend.run_instances = run_within_limit


# ---------------------------------------------------------------- DependencyViolation


def live_instances(backend: Any) -> Iterable[Instance]:
    """Instances that still hold their network, security groups and addresses."""
    return (i for i in backend.all_instances() if i._state.name != TERMINATED[0])


def interfaces(backend: Any) -> Iterable[Any]:
    return list(backend.enis.values())


def group_in_use(backend: Any, group_id: str) -> bool:
    if any(group_id in {g.id for g in eni.group_set} for eni in interfaces(backend)):
        return True
    return any(
        group_id in {g.id for g in instance.security_groups or []}
        for instance in live_instances(backend)
    )


def subnet_in_use(backend: Any, subnet_id: str) -> bool:
    if any(eni.subnet and eni.subnet.id == subnet_id for eni in interfaces(backend)):
        return True
    return any(instance.subnet_id == subnet_id for instance in live_instances(backend))


def public_addresses_in(backend: Any, vpc_id: str) -> bool:
    """AWS refuses to detach a gateway from a VPC with mapped public addresses."""
    for eni in interfaces(backend):
        if eni.public_ip and eni.subnet and eni.subnet.vpc_id == vpc_id:
            return True
    return any(
        instance.public_ip and instance.vpc_id == vpc_id for instance in live_instances(backend)
    )


def vpc_in_use(backend: Any, vpc_id: str) -> bool:
    """What moto does not check itself: interfaces, instances, a gateway still attached and
    security groups other than the VPC's default one."""
    if any(eni.subnet and eni.subnet.vpc_id == vpc_id for eni in interfaces(backend)):
        return True
    if any(instance.vpc_id == vpc_id for instance in live_instances(backend)):
        return True
    if any(igw.vpc and igw.vpc.id == vpc_id for igw in backend.internet_gateways.values()):
        return True
    groups = backend.groups.get(vpc_id, {}).values()
    return any(group.name != "default" for group in groups)


def resolve_group_id(backend: Any, name: str | None, group_id: str | None) -> str | None:
    if group_id:
        return group_id
    group = backend.get_security_group_by_name_or_id(name) if name else None
    return group.id if group else None


def install_dependency_checks() -> None:
    # Messages as AWS words them (the EC2 error code DependencyViolation, HTTP 400).
    moto_delete_security_group = SecurityGroupBackend.delete_security_group
    moto_delete_subnet = SubnetBackend.delete_subnet
    moto_detach_igw = InternetGatewayBackend.detach_internet_gateway
    moto_delete_igw = InternetGatewayBackend.delete_internet_gateway
    moto_delete_vpc = VPCBackend.delete_vpc

    def delete_security_group(
        self: Any, name: str | None = None, group_id: str | None = None
    ) -> Any:
        wanted = resolve_group_id(self, name, group_id)
        if wanted and group_in_use(self, wanted):
            raise DependencyViolationError(f"resource {wanted} has a dependent object")
        return moto_delete_security_group(self, name=name, group_id=group_id)

    def delete_subnet(self: Any, subnet_id: str) -> Any:
        if subnet_in_use(self, subnet_id):
            raise DependencyViolationError(
                f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
            )
        return moto_delete_subnet(self, subnet_id)

    def detach_internet_gateway(self: Any, internet_gateway_id: str, vpc_id: str) -> Any:
        if public_addresses_in(self, vpc_id):
            raise DependencyViolationError(
                f"Network {vpc_id} has some mapped public address(es). Please unmap those "
                "public address(es) before detaching the gateway."
            )
        return moto_detach_igw(self, internet_gateway_id, vpc_id)

    def delete_internet_gateway(self: Any, internet_gateway_id: str) -> Any:
        if self.get_internet_gateway(internet_gateway_id).vpc:
            raise DependencyViolationError(
                f"The internetGateway '{internet_gateway_id}' has dependencies and cannot be "
                "deleted."
            )
        return moto_delete_igw(self, internet_gateway_id)

    def delete_vpc(self: Any, vpc_id: str) -> Any:
        if vpc_in_use(self, vpc_id):
            raise DependencyViolationError(
                f"The vpc '{vpc_id}' has dependencies and cannot be deleted."
            )
        return moto_delete_vpc(self, vpc_id)

    SecurityGroupBackend.delete_security_group = delete_security_group
    SubnetBackend.delete_subnet = delete_subnet
    InternetGatewayBackend.detach_internet_gateway = detach_internet_gateway
    InternetGatewayBackend.delete_internet_gateway = delete_internet_gateway
    VPCBackend.delete_vpc = delete_vpc


# ---------------------------------------------------------------- throttling and the clock


def throttled_response(start_response: Any) -> list[bytes]:
    """EC2's error document for RequestLimitExceeded, with HTTP 503 as AWS sends it."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
        "<Message>Request limit exceeded.</Message></Error></Errors>"
        f"<RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()
    headers = [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
    start_response("503 Service Unavailable", headers)
    return [body]


def drain(environ: dict[str, Any]) -> None:
    """Read the unanswered request's body so that a kept-alive connection stays in step."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)


# ---------------------------------------------------------------- one partition per account

ACCOUNT_PARTITION = "aws"
SIGNED_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
PARTITIONS = botocore.regions.EndpointResolver(
    botocore.loaders.create_loader().load_data("endpoints")
)


def signed_region(environ: dict[str, Any]) -> str | None:
    """The region of the request's SigV4 credential scope (what the client signed for)."""
    found = SIGNED_REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
    return found.group(1) if found else None


def of_another_partition(environ: dict[str, Any]) -> bool:
    region = signed_region(environ)
    if not region:
        return False
    try:
        return PARTITIONS.get_partition_for_region(region) != ACCOUNT_PARTITION
    except botocore.exceptions.NoRegionError:
        return False  # a region no partition knows: the region checks answer for it


def unknown_key_response(environ: dict[str, Any], service: str, start_response: Any) -> list[bytes]:
    """What each protocol answers for an access key its partition does not know (HTTP 403)."""
    message = "The security token included in the request is invalid."
    if service == "ec2":
        content_type = "text/xml"
        body = (
            "<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to "
            "validate the provided access credentials</Message></Error></Errors>"
            f"<RequestID>{uuid.uuid4()}</RequestID></Response>"
        )
    elif environ.get("HTTP_X_AMZ_TARGET"):
        content_type = "application/x-amz-json-1.1"
        body = json.dumps({"__type": "UnrecognizedClientException", "message": message})
    else:
        content_type = "text/xml"
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>"
            f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
            "</ErrorResponse>"
        )
    payload = body.encode()
    start_response(
        "403 Forbidden", [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
    )
    return [payload]


def install_request_hook(settings: Settings, service_of: Callable[[dict[str, Any]], str]) -> None:
    dispatch = DomainDispatcherApplication.__call__
    draw = random.Random(settings.throttle_seed)
    draw_lock = threading.Lock()

    def throttle(environ: dict[str, Any]) -> bool:
        if settings.throttle_share <= 0 or service_of(environ) != "ec2":
            return False
        with draw_lock:
            return draw.random() < settings.throttle_share

    def realistic_dispatch(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        advance()
        if of_another_partition(environ):
            drain(environ)
            return unknown_key_response(environ, service_of(environ), start_response)
        if throttle(environ):
            drain(environ)
            return throttled_response(start_response)
        return dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = realistic_dispatch


# ---------------------------------------------------------------- tagging API


@dataclass
class Deleted:
    """A tagged resource as GetResources listed it before its deletion, and until when it still
    does."""

    resource: TaggedResource
    until: float


_deleted: dict[str, Deleted] = {}


def remember_deleted(backend: Any, arns: set[str], stale_tags_s: float) -> None:
    """Keep what the backend's tagging listing says of these ARNs, before they go."""
    until = time.monotonic() + stale_tags_s
    with _lock:
        for resource in backend.iter_tagged_resources():
            if resource.arn in arns and resource.tags:
                _deleted[resource.arn] = Deleted(copy.deepcopy(resource), until)


def still_listed(
    live: set[str],
    tag_filters: list[dict[str, Any]] | None,
    resource_type_filters: list[str] | None,
    resource_arn_list: list[str] | None,
) -> list[TaggedResource]:
    """The deleted resources GetResources still lists for these filters (none created again)."""
    now = time.monotonic()
    matches = make_tag_matcher(tag_filters)
    with _lock:
        for arn in [arn for arn, entry in _deleted.items() if entry.until <= now]:
            del _deleted[arn]
        entries = [entry.resource for entry in _deleted.values()]
    return [
        resource
        for resource in entries
        if resource.arn not in live
        and match_resource_type(resource.resource_type, resource_type_filters)
        and matches(resource.tags)
        and (not resource_arn_list or resource.arn in resource_arn_list)
    ]


def install_stale_tagging(settings: Settings) -> None:
    delete_alarms = CloudWatchBackend.delete_alarms
    delete_topic = SNSBackend.delete_topic
    resources = ResourceGroupsTaggingAPIBackend._get_resources_generator

    def delete_alarms_remembered(self: Any, alarm_names: list[str]) -> None:
        prefix = f"arn:{self.partition}:cloudwatch:{self.region_name}:{self.account_id}:alarm:"
        remember_deleted(self, {prefix + name for name in alarm_names}, settings.stale_tags_s)
        delete_alarms(self, alarm_names)

    def delete_topic_remembered(self: Any, arn: str) -> None:
        remember_deleted(self, {arn}, settings.stale_tags_s)
        delete_topic(self, arn)

    def resources_and_deleted(
        self: Any,
        tag_filters: list[dict[str, Any]] | None = None,
        resource_type_filters: list[str] | None = None,
        resource_arn_list: list[str] | None = None,
    ) -> Iterator[TaggedResource]:
        yield from resources(self, tag_filters, resource_type_filters, resource_arn_list)
        # Live whatever its tags now: one made again is listed as it is, not as it was.
        live = {
            resource.arn
            for backend in iter_taggable_backends(self.account_id, self.region_name)
            for resource in backend.iter_tagged_resources()
        }
        region = f":{self.region_name}:{self.account_id}:"
        for resource in still_listed(live, tag_filters, resource_type_filters, resource_arn_list):
            if region in resource.arn:
                yield resource

    CloudWatchBackend.delete_alarms = delete_alarms_remembered
    SNSBackend.delete_topic = delete_topic_remembered
    ResourceGroupsTaggingAPIBackend._get_resources_generator = resources_and_deleted


def install_reset() -> None:
    """moto's reset forgets every instance and every resource: their pending state changes and
    the deleted resources the tagging API still lists go too."""
    reset = type(moto_api_backend).reset

    def reset_and_forget(self: Any) -> None:
        forget_transitions()
        with _lock:
            _deleted.clear()
        reset(self)

    type(moto_api_backend).reset = reset_and_forget


def install(settings: Settings, service_of: Callable[[dict[str, Any]], str]) -> None:
    """Patch moto once; `service_of` names a request's AWS service (its signing name)."""
    if getattr(InstanceBackend, MARKER, False):
        return
    install_lifecycle(settings)
    install_user_data_limit()
    install_dependency_checks()
    install_stale_tagging(settings)
    install_request_hook(settings, service_of)
    install_reset()
    setattr(InstanceBackend, MARKER, True)
