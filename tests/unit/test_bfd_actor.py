"""The BfdActor without threads: a node and a router on a simulated network in virtual time.

Timers are run by the ManualClock directly (no actor thread), and datagrams cross a fake
network with 1 ms of latency, so every test is deterministic and takes milliseconds.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest

from actors.bgp.bfd.actor import BfdActor, bfd_peers
from actors.bgp.bfd.codec import (
    MULTI_HOP_PORT,
    SINGLE_HOP_PORT,
    SOURCE_PORTS,
    ControlPacket,
    State,
    encode,
)
from actors.bgp.bfd.transport import BfdDatagram
from actors.clock import ManualClock
from actors.events import BfdSessionChanged, ClusterUpdated, ConfigApplied, Event
from actors.model.cluster import ClusterState, Node, ObjectMeta
from actors.model.config import BFDProfile, Config, Peer
from actors.model.selectors import LabelSelector

NODE, ROUTER = "10.99.0.1", "10.99.0.2"


class FakeNet:
    """Addresses that can reach each other unless cut; delivery after 1 ms of virtual time."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.hosts: dict[str, FakeTransport] = {}
        self.cut: set[str] = set()
        self.ttl = 255

    def transport(self, address: str) -> FakeTransport:
        self.hosts[address] = FakeTransport(self, address)
        return self.hosts[address]

    def carry(self, datagram: BfdDatagram, to: str) -> None:
        if datagram.source in self.cut or to in self.cut or to not in self.hosts:
            return
        target = self.hosts[to]
        self.clock.call_later(0.001, lambda: target.arrive(datagram))


class FakeLink:
    def __init__(self, net: FakeNet, local: str, peer: str, port: int, source_port: int):
        self.net, self.local, self.peer, self.port = net, local, peer, port
        self.source_port = source_port
        self.closed = False

    def send(self, data: bytes) -> bool:
        assert not self.closed
        d = BfdDatagram(data, self.local, self.peer, self.port, self.net.ttl)
        self.net.carry(d, self.peer)
        return True

    def close(self) -> None:
        self.closed = True


class FakeTransport:
    def __init__(self, net: FakeNet, address: str) -> None:
        self.net, self.address = net, address
        self.deliver: Callable[[BfdDatagram], None] | None = None
        self.routes = True
        self.bindable = True
        self.links: list[FakeLink] = []

    def start(self, deliver: Callable[[BfdDatagram], None]) -> None:
        self.deliver = deliver

    def stop(self) -> None:
        self.deliver = None

    def source_for(self, peer: str) -> str | None:
        return self.address if self.routes else None

    def open(self, local: str, peer: str, multihop: bool) -> FakeLink:
        if not self.bindable or local != self.address:
            raise OSError(99, "Cannot assign requested address")
        port = MULTI_HOP_PORT if multihop else SINGLE_HOP_PORT
        link = FakeLink(self.net, local, peer, port, SOURCE_PORTS[len(self.links)])
        self.links.append(link)
        return link

    def arrive(self, datagram: BfdDatagram) -> None:
        if self.deliver is not None:
            self.deliver(datagram)


class DirectBfdActor(BfdActor):
    """Timers call the method directly from the ManualClock: no actor thread needed."""

    def after(self, delay: float, method: Callable[..., Any], *args: Any) -> Any:
        return self.clock.call_later(delay, lambda: method(*args))  # type: ignore[attr-defined]


def profile(name: str = "fast", **kw: Any) -> BFDProfile:
    base: dict[str, Any] = {"receive_interval": 100, "transmit_interval": 100}
    base.update(kw)
    return BFDProfile(name, **base)


def peer(name: str, address: str, bfd: str = "fast", **kw: Any) -> Peer:
    return Peer(
        name=name,
        my_asn=64501,
        peer_asn=64500,
        peer_address=ipaddress.ip_address(address),
        bfd_profile=bfd,
        **kw,
    )


def config(peers: tuple[Peer, ...], *profiles: BFDProfile) -> Config:
    return Config(
        peers=peers,
        bfd_profiles=MappingProxyType({p.name: p for p in profiles or (profile(),)}),
    )


def cluster(labels: dict[str, str] | None = None) -> ClusterState:
    nodes = [Node(metadata=ObjectMeta(name=n, labels=labels or {})) for n in ("n1", "r")]
    return ClusterState.of(nodes=nodes)


class Lab:
    def __init__(self, node_config: Config, router_config: Config | None = None) -> None:
        self.clock = ManualClock()
        self.net = FakeNet(self.clock)
        self.events: list[Event] = []
        self.node = self._actor("n1", NODE, node_config)
        router_config = router_config or config((peer("n1", NODE),))
        self.router = self._actor("r", ROUTER, router_config)

    def _actor(self, name: str, address: str, cfg: Config) -> DirectBfdActor:
        transport = self.net.transport(address)
        actor = DirectBfdActor(
            name,
            transport=transport,
            clock=self.clock,
            publish=self.events.append,
            rng=random.Random(len(self.net.hosts)),
        )
        transport.start(actor.datagram)
        actor.on_event(ConfigApplied(0.0, cfg, "test"))
        actor.on_event(ClusterUpdated(0.0, cluster(), "test"))
        return actor

    def run(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def changes(self, node: str) -> list[BfdSessionChanged]:
        return [e for e in self.events if isinstance(e, BfdSessionChanged) and e.node == node]

    def state(self, actor: BfdActor, name: str) -> str:
        return next(s.state for s in actor.sessions() if s.peer == name)


def up_lab() -> Lab:
    lab = Lab(config((peer("router", ROUTER),)))
    lab.run(5)
    assert lab.state(lab.node, "router") == "up"
    return lab


def test_sessions_come_up_and_the_change_is_published() -> None:
    lab = up_lab()
    states = [e.state for e in lab.changes("n1")]
    assert states[-1] == "up" and set(states) <= {"init", "up"}
    assert lab.changes("n1")[-1].peer == "router"
    info = lab.node.sessions()[0]
    assert info.local == NODE and info.source_port in SOURCE_PORTS
    assert info.tx_interval == pytest.approx(0.1)
    assert info.detection_time == pytest.approx(0.3)


def test_cut_link_publishes_down_within_the_detection_time() -> None:
    lab = up_lab()
    detection = lab.node.sessions()[0].detection_time
    cut = lab.clock.now()
    lab.net.cut.add(ROUTER)
    lab.run(1)
    down = [e for e in lab.changes("n1") if e.state == "down"]
    assert len(down) == 1
    assert down[0].diagnostic == "control detection time expired"
    assert cut < down[0].t <= cut + detection + 1e-9
    lab.net.cut.clear()
    lab.run(5)
    assert lab.changes("n1")[-1].state == "up"


def test_only_peers_with_a_profile_on_this_node_get_a_session() -> None:
    rack_b = (LabelSelector.model_validate({"matchLabels": {"rack": "b"}}),)
    cfg = config(
        (
            peer("router", ROUTER),
            peer("plain", "10.99.0.3", bfd=""),
            peer("elsewhere", "10.99.0.4", node_selectors=rack_b),
        )
    )
    assert sorted(bfd_peers(cfg, {})) == ["router"]
    assert sorted(bfd_peers(cfg, {"rack": "b"})) == ["elsewhere", "router"]
    spec = bfd_peers(cfg, {})["router"]
    assert (spec.timers.desired_min_tx, spec.timers.required_min_rx) == (100_000, 100_000)


def test_nothing_starts_before_the_cluster_is_known() -> None:
    clock = ManualClock()
    transport = FakeNet(clock).transport(NODE)
    actor = DirectBfdActor("n1", transport=transport, clock=clock, publish=lambda e: None)
    actor.on_event(ConfigApplied(0.0, config((peer("router", ROUTER),)), "test"))
    assert actor.sessions() == () and transport.links == []


def test_profile_change_is_negotiated_with_a_poll_sequence() -> None:
    lab = up_lab()
    slower = config((peer("router", ROUTER),), profile(transmit_interval=300))
    lab.node.on_event(ConfigApplied(lab.clock.now(), slower, "test"))
    lab.run(2)
    assert lab.node.sessions()[0].tx_interval == pytest.approx(0.3)
    assert lab.router.sessions()[0].detection_time == pytest.approx(0.9)
    assert lab.state(lab.node, "router") == "up"  # no flap


def test_removing_the_peer_tells_the_router_it_is_admin_down_not_failed() -> None:
    lab = up_lab()
    lab.node.on_event(ConfigApplied(lab.clock.now(), config(()), "test"))
    assert lab.node.sessions() == ()
    assert lab.changes("n1")[-1].state == "admin-down"
    assert lab.net.hosts[NODE].links[0].closed
    lab.run(0.01)
    last = lab.changes("r")[-1]
    assert (last.state, last.diagnostic) == ("admin-down", "neighbor signaled session down")


def test_single_hop_packets_must_arrive_with_ttl_255() -> None:
    lab = Lab(config((peer("router", ROUTER),)))
    lab.net.ttl = 254  # one router in between: GTSM says drop
    lab.run(5)
    assert lab.state(lab.node, "router") == "down"
    assert lab.node.stats()["dropped:ttl"] > 0


def test_multihop_sessions_accept_the_profiles_minimum_ttl() -> None:
    hop = profile(minimum_ttl=250)
    node_cfg = config((peer("router", ROUTER, ebgp_multihop=True),), hop)
    router_cfg = config((peer("n1", NODE, ebgp_multihop=True),), hop)
    lab = Lab(node_cfg, router_cfg)
    lab.net.ttl = 252
    lab.run(5)
    assert lab.state(lab.node, "router") == "up"
    assert lab.net.hosts[NODE].links[0].port == MULTI_HOP_PORT
    lab.net.ttl = 249
    lab.run(1)
    assert lab.state(lab.node, "router") == "down"


def test_garbage_and_strangers_are_counted_and_dropped() -> None:
    lab = up_lab()
    stranger = encode(ControlPacket(State.DOWN, 3, 99, 0, 1_000_000, 100_000))
    for data, source in [(b"\x00" * 3, ROUTER), (b"\xff" * 40, ROUTER), (stranger, "10.99.0.9")]:
        lab.node.datagram(BfdDatagram(data, source, NODE, SINGLE_HOP_PORT, 255))
    stats = lab.node.stats()
    assert stats["dropped:short"] == 1 and stats["dropped:version"] == 1
    assert stats["dropped:no-session"] == 1
    assert lab.state(lab.node, "router") == "up"


def test_a_session_without_a_route_waits_and_is_retried() -> None:
    clock = ManualClock()
    net = FakeNet(clock)
    transport = net.transport(NODE)
    transport.routes = False
    actor = DirectBfdActor("n1", transport=transport, clock=clock, publish=lambda e: None)
    transport.start(actor.datagram)
    actor.on_event(ConfigApplied(0.0, config((peer("router", ROUTER),)), "test"))
    actor.on_event(ClusterUpdated(0.0, cluster(), "test"))
    assert actor.sessions() == () and "no route" in actor.waiting["router"]
    clock.advance(3)
    transport.routes = True
    clock.advance(1.01)
    assert [s.peer for s in actor.sessions()] == ["router"]
    assert actor.waiting == {}


def test_a_source_address_that_cannot_be_bound_waits() -> None:
    cfg = config((peer("router", ROUTER, source_address=ipaddress.ip_address("10.99.0.7")),))
    lab = Lab(cfg)
    assert lab.node.sessions() == ()
    assert "cannot bind 10.99.0.7" in lab.node.waiting["router"]


def test_shutdown_sends_admin_down() -> None:
    lab = up_lab()
    lab.node.shutdown()
    lab.run(0.01)
    assert lab.changes("r")[-1].state == "admin-down"


# -- unnumbered peers: BFD over link-local addresses --------------------------------------------


def unnumbered(name: str = "leaf") -> Peer:
    return Peer(
        name=name,
        my_asn=64501,
        peer_asn=64500,
        peer_address=None,
        interface="eth1",
        bfd_profile="fast",
    )


def test_an_unnumbered_peer_gets_a_session_once_its_router_is_known() -> None:
    cfg = config((unnumbered(),))
    assert bfd_peers(cfg, {}) == {}
    spec = bfd_peers(cfg, {}, {"leaf": "fe80::1%eth1"})["leaf"]
    assert (spec.address, spec.source, spec.multihop) == ("fe80::1%eth1", None, False)


def test_the_actor_follows_the_router_the_bgp_speaker_found() -> None:
    from actors.events import UnnumberedRouterFound

    clock = ManualClock()
    net = FakeNet(clock)
    transport = net.transport("fe80::2%eth1")
    events: list[Event] = []
    actor = DirectBfdActor("n1", transport=transport, clock=clock, publish=events.append)
    actor.on_start()
    actor.on_event(ConfigApplied(0.0, config((unnumbered(),)), "test"))
    actor.on_event(ClusterUpdated(0.0, cluster(), "test"))
    assert actor.sessions() == ()
    actor.on_event(UnnumberedRouterFound(0.0, "other-node", "leaf", "eth1", "fe80::9%eth1"))
    assert actor.sessions() == ()  # another node's router
    actor.on_event(UnnumberedRouterFound(0.0, "n1", "leaf", "eth1", "fe80::1%eth1"))
    [info] = actor.sessions()
    assert (info.peer, info.address) == ("leaf", "fe80::1%eth1")
    assert transport.links[-1].peer == "fe80::1%eth1"
    actor.on_event(UnnumberedRouterFound(0.0, "n1", "leaf", "eth1", "fe80::3%eth1"))
    assert [s.address for s in actor.sessions()] == ["fe80::3%eth1"]  # a new router
    actor.on_event(UnnumberedRouterFound(0.0, "n1", "leaf", "eth1", ""))
    assert actor.sessions() == ()


def test_scoped_link_local_addresses_become_socket_addresses_with_a_scope_id() -> None:
    import socket

    from actors.bgp.bfd.transport import scoped, sockaddr

    lo = socket.if_nametoindex("lo")
    assert sockaddr("10.0.0.1", 3784) == ("10.0.0.1", 3784)
    assert sockaddr("2001:db8::1", 3784) == ("2001:db8::1", 3784)
    assert sockaddr("fe80::1%lo", 3784) == ("fe80::1", 3784, 0, lo)
    assert sockaddr("fe80::1%7", 3784) == ("fe80::1", 3784, 0, 7)
    with pytest.raises(OSError):
        sockaddr("fe80::1%no-such-if0", 3784)
    assert scoped(("fe80::1", 3784, 0, lo)) == "fe80::1%lo"
    assert scoped(("fe80::1%lo", 3784, 0, lo)) == "fe80::1%lo"
    assert scoped(("2001:db8::1", 3784, 0, 0)) == "2001:db8::1"
    assert scoped(("10.0.0.1", 3784)) == "10.0.0.1"
