"""MetalLB's address allocator, made deterministic (DESIGN rule 7) and cheap at scale.

Pure code: no threads, sockets or clocks. The allocator actor wraps an :class:`Allocator`;
``lbtui plan`` and every ``--cluster`` speaker call :func:`allocate_cluster`.

API
---
``Allocation(service, ips, pool, error, cleared, error_kind, notice)``
    What one service holds. ``ips`` is empty when it holds nothing; ``error`` says why it got
    nothing (or, with ``ips`` set, that its requested addresses or its clusterIPs are invalid
    while the addresses it already held are kept, as MetalLB does); ``cleared`` says why
    addresses it held before were dropped. ``error_kind`` (``ERROR_*``) and ``cleared_kind``
    (``CLEARED_*``, derived from the text) say what kind of trouble it is, so that whoever
    tells the user (the controller's Events) can name it as MetalLB does without parsing
    messages. ``notice``: a PreferDualStack service holding one family could not get the
    other from its pool (MetalLB's ``AdditionalAssignFailed``), and why.
``PoolUsage(total, in_use, total_v4, total_v6, in_use_v4, in_use_v6)``
    Per-pool counters, exact ints (a /64 has ``2**64``); ``total`` leaves out .0/.255 in
    ``avoidBuggyIPs`` pools; ``in_use`` counts addresses, not services.
``Allocator(config, lb_class=None)``
    ``converge(service, namespace_labels) -> Allocation | None`` one service: keep, re-claim
    or allocate (None: not a LoadBalancer or another class; whatever it held is released).
    ``converge_all(cluster) -> dict[str, Allocation]`` every service in rule-7 order; releases
    services that are gone.
    ``set_config(config) -> list[str]`` services whose addresses are in no pool any more
    (released; converge them again to re-allocate).
    ``release(service_key)``, ``assigned(service_key)``, ``usage()``.
``allocate_cluster(config, cluster, lb_class=None) -> (allocations, usage)``
    The same as a fresh ``Allocator(...).converge_all(cluster)``; the result depends only on
    the objects, never on their order.

Semantics are MetalLB's (see reference/metallb-semantics.md §2-3) with its random choices made
deterministic: pools by priority then name, services holding addresses first, then those
requesting addresses, then the rest (each by creation time, then namespace/name). A dual-stack
allocation lists IPv4 first, as MetalLB writes it; requested addresses keep the order written.

Deliberate differences from MetalLB, each where it is random, flaps or cannot apply:

- ties between pools of equal priority, and the pools without ``serviceAllocation``, are
  tried by name (MetalLB: Go map order);
- admission checks every ``serviceAllocation`` list that is set, ``namespaceSelectors``
  included, also for requested addresses and ``address-pool`` (MetalLB's Assign skips them);
- a PreferDualStack service holding the one address it requested is not topped up (MetalLB
  adds one, then drops both as "different IP" on the next pass, and so on);
- a service without clusterIPs (hand-written ``--cluster`` files) takes its families from
  ``ipFamilies``, else its requested addresses, else IPv4 (MetalLB refuses it);
- a service without ports still holds its address (MetalLB then forgets the sharing key);
- a range overlapping an earlier one (pools by name, ranges in order) is ignored; the config
  validator rejects such configs anyway.

Cost
----
MetalLB scans every pool from its first address for each allocation (quadratic overall). Here
each range keeps a high-water mark, a min-heap of released offsets below it (lazy deletion)
and the set of occupied offsets, so the lowest free address is found in amortized O(log n)
and memory grows with what is allocated, not with the pool (a /64 costs nothing). Addresses a
service could share are kept per (pool, family, sharing key, backend key, ports in use) in
lazily-deleted min-heaps, so "lowest free or shareable" never scans either.

At 100,000 services the constant factor is what counts. A service holding an address without
a sharing key costs the Allocation it is given and otherwise only ints, strings and tuples of
ints, which the cyclic garbage collector does not walk; ``converge_all`` pauses that collector
for its pass; and the common case (no request, no sharing key, one family) takes a short path.
"""

from __future__ import annotations

import gc
import heapq
import ipaddress
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NamedTuple, Protocol

from actors.model.allocation import (
    ERROR_ALLOCATION,
    ERROR_CLUSTER_IP_FAMILY,
    ERROR_NOT_ENOUGH_CLUSTER_IPS,
    ERROR_REQUEST,
    NO_FAMILY_PREFIX,
    NOT_ALLOWED_PREFIX,
    Allocation,
    PoolUsage,
)
from actors.model.annotations import (
    ADDRESS_POOL,
    ALLOW_SHARED_IP,
    ANNOTATION_LOAD_BALANCER_IPS,
    LOAD_BALANCER_IPS,
    annotation,
)
from actors.model.cluster import EPOCH, ClusterState, Service, ServiceSpec
from actors.model.config import Config, IPAddress, Pool

NO_POOLS = "no address pools configured"
NO_AVAILABLE_IPS = "no available IPs"


# Internal address key: IPv4 as its int, IPv6 as its int with bit 128 set, so one dict holds both.
_V6_TAG = 1 << 128
# A position orders addresses inside a pool family: range index (spec order), then offset.
_POS_SHIFT = 128
_FAMILY_NAME = {4: "ipv4", 6: "ipv6"}

Port = tuple[str, int]


def requests_addresses(service: Service) -> bool:
    """Whether the service asks for specific addresses (annotation or spec.loadBalancerIP)."""
    return bool(
        annotation(service.metadata.annotations, LOAD_BALANCER_IPS) or service.spec.load_balancer_ip
    )


# --------------------------------------------------------------------------- addresses


def _address_key(ip: IPAddress) -> int:
    return int(ip) if ip.version == 4 else int(ip) | _V6_TAG


def _address(key: int) -> IPAddress:
    if key < _V6_TAG:
        return _IPv4(key)
    return _IPv6(key ^ _V6_TAG)


_IPv4 = ipaddress.IPv4Address
_IPv6 = ipaddress.IPv6Address


def _family(key: int) -> int:
    return 6 if key >= _V6_TAG else 4


def _parse_address(text: str) -> int | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.version == 6:
        if ip.scope_id:
            return None
        # Go's net.ParseIP treats ::ffff:a.b.c.d as IPv4; so does MetalLB.
        if ip.ipv4_mapped is not None:
            return int(ip.ipv4_mapped)
    return _address_key(ip)


def _quoted(keys: Iterable[int]) -> str:
    """Addresses as Go's %q prints a []net.IP, which MetalLB's messages use."""
    return "[" + " ".join(f'"{_address(k)}"' for k in keys) + "]"


def _is_buggy(value: int) -> bool:
    return (value & 0xFF) in (0, 255)


def _count_buggy(first: int, last: int) -> int:
    """IPv4 addresses in [first, last] ending in .0 or .255, counted without walking them."""
    zeros = last // 256 - (first - 1) // 256
    ones = (last + 1) // 256 - first // 256
    return zeros + ones


# --------------------------------------------------------------------------- service demand


@dataclass(slots=True)
class _Demand:
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


# Ports and the backend key matter only between services that may share an address.
_NO_PORTS: frozenset[Port] = frozenset()


def _demand(
    service: Service, key: str, intern_ports: Callable[[frozenset[Port]], frozenset[Port]]
) -> _Demand:
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
        ports, backend = _NO_PORTS, ""
    else:
        ports = intern_ports(frozenset([(p.protocol, p.port) for p in spec.ports]))
        if spec.external_traffic_policy == "Local":
            # MetalLB's backend key: labels.Set(selector).String(), so Local services share
            # only with Local services that select the same pods.
            backend = ",".join(f"{k}={v}" for k, v in sorted(spec.selector.items()))
        else:
            backend = ""
    # Positional: this runs once per convergence and keywords cost measurably more.
    return _Demand(
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
            key = _parse_address(part.strip())
            if key is None:
                return (), f'invalid {ANNOTATION_LOAD_BALANCER_IPS}: "{text}"'
            keys.append(key)
    else:
        key = _parse_address(spec_ip)
        if key is None:
            return (), f'invalid spec.loadBalancerIP "{spec_ip}"'
        keys.append(key)
    if len(keys) > 2:
        return (), f"at most 2 addresses can be requested, got {len(keys)}: {_quoted(keys)}"
    if len(keys) == 2 and _family(keys[0]) == _family(keys[1]):
        return (), f"requested addresses {_quoted(keys)} have the same family"
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
            or _unique(_family(k) for k in requested)
            or (4,)
        )
    policy = spec.ip_family_policy
    if len(found) >= 2 and policy in ("PreferDualStack", "RequireDualStack"):
        primary = 6 if spec.ip_families[:1] == ("IPv6",) else 4
        return (primary, 10 - primary), policy == "RequireDualStack", None
    if policy == "RequireDualStack":
        return found[:1], True, "not enough clusterips: RequireDualStack needs IPv4 and IPv6"
    return found[:1], False, None


def _cluster_ip_family_error(spec: ServiceSpec) -> str | None:
    """MetalLB's ipfamily.ForService error when clusterIPs are set but give no family.

    Kubernetes validates clusterIPs, so this is the rare path: a cheap look first, parsing
    only when it finds something odd. No clusterIPs at all is not an error here (hand-written
    ``--cluster`` files; see the module docstring).
    """
    texts = spec.cluster_ips or ((spec.cluster_ip,) if spec.cluster_ip else ())
    if not texts or len(_cluster_ip_families(texts)) == len(texts):
        return None
    parsed = [_parse_address(t) for t in texts]
    shown = "[" + " ".join(f'"{t}"' for t in texts) + "]"
    if len(texts) > 2:
        problem = f"IPFamilyForAddresses: invalid ips length {len(texts)} {shown}"
    elif None in parsed:
        problem = f"IPFamilyForAddresses: Invalid address {shown}"
    elif len(parsed) == 2 and _family(parsed[0]) == _family(parsed[1]):  # type: ignore[arg-type]
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


# --------------------------------------------------------------------------- pool indexes


class _MinSet:
    """Members with a position; the lowest one in O(log n) amortized (lazy-deletion heap)."""

    __slots__ = ("heap", "members")

    def __init__(self) -> None:
        self.members: dict[int, int] = {}  # address key -> position
        self.heap: list[tuple[int, int]] = []

    def add(self, key: int, pos: int) -> None:
        self.members[key] = pos
        heapq.heappush(self.heap, (pos, key))
        if len(self.heap) > 2 * len(self.members) + 16:
            self.heap = [(p, k) for k, p in self.members.items()]
            heapq.heapify(self.heap)

    def discard(self, key: int) -> None:
        self.members.pop(key, None)

    def lowest(self) -> tuple[int, int] | None:
        heap = self.heap
        members = self.members
        while heap:
            pos, key = heap[0]
            if members.get(key) == pos:
                return pos, key
            heapq.heappop(heap)
        return None


class _Range:
    """Free-address bookkeeping for one ``addresses`` entry of a pool.

    Offsets below ``hwm`` have all been handed out at least once; the free ones among them are
    in ``released`` (a heap, possibly holding stale entries). Offsets at or above ``hwm`` are
    free unless in ``occupied`` (addresses assigned by request or re-claimed out of order).
    """

    __slots__ = (
        "avoid_buggy",
        "compact_at",
        "first",
        "hwm",
        "in_nonfull",
        "index",
        "occupied",
        "released",
        "size",
    )

    def __init__(self, index: int, first: int, size: int, avoid_buggy: bool) -> None:
        self.index = index
        self.first = first
        self.size = size
        self.avoid_buggy = avoid_buggy
        self.hwm = 0
        self.released: list[int] = []
        self.occupied: set[int] = set()
        self.in_nonfull = True
        self.compact_at = 64

    def lowest_free(self) -> int | None:
        released = self.released
        occupied = self.occupied
        while released:
            offset = released[0]
            if offset not in occupied:
                return offset
            heapq.heappop(released)
        hwm = self.hwm
        size = self.size
        if self.avoid_buggy:
            first = self.first
            while hwm < size and (hwm in occupied or _is_buggy(first + hwm)):
                hwm += 1
        else:
            while hwm < size and hwm in occupied:
                hwm += 1
        self.hwm = hwm
        return hwm if hwm < size else None

    def occupy(self, offset: int) -> None:
        self.occupied.add(offset)
        released = self.released
        if released and released[0] == offset:
            heapq.heappop(released)

    def vacate(self, offset: int) -> None:
        self.occupied.discard(offset)
        if offset < self.hwm:
            heapq.heappush(self.released, offset)
            if len(self.released) > self.compact_at:
                # Stale entries pile up only when requested addresses land on released ones.
                live = {o for o in self.released if o not in self.occupied}
                self.released = sorted(live)
                self.compact_at = max(64, 2 * len(live))


class _Lane:
    """One address family of one pool: its ranges in spec order and its shareable addresses."""

    __slots__ = ("family", "groups", "in_use", "nonfull", "pool", "ranges", "total")

    def __init__(self, pool: str, family: int) -> None:
        self.pool = pool
        self.family = family
        self.ranges: list[_Range] = []
        self.nonfull: list[int] = []  # heap of indexes of ranges that may have a free address
        # (sharing key, backend key) -> ports in use on the address -> addresses
        self.groups: dict[tuple[str, str], dict[frozenset[Port], _MinSet]] = {}
        self.total = 0
        self.in_use = 0

    def add_range(self, first: int, size: int, avoid_buggy: bool) -> None:
        index = len(self.ranges)
        self.ranges.append(_Range(index, first, size, avoid_buggy))
        self.nonfull.append(index)  # indexes ascend, so the list is already a heap
        last = first + size - 1
        self.total += size - (_count_buggy(first, last) if avoid_buggy else 0)

    def lowest_free(self) -> tuple[_Range, int] | None:
        """The first range (spec order) with a free address, and that address's offset."""
        nonfull = self.nonfull
        ranges = self.ranges
        while nonfull:
            rng = ranges[nonfull[0]]
            offset = rng.lowest_free()
            if offset is not None:
                return rng, offset
            heapq.heappop(nonfull)
            rng.in_nonfull = False
        return None

    def occupy(self, rng: _Range, offset: int) -> None:
        rng.occupy(offset)
        self.in_use += 1

    def vacate(self, rng: _Range, offset: int) -> None:
        rng.vacate(offset)
        self.in_use -= 1
        if not rng.in_nonfull:
            rng.in_nonfull = True
            heapq.heappush(self.nonfull, rng.index)


# Where an address lives: (lane, range, offset). Plain tuples: this is the hot path.
_Spot = tuple[_Lane, _Range, int]
# An address a service may take: (position in its lane, address key, spot).
_Candidate = tuple[int, int, _Spot]


def _position(rng: _Range, offset: int) -> int:
    return (rng.index << _POS_SHIFT) | offset


def _union(port_sets: Iterable[frozenset[Port]]) -> frozenset[Port]:
    sets = list(port_sets)
    return sets[0] if len(sets) == 1 else frozenset().union(*sets)


class _Use:
    """An address held under a sharing key, and the services on it.

    An address held without one can have no other holder: ``Allocator._uses`` maps it to the
    holder's service key alone, which spares two objects per address for the garbage collector.
    """

    __slots__ = ("backend", "lane", "offset", "portset", "rng", "services", "sharing")

    def __init__(
        self, spot: _Spot, sharing: str, backend: str, service: str, ports: frozenset[Port]
    ) -> None:
        self.lane, self.rng, self.offset = spot
        self.sharing = sharing
        self.backend = backend
        self.services: dict[str, frozenset[Port]] = {service: ports}
        self.portset = ports  # every port in use on the address

    def holder(self, port: Port) -> str | None:
        for service, ports in self.services.items():
            if port in ports:
                return service
        return None


class _Claim(Protocol):
    """How a service uses its addresses: what sharing checks and port bookkeeping need."""

    @property
    def sharing(self) -> str: ...
    @property
    def backend(self) -> str: ...
    @property
    def ports(self) -> frozenset[Port]: ...


class _HeldClaim(NamedTuple):
    """The claim of a held address, re-applied as is on set_config."""

    sharing: str
    backend: str
    ports: frozenset[Port]


_UNSHARED = _HeldClaim("", "", _NO_PORTS)


def _claim_of(use: _Use | str, service: str) -> _Claim:
    """How ``service`` holds the address ``use`` describes (see ``Allocator._uses``)."""
    if isinstance(use, str):
        return _UNSHARED
    return _HeldClaim(use.sharing, use.backend, use.services[service])


class _Locator:
    """Finds the pool range holding an address by bisection over non-overlapping ranges."""

    __slots__ = ("ends", "spots", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.spots: list[tuple[Pool, _Lane, _Range]] = []

    def overlaps(self, first: int, last: int) -> bool:
        i = bisect_right(self.starts, last) - 1
        return i >= 0 and self.ends[i] >= first

    def add(self, first: int, last: int, pool: Pool, lane: _Lane, rng: _Range) -> None:
        i = bisect_right(self.starts, first)
        self.starts.insert(i, first)
        self.ends.insert(i, last)
        self.spots.insert(i, (pool, lane, rng))

    def find(self, key: int) -> tuple[Pool, _Spot] | None:
        i = bisect_right(self.starts, key) - 1
        if i < 0 or self.ends[i] < key:
            return None
        pool, lane, rng = self.spots[i]
        if rng.avoid_buggy and _is_buggy(key):
            return None
        return pool, (lane, rng, key - self.starts[i])

    def spot(self, key: int) -> _Spot:
        """Where a held address lives (it is in a range: it was found or handed out there)."""
        i = bisect_right(self.starts, key) - 1
        _, lane, rng = self.spots[i]
        return lane, rng, key - self.starts[i]


# --------------------------------------------------------------------------- the allocator


class Allocator:
    """Incremental allocator state for one configuration (see the module docstring)."""

    def __init__(self, config: Config, lb_class: str | None = None) -> None:
        self._lb_class = lb_class
        # Address key -> the one service holding it without a sharing key, else its _Use.
        self._uses: dict[int, _Use | str] = {}
        # Service key -> what it holds, and the same as address keys. Two dicts rather than one
        # of pairs: a tuple of ints is invisible to the garbage collector, a pair would not be.
        self._held: dict[str, Allocation] = {}
        self._held_keys: dict[str, tuple[int, ...]] = {}
        self._port_sets: dict[frozenset[Port], frozenset[Port]] = {}
        self._index(config)

    # ----- configuration

    def _index(self, config: Config) -> None:
        self._config = config
        self._pools: dict[str, Pool] = {p.name: p for p in config.pools.values()}
        self._pool_lanes: dict[str, dict[int, _Lane]] = {name: {} for name in self._pools}
        self._locator = _Locator()
        names = sorted(self._pools)
        for name in names:
            pool = self._pools[name]
            lanes = self._pool_lanes[name]
            for rng in pool.ranges:
                first = _address_key(rng.first)
                last = _address_key(rng.last)
                # The config validator rejects overlapping ranges; should one slip through, the
                # later one (by pool name, then spec order) is ignored so no address is doubled.
                if last < first or self._locator.overlaps(first, last):
                    continue
                lane = lanes.get(rng.version)
                if lane is None:
                    lane = lanes[rng.version] = _Lane(name, rng.version)
                avoid = pool.avoid_buggy_ips and rng.version == 4
                lane.add_range(first, last - first + 1, avoid)
                self._locator.add(first, last, pool, lane, lane.ranges[-1])
        pinned = [p for p in self._pools.values() if p.allocation is not None and p.auto_assign]
        pinned.sort(key=lambda p: (p.allocation.sort_priority, p.name))  # type: ignore[union-attr]
        self._pinned = tuple(pinned)
        self._open = tuple(
            self._pools[n]
            for n in names
            if self._pools[n].allocation is None and self._pools[n].auto_assign
        )
        # The single-family fast path walks lanes directly.
        self._pinned_lanes = {
            family: tuple(
                (p, self._pool_lanes[p.name][family])
                for p in self._pinned
                if family in self._pool_lanes[p.name]
            )
            for family in (4, 6)
        }
        self._open_lanes = {
            family: tuple(
                self._pool_lanes[p.name][family]
                for p in self._open
                if family in self._pool_lanes[p.name]
            )
            for family in (4, 6)
        }

    def set_config(self, config: Config) -> list[str]:
        """Switch to a new configuration and return the services whose addresses it orphans.

        Held addresses stay with their services when they still lie in one pool (possibly a
        different one); the rest are released. Pool admission is re-checked on the next
        converge, as MetalLB's ReprocessAll does.
        """
        held = self._held
        held_keys = self._held_keys
        uses = self._uses
        self._held = {}
        self._held_keys = {}
        self._uses = {}
        self._index(config)
        orphans: list[str] = []
        for service in sorted(held):
            allocation = held[service]
            keys = held_keys[service]
            located = [self._locator.find(k) for k in keys]
            found = [x for x in located if x is not None]
            pools = {pool.name for pool, _ in found}
            if len(found) != len(located) or len(pools) != 1:
                orphans.append(service)
                continue
            pool = pools.pop()
            if allocation.pool != pool:
                allocation = replace(allocation, pool=pool)
            spots = [spot for _, spot in found]
            claim = _claim_of(uses[keys[0]], service)
            self._commit(service, claim, pool, keys, spots, allocation=allocation)
        return orphans

    @property
    def config(self) -> Config:
        return self._config

    # ----- queries

    def assigned(self, service_key: str) -> Allocation | None:
        return self._held.get(service_key)

    def usage(self) -> dict[str, PoolUsage]:
        result: dict[str, PoolUsage] = {}
        for name in sorted(self._pools):
            lanes = self._pool_lanes[name]
            v4 = lanes.get(4)
            v6 = lanes.get(6)
            total_v4, in_v4 = (v4.total, v4.in_use) if v4 else (0, 0)
            total_v6, in_v6 = (v6.total, v6.in_use) if v6 else (0, 0)
            result[name] = PoolUsage(
                total=total_v4 + total_v6,
                in_use=in_v4 + in_v6,
                total_v4=total_v4,
                total_v6=total_v6,
                in_use_v4=in_v4,
                in_use_v6=in_v6,
            )
        return result

    def handles(self, service: Service) -> bool:
        """A LoadBalancer service of this allocator's class (None: class-less ones only)."""
        spec = service.spec
        return spec.type == "LoadBalancer" and spec.load_balancer_class == self._lb_class

    # ----- changes

    def release(self, service_key: str) -> None:
        if self._held.pop(service_key, None) is None:
            return
        for key in self._held_keys.pop(service_key):
            self._leave(service_key, key)

    def converge(self, service: Service, namespace_labels: Mapping[str, str]) -> Allocation | None:
        """Bring one service to its MetalLB end state and return what it holds.

        Existing addresses (held here, else read from ``status.loadBalancer.ingress``) are
        re-claimed if still valid; otherwise they are dropped (``cleared``) and the service is
        allocated again: requested addresses, else the requested pool, else by pool order.
        """
        return self._converge(service, service.key, namespace_labels)

    def converge_all(self, cluster: ClusterState) -> dict[str, Allocation]:
        """Converge every service of the cluster in rule-7 order; release those that are gone.

        Three passes keep restarts stable and requests unstolen: services holding addresses
        re-claim them (nothing new is allocated yet), then services requesting addresses are
        served, then everything else (including top-ups and re-allocations), each pass in
        (creation time, namespace, name) order.
        """
        with _gc_paused():
            return self._converge_all(cluster)

    def _converge_all(self, cluster: ClusterState) -> dict[str, Allocation]:
        held = self._held
        lb_class = self._lb_class
        # Rule 7's order is (group, created, namespace, name); the service key follows, and as
        # it is unique, sorting these tuples never compares services.
        by_key: dict[str, tuple[int, datetime, str, str, str, bool, Service]] = {}
        for s in cluster.services.values():
            spec = s.spec
            if spec.type != "LoadBalancer" or spec.load_balancer_class != lb_class:
                continue
            meta = s.metadata
            namespace = meta.namespace or "default"
            key = f"{namespace}/{meta.name}"  # Service.key, inlined: this loop is hot
            annotations = meta.annotations
            requests = bool(
                spec.load_balancer_ip
                or (annotations and annotation(annotations, LOAD_BALANCER_IPS))
            )
            holds = key in held or bool(s.status.load_balancer.ingress)
            group = 0 if holds else 1 if requests else 2
            created = meta.creation_timestamp or EPOCH
            by_key[key] = (group, created, namespace, meta.name, key, requests, s)
        for key in sorted(held.keys() - by_key.keys()):
            self.release(key)
        entries = sorted(by_key.values())

        labels_of: dict[str, Mapping[str, str]] = {}
        results: dict[str, Allocation] = {}
        dropped: dict[str, str | None] = {}  # re-claim failed: allocate without re-claiming
        converge = self._converge
        for group, _, namespace, _, key, _, s in entries:
            if group != 0:
                break
            labels = labels_of.get(namespace)
            if labels is None:
                labels = labels_of[namespace] = cluster.namespace_labels(namespace)
            result = converge(s, key, labels, allocate=False)
            if result is None:
                continue
            if result.ips:
                # Re-claimed, and settled: later services can only share its addresses on other
                # ports. Only a PreferDualStack service holding one address may still change
                # (a top-up, once requests are served), so only it is converged again.
                if len(result.ips) == 2 or s.spec.ip_family_policy != "PreferDualStack":
                    results[key] = result
            elif result.error is not None:
                results[key] = result
            else:
                dropped[key] = result.cleared
        requesting = [e for e in entries if e[5]]
        others = [e for e in entries if not e[5]]
        for _, _, namespace, _, key, _, s in requesting + others:
            if key in results:
                continue
            labels = labels_of.get(namespace)
            if labels is None:
                labels = labels_of[namespace] = cluster.namespace_labels(namespace)
            if key in dropped:
                result = converge(s, key, labels, reclaim=False, cleared=dropped[key])
            else:
                result = converge(s, key, labels)
            if result is not None:
                results[key] = result
        return {key: results[key] for key in sorted(results)}

    # ----- convergence

    def _converge(
        self,
        service: Service,
        key: str,
        namespace_labels: Mapping[str, str],
        *,
        reclaim: bool = True,
        allocate: bool = True,
        cleared: str | None = None,
    ) -> Allocation | None:
        spec = service.spec
        if spec.type != "LoadBalancer" or spec.load_balancer_class != self._lb_class:
            self.release(key)
            return None
        if not self._pools:
            self.release(key)
            return Allocation(key, (), None, NO_POOLS)
        demand = _demand(service, key, self._intern_ports)
        if demand.error is not None:
            self.release(key)
            return Allocation(key, (), None, demand.error, None, demand.error_kind)

        held = key in self._held
        if reclaim and (held or service.status.load_balancer.ingress):
            existing, pool, dropped_because = self._reclaim(service, demand, namespace_labels)
            cleared = dropped_because or cleared
            if existing:
                if demand.held_error is not None:
                    # MetalLB keeps serving the current addresses and reports the error.
                    return replace(
                        self._held[key],
                        error=demand.held_error,
                        error_kind=demand.held_error_kind,
                        notice=None,
                    )
                # Requested addresses are exactly what the user asked for: never topped up
                # (MetalLB tops them up, then drops both as "different IP" and flaps).
                topping_up = len(existing) == 1 < len(demand.families) and not demand.requested
                if topping_up and allocate:
                    self._top_up(demand, pool, existing[0])
                elif not topping_up and self._held[key].notice is not None:
                    self._amend(key, None)
                return self._held[key]
        elif held:
            self.release(key)
        if not allocate:
            return Allocation(key, (), None, None, cleared)
        return self._allocate(demand, namespace_labels, cleared)

    def _intern_ports(self, ports: frozenset[Port]) -> frozenset[Port]:
        """One shared object per distinct port set: most services expose the same few, and
        every object kept per service is one more for the garbage collector to walk."""
        interned = self._port_sets.setdefault(ports, ports)
        if len(self._port_sets) > 4 * len(self._held) + 1024:
            self._port_sets = {ports: interned}  # forget the unused; the rest re-intern
        return interned

    def _reclaim(
        self, service: Service, demand: _Demand, namespace_labels: Mapping[str, str]
    ) -> tuple[tuple[int, ...], str, str | None]:
        """Re-assign the service's current addresses if still valid; else drop them and say why."""
        key = demand.key
        held = self._held_keys.get(key)
        if held is not None:
            existing = held
        else:
            texts = service.ingress_ips
            parsed = [_parse_address(text) for text in texts]
            if not parsed:
                return (), "", None
            shown = "[" + " ".join(f'"{t}"' for t in texts) + "]"
            # MetalLB's ipfamily.ForAddresses errors, in its order of checks.
            if len(parsed) > 2:
                return (), "", f"{NO_FAMILY_PREFIX}invalid ips length {len(parsed)} {shown}"
            if None in parsed:
                return (), "", f"{NO_FAMILY_PREFIX}Invalid address {shown}"
            existing = tuple(k for k in parsed if k is not None)
            if len(existing) == 2 and _family(existing[0]) == _family(existing[1]):
                return (), "", f"{NO_FAMILY_PREFIX}same address family {shown}"
        if not _family_fits(existing, demand):
            self.release(key)
            return (), "", f"current IPs {_quoted(existing)} do not match the service's IP family"
        checked = self._check(demand, existing, namespace_labels)
        if isinstance(checked, str):
            self.release(key)
            return (
                (),
                "",
                (
                    f'{NOT_ALLOWED_PREFIX}"{key}" not allowed by config, will attempt for new IP '
                    f"assignment: {checked}"
                ),
            )
        pool, spots = checked
        if demand.pool and pool != demand.pool:
            self.release(key)
            return (), "", "user requested a different pool than the one currently assigned"
        if demand.requested and sorted(demand.requested) != sorted(existing):
            self.release(key)
            return (), "", "user requested a different IP than the one currently assigned"
        self._commit(demand.key, demand, pool, existing, spots)
        return existing, pool, None

    def _top_up(self, demand: _Demand, pool: str, existing: int) -> None:
        """PreferDualStack holding one family: add the other from the same pool if it has one."""
        lane = self._pool_lanes[pool].get(10 - _family(existing))
        candidate = self._candidate(lane, demand) if lane else None
        if candidate is None:
            self._amend(demand.key, _no_second_family(pool, existing))
            return
        _, key, spot = candidate
        spots = [self._locator.spot(existing), spot]
        self._commit(demand.key, demand, pool, (existing, key), spots)

    def _allocate(
        self, demand: _Demand, namespace_labels: Mapping[str, str], cleared: str | None
    ) -> Allocation:
        key = demand.key
        if demand.held_error is not None:
            return Allocation(key, (), None, demand.held_error, cleared, demand.held_error_kind)
        if demand.requested:
            return self._assign_requested(demand, namespace_labels, cleared)
        if demand.pool:
            pool = self._pools.get(demand.pool)
            if pool is None:
                return Allocation(key, (), None, f'unknown pool "{demand.pool}"', cleared)
            if not _admits(pool, demand, namespace_labels):
                error = f"pool {pool.name} not compatible for ip assignment"
                return Allocation(key, (), None, error, cleared)
            picked = self._pick_in_pool(pool.name, demand)
            if picked is None:
                family = "dual" if len(demand.families) == 2 else _FAMILY_NAME[demand.families[0]]
                error = f"no available IPs in pool {pool.name} for {family} IPFamily"
                return Allocation(key, (), None, error, cleared)
            return self._take(demand, pool.name, picked, cleared)

        if len(demand.families) == 1:
            # The common case: walk the family's lanes in pool order, lowest address first.
            family = demand.families[0]
            lanes: Iterable[_Lane] = self._open_lanes[family]
            if self._pinned_lanes[family]:
                pinned = self._pinned_lanes[family]
                admitted = [lane for p, lane in pinned if _admits(p, demand, namespace_labels)]
                lanes = admitted + list(lanes)
            for lane in lanes:
                if demand.sharing:
                    candidate = self._candidate(lane, demand)
                    if candidate is not None:
                        _, address, spot = candidate
                        return self._commit(key, demand, lane.pool, (address,), (spot,), cleared)
                else:
                    free = lane.lowest_free()
                    if free is not None:
                        rng, offset = free
                        return self._hold_free(key, lane, rng, offset, cleared)
        else:
            for pools in (self._pinned_admitting(demand, namespace_labels), self._open):
                found = self._pick_from(pools, demand)
                if found is not None:
                    return self._take(demand, found[0], found[1], cleared)
        return Allocation(key, (), None, NO_AVAILABLE_IPS, cleared)

    def _pinned_admitting(self, demand: _Demand, namespace_labels: Mapping[str, str]) -> list[Pool]:
        return [p for p in self._pinned if _admits(p, demand, namespace_labels)]

    def _assign_requested(
        self, demand: _Demand, namespace_labels: Mapping[str, str], cleared: str | None
    ) -> Allocation:
        key = demand.key
        requested = demand.requested
        if {_family(k) for k in requested} != set(demand.families):
            error = (
                f"requested loadBalancer IP(s) {_quoted(requested)} does not match the "
                "ipFamily of the service"
            )
            return Allocation(key, (), None, error, cleared)
        checked = self._check(demand, requested, namespace_labels)
        if isinstance(checked, str):
            return Allocation(key, (), None, checked, cleared)
        pool, spots = checked
        if demand.pool and pool != demand.pool:
            error = (
                f"requested loadBalancer IP(s) {_quoted(requested)} is not compatible with "
                f"requested address pool {demand.pool}"
            )
            return Allocation(key, (), None, error, cleared)
        return self._commit(demand.key, demand, pool, requested, spots, cleared)

    def _take(
        self, demand: _Demand, pool: str, picked: list[_Candidate], cleared: str | None
    ) -> Allocation:
        if len(picked) == 2 and picked[0][1] >= _V6_TAG:
            picked.reverse()  # MetalLB lists a dual-stack allocation IPv4 first
        keys = tuple(c[1] for c in picked)
        allocation = self._commit(
            demand.key, demand, pool, keys, tuple(c[2] for c in picked), cleared
        )
        if len(keys) < len(demand.families):
            # PreferDualStack settled for one family: say so now, as the next pass's top-up
            # would (so one pass or two give the same answer).
            return self._amend(demand.key, _no_second_family(pool, keys[0]))
        return allocation

    def _amend(self, service: str, notice: str | None) -> Allocation:
        """Set the notice of what ``service`` holds (the same object when it is unchanged)."""
        held = self._held[service]
        if held.notice != notice:
            held = self._held[service] = replace(held, notice=notice)
        return held

    # ----- choosing addresses

    def _candidate(self, lane: _Lane, demand: _Demand) -> _Candidate | None:
        """The lowest address of the lane this service may take: free, or shareable with it."""
        best: _Candidate | None = None
        free = lane.lowest_free()
        if free is not None:
            rng, offset = free
            best = (_position(rng, offset), rng.first + offset, (lane, rng, offset))
        if demand.sharing:
            groups = lane.groups.get((demand.sharing, demand.backend))
            if groups:
                for ports, members in list(groups.items()):
                    if not ports.isdisjoint(demand.ports):
                        continue
                    lowest = members.lowest()
                    if lowest is None:
                        del groups[ports]
                        continue
                    pos, key = lowest
                    if best is None or pos < best[0]:
                        best = (pos, key, self._locator.spot(key))
        return best

    def _pick_in_pool(self, pool: str, demand: _Demand) -> list[_Candidate] | None:
        """Addresses from one pool for the service's families, by its family policy."""
        lanes = self._pool_lanes[pool]
        found: dict[int, _Candidate] = {}
        for family in demand.families:
            lane = lanes.get(family)
            candidate = self._candidate(lane, demand) if lane else None
            if candidate is not None:
                found[family] = candidate
        if len(found) == len(demand.families):
            return list(found.values())
        if found and len(demand.families) == 2 and not demand.require_dual:
            primary = demand.families[0]
            return [found[primary] if primary in found else found[10 - primary]]
        return None

    def _pick_from(
        self, pools: Iterable[Pool], demand: _Demand
    ) -> tuple[str, list[_Candidate]] | None:
        """MetalLB's findBestPoolForService over an ordered pool list (dual-stack services):
        the first pool with both families, else the first with the primary, else the other."""
        primary_only: tuple[str, list[_Candidate]] | None = None
        secondary_only: tuple[str, list[_Candidate]] | None = None
        for pool in pools:
            picked = self._pick_in_pool(pool.name, demand)
            if picked is None:
                continue
            if len(picked) == 2:
                return pool.name, picked
            if _family(picked[0][1]) == demand.families[0]:
                primary_only = primary_only or (pool.name, picked)
            else:
                secondary_only = secondary_only or (pool.name, picked)
        return primary_only or secondary_only

    def _check(
        self, demand: _Demand, keys: tuple[int, ...], namespace_labels: Mapping[str, str]
    ) -> tuple[str, list[_Spot]] | str:
        """MetalLB's Assign checks for specific addresses: the pool and spots, or an error."""
        if len(keys) > 2:
            return f"more than two addresses {_quoted(keys)}"
        if len(keys) == 2 and _family(keys[0]) == _family(keys[1]):
            return f"{_quoted(keys[:1])} {_quoted(keys[1:])} has the same family"
        pool: Pool | None = None
        spots: list[_Spot] = []
        for k in keys:  # all in one pool
            found = self._locator.find(k)
            if found is None or (pool is not None and found[0].name != pool.name):
                return f"{_quoted(keys)} is not allowed in config"
            pool = found[0]
            spots.append(found[1])
        if pool is None:
            return f"{_quoted(keys)} is not allowed in config"
        if not _admits(pool, demand, namespace_labels):
            return f"pool {pool.name} not compatible for ip assignment"
        for k in keys:
            error = self._sharing_error(demand, k)
            if error is not None:
                return error
        return pool.name, spots

    def _sharing_error(self, demand: _Demand, address: int) -> str | None:
        use = self._uses.get(address)
        if use is None:
            return None
        key = demand.key
        if isinstance(use, str):  # held without a sharing key: never shared
            if use == key:
                return None
            return f'can\'t change sharing key for "{key}", address also in use by {use}'
        others = sorted(s for s in use.services if s != key)
        if not others:
            return None  # alone on the address: the service may change its key or ports
        compatible = (
            use.sharing != "" and use.sharing == demand.sharing and use.backend == demand.backend
        )
        if not compatible:
            return (
                f'can\'t change sharing key for "{key}", address also in use by {",".join(others)}'
            )
        for port in sorted(demand.ports):
            holder = use.holder(port)
            if holder is not None and holder != key:
                return f'port {port[0]}/{port[1]} is already in use on "{_address(address)}"'
        return None

    # ----- bookkeeping

    def _hold_free(
        self, service: str, lane: _Lane, rng: _Range, offset: int, cleared: str | None
    ) -> Allocation:
        """_commit for the common case: a free address, no sharing key, nothing held before."""
        address = rng.first + offset
        allocation = Allocation(service, (_address(address),), lane.pool, None, cleared)
        lane.occupy(rng, offset)
        self._uses[address] = service
        self._held[service] = allocation
        self._held_keys[service] = (address,)
        return allocation

    def _commit(
        self,
        service: str,
        claim: _Claim,
        pool: str,
        keys: tuple[int, ...],
        spots: Sequence[_Spot],
        cleared: str | None = None,
        allocation: Allocation | None = None,
    ) -> Allocation:
        """Record that ``service`` holds ``keys`` (every check was done by the caller)."""
        old = self._held.get(service)
        if old is not None:
            old_keys = self._held_keys[service]
            for key in old_keys:
                if key not in keys:
                    self._leave(service, key)
            if (
                allocation is None
                and old_keys == keys
                and old.pool == pool
                and old.cleared == cleared
                and old.error is None
            ):
                allocation = old  # unchanged: keep the same object
        if allocation is None:
            allocation = Allocation(service, tuple(map(_address, keys)), pool, None, cleared)
        for key, spot in zip(keys, spots, strict=True):
            self._join(service, claim, key, spot)
        self._held[service] = allocation
        self._held_keys[service] = keys
        return allocation

    def _join(self, service: str, claim: _Claim, key: int, spot: _Spot) -> None:
        sharing = claim.sharing
        use = self._uses.get(key)
        if use is None:
            lane, rng, offset = spot
            lane.occupy(rng, offset)
            if sharing:
                use = self._uses[key] = _Use(spot, sharing, claim.backend, service, claim.ports)
                self._group(use, key)
            else:
                self._uses[key] = service
            return
        if isinstance(use, str):
            # Held without a sharing key, so only by this service (the caller checked).
            if sharing:
                use = self._uses[key] = _Use(spot, sharing, claim.backend, service, claim.ports)
                self._group(use, key)
            return
        backend = claim.backend
        ports = claim.ports
        if use.services.get(service) == ports and use.sharing == sharing and use.backend == backend:
            return  # re-claimed unchanged
        self._ungroup(use, key)
        if not sharing:
            self._uses[key] = service  # alone on it (the caller checked)
            return
        use.sharing = sharing
        use.backend = backend
        use.services[service] = ports
        use.portset = _union(use.services.values())
        self._group(use, key)

    def _leave(self, service: str, key: int) -> None:
        use = self._uses.get(key)
        if isinstance(use, str):
            if use == service:
                del self._uses[key]
                lane, rng, offset = self._locator.spot(key)
                lane.vacate(rng, offset)
            return
        if use is None or service not in use.services:
            return
        self._ungroup(use, key)
        del use.services[service]
        if not use.services:
            del self._uses[key]
            use.lane.vacate(use.rng, use.offset)
            return
        use.portset = _union(use.services.values())
        self._group(use, key)

    @staticmethod
    def _group(use: _Use, key: int) -> None:
        groups = use.lane.groups.setdefault((use.sharing, use.backend), {})
        members = groups.get(use.portset)
        if members is None:
            members = groups[use.portset] = _MinSet()
        members.add(key, _position(use.rng, use.offset))

    @staticmethod
    def _ungroup(use: _Use, key: int) -> None:
        groups = use.lane.groups.get((use.sharing, use.backend))
        if groups is not None:
            members = groups.get(use.portset)
            if members is not None:
                members.discard(key)


def _no_second_family(pool: str, existing: int) -> str:
    """Why a PreferDualStack service holding ``existing`` has nothing of the other family."""
    return f"no available IPs in pool {pool} for {_FAMILY_NAME[10 - _family(existing)]} IPFamily"


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk pass.

    A bulk pass creates objects that all stay alive, so every collection it would trigger
    walks the growing heap and frees nothing (about 0.3 s of 100,000 allocations). Reference
    counting still frees everything else; the previous state is restored, even on error.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _family_fits(keys: tuple[int, ...], demand: _Demand) -> bool:
    """MetalLB's serviceFamilyChanged, inverted: may these current addresses be kept?"""
    if len(keys) == 1:  # the common case, without building sets
        if len(demand.families) == 2:
            return not demand.require_dual
        return _family(keys[0]) == demand.families[0]
    families = {_family(k) for k in keys}
    if len(families) != len(keys):  # two of one family (or more than two)
        return False
    if len(demand.families) == 2 and not demand.require_dual:
        return True  # PreferDualStack keeps one address of either family, or both
    return families == set(demand.families)


def _admits(pool: Pool, demand: _Demand, namespace_labels: Mapping[str, str]) -> bool:
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


def allocate_cluster(
    config: Config, cluster: ClusterState, lb_class: str | None = None
) -> tuple[dict[str, Allocation], dict[str, PoolUsage]]:
    """Allocate every LoadBalancer service of ``cluster`` from scratch, in rule-7 order.

    Results are keyed by service key (failures included, with ``error`` set and no ips);
    services that are not LoadBalancers or belong to another class are left out.
    """
    allocator = Allocator(config, lb_class)
    allocations = allocator.converge_all(cluster)
    return allocations, allocator.usage()
