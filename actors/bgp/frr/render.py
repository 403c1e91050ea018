"""The frr.conf that makes FRR announce what the native speaker would (pure).

``render_frr_config`` turns the configuration and the node's routes (what the SpeakerActor
hands its announcer) into an integrated frr.conf for bgpd and bfdd; ``writer`` keeps the
file equal to it. Imports no actor.

How the native semantics map onto FRR:

- one ``router bgp <myASN> [vrf V]`` per VRF, with ``bgp router-id`` when the peers set
  ``routerID``; FRR runs one BGP instance per VRF, so two peers of a node with different
  myASN or routerID in one VRF cannot be rendered (:class:`FrrRenderError`, as MetalLB's FRR
  mode rejects them);
- ``no bgp network import-check`` so a ``network`` line announces the prefix although no
  kernel route covers it, ``no bgp ebgp-requires-policy`` (our route-maps are the policy) and
  ``no bgp default ipv4-unicast`` (each family is activated on purpose);
- one neighbor per BGPPeer that selects the node (nodeSelectors), with remote-as, port,
  ebgp-multihop, local-as, timers (keepalive and hold, connect), password, update-source,
  graceful-restart, bfd and its profile; ``disable-connected-check`` for single-hop eBGP over
  IPv6, as MetalLB does;
- a neighbor is activated in the family of its address, and in the other family as soon as a
  route of that family goes to it (MP-BGP, which the native speaker does too);
- an unnumbered BGPPeer (``interface``) is ``neighbor IFACE interface remote-as ...``: FRR
  finds the router on the interface's IPv6 link-local address (router advertisements) and
  sends IPv4 routes there with an IPv6 next hop (RFC 8950), so both families are activated;
- every prefix of the node becomes a ``network`` line; what each neighbor actually gets is
  decided by its outbound route-map: one entry per distinct (family, localPref, communities)
  matching a prefix list of exactly those prefixes and setting ``local-preference`` (only when
  set: FRR sends it to iBGP peers only, like the native speaker) and the standard and large
  communities (``additive``); a last entry denies everything else. The inbound route-map
  denies everything: a speaker learns no routes;
- every BFDProfile becomes a ``bfd`` profile (echo mode is passed on: FRR does it).

The ``bfd`` block comes last: bgpd reads the integrated file too (``bgpd -C``) and does not
know bfdd's commands, and an unknown block earlier would derail the parse of what follows.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence

import msgspec

from actors.model.config import Config, Peer
from actors.model.route import BGPRoute
from actors.model.selectors import any_matches

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class FrrRenderError(ValueError):
    """The configuration cannot be expressed as one FRR configuration for this node."""


class _Neighbor(msgspec.Struct):
    peer: Peer
    address: str
    key: str  # route-map and prefix-list names
    families: set[int] = msgspec.field(default_factory=set)
    # (family, local_pref, communities) -> prefixes, in route order
    groups: dict[tuple[int, int, tuple[str, ...]], list[str]] = msgspec.field(default_factory=dict)


class _Router(msgspec.Struct):
    asn: int
    vrf: str
    router_id: str | None = None
    neighbors: list[_Neighbor] = msgspec.field(default_factory=list)
    networks: dict[int, list[str]] = msgspec.field(default_factory=dict)


def node_peers(config: Config, node_labels: Mapping[str, str]) -> tuple[Peer, ...]:
    """The BGPPeers that open a session from this node (their nodeSelectors match it)."""
    return tuple(p for p in config.peers if any_matches(p.node_selectors, node_labels))


def render_frr_config(
    config: Config,
    node: str,
    routes: Sequence[BGPRoute],
    *,
    node_labels: Mapping[str, str] | None = None,
    passwords: Mapping[str, str] | None = None,
) -> str:
    """The frr.conf for ``node`` announcing ``routes`` (its share of bgp_advertisements).

    ``passwords`` (BGPPeer name -> password) supplies passwords that live in Secrets; a peer's
    own ``password`` is used otherwise. Raises FrrRenderError for what FRR cannot express.
    """
    peers = node_peers(config, node_labels or {})
    routers = _routers(peers, routes, passwords or {})
    lines = [
        f"! FRR configuration rendered by lbtui for node {node}: the BGP announcements of the",
        "! native speaker. Rewritten on every change; edits here are lost.",
        "frr defaults traditional",
        f"hostname {_safe(node)}",
        "!",
    ]
    for router in routers:
        lines += _router_lines(router, passwords or {})
    for router in routers:
        for neighbor in router.neighbors:
            lines += _policy_lines(neighbor)
    lines += _bfd_lines(config)
    lines.append("end")
    return "\n".join(lines) + "\n"


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name) or "_"


def _family(prefix: str) -> int:
    return ipaddress.ip_network(prefix).version


def _routers(
    peers: Iterable[Peer], routes: Sequence[BGPRoute], passwords: Mapping[str, str]
) -> list[_Router]:
    routers: dict[str, _Router] = {}
    neighbors: dict[str, _Neighbor] = {}
    for peer in sorted(peers, key=lambda p: (p.vrf, p.name)):
        router = routers.get(peer.vrf)
        if router is None:
            router = routers[peer.vrf] = _Router(peer.my_asn, peer.vrf)
        where = f"VRF {peer.vrf!r}" if peer.vrf else "the default VRF"
        if peer.my_asn != router.asn:
            first = router.neighbors[0].peer.name
            raise FrrRenderError(
                f"BGPPeers {first!r} (myASN {router.asn}) and {peer.name!r} (myASN "
                f"{peer.my_asn}) select this node in {where}: FRR runs one BGP instance per "
                "VRF, with one local ASN"
            )
        if peer.router_id is not None:
            wanted = str(peer.router_id)
            if router.router_id not in (None, wanted):
                raise FrrRenderError(
                    f"BGPPeer {peer.name!r} sets routerID {wanted} but another peer of this "
                    f"node in {where} sets {router.router_id}: FRR has one router ID per VRF"
                )
            router.router_id = wanted
        # An unnumbered neighbor is named by its interface (FRR: "neighbor eth0 interface").
        address = peer.interface if peer.peer_address is None else str(peer.peer_address)
        if any(n.address == address for n in router.neighbors):
            raise FrrRenderError(
                f"BGPPeer {peer.name!r}: another peer of this node in {where} has address "
                f"{address}, and FRR keys neighbors by address"
            )
        password = passwords.get(peer.name, peer.password)
        if password and (len(password) > 80 or not password.isprintable() or " " in password):
            raise FrrRenderError(
                f"BGPPeer {peer.name!r}: FRR takes a password of up to 80 printable characters "
                "without spaces"
            )
        neighbor = _Neighbor(peer, address, _safe(peer.name))
        if peer.peer_address is None:
            # Over the link-local session: IPv6, and IPv4 with an IPv6 next hop (RFC 8950,
            # the extended next hop FRR negotiates with interface neighbors).
            neighbor.families.update((4, 6))
        else:
            neighbor.families.add(peer.peer_address.version)
        router.neighbors.append(neighbor)
        neighbors[peer.name] = neighbor

    for route in routes:
        family = _family(route.prefix)
        key = (family, route.local_pref, tuple(route.communities))
        for name in route.peers:
            found = neighbors.get(name)
            if found is None:
                continue  # a route to a peer that does not select this node: nothing to send
            found.families.add(family)
            prefixes = found.groups.setdefault(key, [])
            if route.prefix not in prefixes:
                prefixes.append(route.prefix)
            networks = routers[found.peer.vrf].networks.setdefault(family, [])
            if route.prefix not in networks:
                networks.append(route.prefix)
    default_first = sorted(routers.values(), key=lambda r: (r.vrf != "", r.vrf))
    for router in default_first:
        for family, prefixes in router.networks.items():
            router.networks[family] = sorted(prefixes, key=_prefix_key)
    return default_first


def _prefix_key(prefix: str) -> tuple[int, int, int]:
    network = ipaddress.ip_network(prefix)
    return (network.version, int(network.network_address), network.prefixlen)


def _router_lines(router: _Router, passwords: Mapping[str, str]) -> list[str]:
    head = f"router bgp {router.asn}" + (f" vrf {router.vrf}" if router.vrf else "")
    lines = [head]
    if router.router_id:
        lines.append(f" bgp router-id {router.router_id}")
    lines += [
        " no bgp ebgp-requires-policy",
        " no bgp network import-check",
        " no bgp default ipv4-unicast",
        " bgp graceful-restart preserve-fw-state",
    ]
    for neighbor in router.neighbors:
        lines += _neighbor_lines(neighbor, passwords)
    for family, afi in ((4, "ipv4"), (6, "ipv6")):
        active = [n for n in router.neighbors if family in n.families]
        networks = router.networks.get(family, [])
        if not active and not networks:
            continue
        lines += [" !", f" address-family {afi} unicast"]
        lines += [f"  network {prefix}" for prefix in networks]
        for n in active:
            lines += [
                f"  neighbor {n.address} activate",
                f"  neighbor {n.address} route-map lbtui-{n.key}-in in",
                f"  neighbor {n.address} route-map lbtui-{n.key}-out out",
            ]
        lines.append(" exit-address-family")
    lines += ["exit", "!"]
    return lines


def _neighbor_lines(n: _Neighbor, passwords: Mapping[str, str]) -> list[str]:
    peer, at = n.peer, f" neighbor {n.address}"
    remote = peer.dynamic_asn or str(peer.peer_asn)
    unnumbered = peer.peer_address is None
    declare = f"{at} interface remote-as {remote}" if unnumbered else f"{at} remote-as {remote}"
    lines = [declare, f"{at} description {n.key}"]
    if peer.peer_port != 179:
        lines.append(f"{at} port {peer.peer_port}")
    if peer.ebgp_multihop:
        lines.append(f"{at} ebgp-multihop")
    elif peer.peer_address is not None and peer.peer_address.version == 6 and not peer.is_ibgp:
        lines.append(f"{at} disable-connected-check")
    if peer.local_asn:
        lines.append(f"{at} local-as {peer.local_asn} no-prepend replace-as")
    lines.append(f"{at} timers {peer.keepalive_time} {peer.hold_time}")
    if peer.connect_time:
        lines.append(f"{at} timers connect {peer.connect_time}")
    password = passwords.get(peer.name, peer.password)
    if password:
        lines.append(f"{at} password {password}")
    elif peer.password_secret is not None:
        secret = f"{peer.password_secret.namespace}/{peer.password_secret.name}"
        lines.append(f"! {peer.name}: no password: Secret {secret} is not resolved")
    if peer.source_address is not None:
        lines.append(f"{at} update-source {peer.source_address}")
    if peer.enable_graceful_restart:
        lines.append(f"{at} graceful-restart")
    if peer.bfd_profile:
        lines += [f"{at} bfd", f"{at} bfd profile {peer.bfd_profile}"]
    return lines


def _policy_lines(n: _Neighbor) -> list[str]:
    lists: list[str] = []
    entries: list[str] = []
    seq = 0
    for (family, local_pref, communities), prefixes in sorted(n.groups.items()):
        seq += 10
        name = f"lbtui-{n.key}-{seq}"
        kind = "ip" if family == 4 else "ipv6"
        lists += [
            f"{kind} prefix-list {name} seq {i} permit {prefix}"
            for i, prefix in enumerate(sorted(prefixes, key=_prefix_key), start=1)
        ]
        entries += [f"route-map lbtui-{n.key}-out permit {seq}"]
        entries.append(f" match {kind} address prefix-list {name}")
        if local_pref:
            entries.append(f" set local-preference {local_pref}")
        standard = [c for c in communities if not c.startswith("large:")]
        large = [c.removeprefix("large:") for c in communities if c.startswith("large:")]
        if standard:
            entries.append(f" set community {' '.join(standard)} additive")
        if large:
            entries.append(f" set large-community {' '.join(large)} additive")
        entries += ["exit", "!"]
    return [
        *lists,
        *(["!"] if lists else []),
        f"route-map lbtui-{n.key}-in deny 10",
        "exit",
        "!",
        *entries,
        f"route-map lbtui-{n.key}-out deny 65535",
        "exit",
        "!",
    ]


def _bfd_lines(config: Config) -> list[str]:
    if not config.bfd_profiles:
        return []
    lines = ["bfd"]
    for name, profile in sorted(config.bfd_profiles.items()):
        lines += [
            f" profile {name}",
            f"  receive-interval {profile.receive_interval}",
            f"  transmit-interval {profile.transmit_interval}",
            f"  detect-multiplier {profile.detect_multiplier}",
        ]
        if profile.echo_mode:
            lines += ["  echo-mode", f"  echo-interval {profile.echo_interval}"]
        if profile.passive_mode:
            lines.append("  passive-mode")
        lines += [f"  minimum-ttl {profile.minimum_ttl}", " exit"]
    lines += ["exit", "!"]
    return lines
