"""Unnumbered BGP in lbtui's own speaker, without sockets: router advertisements and
solicitations (``ndp``), the discovery and advertising state (``discovery``), and the speaker
actor with a fake ICMPv6 link and a fake TCP transport, in virtual time (a clock that moves)."""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from actors.bgp.codec import KEEPALIVE, OpenMessage
from actors.bgp.codec.capabilities import FourOctetAsCapability, MultiprotocolCapability
from actors.bgp.codec.extended_nexthop import ExtendedNextHopCapability
from actors.bgp.transport import ConnClosed, ConnData, ConnUp
from actors.bgp.unnumbered import ndp
from actors.bgp.unnumbered.discovery import Advertising, LinkDiscovery, is_link_local
from actors.bgp.unnumbered.link import LinkHeard, icmp6_filter
from actors.events import PeerSessionChanged, PrefixWithdrawn
from tests.unit.test_bgp_actor import Harness, peer

IFINDEX = 7
ROUTER_LL = "fe80::1"
NODE_LL = "fe80::2"
NODE_GLOBAL = "2001:db8:1::2"


# -- ndp ---------------------------------------------------------------------------------------


def test_our_router_advertisement_says_lifetime_0_and_carries_our_mac() -> None:
    mac = bytes.fromhex("020000000002")
    ra = ndp.router_advertisement(mac)
    assert ra[0] == 134 and ra[1] == 0
    assert ra[6:8] == b"\0\0"  # router lifetime 0: not a default router
    assert ra[16:] == bytes([1, 1]) + mac  # source link-layer address option
    assert ndp.parse(ra) == ndp.NdpMessage(ndp.ROUTER_ADVERTISEMENT, 0)
    rs = ndp.router_solicitation(mac)
    assert rs[0] == 133 and ndp.parse(rs) == ndp.NdpMessage(ndp.ROUTER_SOLICITATION)
    assert ndp.router_advertisement(b"") == ra[:16]  # no MAC (a tunnel): no option


def test_parse_refuses_what_rfc_4861_says_to_discard() -> None:
    ra = ndp.router_advertisement(bytes(range(6)))
    assert ndp.parse(ra, hop_limit=64) is None  # routed from elsewhere
    assert ndp.parse(bytes([134, 1]) + ra[2:]) is None  # code 1
    assert ndp.parse(ra[:12]) is None  # short
    assert ndp.parse(ra[:16] + bytes([1, 0, 0, 0, 0, 0, 0, 0])) is None  # option of length 0
    assert ndp.parse(ra[:16] + bytes([1, 2]) + bytes(6)) is None  # option overruns
    assert ndp.parse(bytes([135]) + ra[1:]) is None  # a neighbour solicitation


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64), st.one_of(st.none(), st.integers(0, 255)))
def test_fuzz_parse_never_raises(data: bytes, hop_limit: int | None) -> None:
    found = ndp.parse(data, hop_limit)
    assert found is None or found.kind in (133, 134)


def test_the_socket_filter_passes_only_solicitations_and_advertisements() -> None:
    words = [int.from_bytes(icmp6_filter(133, 134)[i : i + 4], "little") for i in range(0, 32, 4)]
    passing = [t for t in range(256) if not words[t >> 5] & (1 << (t & 31))]
    assert passing == [133, 134]


@pytest.mark.parametrize(
    ("address", "link_local"),
    [("fe80::1", True), ("FEBF::1", True), ("fec0::1", False), ("2001:db8::1", False)],
)
def test_is_link_local(address: str, link_local: bool) -> None:
    assert is_link_local(address) is link_local
    assert link_local == ipaddress.IPv6Address(address).is_link_local


# -- discovery ---------------------------------------------------------------------------------


def test_the_first_router_heard_is_chosen_and_kept_while_its_session_is_up() -> None:
    d = LinkDiscovery(stale_after=30)
    d.watch(["eth1"])
    assert d.neighbour("eth1") is None
    assert d.heard(0, "eth1", "FE80::1") and d.neighbour("eth1") == "fe80::1"
    assert not d.heard(1, "eth1", "fe80::1")  # heard again: no change
    assert not d.heard(2, "eth9", "fe80::9")  # not an unnumbered peer's interface
    assert not d.heard(2, "eth1", "2001:db8::1")  # not link-local
    d.set_in_use("eth1", True)
    assert not d.heard(100, "eth1", "fe80::3")  # established: another router is ignored
    d.set_in_use("eth1", False)
    # Session down, fe80::1 silent for 99s (> stale_after): the new router is taken.
    assert d.heard(101, "eth1", "fe80::3") and d.neighbour("eth1") == "fe80::3"
    # fe80::3 heard recently: fe80::1 coming back does not flip it.
    assert not d.heard(110, "eth1", "fe80::1")
    d.watch([])
    assert d.neighbour("eth1") is None


def test_advertisements_are_bounded_and_only_on_watched_interfaces() -> None:
    a = Advertising(interval=10, min_gap=3, solicit_gap=4, solicit_backoff=60)
    a.watch(0, ["eth1"])
    sent: list[tuple[float, str, str]] = []
    now = 0.0
    while now <= 200:  # a moving clock, 0.5 s steps; a solicitation every 2 s from t=50
        if now >= 50 and now % 2 == 0:
            a.solicitation_heard(now, "eth1")
        sent += [(now, kind, name) for kind, name in a.due(now)]
        now += 0.5
    ras = [t for t, kind, _ in sent if kind == "advertise"]
    assert {name for _, _, name in sent} == {"eth1"}
    assert ras[:5] == [0, 10, 20, 30, 40]  # every interval
    assert all(b - a_ >= 3 for a_, b in itertools.pairwise(ras))  # never faster
    assert len(ras) <= 1 + 50 / 10 + 150 / 3
    solicits = [t for t, kind, _ in sent if kind == "solicit"]
    assert solicits == [0, 4, 8, 68, 128, 188]  # three at once, then backing off
    a.need_neighbour(200, "eth1", False)
    assert [k for k, _ in a.due(260)] == ["advertise"]


def test_the_gate_passes_each_sender_once_a_second_and_twenty_messages_a_second_in_all() -> None:
    from actors.bgp.unnumbered.discovery import HeardGate

    gate = HeardGate(repeat=1.0, burst=20, remember=100)
    now, passed = 0.0, []
    while now < 10:  # a flood: one router every 1 ms, and a thousand forged ones
        passed.append((now, gate.admit(now, "fe80::1")))
        for i in range(3):
            gate.admit(now, f"fe80::{int(now * 1000) * 3 + i + 2:x}")
        now = round(now + 0.001, 3)
    real = [t for t, ok in passed if ok]
    assert real == [float(t) for t in range(10)]  # once per second (first in each second here)
    assert gate.dropped > 29000
    admitted = 4 * 10000 - gate.dropped
    assert admitted <= 20 * 10  # never more than 20 a second reach the actor
    assert len(gate._last) <= 100


# -- the actor ---------------------------------------------------------------------------------


class FakeLink:
    def __init__(self, deliver) -> None:
        self.deliver = deliver
        self.sent: list[tuple[str, int]] = []
        self.stopped = False

    def advertise(self, ifindex: int, mac: bytes = b"") -> None:
        self.sent.append(("advertise", ifindex))

    def solicit(self, ifindex: int, mac: bytes = b"") -> None:
        self.sent.append(("solicit", ifindex))

    def stop(self) -> None:
        self.stopped = True


UNNUMBERED = replace(peer(), name="leaf", peer_address=None, interface="eth1")


class Unnumbered(Harness):
    def __init__(self, *peers, interfaces=None, addresses=None, **kw) -> None:
        self.links: list[FakeLink] = []
        self.kernel: dict[int, list[str]] = {}  # the kernel's neighbour table: routers
        self.interfaces = dict(interfaces if interfaces is not None else {"eth1": IFINDEX})
        self.addresses = dict(addresses or {})

        def link_factory(deliver):
            self.links.append(FakeLink(deliver))
            return self.links[-1]

        kw.setdefault("link_factory", link_factory)
        super().__init__(
            *(peers or (UNNUMBERED,)),
            interface_index=self.interfaces.get,
            interface_lookup=lambda ifindex, version: self.addresses.get((ifindex, version)),
            kernel_routers=lambda ifindex: list(self.kernel.get(ifindex, ())),
            **kw,
        )

    @property
    def link(self) -> FakeLink:
        return self.links[-1]

    def hear(self, address: str = ROUTER_LL, kind: int = ndp.ROUTER_ADVERTISEMENT, ifindex=IFINDEX):
        self.actor.on_receive(LinkHeard(ifindex, address, kind))

    def reasons(self, name: str = "leaf") -> list[tuple[str, str]]:
        return [(e.state, e.reason) for e in self.of(PeerSessionChanged) if e.peer == name]

    def establish_link(self, *, conn=None, caps=None, outbound=True) -> int:
        conn = conn if conn is not None else self.transport.dials[-1].conn
        self.actor.on_receive(ConnUp(conn, outbound, (NODE_LL, 40000), (ROUTER_LL, 179), IFINDEX))
        ours = self.transport.messages(conn)[0]
        assert isinstance(ours, OpenMessage)
        self.our_open = ours
        caps = (
            caps
            if caps is not None
            else (
                MultiprotocolCapability(1, 1),
                MultiprotocolCapability(2, 1),
                FourOctetAsCapability(64500),
                ExtendedNextHopCapability(),
            )
        )
        theirs = OpenMessage(64500, 9, int(ipaddress.IPv4Address("10.255.0.1")), tuple(caps))
        self.actor.on_receive(ConnData(conn, (theirs.encode(), KEEPALIVE)))
        assert self.actor.sessions["leaf"].established
        self.transport.urgent[conn].clear()
        return conn


def test_waits_for_the_router_and_says_why_while_advertising_on_its_interface_only() -> None:
    h = Unnumbered()
    assert h.transport.dials == []
    assert h.reasons() == [
        (
            "Idle",
            "unnumbered BGP over eth1: waiting for the router's IPv6 link-local address "
            "(router advertisement or connection)",
        )
    ]
    h.tick(0)  # due at once
    assert h.link.sent == [("advertise", IFINDEX), ("solicit", IFINDEX)]
    h.tick(10)
    assert ("advertise", IFINDEX) in h.link.sent[2:]
    h.configure(UNNUMBERED)  # the same configuration again: no second notice
    assert len(h.reasons()) == 1


def test_numbered_peers_alone_open_no_icmpv6_socket() -> None:
    h = Unnumbered(peer())
    assert h.links == []
    h.configure(peer(), UNNUMBERED)
    assert len(h.links) == 1
    h.configure(peer())  # the unnumbered peer goes: so does the socket
    assert h.links[0].stopped


def test_an_advertisement_names_the_router_and_the_session_dials_it_with_a_scope_id() -> None:
    h = Unnumbered()
    h.hear(ROUTER_LL)
    [dial] = h.transport.dials
    assert (dial.remote, dial.port, dial.scope_id, dial.ttl) == (ROUTER_LL, 179, IFINDEX, 1)
    h.establish_link()
    assert h.our_open.capability(ExtendedNextHopCapability) == ExtendedNextHopCapability()
    assert h.actor.counters()["metallb_bgp_session_up"] == {"eth1:179": 1}


def test_ipv4_routes_go_in_mp_reach_with_our_link_local_next_hop() -> None:
    h = Unnumbered()
    h.hear()
    conn = h.establish_link()
    route = h.announce("192.0.2.0/32", ["64512:7"], peers=("leaf",))
    h.announce("2001:db8:42::/128", peers=("leaf",))
    v4, v6 = h.transport.updates(conn)
    assert v4.nlri == () and v4.attributes.next_hop is None
    mp = v4.attributes.mp_reach
    assert (mp.afi, mp.safi, mp.next_hops, mp.nlri) == (1, 1, (NODE_LL,), ("192.0.2.0/32",))
    assert v4.attributes.communities == (64512 << 16 | 7,)
    mp6 = v6.attributes.mp_reach
    assert (mp6.afi, mp6.next_hops, mp6.nlri) == (2, (NODE_LL,), ("2001:db8:42::/128",))
    h.announcer.withdraw_bgp(route)
    h.pump()
    [withdraw] = h.transport.updates(conn)
    assert withdraw.withdrawn_all() == ("192.0.2.0/32",)


def test_a_global_address_on_the_interface_makes_a_32_byte_next_hop() -> None:
    h = Unnumbered(addresses={(IFINDEX, 6): NODE_GLOBAL})
    h.hear()
    conn = h.establish_link()
    h.announce("192.0.2.0/32", peers=("leaf",))
    [update] = h.transport.updates(conn)
    assert update.attributes.mp_reach.next_hops == (NODE_GLOBAL, NODE_LL)


def test_without_extended_next_hop_ipv4_needs_an_ipv4_address_on_the_link() -> None:
    caps = (
        MultiprotocolCapability(1, 1),
        MultiprotocolCapability(2, 1),
        FourOctetAsCapability(64500),
    )
    h = Unnumbered()
    h.hear()
    conn = h.establish_link(caps=caps)
    h.announce("192.0.2.0/32", peers=("leaf",))
    h.announce("2001:db8:42::/128", peers=("leaf",))
    [v6] = h.transport.updates(conn)
    assert v6.announced() == ("2001:db8:42::/128",)
    assert h.actor.sessions["leaf"].skipped == {
        "192.0.2.0/32": "the peer did not negotiate extended next hop (RFC 8950) and eth1 "
        "has no IPv4 address"
    }
    h2 = Unnumbered(addresses={(IFINDEX, 4): "10.0.0.2"})
    h2.hear()
    conn2 = h2.establish_link(caps=caps)
    h2.announce("192.0.2.0/32", peers=("leaf",))
    [update] = h2.transport.updates(conn2)
    assert update.nlri == ("192.0.2.0/32",) and update.attributes.next_hop == "10.0.0.2"


def test_an_inbound_connection_from_a_link_local_address_on_the_interface_is_the_peer() -> None:
    h = Unnumbered()
    closed = len(h.transport.closed)
    # A global address, or a link-local one on another interface: refused.
    h.actor.on_receive(ConnUp(500, False, (NODE_LL, 179), ("2001:db8::1", 4000), 0))
    h.actor.on_receive(ConnUp(501, False, (NODE_LL, 179), (ROUTER_LL, 4000), 9))
    assert h.transport.closed[closed:] == [500, 501]
    # From fe80::1 on eth1 (scope id 7), before any advertisement: it is the router.
    h.actor.on_receive(ConnUp(502, False, (NODE_LL, 179), (ROUTER_LL, 4000), IFINDEX))
    assert 502 not in h.transport.closed
    session = h.actor.sessions["leaf"]
    assert (session.remote_address, session.scope_id) == (ROUTER_LL, IFINDEX)
    assert session.owns(502)


def test_a_new_router_replaces_a_silent_one_once_the_session_is_down() -> None:
    h = Unnumbered()
    h.hear("fe80::1")
    conn = h.establish_link()
    for _ in range(10):  # 40 s with the router's keepalives
        h.tick(4)
        h.actor.on_receive(ConnData(conn, (KEEPALIVE,)))
    assert h.actor.sessions["leaf"].established
    h.hear("fe80::99")  # established: ignored
    assert h.actor.sessions["leaf"].remote_address == "fe80::1"
    h.actor.on_receive(ConnClosed(conn, "reset"))
    assert not h.actor.sessions["leaf"].established
    sent = len(h.link.sent)
    h.tick(4)  # the session is down: we solicit advertisements again
    assert ("solicit", IFINDEX) in h.link.sent[sent:]
    h.hear("fe80::99")  # fe80::1 silent for 44s: the new router is taken
    assert h.reasons()[-2:] == [
        ("Idle", "the router on eth1 is now fe80::99"),
        ("Connect", "started"),
    ]
    session = h.actor.sessions["leaf"]
    assert session.remote_address == "fe80::99"
    assert h.transport.dials[-1].remote == "fe80::99"


def test_a_missing_interface_is_said_and_picked_up_when_it_appears() -> None:
    h = Unnumbered(interfaces={})
    assert h.reasons() == [("Idle", "unnumbered BGP over eth1: no such interface")]
    h.interfaces["eth1"] = IFINDEX
    h.tick(10)  # the next advertising round finds it
    h.hear()
    assert h.transport.dials[-1].scope_id == IFINDEX


def test_a_solicitation_from_the_router_brings_an_advertisement_soon() -> None:
    h = Unnumbered()
    h.tick(5)
    sent = len(h.link.sent)
    h.hear("fe80::1", kind=ndp.ROUTER_SOLICITATION)
    assert h.actor.sessions == {}  # a solicitation does not name a router
    h.tick(2.9)  # the last advertisement went at t=5: not before t=8 (3 s apart at least)
    assert ("advertise", IFINDEX) not in h.link.sent[sent:]
    h.tick(0.1)
    assert ("advertise", IFINDEX) in h.link.sent[sent:]  # t=8, not t=15


def test_the_router_found_is_published_for_bfd_and_unpublished_with_the_peer() -> None:
    from actors.events import UnnumberedRouterFound

    h = Unnumbered(peer(), UNNUMBERED)
    assert h.of(UnnumberedRouterFound) == []
    h.hear()
    h.hear()  # heard again: nothing new to say
    h.configure(peer())
    found = [(e.node, e.peer, e.interface, e.address) for e in h.of(UnnumberedRouterFound)]
    assert found == [("node-1", "leaf", "eth1", "fe80::1%eth1"), ("node-1", "leaf", "", "")]


def test_removing_the_peer_withdraws_and_stops_advertising() -> None:
    h = Unnumbered(peer(), UNNUMBERED)
    h.hear()
    h.establish_link()
    h.configure(peer())
    assert "leaf" not in h.actor.sessions and h.links[0].stopped
    assert not any(e.peer == "leaf" for e in h.of(PrefixWithdrawn))  # it had no routes


def test_a_router_in_the_kernels_neighbour_table_is_found_when_soliciting() -> None:
    tries = []

    def no_raw_sockets(deliver):
        tries.append(deliver)
        raise PermissionError(1, "Operation not permitted")

    h = Unnumbered(link_factory=no_raw_sockets)
    assert h.actor.links.io is None  # no CAP_NET_RAW: no advertisements, the table still
    assert "cannot open an ICMPv6 socket" in h.reasons()[-1][1]
    assert len(tries) == 1
    h.cluster({"zone": "a"})  # another event: the socket is not tried (and logged) again
    assert len(tries) == 1
    h.tick(0)
    assert h.transport.dials == []
    h.kernel[IFINDEX] = ["fe80::1"]  # the kernel learnt the router (an RA, an NA with R)
    h.tick(4)  # the next solicitation round reads the table
    assert [(d.remote, d.scope_id) for d in h.transport.dials] == [("fe80::1", IFINDEX)]


def test_the_neighbour_table_gives_reachable_routers_only_and_never_raises() -> None:
    import socket
    import struct

    from actors.bgp.unnumbered.neighbours import NTF_ROUTER, RTM_NEWNEIGH, parse_router
    from actors.util.netlink import messages

    def entry(address: str, flags: int, state: int = 0x02, ifindex: int = IFINDEX) -> bytes:
        dst = struct.pack("=HH", 20, 1) + socket.inet_pton(socket.AF_INET6, address)
        body = struct.pack("=BBHiHBB", socket.AF_INET6, 0, 0, ifindex, state, flags, 1) + dst
        return struct.pack("=IHHII", 16 + len(body), RTM_NEWNEIGH, 2, 1, 0) + body

    def routers(data: bytes) -> list[tuple[int, str]]:
        found = (parse_router(message) for _kind, _flags, _seq, message in messages(data))
        return [router for router in found if router is not None]

    data = entry("fe80::1", NTF_ROUTER) + entry("fe80::5", 0) + entry("fe80::6", NTF_ROUTER, 0x20)
    assert routers(data) == [(IFINDEX, "fe80::1")]
    for cut in range(len(data)):
        routers(data[:cut])  # truncated anywhere: no exception
        parse_router(data[:cut])


def test_the_socket_reads_interface_and_hop_limit_from_ancillary_data() -> None:
    import socket
    import struct

    from actors.bgp.unnumbered.link import IcmpLink

    ra = ndp.router_advertisement(bytes(6))

    def ancillary(hop_limit: int, ifindex: int) -> list:
        pktinfo = socket.inet_pton(socket.AF_INET6, "ff02::1") + struct.pack("=I", ifindex)
        return [
            (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, struct.pack("=i", hop_limit)),
            (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo),
        ]

    source = ("fe80::1%eth1", 0, 0, 3)
    assert IcmpLink._parse(ra, ancillary(255, 7), source) == LinkHeard(7, "fe80::1", 134)
    assert IcmpLink._parse(ra, ancillary(64, 7), source) is None  # routed: not a neighbour
    assert IcmpLink._parse(ra, [], source) == LinkHeard(3, "fe80::1", 134)  # the scope id
    assert IcmpLink._parse(ra, [], ("fe80::1", 0, 0, 0)) is None  # no interface known
    assert IcmpLink._parse(b"\x86", [], source) is None
