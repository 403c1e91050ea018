"""lbtui/ports/kube/, the pure parts: which speaker pods to follow, catching up with a speaker
after a gap, what one speaker announces, the info bar's line."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from actors.events import (
    AnnouncementStarted,
    AnnouncementStopped,
    Event,
    MembershipUpdated,
    NodeJoined,
)
from actors.util.backoff import backoff_delay
from lbtui.ports.kube.catchup import (
    AnnouncementLedger,
    Position,
    catch_up,
    position_of,
    rebase,
    resume_from,
)
from lbtui.ports.kube.service_events import service_events
from lbtui.ports.kube.targets import (
    SpeakerTarget,
    changed_targets,
    speaker_targets,
    streams_summary,
)
from lbtui.state.model import ConsoleState
from lbtui.state.reducer import reduce_all

IP = "10.99.0.100"


def pod(
    name: str,
    node: str = "node-1",
    *,
    ip: str | None = "10.0.0.1",
    phase: str | None = "Running",
    ports: list[dict[str, Any]] | None = None,
    uid: str = "",
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if phase is not None:
        status["phase"] = phase
    if ip is not None:
        status["podIP"] = ip
    return {
        "metadata": {"name": name, "uid": uid or f"uid-{name}"},
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "speaker",
                    "ports": ports
                    if ports is not None
                    else [
                        {"name": "monitoring", "containerPort": 7472},
                        {"name": "status", "containerPort": 7473},
                    ],
                }
            ],
        },
        "status": status,
    }


# -- discovery -------------------------------------------------------------------------------


def test_speaker_pods_are_followed_on_their_status_port_and_the_others_say_why_not() -> None:
    targets, skipped = speaker_targets(
        [
            pod("a", "node-1"),
            pod("b", "node-2", ip=None),
            pod("c", "node-3", phase="Pending"),
            pod("d", "node-4", ports=[{"name": "monitoring", "containerPort": 7472}]),
            {"metadata": {}},  # nameless: ignored
        ]
    )
    assert targets == {"a": SpeakerTarget("a", "node-1", 7473, "uid-a", "10.0.0.1")}
    assert skipped == {
        "b": "pod has no IP yet",
        "c": "pod is Pending",
        "d": "no container port named 'status' (run the speaker with --status-addr, "
        "or give --speaker-status-port)",
    }
    # --speaker-status-port wins over the named port, and needs none.
    targets, skipped = speaker_targets([pod("a"), pod("d", "node-4", ports=[])], port=9000)
    assert {t.port for t in targets.values()} == {9000} and set(targets) == {"a", "d"}
    assert skipped == {}
    targets, _ = speaker_targets([pod("a")], port_name="monitoring")
    assert targets["a"].port == 7472
    odd = pod("e", ports=["status", {"name": "status", "containerPort": "7473"}])  # type: ignore[list-item]
    assert speaker_targets([odd])[0] == {}  # malformed ports: not followed, nothing breaks


def test_a_pod_that_changes_is_let_go_and_followed_anew() -> None:
    a = SpeakerTarget("a", "node-1", 7473, "uid-1", "10.0.0.1")
    b = SpeakerTarget("b", "node-2", 7473, "uid-2", "10.0.0.2")
    a_new = SpeakerTarget("a", "node-1", 7473, "uid-3", "10.0.0.9")
    c = SpeakerTarget("c", "node-3", 7473, "uid-4", "10.0.0.3")
    assert changed_targets({}, {"a": a}) == ([], [a])
    assert changed_targets({"a": a, "b": b}, {"a": a, "b": b}) == ([], [])
    assert changed_targets({"a": a, "b": b}, {"a": a_new, "c": c}) == (["a", "b"], [a_new, c])


# -- one speaker's announcements -------------------------------------------------------------


def started(t: float, node: str, reason: str = "elected", **kw: Any) -> AnnouncementStarted:
    return AnnouncementStarted(
        t, node, kw.pop("ip", IP), "layer2", reason, "eth0", ("default/web",), **kw
    )


def test_the_ledger_follows_starts_and_stops_and_withdraws_everything_when_the_pod_goes() -> None:
    ledger = AnnouncementLedger()
    ledger.apply(started(1.0, "node-1"))
    ledger.apply(
        AnnouncementStarted(1.0, "node-1", "192.0.2.0/28", "bgp", "advertised", peers=("r1",))
    )
    ledger.apply(
        AnnouncementStarted(1.0, "node-1", "192.0.2.0/28", "bgp", "advertised", peers=("r2",))
    )
    ledger.apply(
        AnnouncementStopped(2.0, "node-1", "192.0.2.0/28", "bgp", "peer down", peers=("r1",))
    )
    assert sorted(k[3] for k in ledger.current) == [(), ("r2",)]
    gone = ledger.withdraw_all(5.0, "speaker pod deleted")
    assert [(e.ip, e.peers, e.reason) for e in gone] == [
        (IP, (), "speaker pod deleted"),
        ("192.0.2.0/28", ("r2",), "speaker pod deleted"),
    ]
    assert all(isinstance(e, AnnouncementStopped) and e.t == 5.0 for e in gone)
    assert ledger.current == {}


def test_reconciling_emits_only_differences_and_never_a_failover_it_did_not_see() -> None:
    ledger = AnnouncementLedger()
    ledger.apply(started(1.0, "node-1", ip="10.99.0.101"))
    ledger.apply(started(1.0, "node-1", ip="10.99.0.102"))
    in_force = [
        started(1.0, "node-1", ip="10.99.0.101"),  # known: nothing to say
        started(3.0, "node-1", "failover from node-2", ip="10.99.0.103"),  # new
    ]
    events = ledger.reconcile(in_force, 9.0)
    assert [(type(e).__name__, e.ip, e.t) for e in events] == [
        ("AnnouncementStopped", "10.99.0.102", 9.0),
        ("AnnouncementStarted", "10.99.0.103", 3.0),
    ]
    assert events[1].reason == "in force: failover from node-2"
    state = reduce_all(ConsoleState(), events)
    assert state.failovers == ()  # not seen happening, so not counted as one
    assert ledger.reconcile(in_force, 10.0) == []


# -- catching up -----------------------------------------------------------------------------


def record(seq: int, event: Event) -> dict[str, Any]:
    return {**event.to_json(), "seq": seq}


def body(events: list[Event], *, now: float = 100.0, first_seq: int = 1, **extra: Any) -> dict:
    records = [record(first_seq + i, e) for i, e in enumerate(events)]
    return {
        "now": now,
        "seq": first_seq + len(events) - 1,
        "events": records,
        "membership": [],
        "announcements": [],
        **extra,
    }


def test_resume_point_tells_a_reconnect_from_a_restarted_speaker() -> None:
    history = [NodeJoined(1.0, "node-1"), NodeJoined(2.0, "node-2"), NodeJoined(3.0, "node-3")]
    b = body(history)
    assert resume_from(b, Position()) == 0  # first contact
    assert resume_from(b, Position(2, 2.0, "NodeJoined")) == 2  # same process
    assert resume_from(b, Position(2, 7.0, "NodeJoined")) == 0  # a different event at seq 2
    assert resume_from(b, Position(9, 9.0, "NodeJoined")) == 0  # counts lower: restarted
    long = body(history, first_seq=40)
    assert resume_from(long, Position(12, 1.0, "X")) == 12  # older than its history keeps


def test_catch_up_replays_what_was_missed_on_the_console_clock_then_views_and_announcements() -> (
    None
):
    view = MembershipUpdated(4.0, "node-1", frozenset({"node-1", "node-2"}), frozenset())
    announced = started(2.0, "node-1")
    history = [NodeJoined(1.0, "node-2"), announced, view]
    b = body(
        history,
        membership=[view.to_json()],
        announcements=[announced.to_json(), started(3.0, "node-1", ip="10.99.0.105").to_json()],
    )
    ledger = AnnouncementLedger()
    events, position = catch_up(b, Position(), 1000.0, ledger, 1100.0)
    names = [(type(e).__name__, e.t) for e in events]
    # the whole history, moved by the offset; the view only once (it was just replayed); the
    # announcement the history did not show, with its own time
    assert names == [
        ("NodeJoined", 1001.0),
        ("AnnouncementStarted", 1002.0),
        ("MembershipUpdated", 1004.0),
        ("AnnouncementStarted", 1003.0),
    ]
    assert position == Position(3, 4.0, "MembershipUpdated")
    # A reconnect to the same process: only what came after the position.
    later = NodeJoined(5.0, "node-3")
    b2 = body([*history, later], membership=b["membership"], announcements=b["announcements"])
    events, position = catch_up(b2, position, 1000.0, ledger, 1200.0)
    assert [(type(e).__name__, e.t) for e in events] == [
        ("NodeJoined", 1005.0),
        ("MembershipUpdated", 1004.0),  # the view in force, not replayed this time
    ]
    assert position.seq == 4


def test_first_contact_replays_only_the_last_events_a_restarted_speaker_all() -> None:
    history = [NodeJoined(float(i), f"node-{i}") for i in range(1, 6)]
    events, position = catch_up(body(history), Position(), 0.0, AnnouncementLedger(), 9.0, 2)
    assert [e.node for e in events] == ["node-4", "node-5"]  # type: ignore[attr-defined]
    assert position.seq == 5
    # The same speaker restarted (its count is lower now): everything it holds is news.
    restarted = body(history[:3])
    events, _ = catch_up(restarted, position, 0.0, AnnouncementLedger(), 9.0, 2)
    assert [e.node for e in events] == ["node-1", "node-2", "node-3"]  # type: ignore[attr-defined]


def test_catch_up_with_only_summarized_history_follows_from_the_head() -> None:
    b = {"now": 5.0, "seq": 7, "events": [{"seq": 7, "t": 1.0, "event": "ClusterUpdated"}]}
    events, position = catch_up(b, Position(), 0.0, AnnouncementLedger(), 5.0)
    assert events == [] and position.seq == 7
    junk = {
        "seq": "many",
        "events": ["junk", {"seq": "2", "event": "NodeJoined"}, {"seq": 1, "event": "Nope"}],
        "membership": {"observer": 1},
        "announcements": [3, {"event": "AnnouncementStarted", "node": "n"}],
    }
    events, position = catch_up(junk, Position(), 0.0, AnnouncementLedger(), 1.0)
    assert events == [] and position == Position(1, 0.0, "Nope")
    # A bad field in a live line never stops the stream on it.
    assert position_of({"seq": 3, "t": "soon", "event": None}) == Position(3, 0.0, "")


def test_rebase_moves_only_the_time() -> None:
    e = started(2.0, "node-1")
    moved = rebase(e, 10.5)
    assert moved.t == 12.5 and moved.ip == e.ip and moved.services == e.services
    assert rebase(e, 0.0) is e


# -- backoff and the info bar ----------------------------------------------------------------


def test_backoff_doubles_to_a_ceiling_with_jitter() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, 0.5, 10.0, rng) for n in range(1, 8)]
    for n, d in enumerate(delays, 1):
        base = min(10.0, 0.5 * 2 ** (n - 1))
        assert 0.9 * base <= d <= 1.1 * base


def test_the_info_bar_line_counts_streams_and_names_what_is_wrong() -> None:
    assert streams_summary({}, {}) == "speakers: no speaker pods found"
    assert streams_summary({"a": ("following", ""), "b": ("following", "")}, {}) == (
        "speakers: 2/2 streaming"
    )
    text = streams_summary(
        {"a": ("following", ""), "b": ("lost", "HTTP 503: refused")}, {"c": "pod has no IP yet"}
    )
    assert text == "speakers: 1/3 streaming · b lost: HTTP 503: refused; c: pod has no IP yet"


# -- MetalLB's Events about Services ---------------------------------------------------------


def kube_event(
    name: str,
    reason: str,
    *,
    stamp: str = "2026-11-26T17:00:00Z",
    count: int = 1,
    component: str = "metallb-controller",
    kind: str = "Service",
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": f"uid-{name}"},
        "involvedObject": {"kind": kind, "namespace": "default", "name": "web"},
        "reason": reason,
        "message": f"{reason} happened",
        "type": "Warning" if reason == "AllocationFailed" else "Normal",
        "source": {"component": component, "host": "node-1" if "speaker" in component else ""},
        "reportingComponent": component,
        "lastTimestamp": stamp,
        "count": count,
    }


def test_service_events_of_metallb_once_each_on_the_console_clock_newest_kept() -> None:
    wall = datetime(2026, 11, 26, 17, 0, 10, tzinfo=UTC).timestamp()
    objects = [
        kube_event("b", "nodeAssigned", stamp="2026-11-26T17:00:05Z", component="metallb-speaker"),
        kube_event("a", "IPAllocated"),
        kube_event("c", "Scheduled", component="default-scheduler"),  # not MetalLB's
        kube_event("d", "IPAllocated", kind="Pod"),  # not about a Service
    ]
    seen: set[Any] = set()
    events = service_events(objects, seen, 500.0, wall)
    assert [(e.reason, e.t, e.service, e.host) for e in events] == [
        ("IPAllocated", 490.0, "default/web", ""),
        ("nodeAssigned", 495.0, "default/web", "node-1"),
    ]
    assert service_events(objects, seen, 501.0, wall) == []  # seen already
    # The same Event repeated: news again.
    again = kube_event("a", "IPAllocated", stamp="2026-11-26T17:00:09Z", count=2)
    (repeated,) = service_events([again], seen, 501.0, wall)
    assert (repeated.count, repeated.t) == (2, 500.0)
    assert len(seen) == 1  # only what the API still holds is remembered
    # At start only the newest are kept; bad times count as now.
    many = [
        kube_event(f"e{i}", "AllocationFailed", stamp=f"2026-11-26T16:59:{i:02d}Z")
        for i in range(9)
    ]
    kept = service_events(
        [*many, kube_event("x", "IPAllocated", stamp="junk")], set(), 0.0, wall, limit=3
    )
    assert [e.reason for e in kept] == ["AllocationFailed", "AllocationFailed", "IPAllocated"]
    assert kept[0].kind == "Warning" and kept[-1].t == 0.0
    bad = [{"involvedObject": "web"}, {**kube_event("y", "IPAllocated"), "count": "many"}]
    assert [e.count for e in service_events(bad, set(), 0.0, wall)] == [1]
