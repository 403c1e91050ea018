"""The L2 announcer actor with a fake responder and fake links, in virtual time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from actors.base import Tick
from actors.clock import ManualClock
from actors.events import CandidacyChanged, GratuitousSent, L2AnswersChanged, L2InterfacesChanged
from actors.l2 import arp, ndp
from actors.l2.actor import L2Announcer, L2AnnouncerActor
from actors.l2.interfaces import IFF_BROADCAST, IFF_LOWER_UP, IFF_UP, Link
from actors.l2.responder import GRATUITOUS_SENT, Counters, InterfaceDuty
from tests.recorder import EventJournal

UP = IFF_UP | IFF_BROADCAST | IFF_LOWER_UP


def eth(index: int, name: str, flags: int = UP) -> Link:
    return Link(index, name, bytes([2, 0x99, 0, 0, 0, index]), flags)


class FakeResponder:
    """Records what the actor asks; builds frames with the real repliers."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters
        self.lock = threading.Lock()
        self.updates: list[dict[str, InterfaceDuty]] = []
        self.sent: list[tuple[str, bytes]] = []
        self.closed = False

    def update(self, duties: Any) -> list[str]:
        with self.lock:
            self.updates.append(dict(duties))
            self.current = dict(duties)
        return []

    def repliers(self, name: str) -> tuple[arp.ArpReplier, ndp.NdpReplier] | None:
        duty = self.current.get(name)
        if duty is None:
            return None
        return arp.ArpReplier(duty.mac), ndp.NdpReplier(duty.mac, duty.link_local)

    def send(self, name: str, frames: tuple[bytes, ...], family: int) -> int:
        with self.lock:
            self.sent += [(name, f) for f in frames]
        return len(frames)

    def close(self) -> None:
        self.closed = True


class Rig:
    def __init__(self, links: tuple[Link, ...], **kw: Any) -> None:
        self.clock = ManualClock()
        self.journal = EventJournal()
        self.links = links
        self.announcer = L2Announcer()
        self.responders: list[FakeResponder] = []
        self.kw = kw
        self.start()

    def start(self) -> None:
        def make(counters: Counters) -> FakeResponder:
            responder = FakeResponder(counters)
            self.responders.append(responder)
            return responder

        self.ref = L2AnnouncerActor.start(
            node="node-a",
            announcer=self.announcer,
            links=lambda: self.links,
            responder=make,
            watch_links=False,
            clock=self.clock,
            scheduler=self.clock,
            publish=self.journal.add,
            **self.kw,
        )
        self.proxy = self.ref.proxy()
        self.proxy.ready().get(timeout=5)

    @property
    def responder(self) -> FakeResponder:
        return self.responders[-1]

    def rounds(self, ip: str) -> list[GratuitousSent]:
        return [e for e in self.journal.of(GratuitousSent) if e.ip == ip]

    def settle(self) -> None:
        self.proxy.ready().get(timeout=5)  # everything told before this is processed

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.settle()


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig((eth(2, "eth0"),))
    yield r
    r.ref.stop()


def test_announce_answers_at_once_and_sends_metallbs_burst(rig: Rig) -> None:
    rig.announcer.announce_l2("10.99.0.100", ())
    rig.settle()
    duty = rig.responder.current["eth0"]
    assert list(duty.ipv4.values()) == ["10.99.0.100"]
    changed = rig.journal.of(L2AnswersChanged)
    assert [(e.ip, e.interfaces, e.reason) for e in changed] == [
        ("10.99.0.100", ("eth0",), "announced")
    ]
    assert [(e.round, e.packets, e.t) for e in rig.rounds("10.99.0.100")] == [(1, 2, 0.0)]
    for _ in range(10):
        rig.advance(1.1)
    times = [round(e.t, 3) for e in rig.rounds("10.99.0.100")]
    assert times == [0.0, 1.1, 2.2, 3.3, 4.4]
    assert rig.announcer.counters.get(GRATUITOUS_SENT, "10.99.0.100") == 10
    frames = [f for _, f in rig.responder.sent]
    assert (
        frames[0]
        == arp.ArpReplier(bytes([2, 0x99, 0, 0, 0, 2])).gratuitous(bytes([10, 99, 0, 100]))[0]
    )


def test_ipv6_rounds_are_one_unsolicited_na(rig: Rig) -> None:
    rig.announcer.announce_l2("fd00:99::100", ())
    rig.settle()
    assert [e.packets for e in rig.rounds("fd00:99::100")] == [1]
    (_, frame) = rig.responder.sent[0]
    assert frame[:6] == ndp.ALL_NODES_MAC
    assert list(rig.responder.current["eth0"].ipv6.values()) == ["fd00:99::100"]


def test_withdraw_stops_answering_and_the_burst_at_once(rig: Rig) -> None:
    rig.announcer.announce_l2("10.99.0.100", ())
    rig.settle()
    rig.advance(1.1)
    rig.announcer.withdraw_l2("10.99.0.100")
    rig.settle()
    assert not rig.responder.current["eth0"].ipv4
    assert rig.journal.of(L2AnswersChanged)[-1].interfaces == ()
    before = len(rig.rounds("10.99.0.100"))
    for _ in range(6):
        rig.advance(1.1)
    assert len(rig.rounds("10.99.0.100")) == before == 2


def test_refresh_keeps_announcing_after_the_burst() -> None:
    rig = Rig((eth(2, "eth0"),), refresh=30.0)
    try:
        rig.announcer.announce_l2("10.99.0.100", ())
        rig.settle()
        for tenth in range(1, 651):  # small steps: the actor reads the clock when a timer lands
            rig.clock.advance_to(tenth / 10)
            rig.settle()
        times = [e.t for e in rig.rounds("10.99.0.100")]
        # within one 0.1 s step of the schedule
        assert times == pytest.approx([0.0, 1.1, 2.2, 3.3, 4.4, 34.4, 64.4], abs=0.11)
    finally:
        rig.ref.stop()


def test_a_new_interface_is_told_at_once_and_a_lost_one_dropped(rig: Rig) -> None:
    rig.announcer.announce_l2("10.99.0.100", ())
    rig.settle()
    for _ in range(6):
        rig.advance(1.1)  # burst over
    rig.links = (eth(2, "eth0"), eth(3, "eth1"))
    rig.proxy.links_changed().get(timeout=5)
    last = rig.rounds("10.99.0.100")[-1]
    assert last.interfaces == ("eth0", "eth1") and last.t == pytest.approx(6.6)
    assert rig.journal.of(L2AnswersChanged)[-1].reason == "interfaces changed"
    rig.links = (eth(3, "eth1"),)
    rig.proxy.links_changed().get(timeout=5)
    assert sorted(rig.responder.current) == ["eth1"]


def test_an_advertisement_naming_a_missing_interface_is_announce_failed(rig: Rig) -> None:
    rig.announcer.announce_l2("10.99.0.100", ("eth7",))
    rig.settle()
    event = rig.journal.of(L2AnswersChanged)[-1]
    assert event.interfaces == () and event.reason.startswith("announceFailed")
    assert rig.rounds("10.99.0.100") == []


def test_losing_carrier_everywhere_withdraws_candidacy_and_regaining_it_restores(rig: Rig) -> None:
    assert [e.candidate for e in rig.journal.of(CandidacyChanged)] == [True]
    rig.links = (eth(2, "eth0", IFF_UP | IFF_BROADCAST),)
    rig.proxy.links_changed().get(timeout=5)
    lost = rig.journal.of(CandidacyChanged)[-1]
    assert (lost.candidate, lost.reason) == (False, "no carrier on any of eth0")
    assert rig.journal.of(L2InterfacesChanged)[-1].without_carrier == ("eth0",)
    rig.links = (eth(2, "eth0"),)
    rig.advance(10.0)  # the periodic scan notices too
    assert [e.candidate for e in rig.journal.of(CandidacyChanged)] == [True, False, True]


def test_a_restarted_actor_catches_up_and_counters_survive(rig: Rig) -> None:
    rig.announcer.announce_l2("10.99.0.100", ())
    rig.settle()
    rig.ref.stop()
    assert rig.responders[0].closed
    rig.announcer.announce_l2("10.99.0.101", ())  # while nobody runs: remembered
    rig.start()
    assert sorted(rig.responder.current["eth0"].ipv4.values()) == ["10.99.0.100", "10.99.0.101"]
    assert rig.announcer.counters.get(GRATUITOUS_SENT, "10.99.0.100") == 4
    assert rig.proxy.counters().get(timeout=5)[GRATUITOUS_SENT]["10.99.0.101"] == 2


def test_a_crashed_actor_closes_its_responder_so_nothing_answers_stale(rig: Rig) -> None:
    rig.announcer.announce_l2("10.99.0.100", ())
    rig.settle()
    responder = rig.responder
    rig.links = None  # type: ignore[assignment]  # the next read breaks planning
    # A timer firing in the actor's own thread, as the link watcher sends it.
    rig.ref.tell(Tick(rig.proxy._actor.links_changed))
    wait = threading.Event()
    for _ in range(100):
        if responder.closed:
            break
        wait.wait(0.02)
    assert responder.closed
    assert not rig.ref.is_alive()
