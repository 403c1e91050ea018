"""What one service asks of the allocator, read once per convergence, and what it may keep.

:func:`demand_of` reads a Service into a :class:`Demand`: the address families it needs
(from its clusterIPs, as MetalLB's ``ipfamily.ForService``; see converge.py's docstring for
the fallback when there are none), its requested addresses and pool, its sharing key with the
backend and ports that sharing compares, and the errors MetalLB reports for a bad request or
bad clusterIPs. :func:`family_fits` says whether addresses it holds still suit it, and
:func:`admits` whether a pool's ``serviceAllocation`` lets it in.

Pure, and on the hot path: it runs for every service of every pass, so it avoids parsing
what Kubernetes has already validated. Imports only the model and the address keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import msgspec

from actors.allocator.addresses import family_of, parse_address, quoted
from actors.model.allocation import (
    ERROR_ALLOCATION,
    ERROR_CLUSTER_IP_FAMILY,
    ERROR_NOT_ENOUGH_CLUSTER_IPS,
    ERROR_REQUEST,
)
from actors.model.annotations import (
    ADDRESS_POOL,
    ALLOW_SHARED_IP,
    ANNOTATION_LOAD_BALANCER_IPS,
    LOAD_BALANCER_IPS,
    annotation,
)
from actors.model.cluster import Service, ServiceSpec
from actors.model.config import Pool

Port = tuple[str, int]

# Ports and the backend key matter only between services that may share an address.
NO_PORTS: frozenset[Port] = frozenset()


class Demand(msgspec.Struct):
    """What a service asks of the allocator, read once per convergence."""

    key: str
    namespace: str
    labels: Mapping[str, str]
    families: tuple[int, ...]  # to hold, primary first; two entries means dual-stack
    require_dual: bool
    sharing: str
    backend: str  # "" unless sharing
    ports: frozenset[Port]  # empty unless sharing
    requested: tuple[int, ...]  # address keys, in the order written
    pool: str  # "" when no pool is requested
    # The service keeps what it holds but gets nothing new (bad request, clusterIPs without a
    # family), and the kind of that error.
    held_error: str | None
    held_error_kind: str
    error: str | None  # the service cannot hold addresses at all
    error_kind: str


def demand_of(
    service: Service, key: str, intern_ports: Callable[[frozenset[Port]], frozenset[Port]]
) -> Demand:
    meta = service.metadata
    spec = service.spec
    annotations = meta.annotations
    if annotations or spec.load_balancer_ip:
        requested, request_error = _requested(annotations, spec.load_balancer_ip)
        sharing = annotation(annotations, ALLOW_SHARED_IP)
        pool = annotation(annotations, ADDRESS_POOL)
    else:
        requested, request_error, sharing, pool = (), None, "", ""
    families, require_dual, error = _families(spec, requested)
    held_error_kind = ERROR_REQUEST
    if error is not None:
        error_kind = ERROR_NOT_ENOUGH_CLUSTER_IPS
    else:
        error_kind = ERROR_ALLOCATION
        cluster_ips = spec.cluster_ips
        # MetalLB checks the clusterIPs' family before the request; one address that looks
        # like one (the common case, and Kubernetes validated it) needs no closer look.
        if len(cluster_ips) != 1 or ("." not in cluster_ips[0] and ":" not in cluster_ips[0]):
            family_error = _cluster_ip_family_error(spec)
            if family_error is not None:
                request_error, held_error_kind = family_error, ERROR_CLUSTER_IP_FAMILY
    if not sharing:
        ports, backend = NO_PORTS, ""
    else:
        ports = intern_ports(frozenset([(p.protocol, p.port) for p in spec.ports]))
        if spec.external_traffic_policy == "Local":
            # MetalLB's backend key: labels.Set(selector).String(), so Local services share
            # only with Local services that select the same pods.
            backend = ",".join(f"{k}={v}" for k, v in sorted(spec.selector.items()))
        else:
            backend = ""
    # Positional: this runs once per convergence and keywords cost measurably more.
    return Demand(
        key,
        meta.namespace or "default",
        meta.labels,
        families,
        require_dual,
        sharing,
        backend,
        ports,
        requested,
        pool,
        request_error,
        held_error_kind,
        error,
        error_kind,
    )


def _requested(annotations: Mapping[str, str], spec_ip: str) -> tuple[tuple[int, ...], str | None]:
    text = annotation(annotations, LOAD_BALANCER_IPS)
    if not text and not spec_ip:
        return (), None
    if text and spec_ip:
        return (), (
            f"service can not have both {ANNOTATION_LOAD_BALANCER_IPS} and svc.Spec.LoadBalancerIP"
        )
    keys: list[int] = []
    if text:
        for part in text.split(","):
            key = parse_address(part.strip())
            if key is None:
                return (), f'invalid {ANNOTATION_LOAD_BALANCER_IPS}: "{text}"'
            keys.append(key)
    else:
        key = parse_address(spec_ip)
        if key is None:
            return (), f'invalid spec.loadBalancerIP "{spec_ip}"'
        keys.append(key)
    if len(keys) > 2:
        return (), f"at most 2 addresses can be requested, got {len(keys)}: {quoted(keys)}"
    if len(keys) == 2 and family_of(keys[0]) == family_of(keys[1]):
        return (), f"requested addresses {quoted(keys)} have the same family"
    return tuple(keys), None


def _families(
    spec: ServiceSpec, requested: tuple[int, ...]
) -> tuple[tuple[int, ...], bool, str | None]:
    found = _cluster_ip_families(spec.cluster_ips or (spec.cluster_ip,))
    if not found:
        # Kubernetes always sets clusterIPs on a LoadBalancer service; hand-written files for
        # `--cluster` may not, so fall back to ipFamilies, then the requested addresses, then v4.
        found = (
            _unique(4 if f == "IPv4" else 6 for f in spec.ip_families)
            or _unique(family_of(k) for k in requested)
            or (4,)
        )
    policy = spec.ip_family_policy
    if len(found) >= 2:
        # Two clusterIPs are dual-stack whatever the policy says (MetalLB's ipfamily.ForService
        # reads the addresses only); only PreferDualStack may settle for one family.
        primary = 6 if spec.ip_families[:1] == ("IPv6",) else 4
        return (primary, 10 - primary), policy != "PreferDualStack", None
    if policy == "RequireDualStack":
        return found[:1], True, "not enough clusterips: RequireDualStack needs IPv4 and IPv6"
    return found[:1], False, None


def _cluster_ip_family_error(spec: ServiceSpec) -> str | None:
    """MetalLB's ipfamily.ForService error when clusterIPs are set but give no family.

    Kubernetes validates clusterIPs, so this is the rare path: a cheap look first, parsing
    only when it finds something odd. No clusterIPs at all is not an error here (hand-written
    ``--cluster`` files; see converge.py's docstring).
    """
    texts = spec.cluster_ips or ((spec.cluster_ip,) if spec.cluster_ip else ())
    if not texts or len(_cluster_ip_families(texts)) == len(texts):
        return None
    parsed = [parse_address(t) for t in texts]
    shown = "[" + " ".join(f'"{t}"' for t in texts) + "]"
    if len(texts) > 2:
        problem = f"IPFamilyForAddresses: invalid ips length {len(texts)} {shown}"
    elif None in parsed:
        problem = f"IPFamilyForAddresses: Invalid address {shown}"
    elif len(parsed) == 2 and family_of(parsed[0]) == family_of(parsed[1]):  # type: ignore[arg-type]
        problem = f"IPFamilyForAddresses: same address family {shown}"
    else:
        return None
    return (
        f"invalid ClusterIPs [{' '.join(spec.cluster_ips)}] [{spec.cluster_ip}], "
        f"can't determine family: {problem}"
    )


_V4_ONLY = (4,)
_V6_ONLY = (6,)


def _cluster_ip_families(cluster_ips: tuple[str, ...]) -> tuple[int, ...]:
    """Service.cluster_ip_families() without parsing: Kubernetes has validated the addresses,
    and this runs once per convergence (parsing cost more than the allocation itself)."""
    if len(cluster_ips) == 1:
        text = cluster_ips[0]
        if ":" in text:
            return _V6_ONLY
        return _V4_ONLY if "." in text else ()
    return _unique(6 if ":" in t else 4 for t in cluster_ips if ":" in t or "." in t)


def _unique(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(values))


def family_fits(keys: tuple[int, ...], demand: Demand) -> bool:
    """MetalLB's serviceFamilyChanged, inverted: may these current addresses be kept?"""
    if len(keys) == 1:  # the common case, without building sets
        if len(demand.families) == 2:
            return not demand.require_dual
        return family_of(keys[0]) == demand.families[0]
    families = {family_of(k) for k in keys}
    if len(families) != len(keys):  # two of one family (or more than two)
        return False
    if len(demand.families) == 2 and not demand.require_dual:
        return True  # PreferDualStack keeps one address of either family, or both
    return families == set(demand.families)


def admits(pool: Pool, demand: Demand, namespace_labels: Mapping[str, str]) -> bool:
    """``serviceAllocation`` admission: every list that is set must match."""
    sa = pool.allocation
    if sa is None:
        return True
    if sa.namespaces and demand.namespace not in sa.namespaces:
        return False
    if sa.namespace_selectors and not any(
        s.matches(namespace_labels) for s in sa.namespace_selectors
    ):
        return False
    return not sa.service_selectors or any(s.matches(demand.labels) for s in sa.service_selectors)
