"""L2 and BGP advertisements, and the community aliases BGP advertisements name.

Each advertisement selects pools (by name, by label selector, or all of them when it names
none), checked against the pools that exist. BGP advertisements add MetalLB's rules on
aggregation lengths (in range, not shorter than a pool's own prefix, only the defaults with
``serviceSelectors``), communities (literal or an alias of a Community resource, no
duplicates), peers that exist, and no two advertisements sending one prefix with two
LOCAL_PREFs (resolved against the Nodes, as MetalLB resolves node selectors).
"""

from __future__ import annotations

from collections.abc import Mapping

from actors.config import crds
from actors.config.parsing import lowest_prefix_length, parse_community
from actors.config.pools import PoolDraft
from actors.config.report import Report, Resource
from actors.model.cluster import Node
from actors.model.config import BGPAdvertisement, Community, L2Advertisement, Peer, PreferredNode
from actors.model.selectors import LabelSelector, any_matches


def build_communities(report: Report, items: list[Resource]) -> dict[str, Community]:
    """The community aliases of every Community resource, by alias name."""
    aliases: dict[str, Community] = {}
    for res in items:
        assert isinstance(res.obj, crds.Community)
        for i, alias in enumerate(res.obj.spec.communities):
            path = f"spec.communities[{i}]"
            if alias.name in aliases:
                report.error(
                    res, f"{path}.name", f"duplicate definition of community {alias.name!r}"
                )
                continue
            try:
                aliases[alias.name] = parse_community(alias.value)
            except ValueError as exc:
                report.error(res, f"{path}.value", str(exc))
    return aliases


def _selected_pools(
    report: Report,
    res: Resource,
    names: tuple[str, ...],
    selectors: tuple[LabelSelector, ...],
    pools: Mapping[str, PoolDraft],
) -> frozenset[str]:
    chosen: set[str] = set()
    for i, name in enumerate(names):
        if name not in pools:
            report.error(res, f"spec.ipAddressPools[{i}]", f"unknown IPAddressPool {name!r}")
        else:
            chosen.add(name)
    if len(set(names)) != len(names):
        report.error(res, "spec.ipAddressPools", "duplicate pool name")
    report.check_selectors(res, "spec.ipAddressPoolSelectors", selectors)
    for name, draft in pools.items():
        if selectors and any(sel.matches(draft.pool.labels) for sel in selectors):
            chosen.add(name)
    if not names and not selectors:
        chosen = set(pools)
    return frozenset(chosen)


def build_l2_advertisements(
    report: Report, items: list[Resource], pools: Mapping[str, PoolDraft]
) -> list[L2Advertisement]:
    ads = []
    for res in items:
        assert isinstance(res.obj, crds.L2Advertisement)
        spec = res.obj.spec
        selected = _selected_pools(
            report, res, spec.ip_address_pools, spec.ip_address_pool_selectors, pools
        )
        report.check_selectors(res, "spec.nodeSelectors", spec.node_selectors)
        report.check_selectors(res, "spec.serviceSelectors", spec.service_selectors)
        if len(set(spec.interfaces)) != len(spec.interfaces):
            report.error(res, "spec.interfaces", "duplicate interface")
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


def build_bgp_advertisements(
    report: Report,
    items: list[Resource],
    pools: Mapping[str, PoolDraft],
    peers: Mapping[str, Peer],
    communities: Mapping[str, Community],
    nodes: list[Node],
) -> list[BGPAdvertisement]:
    ads: list[tuple[BGPAdvertisement, Resource]] = []
    for res in items:
        assert isinstance(res.obj, crds.BGPAdvertisement)
        spec = res.obj.spec
        selected = _selected_pools(
            report, res, spec.ip_address_pools, spec.ip_address_pool_selectors, pools
        )
        agg4 = 32 if spec.aggregation_length is None else spec.aggregation_length
        agg6 = 128 if spec.aggregation_length_v6 is None else spec.aggregation_length_v6
        ok = True
        for path, length, family, longest in (
            ("spec.aggregationLength", agg4, "IPv4", 32),
            ("spec.aggregationLengthV6", agg6, "IPv6", 128),
        ):
            if not 1 <= length <= longest:
                message = f"invalid aggregation length {length} for {family}: must be 1..{longest}"
                report.error(res, path, message)
                ok = False
        if spec.service_selectors and (agg4 != 32 or agg6 != 128):
            report.error(
                res,
                "spec.serviceSelectors",
                "serviceSelectors can only be used with the default aggregation lengths "
                "(32 and 128)",
            )
        if ok:
            _check_aggregation_fits(report, res, selected, pools, agg4, agg6)
        resolved = _resolve_communities(report, res, spec.communities, communities)
        for i, peer in enumerate(spec.peers):
            if peer not in peers:
                report.error(res, f"spec.peers[{i}]", f"unknown BGPPeer {peer!r}")
            elif peer in spec.peers[:i]:
                report.error(res, f"spec.peers[{i}]", f"duplicate peer {peer!r}")
        report.check_selectors(res, "spec.nodeSelectors", spec.node_selectors)
        report.check_selectors(res, "spec.serviceSelectors", spec.service_selectors)
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
    _check_local_pref(report, ads, pools, nodes)
    return [ad for ad, _ in ads]


def _check_aggregation_fits(
    report: Report,
    res: Resource,
    selected: frozenset[str],
    pools: Mapping[str, PoolDraft],
    agg4: int,
    agg6: int,
) -> None:
    """No selected pool has a range more specific than the aggregation length of its family."""
    for name in sorted(selected):
        for rng in pools[name].pool.ranges:
            limit = agg4 if rng.version == 4 else agg6
            lowest = lowest_prefix_length(rng)
            if limit < lowest:
                field_name = "aggregationLength" if rng.version == 4 else "aggregationLengthV6"
                report.error(
                    res,
                    f"spec.{field_name}",
                    f"invalid aggregation length {limit}: prefix {lowest} in "
                    "this pool is more specific than the aggregation length for "
                    f"addresses {rng.text} (pool {name!r})",
                )


def _resolve_communities(
    report: Report,
    res: Resource,
    texts: tuple[str, ...],
    communities: Mapping[str, Community],
) -> list[Community]:
    """The advertisement's communities, literal or by alias, each once, in the order written."""
    resolved: list[Community] = []
    for i, text in enumerate(texts):
        if text in communities:
            value = communities[text]
        else:
            try:
                value = parse_community(text)
            except ValueError as exc:
                looks_literal = ":" in text
                msg = str(exc) if looks_literal else f"unknown community alias {text!r}"
                report.error(res, f"spec.communities[{i}]", msg)
                continue
        if value in resolved:
            report.error(res, f"spec.communities[{i}]", f"duplicate community {text!r}")
            continue
        resolved.append(value)
    return resolved


def _check_local_pref(
    report: Report,
    ads: list[tuple[BGPAdvertisement, Resource]],
    pools: Mapping[str, PoolDraft],
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
                report.error(
                    res_b,
                    "spec.localPref",
                    f"invalid local preference {b.local_pref}: local preference {a.local_pref} "
                    f"was already set by BGPAdvertisement/{a.name} for pool {pool_name!r} with "
                    "the same aggregation length, peers and nodes",
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
