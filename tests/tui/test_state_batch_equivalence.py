"""A batch of events reduces to exactly the state its events give one at a time.

The reducer takes shortcuts inside a batch (drafts of layer 2 entries changed in place, rows
made once at the end, failovers and log entries made only for what is kept); these properties
check, on random event lists over a small demo, that no shortcut changes the outcome, and that
``changes`` names every row a batch changed (the views update only those).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cache
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.events import (
    AnnouncementStarted,
    AnnouncementStopped,
    CandidacyChanged,
    Event,
    FailoverMeasured,
    GratuitousSent,
    IpReleased,
    L2AnswersChanged,
    MembershipUpdated,
    NodeJoined,
    NodeLeft,
    NodeSuspected,
    PeerSessionChanged,
    PrefixAnnounced,
    SplitBrainDetected,
)
from lbtui.state.model import Changes, ConsoleState
from lbtui.state.reducer import reduce, reduce_all
from lbtui.state.rows import l2_row
from tests.tui.script import START, ScriptedDemo

NODES = ("node-1", "node-2", "node-3", "node-9")
PEERS = ("peer-a", "peer-b")


@cache
def demo() -> tuple[ConsoleState, tuple[Event, ...], tuple[str, ...], tuple[str, ...]]:
    """The demo started (and a node killed and revived, for real failover events)."""
    script = ScriptedDemo().start()
    script.kill("node-1", at=2)
    script.revive("node-1", at=5)
    state = reduce_all(ConsoleState(), script.events)
    ips = (*sorted(state.l2), "10.99.0.250")
    services = (*sorted(state.services), "default/ghost")
    return state, tuple(script.events), ips, services


Make = Callable[[float], Event]


def events_strategy() -> st.SearchStrategy[list[Event]]:
    _, history, ips, services = demo()
    node = st.sampled_from(NODES)
    ip = st.sampled_from(ips)
    protocol = st.sampled_from(("layer2", "layer2", "bgp"))
    started_reason = st.sampled_from(
        ("elected", "failover from node-1 (dead)", "failover from node-2 (no longer eligible)")
    )
    stopped_reason = st.sampled_from(("node killed", "node-2 elected", "withdrawn"))
    service_list = st.lists(st.sampled_from(services), max_size=2, unique=True).map(tuple)
    peers = st.lists(st.sampled_from(PEERS), max_size=2, unique=True).map(tuple)
    nodes = st.frozensets(node, max_size=3)

    def started(n: str, a: str, p: str, r: str, s: tuple[str, ...], ps: tuple[str, ...]) -> Make:
        iface = "eth0" if p == "layer2" and r == "elected" else ""
        return lambda t: AnnouncementStarted(t, n, a, p, r, iface, s, ps if p == "bgp" else ())  # type: ignore[arg-type]

    def stopped(n: str, a: str, p: str, r: str, ps: tuple[str, ...]) -> Make:
        return lambda t: AnnouncementStopped(t, n, a, p, r, "", ps if p == "bgp" else ())  # type: ignore[arg-type]

    def membership(alive: frozenset[str], dead: frozenset[str], observer: str) -> Make:
        return lambda t: MembershipUpdated(t, observer, alive - dead, dead)

    def old(event: Event) -> Make:
        return lambda t: event  # the demo's own events again: config, cluster, allocations

    make: st.SearchStrategy[Make] = st.one_of(
        st.builds(started, node, ip, protocol, started_reason, service_list, peers),
        st.builds(started, node, ip, protocol, started_reason, service_list, peers),
        st.builds(stopped, node, ip, protocol, stopped_reason, peers),
        st.builds(stopped, node, ip, protocol, stopped_reason, peers),
        st.builds(lambda n: lambda t: NodeSuspected(t, n, "node-2"), node),
        st.builds(lambda n: lambda t: NodeLeft(t, n, "dead"), node),
        st.builds(lambda n: lambda t: NodeJoined(t, n), node),
        st.builds(membership, nodes, nodes, node),
        st.builds(lambda n, a: lambda t: GratuitousSent(t, n, a, ("eth0",), 3, 1), node, ip),
        st.builds(
            lambda n, a, f: lambda t: FailoverMeasured(t, n, a, "layer2", f, 0.4, "dead"),
            node,
            ip,
            node,
        ),
        st.builds(
            lambda n, a: lambda t: SplitBrainDetected(t, n, a, "eth0", "02:00:00:00:00:09", ""),
            node,
            ip,
        ),
        st.builds(lambda n, a: lambda t: L2AnswersChanged(t, n, a, ("eth1",), "carrier"), node, ip),
        st.builds(lambda s, a: lambda t: IpReleased(t, s, (a,), "deleted"), service_list, ip),
        st.builds(
            lambda n, c: lambda t: CandidacyChanged(t, n, c, "no carrier"), node, st.booleans()
        ),
        st.builds(
            lambda n, p, s: lambda t: PeerSessionChanged(t, n, p, s, "test"),
            node,
            st.sampled_from(PEERS),
            st.sampled_from(("Established", "Idle")),
        ),
        st.builds(
            lambda n, p, a: lambda t: PrefixAnnounced(t, n, p, (f"{a}/32",)),
            node,
            st.sampled_from(PEERS),
            ip,
        ),
        st.builds(old, st.sampled_from(history)),
    )
    steps = st.lists(st.tuples(make, st.sampled_from((0.0, 0.1, 0.7, 1.3))), max_size=40)

    def timed(pairs: list[tuple[Make, float]]) -> list[Event]:
        t = START + 10.0
        out = []
        for build, dt in pairs:
            t += dt
            out.append(build(t))
        return out

    return steps.map(timed)


def without_changes(state: ConsoleState) -> ConsoleState:
    return replace(state, changes=Changes())


def one_by_one(state: ConsoleState, events: Sequence[Event]) -> ConsoleState:
    for event in events:
        state = reduce(state, event)
    return state


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(events=events_strategy(), empty=st.booleans())
def test_a_batch_gives_the_state_of_its_events_one_by_one(events: list[Event], empty: bool) -> None:
    base = ConsoleState() if empty else demo()[0]
    assert without_changes(reduce_all(base, events)) == without_changes(one_by_one(base, events))


@SETTINGS
@given(events=events_strategy(), cuts=st.lists(st.integers(0, 40), max_size=4))
def test_any_split_into_batches_gives_the_same_state(events: list[Event], cuts: list[int]) -> None:
    base = demo()[0]
    whole = reduce_all(base, events)
    state = base
    bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    for start, end in pairwise(bounds):
        state = reduce_all(state, events[start:end])
    assert without_changes(state) == without_changes(whole)


@SETTINGS
@given(events=events_strategy())
def test_changes_name_every_row_the_batch_changed(events: list[Event]) -> None:
    base = demo()[0]
    after = reduce_all(base, events)
    services = {
        k
        for k in base.services.keys() | after.services.keys()
        if base.services.get(k) != after.services.get(k)
    }
    l2 = {ip for ip in base.l2.keys() | after.l2.keys() if base.l2.get(ip) != after.l2.get(ip)}
    # A row can change while its entry does not: an owner shown as gone when it died.
    shown = {
        ip
        for ip in base.l2.keys() & after.l2.keys()
        if l2_row(base, base.l2[ip]) != l2_row(after, after.l2[ip])
    }
    assert services <= after.changes.services
    assert l2 | shown <= after.changes.l2


@SETTINGS
@given(events=events_strategy())
def test_rows_updated_by_a_batch_equal_rows_made_from_scratch(events: list[Event]) -> None:
    base, history, _, _ = demo()
    after = reduce_all(base, events)  # rows of services the batch touched made from old ones
    scratch = reduce_all(ConsoleState(), [*history, *events])
    assert dict(after.services) == dict(scratch.services)
    assert dict(after.announcers) == dict(scratch.announcers)
