"""What lbtui writes to the Kubernetes API, the way MetalLB writes it.

Controller side:
- :class:`ServiceStatusWriter`: ``status.loadBalancer.ingress`` and the
  ``metallb.io/ip-allocated-from-pool`` annotation through the Service's status subresource, and
  the Events MetalLB emits on Services (IPAllocated, AllocationFailed, ClearAssignment,
  LoadBalancerFailed, AdditionalAssignFailed, "not enough clusterips", nolbIPsIPFamily,
  noclusterIPsIPFamily, deprecatedAnnotation), mapped from the allocator's kinds by the pure
  :func:`allocation_service_events`;
- :class:`PoolStatusWriter`: IPAddressPool ``status`` (assignedIPv4/6, availableIPv4/6);
- :class:`ConfigurationStateWriter`: the ConfigurationState object (``controller`` or
  ``speaker-<node>``) saying whether the configuration in force is valid.

Speaker side:
- :class:`StatusAllocations`: the addresses in the Services' status as AllocationsUpdated (a
  speaker never allocates on a real cluster);
- :class:`SpeakerStatusWriter`: one ServiceL2Status / ServiceBGPStatus per service this node
  announces (``generateName`` l2-/bgp-, labels ``metallb.io/node``, ``metallb.io/service-name``,
  ``metallb.io/service-namespace``), deleted when it stops announcing; Events ``nodeAssigned``;
- :class:`SpeakerDiscovery`: the other speakers' pod IPs (by label), published as
  PeersDiscovered for membership to join through.

Writers are thin actors over pure functions (``service_status_patch``, ``pool_status``,
``l2_status``/``bgp_status``). A failed write is retried with backoff on the injected
scheduler; while the API is away nothing else changes, and what is announced stays announced.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from actors.base import RuntimeActor
from actors.events import (
    AllocationsUpdated,
    Announced,
    AnnouncementsUpdated,
    ClusterUpdated,
    ConfigApplied,
    ConfigRejected,
    Event,
    L2AnswersChanged,
    LeadershipChanged,
    PeersDiscovered,
)
from actors.kube.source import KubeApi, allocations_from_status, api_error, transient
from actors.listener import Listener
from actors.membership.keyring import MEMBERLIST_SECRET_KEY, new_memberlist_secret
from actors.model.allocation import (
    CLEARED_NO_IP_FAMILY,
    CLEARED_NOT_ALLOWED,
    ERROR_CLUSTER_IP_FAMILY,
    ERROR_NOT_ENOUGH_CLUSTER_IPS,
    ERROR_REQUEST,
    Allocation,
    PoolUsage,
)
from actors.model.annotations import ANNOTATION_IP_ALLOCATED_FROM_POOL, DEPRECATED_PREFIX
from actors.model.annotations import STABLE_PREFIX as ANNOTATION_STABLE_PREFIX
from actors.model.cluster import ClusterState, Service

log = logging.getLogger(__name__)

CONTROLLER_COMPONENT = "metallb-controller"
SPEAKER_COMPONENT = "metallb-speaker"
LABEL_NODE = "metallb.io/node"
LABEL_SERVICE_NAME = "metallb.io/service-name"
LABEL_SERVICE_NAMESPACE = "metallb.io/service-namespace"
LABEL_COMPONENT_TYPE = "metallb.io/component-type"
LABEL_NODE_NAME = "metallb.io/node-name"
INT64_MAX = 2**63 - 1  # MetalLB's counters are int64: a /64 is "MaxInt64"


def rfc3339(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def split_key(key: str) -> tuple[str, str]:
    namespace, _, name = key.partition("/")
    return namespace, name


class Retrying:
    """Backoff for one writer: doubling from ``initial`` to ``maximum``, reset on success."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.failures = 0
        self.scheduled = False

    def next_delay(self) -> float:
        self.failures += 1
        return min(self.maximum, self.initial * 2 ** (self.failures - 1))

    def succeeded(self) -> None:
        self.failures = 0

    def schedule(self, after: Callable[..., Any], method: Callable[[], Any]) -> None:
        """Ask the actor (its ``after``) for ``method`` after the next delay, unless a retry
        is already pending; ``method`` (a bound method) clears ``scheduled`` and tries again."""
        if not self.scheduled:
            self.scheduled = True
            after(self.next_delay(), method)


# -- events ----------------------------------------------------------------------------------


class EventRecorder:
    """Posts core/v1 Events about Services, best effort (as client-go's recorder: an event
    that cannot be written is dropped, never retried forever)."""

    def __init__(self, api: KubeApi, component: str, host: str = "") -> None:
        self.api = api
        self.component = component
        self.host = host
        self._seq = itertools.count()
        self.sent = 0
        self.dropped = 0

    def record(
        self, wall: float, key: str, service: Service | None, kind: str, reason: str, message: str
    ) -> bool:
        namespace, name = split_key(key)
        stamp = rfc3339(wall)
        involved: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Service",
            "namespace": namespace,
            "name": name,
        }
        if service is not None:
            involved["uid"] = service.metadata.uid
            involved["resourceVersion"] = service.metadata.resource_version
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                # client-go's naming (the object's name and the time in hex), plus a random
                # part: several speakers may report on one service in the same nanosecond.
                "name": f"{name}.{int(wall * 1e9) + next(self._seq):x}{secrets.token_hex(3)}",
                "namespace": namespace,
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }
        try:
            self.api.create_event(namespace, body)
        except Exception as exc:
            self.dropped += 1
            log.info("event %s on %s dropped: %s", reason, key, exc)
            return False
        self.sent += 1
        return True


# -- Service status (controller) -------------------------------------------------------------


def deprecated_annotations(service: Service) -> tuple[str, ...]:
    return tuple(sorted(a for a in service.metadata.annotations if a.startswith(DEPRECATED_PREFIX)))


def service_status_patch(service: Service, allocation: Allocation | None) -> dict[str, Any] | None:
    """The status-subresource patch that makes ``service`` show ``allocation`` (None: as it is).

    ``allocation`` None means the allocator does not handle the service: a service that
    stopped being a LoadBalancer loses the address and annotation lbtui wrote; a service of
    another loadBalancerClass is left alone.
    """
    current_ips = list(service.ingress_ips)
    current_pool = service.metadata.annotations.get(ANNOTATION_IP_ALLOCATED_FROM_POOL)
    if allocation is None:
        if service.is_load_balancer or current_pool is None:
            return None
        wanted_ips: list[str] = []
        wanted_pool = None
    else:
        wanted_ips = [str(ip) for ip in allocation.ips]
        wanted_pool = allocation.pool if allocation.ips else None
    if wanted_ips == current_ips and wanted_pool == current_pool:
        return None
    patch: dict[str, Any] = {
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in wanted_ips]}},
    }
    if wanted_pool != current_pool:
        patch["metadata"] = {"annotations": {ANNOTATION_IP_ALLOCATED_FROM_POOL: wanted_pool}}
    return patch


def status_patches(
    cluster: ClusterState, allocations: Mapping[str, Allocation]
) -> dict[str, dict[str, Any]]:
    """Every Service whose status differs from the allocations, with the patch to fix it."""
    out = {}
    for key, service in cluster.services.items():
        patch = service_status_patch(service, allocations.get(key))
        if patch is not None:
            out[key] = patch
    return out


@dataclass(frozen=True, slots=True)
class ServiceEvent:
    """One core/v1 Event to post about a Service: ``kind`` is Normal or Warning."""

    kind: str
    reason: str
    message: str


def _go_quoted(texts: Iterable[str]) -> str:
    """A list of addresses as Go's %q prints it, which MetalLB's messages use."""
    return "[" + " ".join(f'"{t}"' for t in texts) + "]"


def allocation_service_events(
    key: str, service: Service | None, before: Allocation | None, after: Allocation | None
) -> list[ServiceEvent]:
    """MetalLB's Events for one service whose allocation went from ``before`` to ``after``
    (pure). Only what changed is told: the same allocation twice tells nothing."""
    if after is None or after == before:
        return []
    out: list[ServiceEvent] = []
    cleared_kind = after.cleared_kind
    if after.cleared is not None and (
        before is None or before.cleared != after.cleared or before.ips != after.ips
    ):
        if cleared_kind == CLEARED_NOT_ALLOWED:
            out.append(ServiceEvent("Normal", "ClearAssignment", after.cleared))
        elif cleared_kind == CLEARED_NO_IP_FAMILY:
            current = service.ingress_ips if service is not None else ()
            out.append(
                ServiceEvent(
                    "Warning",
                    "nolbIPsIPFamily",
                    f"Failed to retrieve LBIPs IPFamily for {_go_quoted(current)}: {after.cleared}",
                )
            )
    old_ips = before.ips if before is not None else ()
    if after.ips and after.ips != old_ips:
        ips = [str(ip) for ip in after.ips]
        if service is not None and set(service.ingress_ips) == set(ips):
            pass  # re-learned from the status at start: nothing new to tell
        elif len(old_ips) == 1 and len(after.ips) == 2 and old_ips[0] in after.ips:
            added = next(ip for ip in after.ips if ip != old_ips[0])
            out.append(ServiceEvent("Normal", "IPAllocated", f'Assigned additional IP "{added}"'))
        else:
            out.append(ServiceEvent("Normal", "IPAllocated", f"Assigned IP {_go_quoted(ips)}"))
    if after.error is not None and (
        before is None or (before.error, before.error_kind) != (after.error, after.error_kind)
    ):
        out.append(_error_event(key, service, after))
    if after.notice is not None and (before is None or before.notice != after.notice):
        out.append(
            ServiceEvent(
                "Normal",
                "AdditionalAssignFailed",
                f"cannot assign additional IP in PreferDualStack: {after.notice}",
            )
        )
    return out


def _error_event(key: str, service: Service | None, after: Allocation) -> ServiceEvent:
    """The allocator's error kinds as MetalLB's controller names them. MetalLB tells a bad
    request or bad clusterIPs apart only while the service holds addresses; a service that
    holds none gets AllocationFailed for them, as for anything else."""
    error = after.error or ""
    kind = after.error_kind
    if kind == ERROR_NOT_ENOUGH_CLUSTER_IPS:
        cluster_ips = service.spec.cluster_ips if service is not None else ()
        return ServiceEvent(
            "Warning",
            "not enough clusterips",
            f"Service requires dual stack but not enough clusterips [{' '.join(cluster_ips)}]",
        )
    if after.ips and kind == ERROR_REQUEST:
        return ServiceEvent(
            "Warning", "LoadBalancerFailed", f"invalid requested loadbalancer IPs: {error}"
        )
    if after.ips and kind == ERROR_CLUSTER_IP_FAMILY:
        spec = service.spec if service is not None else None
        cluster_ips = _go_quoted(spec.cluster_ips) if spec is not None else "[]"
        cluster_ip = spec.cluster_ip if spec is not None else ""
        return ServiceEvent(
            "Warning",
            "noclusterIPsIPFamily",
            f"Failed to retrieve ClusterIPs IPFamily for {cluster_ips} {cluster_ip}: {error}",
        )
    return ServiceEvent(
        "Warning", "AllocationFailed", f'Failed to allocate IP for "{key}": {error}'
    )


def _rv_at_least(seen: str, written: str) -> bool:
    if seen.isdigit() and written.isdigit():
        return int(seen) >= int(written)
    return seen == written


class ServiceStatusWriter(Listener, RuntimeActor):
    """Writes Service status and the allocation Events, while this controller leads."""

    actor_name = "status"
    listens_to = (ClusterUpdated, AllocationsUpdated, LeadershipChanged)

    def __init__(
        self,
        api: KubeApi,
        *,
        leader: bool = True,
        component: str = CONTROLLER_COMPONENT,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.api = api
        self.leader = leader
        self.events = EventRecorder(api, component)
        self.cluster: ClusterState | None = None
        self.allocations: Mapping[str, Allocation] | None = None
        # key -> (patch, resourceVersion the write produced): not written again until the
        # watch has shown that version (or a newer one) and it still differs.
        self.written: dict[str, tuple[dict[str, Any], str]] = {}
        self.retry = Retrying(retry_initial, retry_max)
        self.writes = 0
        self.failures = 0
        self._clean: dict[str, tuple[Service, Allocation | None]] = {}
        self._annotations_seen: dict[str, Service] = {}

    def on_event(self, event: Event) -> None:
        if isinstance(event, ClusterUpdated):
            self.cluster = event.cluster
            self._warn_deprecated()
            self.sync()
        elif isinstance(event, AllocationsUpdated):
            before = self.allocations
            self.allocations = event.allocations
            if self.leader:
                self._record(before or {}, event.allocations)
            self.sync()
        elif isinstance(event, LeadershipChanged):
            self.leader = event.leader
            self.written.clear()
            self.sync()

    def _warn_deprecated(self) -> None:
        """MetalLB's Warning ``deprecatedAnnotation``, once per service and annotation set."""
        if not self.leader or self.cluster is None:
            return
        seen: dict[str, Service] = {}
        for key, service in self.cluster.services.items():
            before = self._annotations_seen.get(key)
            seen[key] = service
            if before is service:
                continue
            old = deprecated_annotations(before) if before is not None else ()
            for name in deprecated_annotations(service):
                if name in old:
                    continue
                stable = ANNOTATION_STABLE_PREFIX + name.removeprefix(DEPRECATED_PREFIX)
                self.events.record(
                    self.clock.wall(),
                    key,
                    service,
                    "Warning",
                    "deprecatedAnnotation",
                    f'annotation "{name}" is deprecated, use "{stable}" instead',
                )
        self._annotations_seen = seen

    def _record(self, before: Mapping[str, Allocation], after: Mapping[str, Allocation]) -> None:
        """The Events for what changed between two allocation maps (services that are gone
        get none, as in MetalLB)."""
        wall = self.clock.wall()
        services = self.cluster.services if self.cluster else {}
        for key, allocation in after.items():
            old = before.get(key)
            if old is allocation:
                continue  # the allocator hands out the same object while nothing changes
            service = services.get(key)
            for e in allocation_service_events(key, service, old, allocation):
                self.events.record(wall, key, service, e.kind, e.reason, e.message)

    def sync(self) -> None:
        if not self.leader or self.cluster is None or self.allocations is None:
            return
        failed = False
        for key, patch in self._patches().items():
            service = self.cluster.services[key]
            done = self.written.get(key)
            seen = service.metadata.resource_version
            if done is not None and done[0] == patch and not _rv_at_least(seen, done[1]):
                continue  # our write is not back through the watch yet
            namespace, name = split_key(key)
            try:
                result = self.api.patch_service_status(namespace, name, patch)
            except Exception as exc:
                status, _ = api_error(exc)
                if status == 404:
                    continue  # deleted meanwhile; the watch will say so
                self.failures += 1
                failed = True
                log.warning("writing the status of %s failed: %s", key, exc)
                break  # the API is likely away: retry everything later
            self.writes += 1
            rv = str((result.get("metadata") or {}).get("resourceVersion", ""))
            self.written[key] = (patch, rv)
        if failed:
            self.retry.schedule(self.after, self._retry)
        else:
            self.retry.succeeded()
        for key in list(self.written):
            if key not in self.cluster.services:
                del self.written[key]

    def _patches(self) -> dict[str, dict[str, Any]]:
        """status_patches, skipping services whose objects are the very ones last found in
        order: the cluster source and the allocator hand out the same objects while nothing
        changes, so a burst of N services costs N checks per update, not N string compares."""
        assert self.cluster is not None and self.allocations is not None
        out = {}
        clean: dict[str, tuple[Service, Allocation | None]] = {}
        for key, service in self.cluster.services.items():
            allocation = self.allocations.get(key)
            seen = self._clean.get(key)
            if seen is not None and seen[0] is service and seen[1] == allocation:
                clean[key] = seen
                continue
            patch = service_status_patch(service, allocation)
            if patch is None:
                clean[key] = (service, allocation)
            else:
                out[key] = patch
        self._clean = clean
        return out

    def _retry(self) -> None:
        self.retry.scheduled = False
        self.sync()


# -- the memberlist Secret (controller) ------------------------------------------------------


def memberlist_secret_body(
    name: str, namespace: str, secret: bytes, deployment: dict[str, Any] | None
) -> dict[str, Any]:
    """The Secret MetalLB's controller creates: ``secretkey`` holds ``secret`` (itself base64
    text), owned by the controller Deployment so it goes when MetalLB is uninstalled."""
    import base64

    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if deployment is not None:
        meta = deployment.get("metadata") or {}
        metadata["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": meta.get("name", ""),
                "uid": meta.get("uid", ""),
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata,
        "data": {MEMBERLIST_SECRET_KEY: base64.b64encode(secret).decode("ascii")},
    }


class MemberlistSecretWriter(RuntimeActor):
    """``--ml-secret-name``: creates the speakers' gossip key Secret once, as MetalLB's
    controller does at start; an existing Secret is left alone (its key is in use). A failed
    call is retried with backoff rather than ending the process: the API may come back."""

    actor_name = "mlsecret"

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        secret_name: str,
        *,
        deployment: str = "controller",
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.api = api
        self.namespace = namespace
        self.secret_name = secret_name
        self.deployment = deployment
        self.retry = Retrying(retry_initial, retry_max)
        self.outcome = ""  # "", "created" or "existed"

    def on_start(self) -> None:
        self.ensure()

    def ensure(self) -> None:
        if self.outcome:
            return
        try:
            self.outcome = self._ensure()
        except Exception as exc:
            log.warning("creating the memberlist secret %s failed: %s", self.secret_name, exc)
            self.after(self.retry.next_delay(), self.ensure)
            return
        log.info("memberlist secret %s/%s %s", self.namespace, self.secret_name, self.outcome)

    def _ensure(self) -> str:
        from kubernetes import client

        core = self.api.core
        timeout = self.api.request_timeout
        # A get by name (RBAC can limit it to this Secret); only 404 means "absent", any
        # other error is retried, never mistaken for it.
        try:
            core.read_namespaced_secret(
                self.secret_name, self.namespace, _preload_content=False, _request_timeout=timeout
            )
            return "existed"
        except Exception as exc:
            if api_error(exc)[0] != 404:
                raise
        deployment: dict[str, Any] | None = None
        try:
            response = client.AppsV1Api(self.api.api_client).read_namespaced_deployment(
                self.deployment, self.namespace, _preload_content=False, _request_timeout=timeout
            )
            deployment = json.loads(response.data)
        except Exception as exc:
            if api_error(exc)[0] != 404:
                raise
            # Run outside the cluster (no Deployment): the Secret simply has no owner.
            log.warning(
                "deployment %s/%s not found: the memberlist secret gets no owner",
                self.namespace,
                self.deployment,
            )
        body = memberlist_secret_body(
            self.secret_name, self.namespace, new_memberlist_secret(), deployment
        )
        try:
            core.create_namespaced_secret(
                self.namespace, body, _preload_content=False, _request_timeout=timeout
            )
        except Exception as exc:
            if api_error(exc)[0] == 409:
                return "existed"  # another replica was first; its key stands
            raise
        return "created"


# -- pool status and ConfigurationState (controller, and the speaker's own state) -------------


def pool_status(usage: PoolUsage) -> dict[str, int]:
    """IPAddressPool status as MetalLB's PoolStatusReconciler writes it."""
    return {
        "assignedIPv4": min(usage.in_use_v4, INT64_MAX),
        "assignedIPv6": min(usage.in_use_v6, INT64_MAX),
        "availableIPv4": min(usage.total_v4 - usage.in_use_v4, INT64_MAX),
        "availableIPv6": min(usage.total_v6 - usage.in_use_v6, INT64_MAX),
    }


class PoolStatusWriter(Listener, RuntimeActor):
    actor_name = "poolstatus"
    listens_to = (AllocationsUpdated, LeadershipChanged)

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        *,
        leader: bool = True,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.api = api
        self.namespace = namespace
        self.leader = leader
        self.usage: Mapping[str, PoolUsage] = MappingProxyType({})
        self.written: dict[str, dict[str, int]] = {}
        self.retry = Retrying(retry_initial, retry_max)

    def on_event(self, event: Event) -> None:
        if isinstance(event, AllocationsUpdated):
            self.usage = event.usage
        elif isinstance(event, LeadershipChanged):
            self.leader = event.leader
            self.written.clear()
        self.sync()

    def sync(self) -> None:
        if not self.leader:
            return
        for pool, usage in sorted(self.usage.items()):
            status = pool_status(usage)
            if self.written.get(pool) == status:
                continue
            try:
                self.api.custom_patch_status(
                    "ipaddresspools", self.namespace, pool, {"status": status}
                )
            except Exception as exc:
                if api_error(exc)[0] == 404:
                    continue  # the pool is not (or no longer) an object in the API
                log.warning("writing the status of IPAddressPool %s failed: %s", pool, exc)
                self.retry.schedule(self.after, self._retry)
                return
            self.written[pool] = status
        self.retry.succeeded()

    def _retry(self) -> None:
        self.retry.scheduled = False
        self.sync()


def configuration_state_status(
    valid: bool, errors: tuple[str, ...], condition: str, wall: float
) -> dict[str, Any]:
    summary = "; ".join(errors)
    return {
        "result": "Valid" if valid else "Invalid",
        "errorSummary": "" if valid else summary,
        "conditions": [
            {
                "type": condition,
                "status": "True" if valid else "False",
                "reason": "Reconciled" if valid else "ConfigurationError",
                "message": "" if valid else summary,
                "lastTransitionTime": rfc3339(wall),
            }
        ],
    }


class ConfigurationStateWriter(Listener, RuntimeActor):
    """The ConfigurationState object of this component: ``controller`` or ``speaker-<node>``."""

    actor_name = "configstate"
    listens_to = (ConfigApplied, ConfigRejected, LeadershipChanged)

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        *,
        node: str = "",
        leader: bool = True,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.api = api
        self.namespace = namespace
        self.node = node
        self.leader = leader
        self.object_name = f"speaker-{node}" if node else "controller"
        self.condition = "configReconcilerValid" if node else "poolReconcilerValid"
        self.state: tuple[bool, tuple[str, ...]] | None = None
        self.written: tuple[bool, tuple[str, ...]] | None = None
        self.exists = False
        self.retry = Retrying(retry_initial, retry_max)

    def on_event(self, event: Event) -> None:
        if isinstance(event, ConfigApplied):
            self.state = (True, ())
        elif isinstance(event, ConfigRejected):
            self.state = (False, event.errors)
        elif isinstance(event, LeadershipChanged):
            if self.node:
                return  # a speaker's own state is its own business, leader or not
            self.leader = event.leader
            self.written = None
        self.sync()

    def sync(self) -> None:
        if not self.leader or self.state is None or self.state == self.written:
            return
        valid, errors = self.state
        status = configuration_state_status(valid, errors, self.condition, self.clock.wall())
        try:
            if not self.exists:
                self._ensure()
            self.api.custom_patch_status(
                "configurationstates", self.namespace, self.object_name, {"status": status}
            )
        except Exception as exc:
            if api_error(exc)[0] == 404:
                self.exists = False
            log.warning("writing ConfigurationState %s failed: %s", self.object_name, exc)
            self.retry.schedule(self.after, self._retry)
            return
        self.written = self.state
        self.retry.succeeded()

    def _ensure(self) -> None:
        labels = {LABEL_COMPONENT_TYPE: "speaker" if self.node else "controller"}
        if self.node:
            labels[LABEL_NODE_NAME] = self.node
        body = {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "ConfigurationState",
            "metadata": {"name": self.object_name, "namespace": self.namespace, "labels": labels},
        }
        try:
            self.api.custom_create("configurationstates", self.namespace, body)
        except Exception as exc:
            if api_error(exc)[0] != 409:  # already there is fine
                raise
        self.exists = True

    def _retry(self) -> None:
        self.retry.scheduled = False
        self.sync()


# -- the speaker's side ----------------------------------------------------------------------


class StatusAllocations(Listener, RuntimeActor):
    """A speaker's allocations on a real cluster: what the controller wrote in the status.

    With ``kube`` (the console), pool usage comes from the IPAddressPools' status too.
    """

    actor_name = "allocations"
    listens_to = (ClusterUpdated, ConfigApplied)

    def __init__(self, *, lb_class: str | None = None, kube: Any = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.lb_class = lb_class
        self.kube = kube
        self.allocations: Mapping[str, Allocation] | None = None
        self.usage: Mapping[str, PoolUsage] = MappingProxyType({})

    def on_event(self, event: Event) -> None:
        found = self.allocations
        if isinstance(event, ClusterUpdated):
            found = MappingProxyType(allocations_from_status(event.cluster, self.lb_class))
        usage = self.usage
        if self.kube is not None:
            usage = MappingProxyType(usage_from_pool_status(self.kube.objects("config")))
        if found is None or (found == self.allocations and usage == self.usage):
            return
        self.allocations, self.usage = found, usage
        self.republish()

    def snapshot(self) -> tuple[Mapping[str, Allocation], Mapping[str, PoolUsage]]:
        return self.allocations or MappingProxyType({}), self.usage

    def republish(self) -> None:
        if self.allocations is not None:
            self.publish(AllocationsUpdated(self.clock.now(), self.allocations, self.usage))


def usage_from_pool_status(objects: list[dict[str, Any]]) -> dict[str, PoolUsage]:
    """Pool usage as the controller wrote it into IPAddressPool status (pure)."""
    out = {}
    for obj in objects:
        status = obj.get("status") if obj.get("kind") == "IPAddressPool" else None
        if not isinstance(status, dict):
            continue
        fields = ("assignedIPv4", "assignedIPv6", "availableIPv4", "availableIPv6")
        n = {k: int(status.get(k) or 0) for k in fields}
        v4 = n["assignedIPv4"] + n["availableIPv4"]
        v6 = n["assignedIPv6"] + n["availableIPv6"]
        used4, used6 = n["assignedIPv4"], n["assignedIPv6"]
        name = str((obj.get("metadata") or {}).get("name", ""))
        out[name] = PoolUsage(v4 + v6, used4 + used6, v4, v6, used4, used6)
    return dict(sorted(out.items()))


L2_STATUS = ("servicel2statuses", "ServiceL2Status", "l2-")
BGP_STATUS = ("servicebgpstatuses", "ServiceBGPStatus", "bgp-")


def desired_status_objects(
    node: str, announced: tuple[Announced, ...]
) -> dict[tuple[str, str], dict[str, Any]]:
    """(plural, service key) -> the status a ServiceL2Status/ServiceBGPStatus must hold."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for a in announced:
        namespace, name = split_key(a.service)
        status: dict[str, Any] = {"node": node, "serviceName": name, "serviceNamespace": namespace}
        if a.protocol == "layer2":
            # Empty when announcing on every interface, as MetalLB writes it.
            status["interfaces"] = [{"name": i} for i in a.interfaces]
            out[(L2_STATUS[0], a.service)] = status
        else:
            status["peers"] = list(a.peers)
            out[(BGP_STATUS[0], a.service)] = status
    return out


class SpeakerStatusWriter(Listener, RuntimeActor):
    """ServiceL2Status / ServiceBGPStatus objects for what this node announces, and the
    ``nodeAssigned`` Events. Objects of services it stopped announcing are deleted."""

    actor_name = "speakerstatus"
    listens_to = (AnnouncementsUpdated, ClusterUpdated, L2AnswersChanged)

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        node: str,
        *,
        pod_name: str = "",
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.api = api
        self.namespace = namespace
        self.node = node
        self.pod_name = pod_name
        self.owner: list[dict[str, Any]] | None = None
        self.events = EventRecorder(api, SPEAKER_COMPONENT, node)
        self.services: Mapping[str, Service] = MappingProxyType({})
        self.announced: tuple[Announced, ...] | None = None
        self.desired: dict[tuple[str, str], dict[str, Any]] = {}
        # (plural, service) -> (object name, status it holds); None until listed.
        self.existing: dict[tuple[str, str], tuple[str, dict[str, Any]]] | None = None
        self.retry = Retrying(retry_initial, retry_max)

    def on_start(self) -> None:
        self._learn()

    def on_event(self, event: Event) -> None:
        if isinstance(event, ClusterUpdated):
            self.services = event.cluster.services
            return
        if isinstance(event, L2AnswersChanged):
            self._announce_failed(event)
            return
        if not isinstance(event, AnnouncementsUpdated) or event.node != self.node:
            return
        before = {(a.service, a.protocol) for a in self.announced or ()}
        self.announced = event.announced
        for a in event.announced:
            if (a.service, a.protocol) not in before:
                self.events.record(
                    self.clock.wall(),
                    a.service,
                    self.services.get(a.service),
                    "Normal",
                    "nodeAssigned",
                    f'announcing from node "{self.node}" with protocol "{a.protocol}"',
                )
        self.desired = desired_status_objects(self.node, event.announced)
        self.sync()

    def _announce_failed(self, event: L2AnswersChanged) -> None:
        """This node won an address but can answer on none of the interfaces its
        L2Advertisement names: MetalLB's Warning ``announceFailed`` on the services."""
        if event.node != self.node or event.interfaces:
            return
        if not event.reason.startswith("announceFailed"):
            return
        detail = event.reason.partition(": ")[2] or event.reason
        for a in self.announced or ():
            if a.protocol == "layer2" and event.ip in a.ips:
                self.events.record(
                    self.clock.wall(),
                    a.service,
                    self.services.get(a.service),
                    "Warning",
                    "announceFailed",
                    f'cannot announce {event.ip} from node "{self.node}": {detail}',
                )

    def _learn(self) -> bool:
        """List the status objects this node already has (from before a restart)."""
        try:
            if self.pod_name and self.owner is None:
                pod = self.api.get_pod(self.namespace, self.pod_name)
                meta = pod.get("metadata") or {}
                self.owner = [
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": self.pod_name,
                        "uid": meta.get("uid", ""),
                    }
                ]
            existing: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
            for plural, _, _ in (L2_STATUS, BGP_STATUS):
                for obj in self.api.custom_list(
                    plural, self.namespace, f"{LABEL_NODE}={self.node}"
                ):
                    labels = (obj.get("metadata") or {}).get("labels") or {}
                    service = (
                        f"{labels.get(LABEL_SERVICE_NAMESPACE, '')}/"
                        f"{labels.get(LABEL_SERVICE_NAME, '')}"
                    )
                    name = obj["metadata"]["name"]
                    key = (plural, service)
                    if key in existing:  # a duplicate (a crash between two writes): drop it
                        self.api.custom_delete(plural, self.namespace, name)
                        continue
                    existing[key] = (name, obj.get("status") or {})
        except Exception as exc:
            log.warning("listing this node's status objects failed: %s", exc)
            self.retry.schedule(self.after, self._retry)
            return False
        self.existing = existing
        return True

    def sync(self) -> None:
        if self.existing is None and not self._learn():
            return
        assert self.existing is not None
        try:
            for key in sorted(set(self.existing) - set(self.desired)):
                plural, _ = key
                name, _ = self.existing[key]
                try:
                    self.api.custom_delete(plural, self.namespace, name)
                except Exception as exc:
                    if api_error(exc)[0] != 404:
                        raise
                del self.existing[key]
            for key, status in sorted(self.desired.items()):
                found = self.existing.get(key)
                if found is not None and found[1] == status:
                    continue
                name = found[0] if found is not None else self._create(key)
                self.existing[key] = (name, {})
                self.api.custom_patch_status(key[0], self.namespace, name, {"status": status})
                self.existing[key] = (name, status)
        except Exception as exc:
            if not transient(exc) and api_error(exc)[0] == 404:
                self.existing = None  # someone deleted ours: list again
            log.warning("writing status objects of %s failed: %s", self.node, exc)
            self.retry.schedule(self.after, self._retry)
            return
        self.retry.succeeded()

    def _create(self, key: tuple[str, str]) -> str:
        plural, service = key
        kind, prefix = (L2_STATUS if plural == L2_STATUS[0] else BGP_STATUS)[1:]
        namespace, name = split_key(service)
        metadata: dict[str, Any] = {
            "generateName": prefix,
            "namespace": self.namespace,
            "labels": {
                LABEL_NODE: self.node,
                LABEL_SERVICE_NAME: name,
                LABEL_SERVICE_NAMESPACE: namespace,
            },
        }
        if self.owner:
            metadata["ownerReferences"] = self.owner
        created = self.api.custom_create(
            plural,
            self.namespace,
            {"apiVersion": "metallb.io/v1beta1", "kind": kind, "metadata": metadata},
        )
        return str(created["metadata"]["name"])

    def _retry(self) -> None:
        self.retry.scheduled = False
        self.sync()


class SpeakerDiscovery(RuntimeActor):
    """Finds the other speakers as MetalLB does: their pods' IPs, by label, at start and every
    ``interval`` (5 min). Publishes PeersDiscovered; membership joins through them."""

    actor_name = "discovery"

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        node: str,
        *,
        labels: str = "app=metallb,component=speaker",
        interval: float = 300.0,
        port: int = 7946,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.api = api
        self.namespace = namespace
        self.node = node
        self.labels = labels
        self.interval = interval
        self.port = port
        self.addresses: tuple[str, ...] | None = None

    def on_start(self) -> None:
        self.discover()

    def discover(self) -> None:
        try:
            pods = self.api.list_pods(self.namespace, self.labels)
        except Exception as exc:
            log.warning("listing speaker pods failed: %s", exc)
            self.after(min(self.interval, 10.0), self.discover)
            return
        found = speaker_addresses(pods, self.node, self.port)
        if found != self.addresses:
            self.addresses = found
            self.republish()
        self.after(self.interval, self.discover)

    def republish(self) -> None:
        if self.addresses is not None:
            self.publish(PeersDiscovered(self.clock.now(), self.node, self.addresses))


def speaker_addresses(pods: list[dict[str, Any]], node: str, port: int) -> tuple[str, ...]:
    """``ip:port`` of every running speaker pod on another node, sorted (pure)."""
    out = set()
    for pod in pods:
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        if spec.get("nodeName") == node or status.get("phase") not in (None, "Running"):
            continue
        ip = status.get("podIP")
        if ip:
            out.add(f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}")
    return tuple(sorted(out))


# -- the console's view of a cluster ---------------------------------------------------------


def announcements_from_status_objects(
    objects: list[dict[str, Any]], cluster: ClusterState
) -> dict[tuple[str, str, str], tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """(node, ip, protocol) -> (interfaces, services, peers) from the speakers' ServiceL2Status
    and ServiceBGPStatus objects and the addresses in the Services' status (pure)."""
    found: dict[tuple[str, str, str], tuple[set[str], set[str], set[str]]] = {}
    for obj in objects:
        kind = obj.get("kind")
        status = obj.get("status") or {}
        if kind not in ("ServiceL2Status", "ServiceBGPStatus") or not status.get("node"):
            continue
        key = f"{status.get('serviceNamespace', '')}/{status.get('serviceName', '')}"
        service = cluster.services.get(key)
        if service is None:
            continue
        protocol = "layer2" if kind == "ServiceL2Status" else "bgp"
        for ip in service.ingress_ips:
            interfaces, services, peers = found.setdefault(
                (str(status["node"]), ip, protocol), (set(), set(), set())
            )
            services.add(key)
            interfaces.update(i.get("name", "") for i in status.get("interfaces") or [])
            peers.update(status.get("peers") or [])
    return {
        k: (",".join(sorted(i)), tuple(sorted(s)), tuple(sorted(p)))  # type: ignore[misc]
        for k, (i, s, p) in sorted(found.items())
    }


class StatusObjectsReader(Listener, RuntimeActor):
    """Who announces what on a real cluster, from the speakers' status objects, as the
    AnnouncementStarted/Stopped events the console already understands."""

    actor_name = "statusobjects"
    listens_to = (ClusterUpdated,)

    def __init__(self, kube: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.kube = kube
        self.current: dict[tuple[str, str, str], Any] = {}

    def on_event(self, event: Event) -> None:
        if not isinstance(event, ClusterUpdated):
            return
        from actors.events import AnnouncementStarted, AnnouncementStopped

        objects = [
            o
            for kind in ("ServiceL2Status", "ServiceBGPStatus")
            if (cache := self.kube.cache_for(kind)) is not None
            for o in cache.snapshot()
        ]
        now_seen = announcements_from_status_objects(objects, event.cluster)
        t = self.clock.now()
        for (node, ip, protocol), _ in sorted(self.current.items()):
            if (node, ip, protocol) not in now_seen:
                self.publish(AnnouncementStopped(t, node, ip, protocol, "status object removed"))
        for (node, ip, protocol), (interfaces, services, peers) in now_seen.items():
            if self.current.get((node, ip, protocol)) != (interfaces, services, peers):
                kind = "ServiceL2Status" if protocol == "layer2" else "ServiceBGPStatus"
                self.publish(
                    AnnouncementStarted(
                        t, node, ip, protocol, f"{kind} of {node}", interfaces, services, peers
                    )
                )
        self.current = now_seen
