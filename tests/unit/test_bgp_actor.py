"""The BGP speaker actor and its sessions without threads or sockets: a fake transport
records what would go on the wire, the test plays the peer, time is a ManualClock."""

from __future__ import annotations

import ipaddress
import itertools
from collections import defaultdict
from dataclasses import dataclass

import pytest
from msgspec.structs import replace

from actors.bgp.actor import BgpSpeakerActor
from actors.bgp.announcer import BgpAnnouncer
from actors.bgp.codec import (
    KEEPALIVE,
    NotificationMessage,
    OpenMessage,
    RouteRefreshMessage,
    UpdateMessage,
    decode_message,
)
from actors.bgp.codec.attributes.communities import community_value
from actors.bgp.codec.capabilities import (
    FourOctetAsCapability,
    GracefulRestartCapability,
    MultiprotocolCapability,
)
from actors.bgp.transport import ConnClosed, ConnData, ConnUp
from actors.clock import ManualClock
from actors.events import (
    BfdSessionChanged,
    ClusterUpdated,
    ConfigApplied,
    Event,
    PeerSessionChanged,
    PrefixAnnounced,
    PrefixWithdrawn,
)
from actors.model.cluster import ClusterState, Node, ObjectMeta
from actors.model.config import Config, Peer, SecretRef
from actors.model.route import BGPRoute
from actors.model.selectors import LabelSelector

NODE = "node-1"
LOCAL = "10.99.60.11"
LOCAL_V6 = "fd00:99:60::11"
ROUTER = "10.99.60.1"


@dataclass(frozen=True)
class Dialed:
    conn: int
    remote: str
    port: int
    source: str | None
    md5_key: bytes | None
    ttl: int | None
    scope_id: int = 0


class FakeTransport:
    def __init__(self, deliver) -> None:
        self.ids = itertools.count(100)
        self.dials: list[Dialed] = []
        self.sent: dict[int, list[bytes]] = defaultdict(list)
        self.urgent: dict[int, list[bytes]] = defaultdict(list)
        self.closed: list[int] = []
        self.md5: dict[str, bytes | None] = {}
        self.ttl: dict[int, int] = {}
        self.listening: list[tuple[str, int]] = []
        self.consumed_bytes: dict[int, int] = defaultdict(int)
        self.stopped = False

    def dial(self, remote, port, *, source=None, md5_key=None, ttl=None, scope_id=0) -> int:
        conn = next(self.ids)
        self.dials.append(Dialed(conn, remote, port, source, md5_key, ttl, scope_id))
        return conn

    def listen(self, address, port):
        self.listening.append((address, port))
        return (address, port)

    def set_md5(self, peer, key) -> None:
        self.md5[peer] = key

    def set_ttl(self, conn, ttl) -> None:
        self.ttl[conn] = ttl

    def send(self, conn, frames, *, urgent=False) -> None:
        (self.urgent if urgent else self.sent)[conn].extend(frames)

    def close(self, conn) -> None:
        self.closed.append(conn)

    def consumed(self, conn, size) -> None:
        self.consumed_bytes[conn] += size

    def stop(self) -> None:
        self.stopped = True

    def messages(self, conn: int) -> list[object]:
        out = [decode_message(f) for f in self.urgent[conn] + self.sent[conn]]
        self.urgent[conn].clear()
        self.sent[conn].clear()
        return out

    def updates(self, conn: int) -> list[UpdateMessage]:
        return [m for m in self.messages(conn) if isinstance(m, UpdateMessage)]


def peer(**overrides) -> Peer:
    base = Peer(
        name="router",
        my_asn=64501,
        peer_asn=64500,
        peer_address=ipaddress.ip_address(ROUTER),
        hold_time=9,
        keepalive_time=3,
    )
    return replace(base, **overrides)


def lookup(local: str, version: int) -> str | None:
    return {(LOCAL, 6): LOCAL_V6, (LOCAL_V6, 4): LOCAL}.get((local, version))


class Harness:
    def __init__(self, *peers: Peer, labels: dict[str, str] | None = None, **kw) -> None:
        self.clock = ManualClock()
        self.events: list[Event] = []
        self.announcer = BgpAnnouncer()
        self.transports: list[FakeTransport] = []

        def factory(deliver):
            transport = FakeTransport(deliver)
            self.transports.append(transport)
            return transport

        self.actor = BgpSpeakerActor(
            NODE,
            self.announcer,
            transport_factory=factory,
            address_lookup=lookup,
            clock=self.clock,
            scheduler=self.clock,
            publish=self.events.append,
            **kw,
        )
        self.actor.on_start()
        self.cluster(labels or {})
        self.configure(*peers)

    @property
    def transport(self) -> FakeTransport:
        return self.transports[-1]

    def configure(self, *peers: Peer) -> None:
        self.actor.on_event(ConfigApplied(self.clock.now(), Config(peers=peers), "test"))

    def cluster(self, labels: dict[str, str]) -> None:
        node = Node(metadata=ObjectMeta(name=NODE, labels=labels))
        self.actor.on_event(ClusterUpdated(self.clock.now(), ClusterState.of(nodes=[node]), "t"))

    def establish(
        self, conn: int | None = None, *, local: str = LOCAL, asn: int = 64500, caps=()
    ) -> int:
        conn = conn if conn is not None else self.transport.dials[-1].conn
        self.actor.on_receive(ConnUp(conn, True, (local, 40000), (ROUTER, 179)))
        our_open = self.transport.messages(conn)[0]
        assert isinstance(our_open, OpenMessage)
        self.our_open = our_open
        caps = caps or (
            MultiprotocolCapability(1, 1),
            MultiprotocolCapability(2, 1),
            FourOctetAsCapability(asn),
        )
        peer_open = OpenMessage(asn, 9, int(ipaddress.IPv4Address(ROUTER)), tuple(caps))
        self.actor.on_receive(ConnData(conn, (peer_open.encode(), KEEPALIVE)))
        assert self.actor.sessions["router"].established
        assert self.transport.urgent[conn] == [KEEPALIVE]  # OpenConfirm's
        self.transport.urgent[conn].clear()
        return conn

    def announce(self, prefix: str, communities=(), local_pref=0, peers=("router",)) -> BGPRoute:
        route = BGPRoute(prefix, peers, tuple(communities), local_pref, ("default/web",))
        self.announcer.announce_bgp(route)
        self.pump()
        return route

    def pump(self) -> None:
        from actors.bgp.announcer import RoutesChanged

        self.actor.on_receive(RoutesChanged())

    def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.actor.on_timer()

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def test_dials_the_peer_with_source_md5_and_ebgp_ttl() -> None:
    h = Harness(peer(source_address=ipaddress.ip_address(LOCAL), password="s3cret", peer_port=1179))
    [dial] = h.transport.dials
    assert (dial.remote, dial.port, dial.source, dial.md5_key, dial.ttl) == (
        ROUTER,
        1179,
        LOCAL,
        b"s3cret",
        1,  # directly connected eBGP
    )
    assert h.transport.md5[ROUTER] == b"s3cret"  # on listeners too, for the peer's connections
    assert [(e.state, e.reason) for e in h.of(PeerSessionChanged)] == [("Connect", "started")]


@pytest.mark.parametrize(
    ("overrides", "ttl"),
    [({"ebgp_multihop": True}, 255), ({"peer_asn": 64501}, None)],
)
def test_ttl_is_255_for_multihop_and_default_for_ibgp(overrides, ttl) -> None:
    assert Harness(peer(**overrides)).transport.dials[0].ttl == ttl


def test_open_carries_as_trans_router_id_capabilities_and_graceful_restart() -> None:
    h = Harness(peer(my_asn=4200000001, enable_graceful_restart=True))
    h.establish()
    o = h.our_open
    assert o.wire_asn == 23456 and o.asn == 4200000001
    assert o.router_id == LOCAL  # the address the session leaves from
    assert o.families == {(1, 1), (2, 1)} and o.route_refresh and o.four_octet_as
    gr = o.graceful_restart
    assert gr is not None and gr.restarting and gr.restart_time == 120
    assert all(f.forwarding_preserved for f in gr.families)
    h2 = Harness(peer(), router_id="192.0.2.7")
    h2.establish()
    assert h2.our_open.router_id == "192.0.2.7" and h2.our_open.graceful_restart is None


def test_ebgp_route_attributes_next_hop_and_communities() -> None:
    h = Harness(peer())
    conn = h.establish()
    h.announce("10.99.61.10/32", ["64512:100", "large:64512:1:1"], local_pref=150)
    [update] = h.transport.updates(conn)
    a = update.attributes
    assert update.nlri == ("10.99.61.10/32",)
    assert a.origin == 0 and a.as_path == ((2, (64501,)),)  # our AS prepended to eBGP
    assert a.local_pref is None  # LOCAL_PREF only to iBGP
    assert a.next_hop == LOCAL
    assert a.communities == (community_value("64512:100"),)
    assert a.large_communities == ((64512, 1, 1),)
    [event] = h.of(PrefixAnnounced)
    assert (event.node, event.peer, event.prefixes) == (NODE, "router", ("10.99.61.10/32",))


def test_ibgp_gets_local_pref_and_an_empty_as_path() -> None:
    h = Harness(peer(peer_asn=64501))
    conn = h.establish(asn=64501)
    h.announce("10.99.61.10/32", local_pref=150)
    h.announce("10.99.61.11/32")
    first, second = h.transport.updates(conn)
    assert first.attributes.local_pref == 150 and first.attributes.as_path == ()
    assert second.attributes.local_pref == 100  # unset: the usual default


def test_ipv6_prefixes_use_mp_reach_with_the_interface_ipv6_next_hop() -> None:
    h = Harness(peer())
    conn = h.establish()
    h.announce("fd00:99:61::10/128")
    [update] = h.transport.updates(conn)
    mp = update.attributes.mp_reach
    assert mp is not None and (mp.afi, mp.safi) == (2, 1)
    assert mp.next_hops == (LOCAL_V6,) and mp.nlri == ("fd00:99:61::10/128",)
    assert update.attributes.next_hop is None and update.nlri == ()


def test_ipv6_is_not_sent_to_a_peer_that_did_not_negotiate_it() -> None:
    h = Harness(peer())
    conn = h.establish(caps=(MultiprotocolCapability(1, 1), FourOctetAsCapability(64500)))
    h.announce("fd00:99:61::10/128")
    assert h.transport.updates(conn) == []
    assert "did not negotiate IPv6" in h.actor.sessions["router"].skipped["fd00:99:61::10/128"]


def test_only_differences_are_sent_and_same_attributes_share_updates() -> None:
    h = Harness(peer())
    conn = h.establish()
    routes = [
        BGPRoute(f"10.99.{i // 256}.{i % 256}/32", ("router",), ("64512:1",), 0, ())
        for i in range(1000)
    ]
    for route in routes:
        h.announcer.announce_bgp(route)
    h.pump()  # one nudge for the whole burst
    updates = h.transport.updates(conn)
    assert len(updates) == 2 and sum(len(u.nlri) for u in updates) == 1000
    # Re-announcing the same route sends nothing; changing one sends one.
    h.announce(routes[0].prefix, ["64512:1"])
    assert h.transport.updates(conn) == []
    h.announce(routes[1].prefix, ["64512:2"])
    [update] = h.transport.updates(conn)
    assert update.nlri == (routes[1].prefix,)
    h.announcer.withdraw_bgp(routes[2])
    h.pump()
    [update] = h.transport.updates(conn)
    assert update.withdrawn == (routes[2].prefix,) and not update.nlri
    assert h.actor.counters()["metallb_bgp_announced_prefixes_total"] == {f"{ROUTER}:179": 999}


def test_routes_go_only_to_the_peers_they_name() -> None:
    other = peer(name="other", peer_address=ipaddress.ip_address("10.99.60.2"))
    h = Harness(peer(), other)
    conn = h.establish(h.transport.dials[0].conn)
    h.announce("10.99.61.10/32", peers=("other",))
    assert h.transport.updates(conn) == []


def test_routes_given_before_the_session_is_up_go_out_when_it_comes_up() -> None:
    h = Harness(peer())
    h.announce("10.99.61.10/32")
    conn = h.establish()
    [update] = h.transport.updates(conn)
    assert update.nlri == ("10.99.61.10/32",)


def test_end_of_rib_waits_for_the_speaker_to_sync() -> None:
    h = Harness(peer(enable_graceful_restart=True))
    conn = h.establish()
    h.announce("10.99.61.10/32")
    assert all(u.end_of_rib is None for u in h.transport.updates(conn))
    h.announcer.synced()
    h.pump()
    eors = [u.end_of_rib for u in h.transport.updates(conn)]
    assert eors == [(1, 1), (2, 1)]


def test_end_of_rib_goes_anyway_after_the_sync_timeout() -> None:
    h = Harness(peer(), sync_timeout=30.0)
    conn = h.establish()
    h.clock.advance(30.0)
    h.actor.sync_overdue()
    assert [u.end_of_rib for u in h.transport.updates(conn)] == [(1, 1), (2, 1)]


def test_graceful_restart_shutdown_is_silent_and_others_get_cease() -> None:
    gr = Harness(peer(enable_graceful_restart=True))
    caps = (
        MultiprotocolCapability(1, 1),
        FourOctetAsCapability(64500),
        GracefulRestartCapability(120),
    )
    conn = gr.establish(caps=caps)
    gr.announce("10.99.61.10/32")
    gr.transport.messages(conn)
    assert gr.actor.withdraw_all("shutdown") == 0  # the router keeps the route
    assert gr.transport.messages(conn) == [] and conn in gr.transport.closed
    plain = Harness(peer())
    conn = plain.establish()
    plain.announce("10.99.61.10/32")
    plain.transport.messages(conn)
    assert plain.actor.withdraw_all("shutdown") == 1
    [note] = plain.transport.messages(conn)
    assert isinstance(note, NotificationMessage) and (note.code, note.subcode) == (6, 2)


def test_restarting_bit_only_on_the_first_session_of_the_process() -> None:
    h = Harness(peer(enable_graceful_restart=True))
    conn = h.establish()
    assert h.our_open.graceful_restart.restarting  # type: ignore[union-attr]
    h.actor.on_receive(ConnClosed(conn, "connection reset by peer"))
    h.tick(1.0)
    h.establish()
    assert not h.our_open.graceful_restart.restarting  # type: ignore[union-attr]


def test_session_down_reports_the_prefixes_it_took_with_it() -> None:
    h = Harness(peer())
    conn = h.establish()
    h.announce("10.99.61.10/32")
    h.actor.on_receive(ConnClosed(conn, "connection reset by peer"))
    [event] = h.of(PrefixWithdrawn)
    assert event.prefixes == ("10.99.61.10/32",)
    assert event.reason == "session down: connection reset by peer"
    assert h.of(PeerSessionChanged)[-1].state == "Idle"
    assert h.actor.counters()["metallb_bgp_session_up"] == {f"{ROUTER}:179": 0}
    h.tick(1.0)  # backoff, then a new dial
    assert len(h.transport.dials) == 2


def test_hold_timer_expiry_through_the_actor_timer() -> None:
    h = Harness(peer())
    conn = h.establish()
    h.tick(3.0)
    assert h.transport.messages(conn) == [decode_message(KEEPALIVE)]
    h.tick(6.0)  # 9 s of silence from the peer
    messages = h.transport.messages(conn)
    assert NotificationMessage(4, 0) in messages
    assert "Hold Timer Expired" in h.of(PeerSessionChanged)[-1].reason


def test_bfd_down_takes_the_session_down_at_once() -> None:
    h = Harness(peer())
    conn = h.establish()
    h.announce("10.99.61.10/32")
    h.transport.messages(conn)
    h.actor.on_event(BfdSessionChanged(1.0, "node-2", "router", "down", "x"))
    assert h.actor.sessions["router"].established  # another node's BFD: not ours
    h.actor.on_event(BfdSessionChanged(1.0, NODE, "router", "up", ""))
    assert h.actor.sessions["router"].established
    h.actor.on_event(
        BfdSessionChanged(1.0, NODE, "router", "down", "control detection time expired")
    )
    assert NotificationMessage(6, 10) in h.transport.messages(conn)
    assert not h.actor.sessions["router"].established
    assert "BFD down: control detection time expired" in h.of(PeerSessionChanged)[-1].reason
    assert h.of(PrefixWithdrawn)[-1].prefixes == ("10.99.61.10/32",)


def test_peer_node_selectors_follow_the_node_labels() -> None:
    selector = LabelSelector(match_labels={"bgp": "yes"})
    h = Harness(peer(node_selectors=(selector,)))
    assert h.actor.sessions == {} and h.transport.dials == []
    h.cluster({"bgp": "yes"})
    conn = h.establish()
    h.cluster({})
    [note] = [m for m in h.transport.messages(conn) if isinstance(m, NotificationMessage)]
    assert (note.code, note.subcode) == (6, 3)  # Peer De-configured
    assert h.actor.sessions == {}


def test_changing_a_peer_restarts_its_session_and_nothing_else_does() -> None:
    h = Harness(peer())
    conn = h.establish()
    h.configure(peer())  # the same peer again: nothing happens
    assert h.transport.messages(conn) == [] and len(h.transport.dials) == 1
    h.configure(peer(hold_time=30, keepalive_time=10))
    [note] = h.transport.messages(conn)
    assert isinstance(note, NotificationMessage) and (note.code, note.subcode) == (6, 6)
    assert len(h.transport.dials) == 2


def test_password_secret_is_looked_up_and_a_missing_one_waits() -> None:
    ref = SecretRef("bgp-auth", "metallb-system")
    found: dict[str, str] = {}
    h = Harness(peer(password_secret=ref), secrets=lambda r: found.get(r.name))
    assert h.transport.dials == []
    assert h.of(PeerSessionChanged)[-1].reason == "waiting for Secret metallb-system/bgp-auth"
    found["bgp-auth"] = "from-secret"
    h.configure(peer(password_secret=ref))
    assert h.transport.dials[0].md5_key == b"from-secret"


def test_inbound_connections_only_from_configured_peers() -> None:
    h = Harness(peer(), listen_port=1179)
    assert h.transport.listening == [("0.0.0.0", 1179), ("::", 1179)]
    h.actor.on_receive(ConnUp(500, False, (LOCAL, 1179), ("10.99.60.66", 50000)))
    assert h.transport.closed == [500]
    h.actor.on_receive(ConnUp(501, False, (LOCAL, 1179), (ROUTER, 50001)))
    assert h.transport.ttl[501] == 1
    assert isinstance(h.transport.messages(501)[0], OpenMessage)
    assert h.actor.sessions["router"].state.value == "OpenSent"


def test_route_refresh_resends_the_family() -> None:
    h = Harness(peer())
    conn = h.establish()
    h.announce("10.99.61.10/32")
    h.announce("fd00:99:61::10/128")
    h.transport.messages(conn)
    h.actor.on_receive(ConnData(conn, (RouteRefreshMessage(1, 1).encode(),)))
    [update] = h.transport.updates(conn)
    assert update.nlri == ("10.99.61.10/32",)


def test_what_the_actor_handled_is_told_to_the_transport_so_it_reads_on() -> None:
    """Each ConnData, once handled, goes back to the transport as consumed (its size): the
    transport stops reading a connection whose data the actor has not handled."""
    h = Harness(peer())
    conn = h.establish()
    before = h.transport.consumed_bytes[conn]
    frames = (RouteRefreshMessage(1, 1).encode(), KEEPALIVE)
    h.actor.on_receive(ConnData(conn, frames, sum(map(len, frames))))
    assert h.transport.consumed_bytes[conn] - before == sum(map(len, frames))


def test_a_restarted_actor_takes_every_route_from_the_announcer() -> None:
    h = Harness(peer())
    h.announce("10.99.61.10/32")
    fresh = BgpSpeakerActor(
        NODE,
        h.announcer,
        transport_factory=FakeTransport,
        address_lookup=lookup,
        clock=h.clock,
        scheduler=h.clock,
        publish=h.events.append,
    )
    fresh.on_start()
    assert fresh.per_peer["router"] == {
        "10.99.61.10/32": fresh.per_peer["router"]["10.99.61.10/32"]
    }
    assert list(fresh.routes) == [("10.99.61.10/32", ("router",))]
