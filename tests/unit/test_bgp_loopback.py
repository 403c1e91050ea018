"""BGP over real TCP on loopback, in one process: the transport, the speaker actor against
the route collector, and the demo's nodes peering with it. No root needed."""

from __future__ import annotations

import ipaddress
import queue
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from actors.bgp.actor import BgpSpeakerActor
from actors.bgp.announcer import BgpAnnouncer
from actors.bgp.codec import KEEPALIVE, FrameReader, RouteRefreshMessage, UpdateMessage
from actors.bgp.codec.attributes.base import PathAttributes
from actors.bgp.codec.open import OpenMessage
from actors.bgp.transport import ConnClosed, ConnData, ConnUp, SocketTransport
from actors.demo.collector import RouteCollectorActor, bind_listener
from actors.events import ConfigApplied, Event
from actors.listener import Published
from actors.model.config import Config, Peer
from actors.model.route import BGPRoute
from actors.roles.demo import DemoOptions, build, kill_node, revive_node


def wait_until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def stop_all() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all()


def test_keepalives_are_never_starved_by_queued_updates() -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # a slow reader's window
    server.bind(("127.0.0.1", 0))
    server.listen()
    inbox: queue.Queue[object] = queue.Queue()
    transport = SocketTransport(inbox.put)
    try:
        conn = transport.dial("127.0.0.1", server.getsockname()[1])
        peer, _ = server.accept()
        assert isinstance(inbox.get(timeout=5), ConnUp)
        # 2000 full-size UPDATEs (8 MB) queued while the peer is not reading yet.
        update = UpdateMessage((), PathAttributes(origin=0, unknown=((0xC0, 99, bytes(4000)),)))
        bulk = [update.encode()] * 2000
        transport.send(conn, bulk)
        time.sleep(0.3)  # the kernel buffers fill up; the rest waits in our queue
        transport.send(conn, [KEEPALIVE], urgent=True)
        refresh = RouteRefreshMessage(1, 1).encode()
        transport.send(conn, [refresh])  # the same, not urgent: behind everything
        reader = FrameReader()
        frames: list[bytes] = []
        peer.settimeout(5)
        while len(frames) < len(bulk) + 2:
            frames += reader.feed(peer.recv(1 << 20))
        # The keepalive went out with the next 64 KiB slice, not after the 8 MB before it ...
        assert frames.index(KEEPALIVE) < len(bulk) // 2
        assert frames[-1] == refresh  # ... while ordinary messages keep their order
        assert frames.count(bulk[0]) == len(bulk)  # and no message was cut or interleaved
    finally:
        transport.stop()
        server.close()


def test_a_flooding_peer_is_read_only_as_fast_as_the_actor_consumes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the actor has not consumed is bounded per connection: past MAX_UNREAD the loop
    stops reading, the peer's sends block on a full window, and ``consumed`` resumes it."""
    from actors.bgp import transport as bgp_transport

    monkeypatch.setattr(bgp_transport, "MAX_UNREAD", 64 * 1024)
    limit = bgp_transport.MAX_UNREAD + bgp_transport.RECV_SIZE  # one read may overshoot
    inbox: queue.Queue[object] = queue.Queue()
    transport = SocketTransport(inbox.put)
    flood = KEEPALIVE * 20_000  # 380 KB
    try:
        address = transport.listen("127.0.0.1", 0)
        peer = socket.create_connection(address)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        assert isinstance(inbox.get(timeout=5), ConnUp)
        peer.sendall(KEEPALIVE)  # not an OPEN: it stays pending, which is not at issue here
        sent = 0

        def send_more() -> None:
            nonlocal sent
            peer.setblocking(False)
            try:  # the stream stays whole KEEPALIVEs: each send goes on where the last ended
                while sent < len(flood) * 20:
                    sent += peer.send(flood[sent % len(flood) :])
            except BlockingIOError:
                pass

        def drain() -> list[ConnData]:
            got = []
            while True:
                try:
                    got.append(inbox.get(timeout=0.5))
                except queue.Empty:
                    return [m for m in got if isinstance(m, ConnData)]

        send_more()
        held = drain()
        delivered = sum(d.size for d in held)
        assert all(d.size == sum(map(len, d.frames)) for d in held)
        assert 64 * 1024 < delivered <= limit  # the loop stopped reading ...
        send_more()
        assert sent < len(flood) * 20  # ... so the peer's sends stopped: its window is full
        assert drain() == []  # and nothing more came while nothing was consumed
        for data in held:
            transport.consumed(data.conn, data.size)
        more = drain()  # caught up: the loop reads on
        assert sum(d.size for d in more) > 0
        peer.close()
    finally:
        transport.stop()


def test_pending_inbound_connections_are_capped_per_source_and_in_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Connections that have not sent an OPEN are bounded before the actor hears of them:
    beyond the cap from one address (or in all) they are closed at once, and an OPEN frees
    a slot."""
    from actors.bgp import transport as bgp_transport

    monkeypatch.setattr(bgp_transport, "MAX_PENDING", 6)
    inbox: queue.Queue[object] = queue.Queue()
    transport = SocketTransport(inbox.put)
    clients: list[socket.socket] = []

    def connect(source: str) -> socket.socket:
        client = socket.socket()
        client.bind((source, 0))
        client.connect(address)
        client.settimeout(5)
        clients.append(client)
        return client

    def closed_at_once(client: socket.socket) -> bool:
        try:
            return client.recv(1) == b""
        except ConnectionResetError:
            return True

    try:
        address = transport.listen("127.0.0.1", 0)
        per_source = bgp_transport.MAX_PENDING_PER_SOURCE
        first = [connect("127.0.0.1") for _ in range(per_source)]
        ups = [inbox.get(timeout=5) for _ in first]
        assert all(isinstance(u, ConnUp) and not u.outbound for u in ups)
        assert closed_at_once(connect("127.0.0.1"))  # a fifth from the same address
        assert transport.refused == 1
        # Another address still gets in, up to the cap in all (6).
        others = [connect("127.0.0.2") for _ in range(2)]
        assert all(isinstance(inbox.get(timeout=5), ConnUp) for _ in others)
        assert closed_at_once(connect("127.0.0.3"))
        assert transport.refused == 2
        # One of the first sends its OPEN: pending no more, so one more may wait.
        open_msg = OpenMessage(65001, 90, 0x0A000001).encode()
        first[0].sendall(open_msg)
        data = inbox.get(timeout=5)
        assert isinstance(data, ConnData) and data.frames == (open_msg,)
        connect("127.0.0.1")
        assert isinstance(inbox.get(timeout=5), ConnUp)
        # A closed pending connection frees its slot too.
        first[1].close()
        assert isinstance(inbox.get(timeout=5), ConnClosed)
        connect("127.0.0.3")
        assert isinstance(inbox.get(timeout=5), ConnUp)
        assert transport.refused == 2 and inbox.empty()
    finally:
        transport.stop()
        for client in clients:
            client.close()


def _peer(name: str, port: int, **kw: Any) -> Peer:
    return Peer(
        name=name,
        my_asn=64512,
        peer_asn=64512,
        peer_address=ipaddress.ip_address("127.0.0.1"),
        peer_port=port,
        hold_time=9,
        keepalive_time=3,
        **kw,
    )


def test_speaker_and_collector_over_loopback(stop_all: None) -> None:
    listener = bind_listener("127.0.0.1", 0)
    port = listener.getsockname()[1]
    collector = RouteCollectorActor.start(listener, names={"127.0.1.7": "node-7"}).proxy()
    events: list[Event] = []
    announcer = BgpAnnouncer()
    speaker = BgpSpeakerActor.start(
        "node-7", announcer, source_address="127.0.1.7", publish=events.append
    )
    speaker.tell(Published(ConfigApplied(0.0, Config(peers=(_peer("collector", port),)), "t")))
    routes = [
        BGPRoute(f"192.0.2.{i}/32", ("collector",), ("64512:7",), 120, ("a/b",)) for i in range(50)
    ]
    for route in routes:
        announcer.announce_bgp(route)
    table = wait_until(lambda: (t := collector.routes().get()) and len(t) == 50 and t)
    first = table["192.0.2.0/32"][0]
    assert (first.peer, first.next_hop, first.local_pref) == ("node-7", "127.0.1.7", 120)
    assert first.communities == ("64512:7",)
    proxy = speaker.proxy()
    assert proxy.counters().get()["metallb_bgp_updates_total"] == {f"127.0.0.1:{port}": 1}
    announcer.withdraw_bgp(routes[0])
    wait_until(lambda: len(collector.routes().get()) == 49)
    # One UPDATE for 50 prefixes, one for the withdrawal: only differences go out.
    assert proxy.counters().get()["metallb_bgp_updates_total"] == {f"127.0.0.1:{port}": 2}
    assert proxy.withdraw_all("shutdown").get() == 49
    wait_until(lambda: collector.routes().get() == {})


def test_the_demo_peers_with_its_route_collector_over_loopback(stop_all: None) -> None:
    runtime, _, network = build(DemoOptions(scenario_text="steps: []"))
    runtime.start()
    try:

        def agreed() -> tuple[str, tuple[str, ...]] | None:
            """The first routed prefix, once the network's view and the collector's table
            name the same next hops (the nodes' sessions come up one by one: read together
            too early, the two may differ by a node)."""
            routed = {p: n for p, n in network.view().routes.items() if n}
            if not routed:
                return None
            prefix, nodes = next(iter(routed.items()))
            collected = runtime.proxy("collector").routes().get().get(prefix, [])
            hops = {r.next_hop for r in collected}
            expected = {f"127.0.1.{n.removeprefix('node-')}" for n in nodes}
            return (prefix, tuple(nodes)) if hops == expected else None

        prefix, nodes = wait_until(agreed)
        assert prefix.startswith("192.0.2.")  # DEMO_CONFIG's BGP pool "routed"
        victim = nodes[0]
        kill_node(runtime, victim)
        wait_until(lambda: victim not in network.view().routes.get(prefix, ()))
        revive_node(runtime, victim)
        wait_until(lambda: victim in network.view().routes.get(prefix, ()))
    finally:
        runtime.stop()
    assert network.view().routes == {}
