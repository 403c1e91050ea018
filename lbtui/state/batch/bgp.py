"""The batch builder for BGP: the routes each node announces, its sessions, BFD, prefixes sent.

Routes come from BGP announcements (AnnouncementStarted/Stopped with protocol "bgp"), keyed by
(node, prefix, peers); sessions (:class:`~lbtui.state.model.PeerSessionRow`) from session and
BFD events, which only real networks produce (the simulated demo network has none). Pure.
"""

from __future__ import annotations

from dataclasses import replace

from actors.events import (
    AnnouncementStarted,
    AnnouncementStopped,
    BfdSessionChanged,
    Event,
    PeerSessionChanged,
    PrefixAnnounced,
    PrefixWithdrawn,
)
from lbtui.state.batch.base import Handler
from lbtui.state.batch.interned import node_protocol
from lbtui.state.batch.services import ServicesBatch
from lbtui.state.model import PeerSessionRow, Route

_SESSION_TROUBLE = ("notification", "error", "refused", "timed out", "expired", "down", "reset")


class BgpBatch(ServicesBatch):
    """A batch that keeps the BGP routes, the sessions with their BFD state, the prefixes sent."""

    # announcements
    def _route_started(self, e: AnnouncementStarted) -> None:
        key = (e.node, e.ip, e.peers)
        self.write("routes")[key] = Route(e.node, e.ip, e.peers, e.t, e.services, e.reason)
        for service in e.services:
            self._announcer(service, node_protocol(e.node, "bgp"), add=True)

    def _route_stopped(self, e: AnnouncementStopped) -> None:
        routes = self.read("routes")
        gone = [
            key
            for key in routes
            if key[0] == e.node and key[1] == e.ip and (not e.peers or key[2] == e.peers)
        ]
        if not gone:
            return
        table = self.write("routes")
        services = {s for key in gone for s in table.pop(key).services}
        still = {s for key, r in table.items() if key[0] == e.node for s in r.services}
        for service in services - still:
            self._announcer(service, node_protocol(e.node, "bgp"), add=False)

    # sessions
    def _session(self, e: PeerSessionChanged) -> None:
        old = self.read("sessions").get((e.node, e.peer))
        since = old.since if old is not None and old.state == e.state else e.t
        last_error = old.last_error if old else ""
        if session_error(e):
            last_error = e.reason
        # A speaker nobody can reach (the cluster console) says nothing of its BFD either.
        bfd = old.bfd if old and e.state != "Unknown" else ""
        self.write("sessions")[(e.node, e.peer)] = PeerSessionRow(
            e.node, e.peer, e.state, since, e.reason, last_error, bfd
        )
        if e.state != "Established" and (e.node, e.peer) in self.read("advertised"):
            # A session that is down holds no routes at the peer.
            del self.write("advertised")[(e.node, e.peer)]

    def _bfd(self, e: BfdSessionChanged) -> None:
        old = self.read("sessions").get((e.node, e.peer))
        if old is None:
            old = PeerSessionRow(e.node, e.peer, "", e.t)
        self.write("sessions")[(e.node, e.peer)] = replace(old, bfd=e.state)

    def _prefixes(self, e: PrefixAnnounced | PrefixWithdrawn) -> None:
        key = (e.node, e.peer)
        current = self.read("advertised").get(key, frozenset())
        if isinstance(e, PrefixAnnounced):
            self.write("advertised")[key] = current | frozenset(e.prefixes)
        else:
            self.write("advertised")[key] = current - frozenset(e.prefixes)


BGP_HANDLERS: dict[type[Event], Handler] = {
    PeerSessionChanged: BgpBatch._session,
    BfdSessionChanged: BgpBatch._bfd,
    PrefixAnnounced: BgpBatch._prefixes,
    PrefixWithdrawn: BgpBatch._prefixes,
}


def session_error(e: PeerSessionChanged) -> bool:
    """Whether a session change reports a failure (falling back to Idle/Active, or saying so)
    rather than the normal way up (Connect "started", OpenConfirm "OPEN received")."""
    if not e.reason:
        return False
    return e.state in ("Idle", "Active") or any(w in e.reason.lower() for w in _SESSION_TROUBLE)
