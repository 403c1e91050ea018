"""The console's reducer on scripted event lists: pure, no textual, no threads."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from actors.demo.cluster import ServiceSpec
from actors.events import (
    AnnouncementStarted,
    AnnouncementStopped,
    BfdSessionChanged,
    CandidacyChanged,
    GratuitousSent,
    L2InterfacesChanged,
    NodeJoined,
    PeerSessionChanged,
    PrefixAnnounced,
    PrefixWithdrawn,
)
from lbtui.state import rows as views
from lbtui.state.eventlog import MAX_LOG
from lbtui.state.model import ConsoleState, Snapshot
from lbtui.state.pulses import PULSE_SECONDS
from lbtui.state.reducer import advance, load_snapshot, reduce, reduce_all
from tests.tui.script import START, ScriptedDemo, demo_events

ROOT = Path(__file__).resolve().parents[2]


def demo_state() -> ConsoleState:
    _, events = demo_events()
    return reduce_all(ConsoleState(), events)


def test_services_get_their_addresses_and_announcers() -> None:
    state = demo_state()
    web = state.services["default/web"]
    assert web.ips == ("10.99.0.100",) and web.pool == "lan"
    assert web.nodes == ("node-3",) and web.protocols == ("layer2",)
    assert web.status == "announced"
    ingress = state.services["edge/ingress"]
    assert ingress.protocols == ("bgp",) and set(ingress.nodes) == {"node-2", "node-3"}
    assert state.services["shop/checkout"].ips == ("10.99.0.105",)


def test_one_event_at_a_time_equals_one_batch() -> None:
    _, events = demo_events()
    stepwise = ConsoleState()
    for event in events:
        stepwise = reduce(stepwise, event)
    batch = reduce_all(ConsoleState(), events)
    assert stepwise.services == batch.services
    assert stepwise.l2 == batch.l2
    assert stepwise.members == batch.members
    assert stepwise.failovers == batch.failovers
    assert stepwise.pulses == batch.pulses


def test_a_node_kill_is_a_measured_failover() -> None:
    state = demo_state()
    assert state.members["node-1"].state == "dead"
    moved = {f.ip: f for f in state.failovers}
    assert set(moved) == {"10.99.0.100", "10.99.0.101"}
    failover = moved["10.99.0.100"]
    assert (failover.from_node, failover.to_node) == ("node-1", "node-3")
    # From the crash (AnnouncementStopped "node killed" at 3 s) to the takeover at 3.6 s.
    assert abs(failover.seconds - 0.6) < 1e-6
    entry = state.l2["10.99.0.100"]
    assert entry.node == "node-3" and entry.takeovers == 2
    assert entry.failover_seconds == failover.seconds


def test_revive_clears_the_loss_and_hand_back_keeps_one_owner() -> None:
    demo = ScriptedDemo().start()
    demo.kill("node-1", at=1)
    demo.revive("node-1", at=3)
    state = reduce_all(ConsoleState(), demo.events)
    assert state.members["node-1"].state == "alive"
    assert "node-1" not in state.losses
    for entry in state.l2.values():
        assert len(entry.announcers) == 1, entry


def test_hand_over_overlap_is_seen_then_resolved() -> None:
    state = reduce_all(
        ConsoleState(),
        [
            AnnouncementStarted(1.0, "a", "10.0.0.1", "layer2", "first", services=("ns/s",)),
            AnnouncementStarted(2.0, "b", "10.0.0.1", "layer2", "b elected", services=("ns/s",)),
        ],
    )
    assert state.l2["10.0.0.1"].announcers == {"a", "b"}
    assert state.l2["10.0.0.1"].node == "b"
    state = reduce(state, AnnouncementStopped(2.1, "a", "10.0.0.1", "layer2", "b elected"))
    assert state.l2["10.0.0.1"].announcers == {"b"} and state.l2["10.0.0.1"].node == "b"


def test_changes_name_only_the_rows_a_batch_touched() -> None:
    demo = ScriptedDemo().start()
    before = reduce_all(ConsoleState(), demo.events)
    mark = len(demo.events)
    demo.kill("node-1", at=2)
    after = reduce_all(before, demo.events[mark:])
    assert after.changes.services == {
        "default/web",
        "default/api",
        "edge/ingress",
        "edge/edge-local",
    }
    assert after.changes.l2 == {"10.99.0.100", "10.99.0.101"}
    assert not after.changes.full
    # Untouched rows are the very same objects: nothing was rebuilt.
    assert after.services["default/dual"] is before.services["default/dual"]


def test_the_state_is_never_mutated() -> None:
    demo = ScriptedDemo().start()
    before = reduce_all(ConsoleState(), demo.events)
    services = dict(before.services)
    mark = len(demo.events)
    demo.kill("node-1", at=2)
    reduce_all(before, demo.events[mark:])
    assert dict(before.services) == services
    assert before.members["node-1"].state == "alive"


def test_a_service_without_an_address_says_why() -> None:
    specs = [ServiceSpec("lost", annotations=(("metallb.io/address-pool", "nope"),))]
    demo = ScriptedDemo(services=specs).start()
    state = reduce_all(ConsoleState(), demo.events)
    row = state.services["default/lost"]
    assert row.status == "error" and row.ips == ()
    assert "nope" in row.error


def test_pulses_count_per_second_and_slide() -> None:
    state = demo_state()
    second = state.pulse_second
    assert second == int(START + 3.6)
    assert len(state.pulses["l2"]) == PULSE_SECONDS
    assert sum(state.pulses["l2"]) > 0 and sum(state.pulses["membership"]) > 0
    later = advance(state, second + 10)
    assert later.pulse_second == second + 10
    assert later.pulses["l2"][-10:] == (0,) * 10
    assert later.pulses["l2"][:-10] == state.pulses["l2"][10:]
    assert advance(later, second) is later  # time never goes back


def test_the_log_is_bounded() -> None:
    events = [NodeJoined(float(i), f"n{i % 3}") for i in range(MAX_LOG + 50)]
    state = reduce_all(ConsoleState(), events)
    assert len(state.log) == MAX_LOG
    assert state.log[0].seq == 51 and state.log[-1].seq == MAX_LOG + 50


def test_wire_events_fill_sessions_interfaces_and_counters() -> None:
    state = demo_state()
    state = reduce_all(
        state,
        [
            PeerSessionChanged(10.0, "node-2", "collector", "Active", "connect: refused"),
            PeerSessionChanged(11.0, "node-2", "collector", "Established", "peer AS 64512"),
            BfdSessionChanged(11.5, "node-2", "collector", "up", ""),
            PrefixAnnounced(12.0, "node-2", "collector", ("192.0.2.0/32", "192.0.2.9/32")),
            PrefixWithdrawn(13.0, "node-2", "collector", ("192.0.2.9/32",), "withdrawn"),
            GratuitousSent(14.0, "node-3", "10.99.0.100", ("eth0",), 2, 1),
            L2InterfacesChanged(14.0, "node-3", ("eth0", "eth1"), ("eth1",)),
            CandidacyChanged(15.0, "node-2", False, "every interface lost carrier"),
        ],
    )
    session = state.sessions[("node-2", "collector")]
    assert session.state == "Established" and session.since == 11.0
    assert session.last_error == "connect: refused" and session.bfd == "up"
    assert views.prefixes_sent(state, "node-2", "collector") == 1
    assert state.l2["10.99.0.100"].gratuitous == 2
    rows = views.node_rows(state)
    assert rows["node-3"][6] == views.Styled("eth0, eth1 (no carrier)", "warning")
    assert rows["node-2"][4] == views.Styled("no carrier", "error")
    bgp = views.bgp_rows(state)["node-2/collector"]
    assert bgp[3] == views.Styled("Established", "ok") and bgp[6] == views.Styled("up", "ok")


def test_a_snapshot_gives_the_same_views_as_the_events() -> None:
    demo, events = demo_events()
    live = reduce_all(ConsoleState(), events)
    announced = tuple(
        AnnouncementStarted(demo.clock.now(), node, ip, "layer2", duty.message, "", duty.services)
        for node, speaker in demo.speakers.items()
        for ip, duty in speaker.current.l2.items()
    ) + tuple(
        AnnouncementStarted(
            demo.clock.now(), node, r.prefix, "bgp", "advertised", "", r.services, r.peers
        )
        for node, speaker in demo.speakers.items()
        for r in speaker.current.bgp.values()
    )
    snap = Snapshot(
        now=demo.clock.now(),
        role="demo",
        config=demo.config.config,
        cluster=demo.cluster.state,
        allocations=demo.allocator.allocations,
        usage=demo.allocator.usage,
        memberships=(next(e for e in reversed(events) if e.name == "MembershipUpdated"),),
        announcements=announced,
    )
    attached = load_snapshot(ConsoleState(), snap)
    assert attached.changes.full
    assert views.service_rows(attached) == views.service_rows(live)
    assert views.pool_rows(attached) == views.pool_rows(live)
    assert {ip: e.node for ip, e in attached.l2.items()} == {
        ip: e.node for ip, e in live.l2.items()
    }
    assert attached.log == ()  # a snapshot is not news
    # With the history replayed first, failovers survive the attach.
    with_history = load_snapshot(ConsoleState(), replace(snap, history=tuple(events)))
    assert with_history.failovers == live.failovers
    web = "10.99.0.100"
    assert with_history.l2[web].failover_seconds == live.l2[web].failover_seconds


def test_state_and_views_never_load_textual() -> None:
    code = (
        "import sys, lbtui.state.reducer, lbtui.state.rows; "
        "sys.exit(1 if any(m.split('.')[0] == 'textual' for m in sys.modules) else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_gossip_views_are_combined_and_a_stale_one_is_ignored() -> None:
    from actors.events import MembershipUpdated

    everyone = frozenset({"node-1", "node-2", "node-3"})

    def view(t: float, observer: str, dead: frozenset[str], **kw: frozenset[str]) -> Any:
        return MembershipUpdated(t, observer, everyone - dead, dead, **kw)

    # Every node sees everyone; node-1 crashes (its last view stays, stale); node-2 suspects
    # it first, then declares it dead; node-3 follows.
    state = reduce_all(
        ConsoleState(),
        [
            view(1.0, "node-1", frozenset()),
            view(1.0, "node-2", frozenset()),
            view(1.0, "node-3", frozenset()),
            view(2.0, "node-2", frozenset(), suspect=frozenset({"node-1"})),
        ],
    )
    assert state.members["node-1"].state == "suspect"
    assert state.losses["node-1"] == 2.0
    state = reduce(state, view(2.6, "node-2", frozenset({"node-1"})))
    assert state.members["node-1"].state == "dead"
    assert state.alive == {"node-2", "node-3"}
    state = reduce(state, view(2.7, "node-3", frozenset({"node-1"})))
    assert state.members["node-1"].state == "dead" and state.losses["node-1"] == 2.0
    # It comes back: once every live observer agrees, it is alive again.
    state = reduce_all(
        state,
        [view(5.0, "node-1", frozenset()), view(5.0, "node-2", frozenset())],
    )
    assert state.members["node-1"].state == "dead"  # node-3 has not seen it yet
    state = reduce(state, view(5.1, "node-3", frozenset()))
    assert state.members["node-1"].state == "alive" and "node-1" not in state.losses
    # A graceful leave is not a failure.
    state = reduce(state, view(6.0, "node-2", frozenset({"node-3"}), left=frozenset({"node-3"})))
    assert state.members["node-3"].state == "left"


def test_the_speakers_own_failover_timing_replaces_the_estimate() -> None:
    from actors.events import FailoverMeasured, SplitBrainDetected

    state = demo_state()
    estimate = next(f for f in state.failovers if f.ip == "10.99.0.100")
    assert not estimate.measured
    assert views.l2_row(state, state.l2["10.99.0.100"])[6] == "~600ms"
    state = reduce(
        state,
        FailoverMeasured(START + 3.7, "node-3", "10.99.0.100", "layer2", "node-1", 0.72, "dead"),
    )
    timed = [f for f in state.failovers if f.ip == "10.99.0.100"]
    assert len(timed) == 1 and timed[0].measured and timed[0].seconds == 0.72
    assert views.l2_row(state, state.l2["10.99.0.100"])[6] == "720ms"
    assert views.failover_stats(state)[:2] == (2, 1)
    # A BGP measurement with no estimate to replace is simply added.
    state = reduce(
        state,
        FailoverMeasured(START + 3.8, "node-2", "192.0.2.1/32", "bgp", "node-1", 0.9, "dead"),
    )
    assert state.failovers[-1].ip == "192.0.2.1/32" and state.failovers[-1].measured
    # Two nodes answering for one address is shown where the address is.
    state = reduce(
        state,
        SplitBrainDetected(START + 4, "node-3", "10.99.0.100", "eth0", "aa:bb", "cc:dd"),
    )
    owner = views.l2_row(state, state.l2["10.99.0.100"])[1]
    assert owner == views.Styled("node-3 SPLIT BRAIN: node-3 hears aa:bb on eth0", "error")
    assert state.log[-1].level == "error"
