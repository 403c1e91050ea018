"""The demo's route collector: a passive BGP listener of our own that records what it gets.

It stands in for "the router" in ``lbtui demo``: simulated nodes peer with it over loopback
TCP, exactly as speakers peer with a real router, and what it holds is what a router would.
Each UPDATE received is applied to its table and, when given a SimulatedNetwork, mirrored
into the network's routes (prefix -> next-hop nodes), which is what the demo and the
console show. A session that goes down takes its routes with it; so does stopping the
collector (the router is gone).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from actors.base import RuntimeActor
from actors.bgp.codec import OpenMessage
from actors.bgp.codec.attributes.communities import community_text, large_community_text
from actors.bgp.codec.capabilities import (
    FourOctetAsCapability,
    MultiprotocolCapability,
    RouteRefreshCapability,
)
from actors.bgp.deadline import DeadlineTimer
from actors.bgp.fsm import (
    Action,
    Close,
    Fsm,
    FsmConfig,
    Send,
    SessionDown,
    SessionUp,
    StateChanged,
    UpdateReceived,
)
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
from actors.model.route import BGPRoute
from actors.speaker.announcer import SimulatedNetwork

log = logging.getLogger(__name__)


class CollectedRoute(msgspec.Struct, frozen=True):
    prefix: str
    peer: str  # the node name (or address) it came from
    next_hop: str
    as_path: tuple[int, ...]
    local_pref: int | None
    communities: tuple[str, ...]


def bind_listener(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket for the collector; port 0 picks a free one (read it back)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


class RouteCollectorActor(RuntimeActor):
    actor_name = "collector"

    def __init__(
        self,
        listener: socket.socket | tuple[str, int],
        *,
        asn: int = 64512,
        router_id: str = "127.0.0.1",
        hold_time: int = 9,
        names: Mapping[str, str] | None = None,
        network: SimulatedNetwork | None = None,
        transport_factory: Callable[[Callable[[TransportEvent], None]], Transport] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.listener = listener
        self.asn = asn
        self.router_id = int.from_bytes(socket.inet_aton(router_id), "big")
        self.hold_time = hold_time
        self.names = dict(names or {})
        self.network = network
        self.transport_factory = transport_factory or (
            lambda deliver: SocketTransport(deliver, name="bgp-io/collector")
        )
        self.transport: Any = None
        self.address: tuple[str, int] | None = None
        self.fsms: dict[str, Fsm] = {}  # by peer address
        self.conn_peer: dict[int, str] = {}
        self.table: dict[str, dict[str, CollectedRoute]] = {}  # prefix -> peer -> route
        self._deadline = DeadlineTimer(self.after, self.on_timer, self.clock.now)

    # -- lifecycle ----------------------------------------------------------------------------
    def on_start(self) -> None:
        self.transport = self.transport_factory(self.actor_ref.tell)
        listener = self.listener
        if isinstance(listener, socket.socket) and listener.fileno() != -1:
            self.address = self.transport.adopt_listener(listener)
        else:  # restarted: bind the same address again
            host, port = (
                listener if isinstance(listener, tuple) else (self.address or ("127.0.0.1", 0))
            )
            self.address = self.transport.listen(host, port)
        log.info("route collector listening on %s:%s", *self.address)

    def on_stop(self) -> None:
        for address in list(self.fsms):
            self._forget_peer(address)
        if self.transport is not None:
            self.transport.stop()
            self.transport = None
        if isinstance(self.listener, socket.socket):
            with contextlib.suppress(OSError):
                self.listener.close()

    # -- asks ---------------------------------------------------------------------------------
    def routes(self) -> dict[str, tuple[CollectedRoute, ...]]:
        """The table: prefix -> one route per peer that announces it."""
        return {p: tuple(by.values()) for p, by in sorted(self.table.items())}

    def sessions(self) -> dict[str, str]:
        return {self.names.get(a, a): fsm.state.value for a, fsm in self.fsms.items()}

    def port(self) -> int:
        assert self.address is not None
        return self.address[1]

    # -- messages -----------------------------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ConnUp | ConnFailed | ConnData | ConnBroken | ConnClosed):
            self._transport_event(message)
            if isinstance(message, ConnData) and self.transport is not None:
                self.transport.consumed(message.conn, message.size)  # read on (transport.py)
            self._arm()
            return None
        return super().on_receive(message)

    def on_timer(self) -> None:
        self._deadline.fired()
        now = self.clock.now()
        for address, fsm in list(self.fsms.items()):
            self._run(address, fsm.advance(now))
        self._arm()

    def _transport_event(self, message: TransportEvent) -> None:
        now = self.clock.now()
        if isinstance(message, ConnUp):
            address = message.remote[0]
            fsm = self.fsms.get(address)
            if fsm is None:
                fsm = self.fsms[address] = Fsm(
                    FsmConfig(
                        local_asn=self.asn, peer_asn=0, hold_time=self.hold_time, passive=True
                    )
                )
                self._run(address, fsm.start(now))
            self.conn_peer[message.conn] = address
            local_open = OpenMessage(
                self.asn,
                self.hold_time,
                self.router_id,
                (
                    MultiprotocolCapability(1, 1),
                    MultiprotocolCapability(2, 1),
                    RouteRefreshCapability(),
                    FourOctetAsCapability(self.asn),
                ),
            )
            self._run(address, fsm.connection_up(now, message.conn, False, local_open))
            return
        address = self.conn_peer.get(message.conn)
        fsm = self.fsms.get(address) if address else None
        if address is None or fsm is None:
            return
        if isinstance(message, ConnData):
            for frame in message.frames:
                self._run(address, fsm.received(now, message.conn, frame))
        elif isinstance(message, ConnClosed | ConnFailed):
            self._run(address, fsm.connection_lost(now, message.conn, message.reason))
        elif isinstance(message, ConnBroken):
            self._run(address, fsm.framing_error(now, message.conn, message.error))

    def _run(self, address: str, actions: list[Action]) -> None:
        name = self.names.get(address, address)
        for action in actions:
            if isinstance(action, Send):
                self.transport.send(action.conn, (action.data,), urgent=True)
            elif isinstance(action, Close):
                self.transport.close(action.conn)
                self.conn_peer.pop(action.conn, None)
            elif isinstance(action, UpdateReceived):
                self._apply(name, action)
            elif isinstance(action, SessionDown):
                self._drop_routes(name)
            elif isinstance(action, SessionUp | StateChanged):
                log.debug("collector: %s %s", name, action)

    def _apply(self, name: str, action: UpdateReceived) -> None:
        update = action.update
        for prefix in update.withdrawn_all():
            by = self.table.get(prefix)
            if by is not None and by.pop(name, None) is not None:
                if not by:
                    del self.table[prefix]
                if self.network is not None:
                    self.network.withdraw(name, self._route(prefix))
        announced = update.announced()
        if not announced:
            return
        a = update.attributes
        mp = a.mp_reach
        communities = tuple(community_text(c) for c in a.communities) + tuple(
            large_community_text(c) for c in a.large_communities
        )
        for prefix in announced:
            next_hop = (mp.next_hops[0] if mp and prefix in mp.nlri else a.next_hop) or ""
            route = CollectedRoute(
                prefix, name, next_hop, a.full_as_path(), a.local_pref, communities
            )
            self.table.setdefault(prefix, {})[name] = route
            if self.network is not None:
                self.network.advertise(name, self._route(prefix, communities, a.local_pref or 0))

    def _route(
        self, prefix: str, communities: tuple[str, ...] = (), local_pref: int = 0
    ) -> BGPRoute:
        return BGPRoute(prefix, (self.actor_name,), communities, local_pref, ())

    def _drop_routes(self, name: str) -> None:
        for prefix in [p for p, by in self.table.items() if name in by]:
            del self.table[prefix][name]
            if not self.table[prefix]:
                del self.table[prefix]
            if self.network is not None:
                self.network.withdraw(name, self._route(prefix))

    def _forget_peer(self, address: str) -> None:
        fsm = self.fsms.pop(address)
        if self.transport is not None:
            self._run(address, fsm.stop(self.clock.now(), "route collector stopped"))
        self._drop_routes(self.names.get(address, address))

    def _arm(self) -> None:
        self._deadline.arm(f.next_deadline() for f in self.fsms.values())
