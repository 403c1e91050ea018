"""The resolved, validated configuration that every core works from.

The CRD models (``crds.py``) and the legacy ConfigMap (``legacy.py``) are both turned into one
immutable :class:`Config` by ``build.py``. Nothing in here is ever mutated after construction,
so a Config can cross actor boundaries freely (house rule 3).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from types import MappingProxyType

import msgspec

from actors.model.redacted import Redacted
from actors.model.selectors import LabelSelector

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

EMPTY_LABELS: Mapping[str, str] = MappingProxyType({})


def frozen_labels(labels: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(labels or {}))


class AddressRange(msgspec.Struct, frozen=True):
    """One ``addresses`` entry of a pool: a CIDR or an ``a-b`` range, inclusive."""

    first: IPAddress
    last: IPAddress
    text: str

    @property
    def version(self) -> int:
        return self.first.version

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return ip.version == self.version and self.first <= ip <= self.last

    def cidrs(self) -> Iterator[IPNetwork]:
        """The range as CIDRs (MetalLB summarizes ranges this way)."""
        return ipaddress.summarize_address_range(self.first, self.last)  # type: ignore[arg-type]

    def overlaps(self, other: AddressRange) -> bool:
        return (
            self.version == other.version
            and self.first <= other.last  # type: ignore[operator]
            and other.first <= self.last  # type: ignore[operator]
        )


class ServiceAllocation(msgspec.Struct, frozen=True):
    """``spec.serviceAllocation`` of a pool: which services it is reserved for, and priority."""

    priority: int = 0
    namespaces: frozenset[str] = frozenset()
    namespace_selectors: tuple[LabelSelector, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = ()

    @property
    def sort_priority(self) -> float:
        """Lower number first; 0 (unset) comes after every set priority."""
        return float("inf") if self.priority == 0 else self.priority


class Pool(msgspec.Struct, frozen=True):
    name: str
    ranges: tuple[AddressRange, ...]
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    allocation: ServiceAllocation | None = None
    labels: Mapping[str, str] = msgspec.field(default_factory=lambda: EMPTY_LABELS)

    @property
    def families(self) -> frozenset[int]:
        return frozenset(r.version for r in self.ranges)

    def contains(self, ip: IPAddress) -> bool:
        if self.avoid_buggy_ips and is_buggy_ip(ip):
            return False
        return any(ip in r for r in self.ranges)


def is_buggy_ip(ip: IPAddress) -> bool:
    """IPv4 addresses ending in .0 or .255 confuse some firmware (MetalLB's avoidBuggyIPs)."""
    return ip.version == 4 and (int(ip) & 0xFF) in (0, 255)


class PreferredNode(msgspec.Struct, frozen=True):
    weight: int
    preference: LabelSelector


class L2Advertisement(msgspec.Struct, frozen=True):
    name: str
    pools: frozenset[str]
    node_selectors: tuple[LabelSelector, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = ()
    interfaces: tuple[str, ...] = ()
    preferred_nodes: tuple[PreferredNode, ...] = ()


class Community(msgspec.Struct, frozen=True, order=True):
    """A BGP community in canonical text: ``A:B`` (RFC 1997) or ``large:A:B:C`` (RFC 8092)."""

    text: str

    @property
    def is_large(self) -> bool:
        return self.text.startswith("large:")

    def values(self) -> tuple[int, ...]:
        body = self.text.removeprefix("large:")
        return tuple(int(part) for part in body.split(":"))


class BGPAdvertisement(msgspec.Struct, frozen=True):
    name: str
    pools: frozenset[str]
    aggregation_length: int = 32
    aggregation_length_v6: int = 128
    local_pref: int = 0
    communities: tuple[Community, ...] = ()
    node_selectors: tuple[LabelSelector, ...] = ()
    peers: tuple[str, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = ()


class BFDProfile(msgspec.Struct, frozen=True):
    name: str
    receive_interval: int = 300
    transmit_interval: int = 300
    detect_multiplier: int = 3
    echo_interval: int = 50
    echo_mode: bool = False
    passive_mode: bool = False
    minimum_ttl: int = 254


class SecretRef(msgspec.Struct, frozen=True):
    name: str
    namespace: str


class Peer(Redacted, msgspec.Struct, frozen=True):
    name: str
    my_asn: int
    peer_asn: int
    # None for an unnumbered peer (``interface``): the session runs over that interface's
    # IPv6 link-local address, to whichever router answers there.
    peer_address: IPAddress | None
    peer_port: int = 179
    source_address: IPAddress | None = None
    hold_time: int = 90
    keepalive_time: int = 30
    connect_time: int | None = None
    router_id: ipaddress.IPv4Address | None = None
    node_selectors: tuple[LabelSelector, ...] = ()
    # The password never appears in repr() so it cannot leak into logs (``__redacted__``).
    password: str = ""
    password_secret: SecretRef | None = None
    bfd_profile: str = ""
    ebgp_multihop: bool = False
    enable_graceful_restart: bool = False
    vrf: str = ""
    dynamic_asn: str = ""  # "internal" / "external" when peerASN is not fixed
    local_asn: int | None = None
    interface: str = ""  # unnumbered BGP (spec.interface), instead of peer_address

    __redacted__ = frozenset({"password"})

    @property
    def is_ibgp(self) -> bool:
        return self.my_asn == self.peer_asn

    @property
    def unnumbered(self) -> bool:
        return self.peer_address is None

    @property
    def target(self) -> str:
        """Where the session goes, for people: the address, or ``eth0 (unnumbered)``."""
        if self.peer_address is None:
            return f"{self.interface} (unnumbered)"
        return str(self.peer_address)


class Config(msgspec.Struct, frozen=True):
    """Everything lbtui needs from MetalLB's configuration, validated and cross-referenced."""

    pools: Mapping[str, Pool] = msgspec.field(default_factory=lambda: MappingProxyType({}))
    l2_advertisements: tuple[L2Advertisement, ...] = ()
    bgp_advertisements: tuple[BGPAdvertisement, ...] = ()
    peers: tuple[Peer, ...] = ()
    bfd_profiles: Mapping[str, BFDProfile] = msgspec.field(
        default_factory=lambda: MappingProxyType({})
    )
    communities: Mapping[str, Community] = msgspec.field(
        default_factory=lambda: MappingProxyType({})
    )

    def pool_for(self, ip: IPAddress) -> Pool | None:
        for pool in self.pools.values():
            if pool.contains(ip):
                return pool
        return None

    def l2_advertisements_for(self, pool: str) -> tuple[L2Advertisement, ...]:
        return tuple(ad for ad in self.l2_advertisements if pool in ad.pools)

    def bgp_advertisements_for(self, pool: str) -> tuple[BGPAdvertisement, ...]:
        return tuple(ad for ad in self.bgp_advertisements if pool in ad.pools)
