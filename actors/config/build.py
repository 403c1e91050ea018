"""Turning loaded resources into one validated :class:`Config` (MetalLB's ``config.For``).

Every rule MetalLB applies is applied here, and every violation becomes an :class:`Issue` that
names file, object and field. If any error is found no Config is returned: the caller keeps the
last good one (house rule 6).

This module holds the whole pass and the checks that cross kinds (names unique per kind,
resources outside the namespace, BFD echo mode with IPv6 advertisements); each kind is built
and checked in its own module: pools.py, peers.py (with BFD profiles), advertisements.py (L2
and BGP, with community aliases), all reporting into one :class:`Report` (report.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import msgspec

from actors.config import crds
from actors.config.advertisements import (
    build_bgp_advertisements,
    build_communities,
    build_l2_advertisements,
)
from actors.config.loader import Inputs, Sourced
from actors.config.peers import build_bfd_profiles, build_peers
from actors.config.pools import PoolDraft, build_pools
from actors.config.report import Report, Resource
from actors.model.cluster import Node
from actors.model.config import BFDProfile, BGPAdvertisement, Config, Peer
from actors.model.issues import Issue

DEFAULT_NAMESPACE = "metallb-system"


class BuildResult(msgspec.Struct):
    config: Config | None
    issues: list[Issue] = msgspec.field(default_factory=list)

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
    report = Report()
    resources = list(inputs.resources)
    for legacy in inputs.legacy:
        # Imported here: a configuration without MetalLB's legacy ConfigMap (the common case)
        # never loads its models.
        from actors.config.legacy import convert_legacy

        converted, legacy_issues = convert_legacy(legacy)
        report.issues.extend(legacy_issues)
        resources.extend(converted)
    node_list = list(nodes) if nodes is not None else [n.obj for n in inputs.nodes]
    config = _build(report, namespace, resources, inputs.secrets, node_list)
    issues = sorted(report.issues, key=lambda i: (i.severity != "error", i.file, i.line or 0))
    if any(i.severity == "error" for i in issues):
        return BuildResult(None, issues)
    return BuildResult(config, issues)


def _build(
    report: Report,
    namespace: str,
    resources: list[Resource],
    secrets: list[Sourced[crds.Secret]],
    nodes: list[Node],
) -> Config:
    by_kind: dict[str, list[Resource]] = defaultdict(list)
    for res in resources:
        ns = res.obj.metadata.namespace
        if ns and ns != namespace:
            report.warn(
                res,
                "metadata.namespace",
                f"resource is in namespace {ns!r}, not {namespace!r}; "
                "MetalLB ignores it and so does lbtui",
            )
            continue
        by_kind[res.obj.kind].append(res)
    for kind, items in by_kind.items():
        by_kind[kind] = _unique_names(report, kind, items)

    communities = build_communities(report, by_kind["Community"])
    bfd_profiles = build_bfd_profiles(by_kind["BFDProfile"])
    pools = build_pools(report, by_kind["IPAddressPool"])
    secret_index = {
        (s.obj.metadata.namespace or namespace, s.obj.metadata.name): s for s in secrets
    }
    peers = build_peers(report, by_kind["BGPPeer"], bfd_profiles, secret_index, namespace)
    l2_ads = build_l2_advertisements(report, by_kind["L2Advertisement"], pools)
    bgp_ads = build_bgp_advertisements(
        report, by_kind["BGPAdvertisement"], pools, peers, communities, nodes
    )
    _check_bfd_echo_with_ipv6(report, peers, bfd_profiles, bgp_ads, pools, by_kind["BGPPeer"])
    return Config(
        pools=MappingProxyType({name: pools[name].pool for name in sorted(pools)}),
        l2_advertisements=tuple(sorted(l2_ads, key=lambda a: a.name)),
        bgp_advertisements=tuple(sorted(bgp_ads, key=lambda a: a.name)),
        peers=tuple(sorted(peers.values(), key=lambda p: p.name)),
        bfd_profiles=MappingProxyType(dict(sorted(bfd_profiles.items()))),
        communities=MappingProxyType(dict(sorted(communities.items()))),
    )


def _unique_names(report: Report, kind: str, items: list[Resource]) -> list[Resource]:
    seen: dict[str, Resource] = {}
    for res in items:
        first = seen.get(res.obj.name)
        if first is not None:
            report.error(
                res,
                "metadata.name",
                f"duplicate {kind} name {res.obj.name!r} (also defined in {first.file})",
            )
            continue
        seen[res.obj.name] = res
    return list(seen.values())


def _check_bfd_echo_with_ipv6(
    report: Report,
    peers: Mapping[str, Peer],
    bfd_profiles: Mapping[str, BFDProfile],
    ads: list[BGPAdvertisement],
    pools: Mapping[str, PoolDraft],
    peer_resources: list[Resource],
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
                report.error(
                    sources[peer.name],
                    "spec.bfdProfile",
                    f"BFD profile {profile.name!r} uses echo mode, which does not work with "
                    f"the IPv6 addresses BGPAdvertisement/{ad.name} sends to this peer",
                )
                break
