"""The split-brain alarm's pure parts: the responder's check of a gratuitous ARP (no sockets:
a frame handed to it) and the L2 actor's reporting, without threads."""

from __future__ import annotations

import ipaddress
from types import MappingProxyType

from actors.clock import ManualClock
from actors.events import Event, SplitBrainDetected
from actors.l2.actor import ConflictHeard, L2Announcer, L2AnnouncerActor
from actors.l2.arp import ArpReplier
from actors.l2.duties import DutyPlan
from actors.l2.responder import CONFLICTS, Counters, InterfaceDuty, L2Responder, _Port

VIP = "10.99.0.100"
OURS = bytes.fromhex("029900000001")
THEIRS = bytes.fromhex("029900000002")


class _Sock:
    def close(self) -> None:
        pass


def port_for(ip: str) -> _Port:
    duty = InterfaceDuty("eth0", 2, OURS, ipv4={ipaddress.ip_address(ip).packed: ip})
    return _Port(duty, _Sock(), _Sock(), ArpReplier(OURS), None)  # type: ignore[arg-type]


def garp_from(mac: bytes, ip: str) -> bytes:
    request, _reply = ArpReplier(mac).gratuitous(ipaddress.ip_address(ip).packed)
    return request


def test_the_responder_counts_and_reports_another_macs_announcement() -> None:
    responder = L2Responder(Counters())
    try:
        heard: list[tuple[str, ...]] = []
        responder.on_conflict = lambda *args: heard.append(args)
        port = port_for(VIP)
        responder._gratuitous_heard(port, garp_from(THEIRS, VIP))
        responder._gratuitous_heard(port, garp_from(OURS, VIP))  # our own: fine
        responder._gratuitous_heard(port, garp_from(THEIRS, "10.99.0.101"))  # not ours
        assert heard == [(VIP, "eth0", "02:99:00:00:00:02", "02:99:00:00:00:01")]
        assert responder.counters.get(CONFLICTS, VIP) == 1
        # A hook that fails never takes the responder down.
        responder.on_conflict = lambda *args: 1 / 0
        responder._gratuitous_heard(port, garp_from(THEIRS, VIP))
        assert responder.counters.get(CONFLICTS, VIP) == 2
    finally:
        responder.close()


def test_the_actor_reports_once_a_second_per_address_and_mac() -> None:
    clock = ManualClock()
    published: list[Event] = []
    actor = L2AnnouncerActor(
        "node-a", L2Announcer(), clock=clock, publish=published.append, watch_links=False
    )
    actor.plan = DutyPlan(MappingProxyType({}), MappingProxyType({VIP: ("eth0",)}))
    heard = ConflictHeard(VIP, "eth0", "02:99:00:00:00:02", "02:99:00:00:00:01")
    actor.on_receive(heard)
    actor.on_receive(heard)
    clock.advance(1.5)
    actor.on_receive(heard)
    actor.on_receive(ConflictHeard("10.99.0.101", "eth0", "02:99:00:00:00:02", ""))  # not ours
    alarms = [e for e in published if isinstance(e, SplitBrainDetected)]
    assert [(a.t, a.ip, a.other_mac) for a in alarms] == [
        (0.0, VIP, "02:99:00:00:00:02"),
        (1.5, VIP, "02:99:00:00:00:02"),
    ]
