"""Failover measurement (actors/observability/failover.py): the pure tracker on scripted
events, the actor without threads, and the histogram as Prometheus shows it."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from actors.events import (
    AnnouncementStarted,
    AnnouncementStopped,
    Event,
    FailoverMeasured,
    GratuitousSent,
    MembershipUpdated,
    NodeJoined,
    NodeLeft,
    NodeRecovered,
    NodeSuspected,
    PrefixAnnounced,
)
from actors.observability.failover import (
    PENDING_TIMEOUT,
    FailoverMeterActor,
    FailoverMetrics,
    FailoverTracker,
)

IP = "10.99.90.100"
ALL = frozenset({"a", "b", "c"})


def feed(tracker: FailoverTracker, events: list[Event]) -> list[FailoverMeasured]:
    out: list[FailoverMeasured] = []
    for event in events:
        out += tracker.on_event(event)
    return out


def crash_of_b(observer: str = "a", t0: float = 10.0) -> list[Event]:
    return [
        NodeSuspected(t0, "b", by="c", observer=observer),
        NodeLeft(t0 + 0.6, "b", "dead", observer=observer),
        MembershipUpdated(t0 + 0.6, observer, ALL - {"b"}, frozenset({"b"})),
    ]


def takeover(node: str = "a", t: float = 10.61, reason: str = "failover from b (dead)"):
    return AnnouncementStarted(t, node, IP, "layer2", reason, "eth0", ("default/web",))


def garp(node: str = "a", t: float = 10.62, round_: int = 1) -> GratuitousSent:
    return GratuitousSent(t, node, IP, ("eth0",), 2, round_)


def test_crash_from_first_suspicion_to_first_gratuitous_packet() -> None:
    tracker = FailoverTracker("a")
    (m,) = feed(tracker, [*crash_of_b(), takeover(), garp(), garp(t=11.7, round_=2)])
    assert (m.node, m.ip, m.protocol, m.from_node, m.cause) == ("a", IP, "layer2", "b", "dead")
    assert m.seconds == pytest.approx(0.62)
    assert m.detection == pytest.approx(0.6)
    assert m.t == 10.62


def test_the_packet_may_be_published_before_the_takeover_event() -> None:
    """The speaker tells the L2 actor first and publishes afterwards: either order counts."""
    tracker = FailoverTracker("a")
    (m,) = feed(tracker, [*crash_of_b(), garp(t=10.605), takeover(t=10.61)])
    assert m.seconds == pytest.approx(0.605)


def test_graceful_leave_has_no_detection_time() -> None:
    tracker = FailoverTracker("a")
    events = [
        NodeLeft(5.0, "b", "left", observer="a"),
        MembershipUpdated(5.0, "a", ALL - {"b"}, frozenset({"b"}), left=frozenset({"b"})),
        takeover(t=5.01, reason="failover from b (left)"),
        garp(t=5.03),
    ]
    (m,) = feed(tracker, events)
    assert (m.cause, m.detection) == ("left", 0.0)
    assert m.seconds == pytest.approx(0.03)


def test_link_awareness_a_live_node_that_is_no_candidate() -> None:
    tracker = FailoverTracker("a")
    events = [
        MembershipUpdated(3.0, "a", ALL, frozenset(), not_candidates=frozenset({"b"})),
        takeover(t=3.01, reason="failover from b (no longer eligible)"),
        garp(t=3.02),
    ]
    (m,) = feed(tracker, events)
    assert m.cause == "not candidate"
    assert m.seconds == pytest.approx(0.02)


def test_other_views_and_other_nodes_are_not_ours() -> None:
    tracker = FailoverTracker("a")
    # c's view of b's death says nothing about a's; c's takeover is not a's.
    assert feed(tracker, [*crash_of_b(observer="c"), takeover(), garp()]) == []
    tracker = FailoverTracker("a")
    assert feed(tracker, [*crash_of_b(), takeover(node="c"), garp(node="c")]) == []


def test_a_node_back_before_the_takeover_leaves_nothing_to_measure() -> None:
    tracker = FailoverTracker("a")
    events = [
        NodeSuspected(1.0, "b", observer="a"),
        NodeRecovered(1.2, "b", observer="a"),
        takeover(t=1.3),
        garp(t=1.31),
    ]
    assert feed(tracker, events) == []
    tracker = FailoverTracker("a")
    back = [
        *crash_of_b(),
        NodeJoined(20.0, "b", observer="a"),
        MembershipUpdated(20.0, "a", ALL, frozenset()),
    ]
    assert feed(tracker, [*back, takeover(t=21.0), garp(t=21.01)]) == []
    assert tracker.losses == {}


def test_a_takeover_withdrawn_or_never_sent_is_forgotten() -> None:
    tracker = FailoverTracker("a")
    stopped = AnnouncementStopped(10.7, "a", IP, "layer2", "b elected")
    assert feed(tracker, [*crash_of_b(), takeover(), stopped, garp(t=10.8)]) == []
    tracker = FailoverTracker("a")
    feed(tracker, [*crash_of_b(), takeover()])
    later = 10.61 + PENDING_TIMEOUT + 1
    feed(tracker, [takeover(t=later, reason="announced")])
    assert tracker.pending == {}


def test_bgp_takeover_until_the_first_update() -> None:
    tracker = FailoverTracker("a")
    prefix = "10.99.91.10/32"
    started = AnnouncementStarted(
        10.7, "a", prefix, "bgp", "failover from b (dead)", peers=("router",)
    )
    sent = PrefixAnnounced(10.75, "a", "router", ("10.99.91.0/24", prefix))
    (m,) = feed(tracker, [*crash_of_b(), started, sent])
    assert (m.protocol, m.ip) == ("bgp", prefix)
    assert m.seconds == pytest.approx(0.75)


def test_demo_mode_trusts_the_simulated_view_for_every_node() -> None:
    tracker = FailoverTracker(None)
    events = [
        NodeLeft(1.0, "b", "killed"),
        MembershipUpdated(1.0, "", ALL - {"b"}, frozenset({"b"})),
        takeover(node="c", t=1.1, reason="failover from b (dead)"),
        garp(node="c", t=1.2),
    ]
    (m,) = feed(tracker, events)
    assert (m.node, m.cause) == ("c", "killed")


def test_actor_publishes_and_the_histogram_counts() -> None:
    published: list[Event] = []
    metrics = FailoverMetrics()
    actor = FailoverMeterActor("a", metrics, publish=published.append)
    for event in [*crash_of_b(), takeover(), garp()]:
        actor.on_event(event)
    assert [e.name for e in published] == ["FailoverMeasured"]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    text = generate_latest(registry).decode()
    assert 'lbtui_failover_seconds_count{cause="dead",protocol="layer2"} 1.0' in text
    assert 'lbtui_failover_seconds_bucket{cause="dead",le="0.75",protocol="layer2"} 1.0' in text
    assert 'lbtui_failover_seconds_bucket{cause="dead",le="0.5",protocol="layer2"} 0.0' in text
