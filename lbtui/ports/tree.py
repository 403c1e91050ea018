"""service_tree: one service as a tree (``x``): service -> IP -> pool -> advertisement -> node
-> BGP sessions, each level styled by how it fares.

Like :mod:`lbtui.ports.explain`, it reads a ConsoleState with the election core and touches
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.election.bgp import bgp_decision
from actors.election.l2 import l2_decision
from lbtui.ports.explain import assignment_of
from lbtui.state.model import ConsoleState


@dataclass(frozen=True, slots=True)
class TreeItem:
    """One node of the tree: its label, its style, and what hangs below it."""

    label: str
    style: str = ""
    children: tuple[TreeItem, ...] = ()


def service_tree(state: ConsoleState, key: str) -> TreeItem:
    """service -> IP -> pool -> advertisement -> node -> sessions (``x``)."""
    row = state.services.get(key)
    status = row.status if row else "unknown"
    config, cluster = state.config, state.cluster
    assigned = assignment_of(state, key)
    if config is None or cluster is None or not assigned.ips:
        reason = getattr(assigned, "error", None) or "no address"
        return TreeItem(f"Service {key} ({status})", "error", (TreeItem(reason, "error"),))
    pool_name = assigned.pool or "?"
    pool = config.pools.get(pool_name)
    usage = state.usage.get(pool_name)
    pool_label = f"IPAddressPool {pool_name}" + (
        f" ({usage.in_use}/{usage.total} in use)" if usage else ""
    )
    ads: list[TreeItem] = []
    if pool is not None and config.l2_advertisements_for(pool_name):
        decision = l2_decision(config, cluster, key, assigned, state.alive)
        for ad in config.l2_advertisements_for(pool_name):
            if ad.name not in decision.advertisements:
                ads.append(TreeItem(f"L2Advertisement {ad.name} (does not match)", "muted"))
                continue
            owner = (
                (TreeItem(f"{decision.node} {_state_text(state, decision.node)} — owner", "ok"),)
                if decision.node
                else (TreeItem(f"nobody: {decision.message}", "error"),)
            )
            ads.append(TreeItem(f"L2Advertisement {ad.name}", "l2", owner))
    if pool is not None and config.bgp_advertisements_for(pool_name):
        decision_bgp = bgp_decision(config, cluster, key, assigned, state.alive)
        for ad in config.bgp_advertisements_for(pool_name):
            nodes = []
            for verdict in decision_bgp.nodes:
                if ad.name not in verdict.advertisements:
                    continue
                if not verdict.announced:
                    nodes.append(TreeItem(f"{verdict.node}: {verdict.reason}", "muted"))
                    continue
                sessions = tuple(
                    TreeItem(
                        _session_label(state, verdict.node, peer),
                        _session_style(state, verdict.node, peer),
                    )
                    for peer in verdict.peers
                )
                nodes.append(
                    TreeItem(
                        f"{verdict.node} {_state_text(state, verdict.node)} — "
                        f"{', '.join(verdict.prefixes)}",
                        "ok",
                        sessions,
                    )
                )
            label = f"BGPAdvertisement {ad.name} (localPref {ad.local_pref})"
            ads.append(TreeItem(label, "bgp", tuple(nodes) or (TreeItem("no node", "muted"),)))
    if not ads:
        ads.append(TreeItem("no advertisement: never announced", "error"))
    ips = tuple(
        TreeItem(f"IP {ip}", "", (TreeItem(pool_label, "", tuple(ads)),)) for ip in assigned.ips
    )
    return TreeItem(f"Service {key} ({status})", "ok" if status == "announced" else "warning", ips)


def _state_text(state: ConsoleState, node: str | None) -> str:
    member = state.members.get(node or "")
    return f"({member.state})" if member else ""


def _session_label(state: ConsoleState, node: str, peer: str) -> str:
    session = state.sessions.get((node, peer))
    status = session.state if session else "no session events"
    count = len({p for (n, p, peers) in state.routes if n == node and peer in peers})
    return f"session {peer}: {status}, {count} prefixes sent"


def _session_style(state: ConsoleState, node: str, peer: str) -> str:
    session = state.sessions.get((node, peer))
    return "ok" if session and session.state == "Established" else "muted"
