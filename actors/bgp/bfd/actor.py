"""The BfdActor: one per node, a BFD session to every BGPPeer of the node with a bfdProfile.

Thin: ``bfd_peers`` (pure) says which sessions the configuration wants; the actor diffs that
against what runs, feeds datagrams and timer ticks to each :class:`BfdSession`, sends what the
sessions return and publishes ``BfdSessionChanged`` on every state change. The BGP actor
listens and drops a BGP session at once when its BFD session goes "down".

From a BFDProfile: ``transmitInterval`` and ``receiveInterval`` (ms) become the desired min TX
and required min RX, ``detectMultiplier`` the multiplier, ``passiveMode`` waits for the peer
to speak first. ``echoMode``/``echoInterval`` are not supported: we always advertise a required
min echo RX of 0, so the peer never sends us echo packets (the profile is still accepted).
``minimumTtl`` applies to multihop sessions (BGPPeers with ``ebgpMultiHop``, RFC 5883, port
4784), whose packets must arrive with at least that TTL; single-hop sessions (RFC 5881, port
3784) accept only TTL 255, whatever the profile says.

The session's local address is the BGPPeer's ``sourceAddress`` if set, else the address the
kernel would send from to reach the peer; while there is none (no route yet), the session
waits and is retried every second. An unnumbered peer's session (single hop, RFC 5881 over
link-local addresses) goes to the router the BGP speaker found on its interface
(``UnnumberedRouterFound``, ``fe80::1%eth1``), and follows it when it changes.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal

import msgspec
import pykka

from actors.base import RuntimeActor
from actors.bgp.bfd.codec import (
    MULTI_HOP_PORT,
    BfdDecodeError,
    Diagnostic,
    State,
    decode,
    diagnostic_text,
    encode,
)
from actors.bgp.bfd.session import BfdSession, BfdTimers, Outcome, Transition
from actors.bgp.bfd.transport import BfdDatagram, BfdLink, BfdTransport
from actors.clock import TimerHandle
from actors.events import (
    BfdSessionChanged,
    ClusterUpdated,
    ConfigApplied,
    Event,
    UnnumberedRouterFound,
)
from actors.listener import Listener
from actors.model.cluster import ClusterState
from actors.model.config import Config
from actors.model.selectors import any_matches

log = logging.getLogger(__name__)

RETRY_INTERVAL = 1.0
SINGLE_HOP_TTL = 255

ClientState = Literal["up", "init", "down", "admin-down"]


class BfdPeerSpec(msgspec.Struct, frozen=True):
    """One session the configuration asks for."""

    peer: str  # the BGPPeer's name
    address: str
    source: str | None  # the BGPPeer's sourceAddress, if any
    timers: BfdTimers
    multihop: bool
    minimum_ttl: int
    profile: str


def bfd_peers(
    config: Config,
    node_labels: Mapping[str, str],
    link_routers: Mapping[str, str] | None = None,
) -> dict[str, BfdPeerSpec]:
    """The BFD sessions one node keeps: its BGPPeers (by nodeSelectors) with a bfdProfile.
    An unnumbered peer has one once its router is known (``link_routers``: peer -> scoped
    link-local address)."""
    wanted: dict[str, BfdPeerSpec] = {}
    for peer in config.peers:
        profile = config.bfd_profiles.get(peer.bfd_profile) if peer.bfd_profile else None
        if profile is None or not any_matches(peer.node_selectors, node_labels):
            continue
        if peer.peer_address is None:
            address = (link_routers or {}).get(peer.name, "")
            if not address:  # unnumbered, router not found yet
                continue
        else:
            address = str(peer.peer_address)
        wanted[peer.name] = BfdPeerSpec(
            peer=peer.name,
            address=address,
            source=str(peer.source_address) if peer.source_address else None,
            timers=BfdTimers.from_ms(
                profile.transmit_interval,
                profile.receive_interval,
                profile.detect_multiplier,
                profile.passive_mode,
            ),
            multihop=peer.ebgp_multihop,
            minimum_ttl=profile.minimum_ttl,
            profile=profile.name,
        )
    return wanted


def client_state(transition: Transition) -> ClientState:
    """What a client (BGP) should make of a transition; remote AdminDown is not a failure."""
    if transition.new == State.DOWN and transition.remote_admin_down:
        return "admin-down"
    return transition.new.text  # type: ignore[return-value]


class BfdSessionInfo(msgspec.Struct, frozen=True):
    """A snapshot of one session, for asks (tests, console)."""

    peer: str
    address: str
    local: str | None
    state: str
    diagnostic: str
    remote_state: str
    local_discriminator: int
    remote_discriminator: int
    tx_interval: float
    detection_time: float
    source_port: int | None
    multihop: bool


class _Live(msgspec.Struct):
    spec: BfdPeerSpec
    local: str
    link: BfdLink
    session: BfdSession
    timer: TimerHandle | None = None
    timer_due: float | None = None
    generation: int = 0
    published: ClientState | None = None


class BfdActor(Listener, RuntimeActor):
    listens_to = (ConfigApplied, ClusterUpdated, UnnumberedRouterFound)

    def __init__(
        self,
        node: str,
        *,
        transport: BfdTransport | None = None,
        rng: random.Random | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=kwargs.pop("name", f"bfd/{node}"), **kwargs)
        self.node = node
        self._transport = transport
        self._rng = rng or random.SystemRandom()
        self.config: Config | None = None
        self.cluster: ClusterState | None = None
        self.wanted: dict[str, BfdPeerSpec] = {}
        self.live: dict[str, _Live] = {}
        self.waiting: dict[str, str] = {}  # peer -> why it has no session yet
        self.link_routers: dict[str, str] = {}  # unnumbered peer -> its router (fe80::1%eth1)
        self.by_discriminator: dict[int, str] = {}
        self.counters: Counter[str] = Counter()
        self._retry: TimerHandle | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def on_start(self) -> None:
        if self._transport is None:
            from actors.bgp.bfd.transport import UdpBfdTransport

            self._transport = UdpBfdTransport()
        ref = self.actor_ref

        def deliver(datagram: BfdDatagram) -> None:
            with contextlib.suppress(pykka.ActorDeadError):  # stopping: drop it
                ref.tell(datagram)

        self._transport.start(deliver)

    def on_stop(self) -> None:
        self.shutdown()
        if self._transport is not None:
            self._transport.stop()

    def shutdown(self) -> None:
        """Tell every peer we are administratively down (not a failure) and close."""
        for name in list(self.live):
            self._remove(name, "stopping")

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, BfdDatagram):
            return self.datagram(message)
        return super().on_receive(message)

    # -- asks --------------------------------------------------------------------------------
    def sessions(self) -> tuple[BfdSessionInfo, ...]:
        out = []
        for name in sorted(self.live):
            live = self.live[name]
            s = live.session
            out.append(
                BfdSessionInfo(
                    peer=name,
                    address=live.spec.address,
                    local=live.local,
                    state=s.state.text,
                    diagnostic=diagnostic_text(s.local_diagnostic),
                    remote_state=s.remote_state.text,
                    local_discriminator=s.local_discriminator,
                    remote_discriminator=s.remote_discriminator,
                    tx_interval=s.tx_interval,
                    detection_time=s.detection_time,
                    source_port=live.link.source_port,
                    multihop=live.spec.multihop,
                )
            )
        return tuple(out)

    def stats(self) -> dict[str, int]:
        return dict(self.counters)

    # -- events ------------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if isinstance(event, ConfigApplied):
            self.config = event.config
        elif isinstance(event, ClusterUpdated):
            self.cluster = event.cluster
        elif isinstance(event, UnnumberedRouterFound):
            if event.node != self.node:
                return
            if event.address:
                self.link_routers[event.peer] = event.address
            else:
                self.link_routers.pop(event.peer, None)
        self.reconcile()

    def reconcile(self) -> None:
        # Node labels decide which peers apply: wait for both the config and the cluster.
        if self.config is None or self.cluster is None:
            return
        node = self.cluster.nodes.get(self.node)
        labels = node.metadata.labels if node is not None else {}
        self.wanted = bfd_peers(self.config, labels, self.link_routers)
        for name in sorted(set(self.live) - set(self.wanted)):
            self._remove(name, "no longer configured")
        for name in sorted(set(self.waiting) - set(self.wanted)):
            del self.waiting[name]
        now = self.clock.now()
        for name, spec in sorted(self.wanted.items()):
            live = self.live.get(name)
            if live is None:
                self._add(spec)
            elif (live.spec.address, live.spec.source, live.spec.multihop) != (
                spec.address,
                spec.source,
                spec.multihop,
            ):
                self._remove(name, "peer address changed")
                self._add(spec)
            elif live.spec != spec:
                live.spec = spec
                self._handle(live, live.session.set_timers(spec.timers, now))

    # -- datagrams ---------------------------------------------------------------------------
    def datagram(self, d: BfdDatagram) -> None:
        self.counters["received"] += 1
        try:
            packet = decode(d.data)
        except BfdDecodeError as exc:
            self.counters[f"dropped:{exc.reason}"] += 1
            return
        multihop = d.port == MULTI_HOP_PORT
        live = None
        if packet.your_discriminator:
            name = self.by_discriminator.get(packet.your_discriminator)
            live = self.live.get(name) if name else None
        else:
            live = next(
                (
                    x
                    for x in self.live.values()
                    if x.spec.address == d.source and x.local == d.local
                ),
                None,
            )
        if (
            live is None
            or live.spec.address != d.source
            or live.local != d.local
            or live.spec.multihop != multihop
        ):
            self.counters["dropped:no-session"] += 1
            return
        # GTSM: a single-hop packet that crossed a router (TTL < 255) is spoofed or lost.
        least = live.spec.minimum_ttl if multihop else SINGLE_HOP_TTL
        if d.ttl is None or d.ttl < least:
            self.counters["dropped:ttl"] += 1
            return
        if packet.authenticated:
            self.counters["dropped:authenticated"] += 1
            return
        self._handle(live, live.session.receive(packet, self.clock.now()))

    # -- timers ------------------------------------------------------------------------------
    def session_timer(self, name: str, generation: int) -> None:
        live = self.live.get(name)
        if live is None or live.generation != generation:
            return  # a stale tick of a rescheduled or removed session
        live.timer, live.timer_due = None, None
        self._handle(live, live.session.on_timer(self.clock.now()))

    def retry_waiting(self) -> None:
        self._retry = None
        for name in sorted(self.waiting):
            spec = self.wanted.get(name)
            if spec is not None and name not in self.live:
                self._add(spec)

    # -- internals ---------------------------------------------------------------------------
    def _add(self, spec: BfdPeerSpec) -> None:
        assert self._transport is not None
        local = spec.source or self._transport.source_for(spec.address)
        if local is None:
            self._wait(spec.peer, f"no route to {spec.address}")
            return
        try:
            link = self._transport.open(local, spec.address, spec.multihop)
        except OSError as exc:
            self._wait(spec.peer, f"cannot bind {local}: {exc.strerror or exc}")
            return
        self.waiting.pop(spec.peer, None)
        discriminator = self._new_discriminator()
        session = BfdSession(discriminator, spec.timers, self.clock.now(), self._rng)
        live = _Live(spec, local, link, session)
        self.live[spec.peer] = live
        self.by_discriminator[discriminator] = spec.peer
        log.info(
            "BFD session to %s (%s) from %s:%d, profile %s",
            spec.peer,
            spec.address,
            local,
            link.source_port,
            spec.profile,
        )
        self._schedule(live)

    def _wait(self, name: str, why: str) -> None:
        if self.waiting.get(name) != why:
            log.warning("BFD session to %s waits: %s", name, why)
        self.waiting[name] = why
        if self._retry is None:
            self._retry = self.after(RETRY_INTERVAL, self.retry_waiting)

    def _remove(self, name: str, why: str) -> None:
        live = self.live.pop(name)
        self.by_discriminator.pop(live.session.local_discriminator, None)
        if live.timer is not None:
            live.timer.cancel()
        outcome = live.session.admin_down(self.clock.now())
        self._send(live, outcome)
        live.link.close()
        if live.published not in (None, "admin-down"):
            self._publish(live, "admin-down", diagnostic_text(Diagnostic.ADMINISTRATIVELY_DOWN))
        log.info("BFD session to %s closed: %s", name, why)

    def _new_discriminator(self) -> int:
        while True:
            value = self._rng.randrange(1, 1 << 32)
            if value not in self.by_discriminator:
                return value

    def _handle(self, live: _Live, outcome: Outcome) -> None:
        self._send(live, outcome)
        for transition in outcome.transitions:
            self._publish(live, client_state(transition), diagnostic_text(transition.diagnostic))
        if self.live.get(live.spec.peer) is live:
            self._schedule(live)

    def _send(self, live: _Live, outcome: Outcome) -> None:
        for packet in outcome.send:
            if live.link.send(encode(packet)):
                self.counters["sent"] += 1
            else:
                self.counters["send-errors"] += 1

    def _publish(self, live: _Live, state: ClientState, diagnostic: str) -> None:
        live.published = state
        log.info("BFD %s -> %s: %s (%s)", self.node, live.spec.peer, state, diagnostic)
        self.publish(
            BfdSessionChanged(self.clock.now(), self.node, live.spec.peer, state, diagnostic)
        )

    def _schedule(self, live: _Live) -> None:
        due = live.session.next_deadline()
        if due == live.timer_due:
            return
        if live.timer is not None:
            live.timer.cancel()
            live.timer = None
        live.timer_due = due
        if due is None:
            return
        live.generation += 1
        delay = max(0.0, due - self.clock.now())
        live.timer = self.after(delay, self.session_timer, live.spec.peer, live.generation)
