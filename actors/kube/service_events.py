"""MetalLB's Events on a Service whose allocation changed, as a pure function.

:func:`allocation_service_events` maps the allocator's kinds to the reasons and messages
MetalLB's controller uses (IPAllocated, AllocationFailed, ClearAssignment, LoadBalancerFailed,
AdditionalAssignFailed, "not enough clusterips", nolbIPsIPFamily, noclusterIPsIPFamily); the
:class:`actors.kube.service_status.ServiceStatusWriter` posts them. Pure: no I/O, no threads.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from actors.model.allocation import (
    CLEARED_NO_IP_FAMILY,
    CLEARED_NOT_ALLOWED,
    ERROR_CLUSTER_IP_FAMILY,
    ERROR_NO_POOLS,
    ERROR_NOT_ENOUGH_CLUSTER_IPS,
    ERROR_REQUEST,
    Allocation,
)
from actors.model.cluster import Service


class ServiceEvent(msgspec.Struct, frozen=True):
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
    # No pool at all is the configuration's fault, not the Service's: MetalLB clears the
    # Service's status and posts no Event about it.
    if (
        after.error is not None
        and after.error_kind != ERROR_NO_POOLS
        and (before is None or (before.error, before.error_kind) != (after.error, after.error_kind))
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
