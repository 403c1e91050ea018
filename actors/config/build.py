"""Turning loaded resources into one validated :class:`Config` (MetalLB's ``config.For``).

Every rule MetalLB applies is applied here, and every violation becomes an :class:`Issue` that
names file, object and field. If any error is found no Config is returned: the caller keeps the
last good one (DESIGN rule 6).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from actors.config import crds
from actors.config.legacy import convert_legacy
from actors.config.loader import Inputs, Sourced
from actors.config.parsing import (
    lowest_prefix_length,
    parse_address_range,
    parse_community,
    parse_duration,
)
from actors.model.cluster import Node
from actors.model.config import (
    AddressRange,
    BFDProfile,
    BGPAdvertisement,
    Community,
    Config,
    L2Advertisement,
    Peer,
    Pool,
    PreferredNode,
    SecretRef,
    ServiceAllocation,
    frozen_labels,
)
from actors.model.issues import Issue
from actors.model.selectors import LabelSelector, any_matches

DEFAULT_NAMESPACE = "metallb-system"
DEFAULT_HOLD_TIME = 90
MAX_HOLD_TIME = 65535  # the OPEN message has 16 bits for it


@dataclass
class BuildResult:
    config: Config | None
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]


def build_config(
    inputs: Inputs,
    namespace: str = DEFAULT_NAMESPACE,
    nodes: Iterable[Node] | None = None,
) -> BuildResult:
    """Validate every configuration object in ``inputs`` and build the Config.

    ``nodes`` (default: the Nodes in ``inputs``) resolve node selectors for the LOCAL_PREF
    conflict rule, as MetalLB resolves them against its Node cache.
    """
    builder = _Builder(namespace)
    resources = list(inputs.resources)
    for legacy in inputs.legacy:
        converted, legacy_issues = convert_legacy(legacy)
        builder.issues.extend(legacy_issues)
        resources.extend(converted)
    node_list = list(nodes) if nodes is not None else [n.obj for n in inputs.nodes]
    config = builder.build(resources, inputs.secrets, node_list)
    issues = sorted(builder.issues, key=lambda i: (i.severity != "error", i.file, i.line or 0))
    if any(i.severity == "error" for i in issues):
        return BuildResult(None, issues)
    return BuildResult(config, issues)


def _where(res: Sourced[crds.MetalLBResource]) -> str:
    origin = res.obj.metadata.annotations.get("lbtui.io/converted-from")
    name = f"{res.obj.kind}/{res.obj.name}"
    return f"{name} (from {origin})" if origin else name


class _Builder:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.issues: list[Issue] = []

    # -- reporting -------------------------------------------------------------------------
    def error(self, res: Sourced[crds.MetalLBResource], path: str, message: str) -> None:
        self.issues.append(Issue(res.file, _where(res), path, message, line=res.line))

    def warn(self, res: Sourced[crds.MetalLBResource], path: str, message: str) -> None:
        self.issues.append(
            Issue(res.file, _where(res), path, message, severity="warning", line=res.line)
        )

    # -- the whole configuration -----------------------------------------------------------
    def build(
        self,
        resources: list[Sourced[crds.MetalLBResource]],
        secrets: list[Sourced[crds.Secret]],
        nodes: list[Node],
    ) -> Config:
        by_kind: dict[str, list[Sourced[crds.MetalLBResource]]] = defaultdict(list)
        for res in resources:
            ns = res.obj.metadata.namespace
            if ns and ns != self.namespace:
                self.warn(
                    res,
                    "metadata.namespace",
                    f"resource is in namespace {ns!r}, not {self.namespace!r}; "
                    "MetalLB ignores it and so does lbtui",
                )
                continue
            by_kind[res.obj.kind].append(res)
        for kind, items in by_kind.items():
            by_kind[kind] = self._unique_names(kind, items)

        communities = self._communities(by_kind["Community"])
        bfd_profiles = self._bfd_profiles(by_kind["BFDProfile"])
        pools = self._pools(by_kind["IPAddressPool"])
        secret_index = {
            (s.obj.metadata.namespace or self.namespace, s.obj.metadata.name): s for s in secrets
        }
        peers = self._peers(by_kind["BGPPeer"], bfd_profiles, secret_index)
        l2_ads = self._l2_advertisements(by_kind["L2Advertisement"], pools)
        bgp_ads = self._bgp_advertisements(
            by_kind["BGPAdvertisement"], pools, peers, communities, nodes
        )
        self._check_bfd_echo_with_ipv6(peers, bfd_profiles, bgp_ads, pools, by_kind["BGPPeer"])
        return Config(
            pools=MappingProxyType({name: pools[name].pool for name in sorted(pools)}),
            l2_advertisements=tuple(sorted(l2_ads, key=lambda a: a.name)),
            bgp_advertisements=tuple(sorted(bgp_ads, key=lambda a: a.name)),
            peers=tuple(sorted(peers.values(), key=lambda p: p.name)),
            bfd_profiles=MappingProxyType(dict(sorted(bfd_profiles.items()))),
            communities=MappingProxyType(dict(sorted(communities.items()))),
        )

    def _unique_names(
        self, kind: str, items: list[Sourced[crds.MetalLBResource]]
    ) -> list[Sourced[crds.MetalLBResource]]:
        seen: dict[str, Sourced[crds.MetalLBResource]] = {}
        for res in items:
            first = seen.get(res.obj.name)
            if first is not None:
                self.error(
                    res,
                    "metadata.name",
                    f"duplicate {kind} name {res.obj.name!r} (also defined in {first.file})",
                )
                continue
            seen[res.obj.name] = res
        return list(seen.values())

    def _check_selectors(
        self, res: Sourced[crds.MetalLBResource], path: str, selectors: tuple[LabelSelector, ...]
    ) -> None:
        seen: set[str] = set()
        for i, sel in enumerate(selectors):
            key = sel.canonical()
            if key in seen:
                self.error(res, f"{path}[{i}]", "duplicate selector")
            seen.add(key)

    # -- communities and BFD ---------------------------------------------------------------
    def _communities(self, items: list[Sourced[crds.MetalLBResource]]) -> dict[str, Community]:
        aliases: dict[str, Community] = {}
        for res in items:
            assert isinstance(res.obj, crds.Community)
            for i, alias in enumerate(res.obj.spec.communities):
                path = f"spec.communities[{i}]"
                if alias.name in aliases:
                    self.error(
                        res, f"{path}.name", f"duplicate definition of community {alias.name!r}"
                    )
                    continue
                try:
                    aliases[alias.name] = parse_community(alias.value)
                except ValueError as exc:
                    self.error(res, f"{path}.value", str(exc))
        return aliases

    def _bfd_profiles(self, items: list[Sourced[crds.MetalLBResource]]) -> dict[str, BFDProfile]:
        profiles: dict[str, BFDProfile] = {}
        for res in items:
            assert isinstance(res.obj, crds.BFDProfile)
            spec = res.obj.spec
            defaults = BFDProfile(name=res.obj.name)
            profiles[res.obj.name] = BFDProfile(
                name=res.obj.name,
                receive_interval=spec.receive_interval or defaults.receive_interval,
                transmit_interval=spec.transmit_interval or defaults.transmit_interval,
                detect_multiplier=spec.detect_multiplier or defaults.detect_multiplier,
                echo_interval=spec.echo_interval or defaults.echo_interval,
                echo_mode=bool(spec.echo_mode),
                passive_mode=bool(spec.passive_mode),
                minimum_ttl=spec.minimum_ttl or defaults.minimum_ttl,
            )
        return profiles

    # -- pools -----------------------------------------------------------------------------
    def _pools(self, items: list[Sourced[crds.MetalLBResource]]) -> dict[str, _PoolDraft]:
        drafts: dict[str, _PoolDraft] = {}
        claimed: list[tuple[AddressRange, str, Sourced[crds.MetalLBResource], str]] = []
        for res in items:
            assert isinstance(res.obj, crds.IPAddressPool)
            spec = res.obj.spec
            ranges: list[AddressRange] = []
            for i, text in enumerate(spec.addresses):
                try:
                    rng = parse_address_range(text)
                except ValueError as exc:
                    self.error(res, f"spec.addresses[{i}]", str(exc))
                    continue
                ranges.append(rng)
                claimed.append((rng, res.obj.name, res, f"spec.addresses[{i}]"))
            allocation = None
            if spec.service_allocation is not None:
                sa = spec.service_allocation
                if len(set(sa.namespaces)) != len(sa.namespaces):
                    self.error(res, "spec.serviceAllocation.namespaces", "duplicate namespace")
                self._check_selectors(
                    res, "spec.serviceAllocation.namespaceSelectors", sa.namespace_selectors
                )
                self._check_selectors(
                    res, "spec.serviceAllocation.serviceSelectors", sa.service_selectors
                )
                allocation = ServiceAllocation(
                    priority=sa.priority,
                    namespaces=frozenset(sa.namespaces),
                    namespace_selectors=sa.namespace_selectors,
                    service_selectors=sa.service_selectors,
                )
            pool = Pool(
                name=res.obj.name,
                ranges=tuple(ranges),
                auto_assign=spec.auto_assign,
                avoid_buggy_ips=spec.avoid_buggy_ips,
                allocation=allocation,
                labels=frozen_labels(res.obj.metadata.labels),
            )
            drafts[pool.name] = _PoolDraft(pool, res)
        self._check_overlaps(claimed)
        return drafts

    def _check_overlaps(
        self, claimed: list[tuple[AddressRange, str, Sourced[crds.MetalLBResource], str]]
    ) -> None:
        # Sweep ranges sorted by start: each overlaps at most with the furthest-reaching earlier
        # one, so this is O(n log n) rather than comparing every pair.
        ordered = sorted(claimed, key=lambda c: (c[0].version, int(c[0].first), int(c[0].last)))
        reach: tuple[AddressRange, str] | None = None
        for rng, pool, res, path in ordered:
            if reach is not None and reach[0].overlaps(rng):
                other, other_pool = reach
                where = "the same pool" if other_pool == pool else f"pool {other_pool!r}"
                self.error(res, path, f"CIDR {rng.text!r} overlaps with {other.text!r} in {where}")
            if (
                reach is None
                or reach[0].version != rng.version
                or int(rng.last) > int(reach[0].last)
            ):
                reach = (rng, pool)

    # -- peers -----------------------------------------------------------------------------
    def _peers(
        self,
        items: list[Sourced[crds.MetalLBResource]],
        bfd_profiles: Mapping[str, BFDProfile],
        secrets: Mapping[tuple[str, str], Sourced[crds.Secret]],
    ) -> dict[str, Peer]:
        peers: dict[str, Peer] = {}
        fingerprints: dict[str, str] = {}
        for res in items:
            peer = self._peer(res, bfd_profiles, secrets)
            if peer is None:
                continue
            assert isinstance(res.obj, crds.BGPPeer)
            fingerprint = res.obj.spec.model_dump_json()
            if fingerprint in fingerprints:
                self.error(
                    res, "spec", f"duplicate peer: identical to BGPPeer/{fingerprints[fingerprint]}"
                )
                continue
            fingerprints[fingerprint] = res.obj.name
            peers[peer.name] = peer
        return peers

    def _peer(
        self,
        res: Sourced[crds.MetalLBResource],
        bfd_profiles: Mapping[str, BFDProfile],
        secrets: Mapping[tuple[str, str], Sourced[crds.Secret]],
    ) -> Peer | None:
        assert isinstance(res.obj, crds.BGPPeer)
        spec = res.obj.spec
        ok = True
        if res.obj.deprecated_version:
            self.warn(
                res, "apiVersion", "metallb.io/v1beta1 BGPPeer is deprecated, please use v1beta2"
            )
        if spec.my_asn == 0:
            self.error(res, "spec.myASN", "missing local ASN")
            ok = False
        if spec.peer_asn and spec.dynamic_asn:
            self.error(res, "spec.dynamicASN", "peerASN and dynamicASN are mutually exclusive")
            ok = False
        elif not spec.peer_asn and not spec.dynamic_asn:
            self.error(res, "spec.peerASN", "missing peer ASN (set peerASN or dynamicASN)")
            ok = False
        peer_asn = spec.peer_asn
        if spec.dynamic_asn == "internal":
            peer_asn = spec.my_asn
        if spec.peer_address and spec.interface:
            self.error(res, "spec.interface", "peerAddress and interface are mutually exclusive")
            ok = False
        peer_address = None
        if spec.interface and not spec.peer_address:
            self.error(
                res,
                "spec.interface",
                "unnumbered BGP (interface) is not supported by lbtui's speaker; set peerAddress",
            )
            ok = False
        elif not spec.peer_address:
            self.error(res, "spec.peerAddress", "missing peer address")
            ok = False
        else:
            peer_address = self._address(
                res,
                "spec.peerAddress",
                spec.peer_address,
                ipaddress.ip_address,
                f"invalid BGPPeer address {spec.peer_address!r}",
            )
            ok = ok and peer_address is not None
        source_address = None
        if spec.source_address:
            source_address = self._address(
                res,
                "spec.sourceAddress",
                spec.source_address,
                ipaddress.ip_address,
                f"invalid source address {spec.source_address!r}",
            )
            ok = ok and source_address is not None
        router_id = None
        if spec.router_id:
            router_id = self._address(
                res,
                "spec.routerID",
                spec.router_id,
                ipaddress.IPv4Address,
                f"invalid router ID {spec.router_id!r}: must be an IPv4 address",
            )
            ok = ok and router_id is not None
        timers = self._timers(res, spec)
        if timers is None:
            ok = False
        connect_time = None
        if spec.connect_time is not None:
            try:
                seconds = parse_duration(spec.connect_time)
                if seconds != int(seconds) or not 1 <= seconds <= 65535:
                    raise ValueError("connectTime must be whole seconds between 1s and 65535s")
                connect_time = int(seconds)
            except ValueError as exc:
                self.error(res, "spec.connectTime", str(exc))
                ok = False
        if spec.password and spec.password_secret is not None:
            self.error(
                res, "spec.passwordSecret", "password and passwordSecret are mutually exclusive"
            )
            ok = False
        password_secret = None
        if spec.password_secret is not None:
            password_secret = SecretRef(
                spec.password_secret.name, spec.password_secret.namespace or self.namespace
            )
            self._check_secret(res, password_secret, secrets)
        if spec.bfd_profile and spec.bfd_profile not in bfd_profiles:
            self.error(res, "spec.bfdProfile", f"unknown BFD profile {spec.bfd_profile!r}")
            ok = False
        if spec.ebgp_multi_hop and spec.my_asn and peer_asn == spec.my_asn:
            self.error(
                res, "spec.ebgpMultiHop", "invalid ebgpMultiHop parameter set for an ibgp peer"
            )
            ok = False
        if spec.disable_mp:
            self.warn(res, "spec.disableMP", "disableMP is deprecated and has no effect")
        self._check_selectors(res, "spec.nodeSelectors", spec.node_selectors)
        if not ok or timers is None or peer_address is None:
            return None
        hold, keepalive = timers
        return Peer(
            name=res.obj.name,
            my_asn=spec.my_asn,
            peer_asn=peer_asn,
            peer_address=peer_address,
            peer_port=spec.peer_port,
            source_address=source_address,
            hold_time=hold,
            keepalive_time=keepalive,
            connect_time=connect_time,
            router_id=router_id,
            node_selectors=spec.node_selectors,
            password=spec.password,
            password_secret=password_secret,
            bfd_profile=spec.bfd_profile,
            ebgp_multihop=spec.ebgp_multi_hop,
            enable_graceful_restart=spec.enable_graceful_restart,
            vrf=spec.vrf,
            dynamic_asn=spec.dynamic_asn or "",
            local_asn=spec.local_asn,
        )

    def _address(
        self,
        res: Sourced[crds.MetalLBResource],
        path: str,
        text: str,
        parse: Callable[[str], Any],
        message: str,
    ) -> Any:
        """Parse one address field; report ``message`` at ``path`` and return None if bad."""
        try:
            return parse(text.strip())
        except ValueError:
            self.error(res, path, message)
            return None

    def _timers(
        self, res: Sourced[crds.MetalLBResource], spec: crds.BGPPeerSpec
    ) -> tuple[int, int] | None:
        """MetalLB's hold/keepalive rules, compared exactly, then rounded down to seconds."""
        hold = keepalive = None
        try:
            if spec.hold_time is not None:
                hold = parse_duration(spec.hold_time)
        except ValueError as exc:
            self.error(res, "spec.holdTime", str(exc))
            return None
        try:
            if spec.keepalive_time is not None:
                keepalive = parse_duration(spec.keepalive_time)
        except ValueError as exc:
            self.error(res, "spec.keepaliveTime", str(exc))
            return None
        if hold is None and keepalive is None:
            hold, keepalive = float(DEFAULT_HOLD_TIME), float(DEFAULT_HOLD_TIME // 3)
        elif hold is None:
            assert keepalive is not None
            hold = 3 * keepalive
        elif keepalive is None:
            keepalive = hold / 3
        rounded_hold = math.floor(hold)
        if rounded_hold != 0 and rounded_hold < 3:
            shown = spec.hold_time if spec.hold_time is not None else f"{hold:g}s"
            self.error(res, "spec.holdTime", f"invalid hold time {shown!r}: must be 0 or >=3s")
            return None
        if rounded_hold > MAX_HOLD_TIME:
            self.error(
                res,
                "spec.holdTime",
                f"invalid hold time {spec.hold_time!r}: BGP carries at most {MAX_HOLD_TIME}s",
            )
            return None
        if keepalive > hold:
            self.error(
                res,
                "spec.keepaliveTime",
                f"invalid keepaliveTime {spec.keepalive_time!r}, "
                f"must be lower than holdTime {hold:g}s",
            )
            return None
        return rounded_hold, math.floor(keepalive)

    def _check_secret(
        self,
        res: Sourced[crds.MetalLBResource],
        ref: SecretRef,
        secrets: Mapping[tuple[str, str], Sourced[crds.Secret]],
    ) -> None:
        found = secrets.get((ref.namespace, ref.name))
        if found is None:
            # MetalLB treats this as transient: the Secret may be created later.
            self.warn(
                res,
                "spec.passwordSecret",
                f"Secret {ref.namespace}/{ref.name} not found; the session waits for it",
            )
            return
        secret = found.obj
        if secret.type != "kubernetes.io/basic-auth":
            self.error(
                res,
                "spec.passwordSecret",
                f"Secret {ref.namespace}/{ref.name} has type {secret.type!r}, "
                "expected kubernetes.io/basic-auth",
            )
        elif "password" in secret.data:
            try:
                base64.b64decode(secret.data["password"], validate=True)
            except (binascii.Error, ValueError):
                self.error(
                    res,
                    "spec.passwordSecret",
                    f"Secret {ref.namespace}/{ref.name}: key 'password' is not valid base64",
                )
        elif "password" not in secret.string_data:
            self.error(
                res,
                "spec.passwordSecret",
                f"Secret {ref.namespace}/{ref.name} has no 'password' key",
            )

    # -- advertisements --------------------------------------------------------------------
    def _selected_pools(
        self,
        res: Sourced[crds.MetalLBResource],
        names: tuple[str, ...],
        selectors: tuple[LabelSelector, ...],
        pools: Mapping[str, _PoolDraft],
    ) -> frozenset[str]:
        chosen: set[str] = set()
        for i, name in enumerate(names):
            if name not in pools:
                self.error(res, f"spec.ipAddressPools[{i}]", f"unknown IPAddressPool {name!r}")
            else:
                chosen.add(name)
        if len(set(names)) != len(names):
            self.error(res, "spec.ipAddressPools", "duplicate pool name")
        self._check_selectors(res, "spec.ipAddressPoolSelectors", selectors)
        for name, draft in pools.items():
            if selectors and any(sel.matches(draft.pool.labels) for sel in selectors):
                chosen.add(name)
        if not names and not selectors:
            chosen = set(pools)
        return frozenset(chosen)

    def _l2_advertisements(
        self, items: list[Sourced[crds.MetalLBResource]], pools: Mapping[str, _PoolDraft]
    ) -> list[L2Advertisement]:
        ads = []
        for res in items:
            assert isinstance(res.obj, crds.L2Advertisement)
            spec = res.obj.spec
            selected = self._selected_pools(
                res, spec.ip_address_pools, spec.ip_address_pool_selectors, pools
            )
            self._check_selectors(res, "spec.nodeSelectors", spec.node_selectors)
            self._check_selectors(res, "spec.serviceSelectors", spec.service_selectors)
            if len(set(spec.interfaces)) != len(spec.interfaces):
                self.error(res, "spec.interfaces", "duplicate interface")
            ads.append(
                L2Advertisement(
                    name=res.obj.name,
                    pools=selected,
                    node_selectors=spec.node_selectors,
                    service_selectors=spec.service_selectors,
                    interfaces=spec.interfaces,
                    preferred_nodes=tuple(
                        PreferredNode(p.weight, p.preference) for p in spec.preferred_node_selectors
                    ),
                )
            )
        return ads

    def _bgp_advertisements(
        self,
        items: list[Sourced[crds.MetalLBResource]],
        pools: Mapping[str, _PoolDraft],
        peers: Mapping[str, Peer],
        communities: Mapping[str, Community],
        nodes: list[Node],
    ) -> list[BGPAdvertisement]:
        ads: list[tuple[BGPAdvertisement, Sourced[crds.MetalLBResource]]] = []
        for res in items:
            assert isinstance(res.obj, crds.BGPAdvertisement)
            spec = res.obj.spec
            selected = self._selected_pools(
                res, spec.ip_address_pools, spec.ip_address_pool_selectors, pools
            )
            agg4 = 32 if spec.aggregation_length is None else spec.aggregation_length
            agg6 = 128 if spec.aggregation_length_v6 is None else spec.aggregation_length_v6
            ok = True
            if not 1 <= agg4 <= 32:
                self.error(
                    res,
                    "spec.aggregationLength",
                    f"invalid aggregation length {agg4} for IPv4: must be 1..32",
                )
                ok = False
            if not 1 <= agg6 <= 128:
                self.error(
                    res,
                    "spec.aggregationLengthV6",
                    f"invalid aggregation length {agg6} for IPv6: must be 1..128",
                )
                ok = False
            if spec.service_selectors and (agg4 != 32 or agg6 != 128):
                self.error(
                    res,
                    "spec.serviceSelectors",
                    "serviceSelectors can only be used with the default aggregation lengths "
                    "(32 and 128)",
                )
            if ok:
                for name in sorted(selected):
                    for rng in pools[name].pool.ranges:
                        limit = agg4 if rng.version == 4 else agg6
                        lowest = lowest_prefix_length(rng)
                        if limit < lowest:
                            field_name = (
                                "aggregationLength" if rng.version == 4 else "aggregationLengthV6"
                            )
                            self.error(
                                res,
                                f"spec.{field_name}",
                                f"invalid aggregation length {limit}: prefix {lowest} in "
                                "this pool is more specific than the aggregation length for "
                                f"addresses {rng.text} (pool {name!r})",
                            )
            resolved: list[Community] = []
            for i, text in enumerate(spec.communities):
                if text in communities:
                    value = communities[text]
                else:
                    try:
                        value = parse_community(text)
                    except ValueError as exc:
                        looks_literal = ":" in text
                        msg = str(exc) if looks_literal else f"unknown community alias {text!r}"
                        self.error(res, f"spec.communities[{i}]", msg)
                        continue
                if value in resolved:
                    self.error(res, f"spec.communities[{i}]", f"duplicate community {text!r}")
                    continue
                resolved.append(value)
            for i, peer in enumerate(spec.peers):
                if peer not in peers:
                    self.error(res, f"spec.peers[{i}]", f"unknown BGPPeer {peer!r}")
            self._check_selectors(res, "spec.nodeSelectors", spec.node_selectors)
            self._check_selectors(res, "spec.serviceSelectors", spec.service_selectors)
            ads.append(
                (
                    BGPAdvertisement(
                        name=res.obj.name,
                        pools=selected,
                        aggregation_length=agg4,
                        aggregation_length_v6=agg6,
                        local_pref=spec.local_pref,
                        communities=tuple(sorted(resolved)),
                        node_selectors=spec.node_selectors,
                        peers=spec.peers,
                        service_selectors=spec.service_selectors,
                    ),
                    res,
                )
            )
        self._check_local_pref(ads, pools, nodes)
        return [ad for ad, _ in ads]

    def _check_local_pref(
        self,
        ads: list[tuple[BGPAdvertisement, Sourced[crds.MetalLBResource]]],
        pools: Mapping[str, _PoolDraft],
        nodes: list[Node],
    ) -> None:
        """Two ads on one pool may not send one prefix with two LOCAL_PREFs (MetalLB's rule)."""
        for i, (a, _) in enumerate(ads):
            for b, res_b in ads[i + 1 :]:
                if a.local_pref == b.local_pref or a.service_selectors or b.service_selectors:
                    continue
                for pool_name in sorted(a.pools & b.pools):
                    families = pools[pool_name].pool.families
                    if _compatible(a, b, families, nodes):
                        continue
                    self.error(
                        res_b,
                        "spec.localPref",
                        f"invalid local preference {b.local_pref}: local preference {a.local_pref} "
                        f"was already set by BGPAdvertisement/{a.name} for pool {pool_name!r} with "
                        "the same aggregation length, peers and nodes",
                    )
                    break

    def _check_bfd_echo_with_ipv6(
        self,
        peers: Mapping[str, Peer],
        bfd_profiles: Mapping[str, BFDProfile],
        ads: list[BGPAdvertisement],
        pools: Mapping[str, _PoolDraft],
        peer_resources: list[Sourced[crds.MetalLBResource]],
    ) -> None:
        sources = {r.obj.name: r for r in peer_resources}
        for peer in peers.values():
            profile = bfd_profiles.get(peer.bfd_profile)
            if profile is None or not profile.echo_mode:
                continue
            for ad in ads:
                if ad.peers and peer.name not in ad.peers:
                    continue
                if any(6 in pools[p].pool.families for p in ad.pools):
                    self.error(
                        sources[peer.name],
                        "spec.bfdProfile",
                        f"BFD profile {profile.name!r} uses echo mode, which does not work with "
                        f"the IPv6 addresses BGPAdvertisement/{ad.name} sends to this peer",
                    )
                    break


def _compatible(
    a: BGPAdvertisement, b: BGPAdvertisement, families: frozenset[int], nodes: list[Node]
) -> bool:
    differs = [
        (a.aggregation_length != b.aggregation_length)
        if fam == 4
        else (a.aggregation_length_v6 != b.aggregation_length_v6)
        for fam in families
    ]
    if differs and all(differs):
        return True
    if a.peers and b.peers and not set(a.peers) & set(b.peers):
        return True
    return _node_sets_disjoint(a.node_selectors, b.node_selectors, nodes)


def _node_sets_disjoint(
    a: tuple[LabelSelector, ...], b: tuple[LabelSelector, ...], nodes: list[Node]
) -> bool:
    if not nodes:
        # Without Nodes to resolve against, only identical selections are known to overlap.
        return {s.canonical() for s in a} != {s.canonical() for s in b}
    nodes_a = {n.name for n in nodes if any_matches(a, n.metadata.labels)}
    nodes_b = {n.name for n in nodes if any_matches(b, n.metadata.labels)}
    return not nodes_a & nodes_b


@dataclass(frozen=True, slots=True)
class _PoolDraft:
    pool: Pool
    source: Sourced[crds.MetalLBResource]
