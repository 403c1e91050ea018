"""The BFD state machine in virtual time: two sessions on a simulated wire, no sockets.

Every packet crosses the wire as bytes (encode, then decode), so the codec is exercised too.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field

import pytest

from actors.bgp.bfd.codec import ControlPacket, Diagnostic, State, decode, encode
from actors.bgp.bfd.session import BfdSession, BfdTimers, Outcome, Transition

FAST = BfdTimers.from_ms(transmit=100, receive=100, multiplier=3)
LATENCY = 0.001


@dataclass
class Sent:
    t: float
    by: str
    packet: ControlPacket


@dataclass
class Wire:
    """Two sessions, a link that can be cut, and a log of what happened when."""

    a_timers: BfdTimers = FAST
    b_timers: BfdTimers = FAST
    seed: int = 1
    now: float = 0.0
    link_up: bool = True
    sent: list[Sent] = field(default_factory=list)
    changes: list[tuple[float, str, Transition]] = field(default_factory=list)
    _flight: list[tuple[float, int, str, bytes]] = field(default_factory=list)
    _seq: itertools.count = field(default_factory=itertools.count)
    drop_from: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.a = BfdSession(0xA, self.a_timers, 0.0, random.Random(self.seed))
        self.b = BfdSession(0xB, self.b_timers, 0.0, random.Random(self.seed + 1))

    def session(self, name: str) -> BfdSession:
        return self.a if name == "a" else self.b

    def handle(self, name: str, outcome: Outcome) -> None:
        for packet in outcome.send:
            self.sent.append(Sent(self.now, name, packet))
            if self.link_up and name not in self.drop_from:
                to = "b" if name == "a" else "a"
                heapq.heappush(
                    self._flight, (self.now + LATENCY, next(self._seq), to, encode(packet))
                )
        for change in outcome.transitions:
            self.changes.append((self.now, name, change))

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = [d for d in (self.a.next_deadline(), self.b.next_deadline()) if d is not None]
            if self._flight:
                due.append(self._flight[0][0])
            if not due or min(due) > end:
                self.now = end
                return
            self.now = max(self.now, min(due))
            if self._flight and self._flight[0][0] <= self.now:
                _, _, to, data = heapq.heappop(self._flight)
                if self.link_up:
                    self.handle(to, self.session(to).receive(decode(data), self.now))
                continue
            for name in ("a", "b"):
                deadline = self.session(name).next_deadline()
                if deadline is not None and deadline <= self.now:
                    self.handle(name, self.session(name).on_timer(self.now))

    def up_at(self, name: str) -> float:
        return next(t for t, who, c in self.changes if who == name and c.new == State.UP)

    def of(self, name: str, since: float = 0.0) -> list[Sent]:
        return [s for s in self.sent if s.by == name and s.t >= since]


def test_three_way_handshake_brings_both_sides_up() -> None:
    wire = Wire()
    wire.run(5)
    assert (wire.a.state, wire.b.state) == (State.UP, State.UP)
    a_states = [c.new for _, who, c in wire.changes if who == "a"]
    assert a_states in ([State.INIT, State.UP], [State.UP])
    # Diagnostics stay clean on the way up.
    assert all(c.diagnostic == Diagnostic.NONE for _, _, c in wire.changes)


def test_slow_one_second_transmission_until_up() -> None:
    wire = Wire()
    wire.run(5)
    up = min(wire.up_at("a"), wire.up_at("b"))
    before = [s.packet for s in wire.sent if s.packet.state != State.UP]
    assert before and all(p.desired_min_tx >= 1_000_000 for p in before)
    # Periodic packets before Up are at least 750 ms apart (1 s less up to 25 % jitter).
    periodic = [s.t for s in wire.of("a") if s.t < up and not s.packet.final]
    gaps = [b - a for a, b in itertools.pairwise(periodic)]
    assert all(gap >= 0.75 - 1e-9 or gap <= LATENCY * 3 for gap in gaps)


def test_negotiated_interval_is_the_slower_of_our_tx_and_their_rx() -> None:
    wire = Wire(b_timers=BfdTimers.from_ms(transmit=100, receive=300, multiplier=3))
    wire.run(10)
    assert wire.a.tx_interval == pytest.approx(0.3)
    assert wire.b.tx_interval == pytest.approx(0.1)
    steady = [s.t for s in wire.of("a", since=6) if not s.packet.final]
    gaps = [b - a for a, b in itertools.pairwise(steady)]
    assert gaps and all(0.225 - 1e-9 <= g <= 0.3 + 1e-9 for g in gaps)
    # a's detection time: b's multiplier times max(a's required RX, b's desired TX).
    assert wire.a.detection_time == pytest.approx(3 * 0.1)
    assert wire.b.detection_time == pytest.approx(3 * 0.3)


def test_cutting_the_link_takes_the_session_down_within_the_detection_time() -> None:
    wire = Wire()
    wire.run(5)
    detection = wire.a.detection_time
    cut = wire.now
    wire.link_up = False
    wire.run(2)
    downs = [(t, c) for t, who, c in wire.changes if who == "a" and c.new == State.DOWN]
    assert len(downs) == 1
    t, change = downs[0]
    assert cut < t <= cut + detection + 1e-9
    assert change.diagnostic == Diagnostic.CONTROL_DETECTION_TIME_EXPIRED
    assert not change.remote_admin_down
    assert wire.a.remote_discriminator == 0  # forgotten, as a fresh session would
    # Back to slow transmission while down.
    assert wire.a.tx_interval >= 1.0


def test_session_comes_back_after_the_link_heals() -> None:
    wire = Wire()
    wire.run(5)
    wire.link_up = False
    wire.run(2)
    wire.link_up = True
    wire.run(5)
    assert (wire.a.state, wire.b.state) == (State.UP, State.UP)


def test_poll_sequence_for_a_slower_tx_waits_for_the_final() -> None:
    wire = Wire()
    wire.run(5)
    # The peer's Finals are lost for a while: the slower rate must not be used meanwhile.
    wire.drop_from = {"b"}
    start = wire.now
    wire.handle("a", wire.a.set_timers(BfdTimers.from_ms(500, 100, 3), wire.now))
    assert wire.a.poll is not None
    wire.run(0.25)
    assert wire.a.tx_in_use == 100_000
    assert all(s.packet.poll for s in wire.of("a", since=start))
    wire.drop_from = set()
    wire.run(2)
    assert wire.a.poll is None
    assert wire.a.tx_in_use == 500_000
    # b answered each poll at once, with Final and without Poll.
    finals = [s for s in wire.of("b", since=start) if s.packet.final]
    assert finals and not any(s.packet.poll for s in finals)
    polls = [s.t for s in wire.of("a", since=start) if s.packet.poll]
    assert any(abs(f.t - (p + LATENCY)) < 1e-9 for f in finals for p in polls)
    # ...and b now detects a with a's new, slower rate.
    assert wire.b.detection_time == pytest.approx(3 * 0.5)
    assert (wire.a.state, wire.b.state) == (State.UP, State.UP)


def test_faster_detection_waits_for_the_final_but_slower_detection_does_not() -> None:
    wire = Wire(b_timers=BfdTimers.from_ms(50, 50, 3))
    wire.run(5)
    assert wire.a.detection_time == pytest.approx(0.3)  # 3 x max(our rx 100, their tx 50)
    wire.drop_from = {"b"}
    wire.handle("a", wire.a.set_timers(BfdTimers.from_ms(100, 50, 3), wire.now))
    assert wire.a.rx_in_use == 100_000  # reducing RX is held back
    wire.drop_from = set()
    wire.run(1)
    assert wire.a.rx_in_use == 50_000
    assert wire.a.detection_time == pytest.approx(0.15)
    wire.handle("a", wire.a.set_timers(BfdTimers.from_ms(100, 400, 3), wire.now))
    assert wire.a.rx_in_use == 400_000  # increasing RX applies at once


def test_neighbor_admin_down_is_not_a_path_failure() -> None:
    wire = Wire()
    wire.run(5)
    wire.handle("b", wire.b.admin_down(wire.now))
    wire.run(1)
    assert wire.b.state == State.ADMIN_DOWN
    change = [c for _, who, c in wire.changes if who == "a"][-1]
    assert change.new == State.DOWN
    assert change.diagnostic == Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN
    assert change.remote_admin_down
    # An admin-down session ignores what it receives and stays down...
    wire.run(5)
    assert (wire.a.state, wire.b.state) == (State.DOWN, State.ADMIN_DOWN)
    # ...until it is enabled again.
    wire.handle("b", wire.b.admin_up(wire.now))
    wire.run(5)
    assert (wire.a.state, wire.b.state) == (State.UP, State.UP)


def test_neighbor_signalling_down_takes_us_down() -> None:
    wire = Wire()
    wire.run(5)
    # b restarts: a fresh session with a new discriminator says Down.
    wire.b = BfdSession(0xBB, FAST, wire.now, random.Random(9))
    wire.run(0.5)
    change = next(c for _, who, c in wire.changes if who == "a" and c.new == State.DOWN)
    assert change.diagnostic == Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN
    wire.run(5)
    assert (wire.a.state, wire.b.state) == (State.UP, State.UP)
    assert wire.a.remote_discriminator == 0xBB


def test_passive_side_waits_for_the_peer() -> None:
    passive = BfdTimers.from_ms(100, 100, 3, passive=True)
    both = Wire(a_timers=passive, b_timers=passive)
    both.run(5)
    assert both.sent == []
    one = Wire(a_timers=passive)
    one.run(5)
    assert (one.a.state, one.b.state) == (State.UP, State.UP)
    first = min(s.t for s in one.sent)
    assert one.sent[0].by == "b" and not one.of("a", since=0)[0].t < first


def test_passive_side_goes_quiet_when_the_peer_disappears() -> None:
    wire = Wire(a_timers=BfdTimers.from_ms(100, 100, 3, passive=True))
    wire.run(5)
    wire.link_up = False
    wire.run(2)
    assert wire.a.state == State.DOWN
    count = len(wire.of("a"))
    wire.run(5)
    assert len(wire.of("a")) == count


def test_a_poll_gets_an_immediate_final() -> None:
    session = BfdSession(1, FAST, 0.0, random.Random(1))
    session.on_timer(0.0)
    peer = ControlPacket(State.DOWN, 3, 77, 0, 1_000_000, 100_000, poll=True)
    out = session.receive(peer, 0.5)
    finals = [p for p in out.send if p.final]
    assert len(finals) == 1 and not finals[0].poll
    assert finals[0].your_discriminator == 77 and finals[0].state == State.INIT


def test_zero_required_rx_silences_us_and_authenticated_packets_are_dropped() -> None:
    session = BfdSession(1, FAST, 0.0, random.Random(1))
    session.on_timer(0.0)
    out = session.receive(ControlPacket(State.DOWN, 3, 77, 0, 1_000_000, 0), 0.1)
    assert session.next_tx is None
    assert out.transitions == (Transition(State.DOWN, State.INIT, Diagnostic.NONE),)
    assert not out.send  # the peer asked for silence
    signed = ControlPacket(State.INIT, 3, 77, 1, 1_000_000, 100_000, auth=bytes([1, 3, 1]))
    assert session.receive(signed, 0.2) == Outcome()
    assert session.state == State.INIT


def test_timers_are_validated() -> None:
    with pytest.raises(ValueError):
        BfdTimers(desired_min_tx=0)
    with pytest.raises(ValueError):
        BfdTimers(detect_multiplier=0)
    with pytest.raises(ValueError):
        BfdSession(0, FAST, 0.0)


@pytest.mark.parametrize("seed", range(5))
def test_many_flaps_always_converge(seed: int) -> None:
    rng = random.Random(seed)
    wire = Wire(
        a_timers=BfdTimers.from_ms(rng.choice([50, 100, 300]), rng.choice([50, 100, 300]), 3),
        b_timers=BfdTimers.from_ms(rng.choice([50, 100, 300]), rng.choice([50, 100, 300]), 2),
        seed=seed,
    )
    for _ in range(6):
        wire.link_up = rng.random() < 0.5
        wire.run(rng.uniform(0.05, 2.0))
    wire.link_up = True
    wire.run(8)
    assert (wire.a.state, wire.b.state) == (State.UP, State.UP)
    assert wire.a.poll is None and wire.b.poll is None


def test_any_sequence_of_valid_packets_keeps_the_session_sane() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    packets = st.builds(
        ControlPacket,
        state=st.sampled_from(State),
        detect_multiplier=st.integers(1, 255),
        my_discriminator=st.integers(1, 0xFFFFFFFF),
        your_discriminator=st.just(0xA),
        desired_min_tx=st.integers(0, 0xFFFFFFFF),
        required_min_rx=st.integers(0, 0xFFFFFFFF),
        poll=st.booleans(),
        final=st.booleans(),
    )

    @settings(max_examples=100, deadline=None)
    @given(st.lists(st.tuples(st.floats(0, 5), packets), max_size=20), st.booleans())
    def run(steps: list[tuple[float, ControlPacket]], passive: bool) -> None:
        timers = BfdTimers.from_ms(100, 100, 3, passive=passive)
        session = BfdSession(0xA, timers, 0.0, random.Random(0))
        now = 0.0
        for gap, packet in steps:
            until = now + gap
            deadline = session.next_deadline()
            while deadline is not None and deadline <= until:
                now = max(now, deadline)
                session.on_timer(now)
                deadline = session.next_deadline()
                assert deadline is None or deadline > now  # time always moves on
            now = until
            out = session.receive(packet, now)
            assert all(not (p.poll and p.final) for p in out.send)
            assert all(p.your_discriminator == session.remote_discriminator for p in out.send)
        assert session.state in State

    run()
