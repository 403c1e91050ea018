"""The BGP speaker actor: one session per BGPPeer that selects this node, routes from the
speaker through :class:`~actors.bgp.announcer.BgpAnnouncer` (the BGP half of the Announcer
protocol).

Thin around :class:`~actors.bgp.session.Session` (per-peer logic) and the injected transport
(sockets). It listens to ConfigApplied (peers), ClusterUpdated (this node's labels, for the
peers' nodeSelectors) and BfdSessionChanged (BFD down takes a session down at once), and
publishes PeerSessionChanged / PrefixAnnounced / PrefixWithdrawn. Counters carry MetalLB's
names: ``metallb_bgp_session_up``, ``metallb_bgp_updates_total``,
``metallb_bgp_announced_prefixes_total`` (label ``peer``: ``ip:port``).

Unnumbered peers (``interface``, no address) go through
:class:`~actors.bgp.unnumbered.links.UnnumberedLinks`: the session waits (and says why in
PeerSessionChanged) until the router's link-local address is known, from its router
advertisements (heard as ``LinkHeard``), the kernel's neighbour table or its inbound
connection, and is rebuilt when the router changes; our own advertisements (lifetime 0) go
out on those interfaces only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from actors.base import RuntimeActor
from actors.bgp.addresses import same_interface_address
from actors.bgp.announcer import BgpAnnouncer, RouteKey, RoutesChanged
from actors.bgp.codec.errors import CeaseSubcode
from actors.bgp.deadline import DeadlineTimer
from actors.bgp.secrets import SecretLookup, session_password
from actors.bgp.session import GC_PAUSE_THRESHOLD, RouteAttrs, Session, SessionSettings
from actors.bgp.transport import (
    ConnBroken,
    ConnClosed,
    ConnData,
    ConnFailed,
    ConnUp,
    SocketTransport,
    Transport,
    TransportEvent,
)
from actors.bgp.unnumbered.link import LinkHeard
from actors.bgp.unnumbered.links import LinkFactory, UnnumberedLinks, ifindex_of
from actors.events import (
    BfdSessionChanged,
    ClusterUpdated,
    ConfigApplied,
    Event,
    PeerSessionChanged,
    UnnumberedRouterFound,
)
from actors.listener import Listener
from actors.model.cluster import ClusterState
from actors.model.config import Config, Peer
from actors.model.route import BGPRoute
from actors.model.selectors import any_matches
from actors.util.gc_pause import gc_paused

log = logging.getLogger(__name__)

TransportFactory = Callable[[Callable[[TransportEvent], None]], Transport]


# -- the actor --------------------------------------------------------------------------------


class BgpSpeakerActor(Listener, RuntimeActor):
    """One node's BGP sessions."""

    actor_name = "bgp"
    listens_to = (ConfigApplied, ClusterUpdated, BfdSessionChanged)

    def __init__(
        self,
        node: str,
        announcer: BgpAnnouncer,
        *,
        transport_factory: TransportFactory | None = None,
        listen_port: int = 0,
        listen_addresses: tuple[str, ...] = ("0.0.0.0", "::"),
        router_id: str | None = None,
        secrets: SecretLookup | None = None,
        peer_ports: Mapping[str, int] | None = None,
        source_address: str | None = None,
        graceful_restart_time: int = 120,
        connect_timeout: float = 10.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 120.0,
        sync_timeout: float = 30.0,
        address_lookup: Callable[[str, int], str | None] = same_interface_address,
        link_factory: LinkFactory | None = None,
        interface_index: Callable[[str], int | None] = ifindex_of,
        interface_lookup: Callable[[int, int], str | None] | None = None,
        ra_interval: float | None = None,
        kernel_routers: Callable[[int], list[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=kwargs.pop("name", f"bgp/{node}"), **kwargs)
        self.node = node
        self.announcer = announcer
        self.transport_factory = transport_factory or (
            lambda deliver: SocketTransport(deliver, name=f"bgp-io/{node}")
        )
        self.listen_port = listen_port
        self.listen_addresses = listen_addresses
        self.secrets = secrets
        self.peer_ports = dict(peer_ports or {})
        self.source_address = source_address
        self.sync_timeout = sync_timeout
        self.address_lookup = address_lookup
        self.settings = SessionSettings(
            node=node,
            router_id=router_id,
            graceful_restart_time=graceful_restart_time,
            connect_timeout=connect_timeout,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )
        self.transport: Transport | None = None
        self.listening: list[tuple[str, int]] = []
        self.config: Config | None = None
        self.labels: Mapping[str, str] = {}
        self.cluster_known = False
        self.sessions: dict[str, Session] = {}
        self.passwords: dict[str, str] = {}
        self.unnumbered_told: dict[str, str] = {}  # unnumbered peer -> why it waits, as told
        self.routers_told: dict[str, str] = {}  # unnumbered peer -> its router, as published
        self.interface_lookup = interface_lookup
        self.links = UnnumberedLinks(
            lambda heard: self.actor_ref.tell(heard),  # the socket's thread -> this actor
            ifindex=interface_index,
            ra_interval=ra_interval,
            **({"link_factory": link_factory} if link_factory else {}),
            **({"routers": kernel_routers} if kernel_routers else {}),
        )
        self.routes: dict[RouteKey, BGPRoute] = {}
        self.per_peer: dict[str, dict[str, RouteAttrs]] = {}
        # peer -> prefix -> the route (key) it comes from; attribute sets, interned.
        self._source: dict[str, dict[str, RouteKey]] = {}
        self._interned: dict[tuple[tuple[str, ...], int], RouteAttrs] = {}
        self.synced = False
        self.stopping = False
        self._deadline = DeadlineTimer(self.after, self.on_timer, self.clock.now)
        self._retired: dict[str, int] = {}  # counters of sessions that went away

    # -- lifecycle ----------------------------------------------------------------------------
    def on_start(self) -> None:
        self.transport = self.transport_factory(self.actor_ref.tell)
        if self.listen_port:
            for address in self.listen_addresses:
                try:
                    self.listening.append(self.transport.listen(address, self.listen_port))
                except OSError as exc:  # no root for port 179, no IPv6, ...: active only
                    log.warning(
                        "bgp/%s: cannot listen on %s port %s: %s; sessions stay active-only",
                        self.node,
                        address,
                        self.listen_port,
                        exc.strerror or exc,
                    )
        routes, synced = self.announcer.attach(self.actor_ref)
        self._apply_routes(dict(routes))
        if synced:
            self.synced = True
        else:
            self.after(self.sync_timeout, self.sync_overdue)

    def on_stop(self) -> None:
        self._shutdown("speaker stopped", graceful=False)
        self.links.stop()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # The sockets go with the actor; the restarted actor dials again.
        if self.transport is not None:
            self.transport.stop()
        self.links.stop()
        super().on_failure(exception_type, exception_value, traceback)

    def withdraw_all(self, reason: str = "shutdown") -> int:
        """Shutdown: close every session. Peers that negotiated graceful restart get a silent
        close, so they keep our routes until we are back; the others a Cease NOTIFICATION
        (Administrative Shutdown), which withdraws everything at once. Returns how many
        prefixes stop being announced."""
        count = sum(len(s.adj_out) for s in self.sessions.values() if not s.graceful_restart)
        self._shutdown(f"speaker {reason}", graceful=True)
        return count

    def _shutdown(self, reason: str, graceful: bool) -> None:
        if self.stopping and self.transport is None:
            return
        self.stopping = True
        now = self.clock.now()
        for session in self.sessions.values():
            if session.state.value != "Idle" or session.conns:
                session.stop(now, reason, graceful=graceful and session.graceful_restart)
        self._deadline.cancel()
        if not graceful and self.transport is not None:
            self.announcer.detach(self.actor_ref)
            self.transport.stop()
            self.transport = None

    def crash(self) -> None:
        """Simulation only (the demo's kill): the node dies. Its sessions close without a
        NOTIFICATION (the peer just sees the connection go, as when a host dies) and nothing
        dials or accepts again until :meth:`revive`."""
        now = self.clock.now()
        sessions, self.sessions = self.sessions, {}
        for session in sessions.values():
            session.stop(now, "node killed", graceful=True)
        self.stopping = True
        self._deadline.cancel()

    def revive(self) -> None:
        """Simulation only: the node is back; its sessions start again, with its routes."""
        if self.transport is None:
            return  # stopped for good
        self.stopping = False
        self._reconcile_sessions()
        self._arm()

    # -- asks ---------------------------------------------------------------------------------
    def counters(self) -> dict[str, dict[str, int]]:
        """MetalLB's BGP metrics, by name then ``peer`` label."""
        out: dict[str, dict[str, int]] = {}
        for session in self.sessions.values():
            for name, value in session.counters().items():
                out.setdefault(name, {})[session.label] = value
        return out

    def session_states(self) -> dict[str, str]:
        return {name: s.state.value for name, s in self.sessions.items()}

    def advertised(self, peer: str) -> dict[str, RouteAttrs]:
        session = self.sessions.get(peer)
        return dict(session.adj_out) if session else {}

    # -- messages -----------------------------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ConnUp | ConnFailed | ConnData | ConnBroken | ConnClosed):
            self._transport_event(message)
            if isinstance(message, ConnData) and self.transport is not None:
                self.transport.consumed(message.conn, message.size)  # read on (transport.py)
            self._arm()
            return None
        if isinstance(message, LinkHeard):
            if self.links.heard(self.clock.now(), message):
                self._reconcile_sessions()
            self._arm()
            return None
        if isinstance(message, RoutesChanged):
            pending, synced = self.announcer.take()
            self._apply_routes(pending)
            if synced and not self.synced:
                self._set_synced()
            self._arm()
            return None
        return super().on_receive(message)

    def on_event(self, event: Event) -> None:
        if isinstance(event, ConfigApplied):
            self.config = event.config
        elif isinstance(event, ClusterUpdated):
            self.cluster_known = True
            self.labels = _labels(event.cluster, self.node)
        elif isinstance(event, BfdSessionChanged):
            if event.node == self.node and event.state == "down":
                session = self.sessions.get(event.peer)
                if session is not None:
                    session.peer_failed(self.clock.now(), f"BFD down: {event.diagnostic}")
            self._arm()
            return
        self._reconcile_sessions()
        self._arm()

    def on_timer(self) -> None:
        self._deadline.fired()
        now = self.clock.now()
        for session in list(self.sessions.values()):
            session.advance(now)
        if not self.stopping and self.links.due(now):
            self._reconcile_sessions()
        self._arm()

    def sync_overdue(self) -> None:
        if not self.synced:
            log.warning(
                "bgp/%s: the speaker sent no routes within %gs; sending End-of-RIB anyway",
                self.node,
                self.sync_timeout,
            )
            self._set_synced()
            self._arm()

    # -- internals ----------------------------------------------------------------------------
    def _set_synced(self) -> None:
        self.synced = True
        now = self.clock.now()
        for session in self.sessions.values():
            session.set_synced(now)

    def _transport_event(self, message: TransportEvent) -> None:
        now = self.clock.now()
        if isinstance(message, ConnUp) and not message.outbound:
            remote, scope = message.remote[0], message.remote_scope
            if not self.stopping and self.links.inbound(now, remote, scope):
                self._reconcile_sessions()  # the router we talk to on that link changed
            session = next((s for s in self.sessions.values() if s.accepts(remote, scope)), None)
            if session is None or self.stopping:
                log.info("bgp/%s: refusing connection from %s", self.node, message.remote[0])
                assert self.transport is not None
                self.transport.close(message.conn)
                return
            session.conn_up(now, message)
            return
        session = next((s for s in self.sessions.values() if s.owns(message.conn)), None)
        if session is None:
            if self.transport is not None and not isinstance(message, ConnFailed | ConnClosed):
                self.transport.close(message.conn)
            return
        if isinstance(message, ConnUp):
            session.conn_up(now, message)
        elif isinstance(message, ConnData):
            session.received(now, message.conn, message.frames)
        elif isinstance(message, ConnFailed):
            session.conn_failed(now, message.conn, message.reason)
        elif isinstance(message, ConnClosed):
            session.conn_closed(now, message.conn, message.reason)
        elif isinstance(message, ConnBroken):
            session.broken(now, message.conn, message.error)

    def _reconcile_sessions(self) -> None:
        if self.config is None or self.transport is None or self.stopping:
            return
        now = self.clock.now()
        wanted: dict[str, Peer] = {
            peer.name: peer
            for peer in self.config.peers
            if (not peer.node_selectors or self.cluster_known)
            and any_matches(peer.node_selectors, self.labels)
        }
        for name in [n for n in self.sessions if n not in wanted]:
            self.sessions.pop(name).stop(
                now, "peer removed from the configuration", subcode=CeaseSubcode.PEER_DECONFIGURED
            )
        self.links.watch(now, {p.interface for p in wanted.values() if p.unnumbered})
        for name in [n for n in self.unnumbered_told if n not in wanted]:
            del self.unnumbered_told[name]
        for name in [n for n in self.routers_told if n not in wanted]:
            self._tell_router(now, name, "", "")
        for name, peer in wanted.items():
            remote: tuple[str, int] | None = None
            if peer.unnumbered:
                remote, why = self.links.remote(peer.interface)
                scoped = f"{remote[0]}%{peer.interface}" if remote else ""
                self._tell_router(now, name, peer.interface, scoped)
                if remote is None:
                    if name in self.sessions:
                        self.sessions.pop(name).stop(now, why)
                    if self.unnumbered_told.get(name) != why:
                        self.unnumbered_told[name] = why
                        self.publish(PeerSessionChanged(now, self.node, name, "Idle", why))
                    continue
                self.unnumbered_told.pop(name, None)
            password = session_password(peer, self.secrets)
            current = self.sessions.get(name)
            if current is not None:
                same = current.peer == peer and self.passwords.get(name) == password
                moved = remote is not None and (current.remote_address, current.scope_id) != remote
                if same and not moved:
                    continue
                why = "configuration changed"
                if same and remote is not None:
                    why = f"the router on {peer.interface} is now {remote[0]}"
                self.sessions.pop(name).stop(
                    now, why, subcode=CeaseSubcode.OTHER_CONFIGURATION_CHANGE
                )
            if password is None:
                assert peer.password_secret is not None
                ref = peer.password_secret
                self.publish(
                    PeerSessionChanged(
                        now,
                        self.node,
                        name,
                        "Idle",
                        f"waiting for Secret {ref.namespace}/{ref.name}",
                    )
                )
                continue
            self.passwords[name] = password
            if peer.vrf:
                log.warning(
                    "bgp/%s: peer %s: vrf %r is FRR-only; using the default VRF",
                    self.node,
                    name,
                    peer.vrf,
                )
            session = Session(
                peer,
                self.settings,
                self.transport,
                self.publish,
                password=password,
                port=self.peer_ports.get(name),
                source=self.source_address,
                address_lookup=self.address_lookup,
                remote=remote,
                **({"interface_lookup": self.interface_lookup} if self.interface_lookup else {}),
            )
            session.set_routes(self.per_peer.get(name, {}))
            session.synced = self.synced
            self.sessions[name] = session
            session.start(now)

    def _tell_router(self, now: float, name: str, interface: str, address: str) -> None:
        """Publish an unnumbered peer's router (for BFD) when it changes."""
        if self.routers_told.get(name, "") == address:
            return
        if address:
            self.routers_told[name] = address
        else:
            self.routers_told.pop(name, None)
        self.publish(UnnumberedRouterFound(now, self.node, name, interface, address))

    def _apply_routes(self, changes: Mapping[RouteKey, BGPRoute | None]) -> None:
        """Route changes from the speaker -> per-peer desired prefixes -> each session's diff."""
        touched: dict[str, dict[str, RouteAttrs | None]] = {}
        routes, source, per_peer, interned = (
            self.routes,
            self._source,
            self.per_peer,
            self._interned,
        )
        with gc_paused(len(changes), GC_PAUSE_THRESHOLD):
            for key, new in changes.items():
                prefix = key[0]
                old = routes.pop(key, None)
                if old is not None:
                    for peer in old.peers:
                        owners = source.get(peer)
                        if owners is not None and owners.get(prefix) == key:
                            del owners[prefix]
                            per_peer[peer].pop(prefix, None)
                            touched.setdefault(peer, {})[prefix] = None
                if new is not None:
                    routes[key] = new
                    raw = (new.communities, new.local_pref)
                    attrs = interned.get(raw)
                    if attrs is None:
                        attrs = interned[raw] = RouteAttrs(*raw)
                    for peer in new.peers:
                        source.setdefault(peer, {})[prefix] = key
                        per_peer.setdefault(peer, {})[prefix] = attrs
                        touched.setdefault(peer, {})[prefix] = attrs
            if self.stopping:
                return
            now = self.clock.now()
            for peer, peer_changes in touched.items():
                session = self.sessions.get(peer)
                if session is not None:
                    session.set_routes(peer_changes)
                    session.sync(now)

    def _arm(self) -> None:
        if self.stopping:
            return
        now = self.clock.now()
        for session in self.sessions.values():
            if session.peer.unnumbered:
                self.links.session_state(now, session.peer.interface, session.established)
        self._deadline.arm(
            [*(s.next_deadline() for s in self.sessions.values()), self.links.next_deadline()]
        )


def _labels(cluster: ClusterState, node: str) -> Mapping[str, str]:
    found = cluster.nodes.get(node)
    return found.metadata.labels if found is not None else {}
