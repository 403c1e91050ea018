"""What the others wrote, read back: the addresses, pool usage and announcements on a cluster.

- :class:`StatusAllocations`: a speaker's allocations on a real cluster are the addresses in
  the Services' status (:func:`allocations_from_status`; MetalLB's speaker never allocates),
  published as AllocationsUpdated; for the console, pool usage comes from the IPAddressPools'
  status too (:func:`usage_from_pool_status`).
- :class:`StatusObjectsReader`: who announces what, for the console, from the speakers'
  ServiceL2Status and ServiceBGPStatus objects (:func:`announcements_from_status_objects`),
  as the AnnouncementStarted/Stopped events the console already understands.

The functions are pure; the actors only read the watch caches and publish.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from actors.base import RuntimeActor
from actors.events import (
    AllocationsUpdated,
    AnnouncementStarted,
    AnnouncementStopped,
    ClusterUpdated,
    ConfigApplied,
    Event,
)
from actors.listener import Listener
from actors.model.allocation import Allocation, PoolUsage
from actors.model.annotations import ANNOTATION_IP_ALLOCATED_FROM_POOL
from actors.model.cluster import ClusterState

if TYPE_CHECKING:
    from actors.kube.cluster import KubeCluster


def allocations_from_status(
    cluster: ClusterState, lb_class: str | None = None
) -> dict[str, Allocation]:
    """What a speaker announces on a real cluster: the addresses in each Service's status, as
    the controller wrote them (MetalLB's speaker never allocates). The pool comes from the
    controller's annotation; without it the election finds the pool holding the addresses."""
    out: dict[str, Allocation] = {}
    for key, service in cluster.services.items():
        if not service.is_load_balancer or service.spec.load_balancer_class != lb_class:
            continue
        ips = []
        for text in service.ingress_ips:
            with contextlib.suppress(ValueError):
                ips.append(ipaddress.ip_address(text))
        if not ips:
            continue
        pool = service.metadata.annotations.get(ANNOTATION_IP_ALLOCATED_FROM_POOL) or None
        out[key] = Allocation(key, tuple(ips), pool)
    return dict(sorted(out.items()))


class StatusAllocations(Listener, RuntimeActor):
    """A speaker's allocations on a real cluster: what the controller wrote in the status.

    With ``kube`` (the console), pool usage comes from the IPAddressPools' status too.
    """

    actor_name = "allocations"
    listens_to = (ClusterUpdated, ConfigApplied)

    def __init__(
        self, *, lb_class: str | None = None, kube: KubeCluster | None = None, **kw: Any
    ) -> None:
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

    def __init__(self, kube: KubeCluster, **kw: Any) -> None:
        super().__init__(**kw)
        self.kube = kube
        self.current: dict[tuple[str, str, str], Any] = {}

    def on_event(self, event: Event) -> None:
        if not isinstance(event, ClusterUpdated):
            return
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
