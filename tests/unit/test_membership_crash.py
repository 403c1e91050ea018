"""Crash detection by the kernel, the pure part: ring successors, crash checks, the core's
verdict in virtual time, and whole clusters in the simulated network (actors.membership.sim),
where a killed process's connections close and a silent node's do not."""

from __future__ import annotations

import math

import pytest

from actors.membership.core import Membership
from actors.membership.crash import CrashChecks, ring_successors
from actors.membership.messages import Ack, Alive, Dead, Ping, Status
from actors.membership.profile import FAST
from actors.membership.sim import SimNetwork

A, B, C = ("10.0.0.1", 7946), ("10.0.0.2", 7946), ("10.0.0.3", 7946)


def test_ring_successors_wrap_and_shrink_with_the_cluster() -> None:
    names = ["c", "a", "e", "b", "d"]
    assert ring_successors("a", names, 2) == ("b", "c")
    assert ring_successors("d", names, 2) == ("e", "a")
    assert ring_successors("e", names, 3) == ("a", "b", "c")
    assert ring_successors("a", ["a", "b"], 3) == ("b",)
    assert ring_successors("a", ["a"], 2) == ()
    assert ring_successors("bb", ["a", "c"], 1) == ("c",)  # not yet in the list itself
    # Every member is watched by exactly k others: each crash has k witnesses.
    watchers = {n: 0 for n in names}
    for n in names:
        for target in ring_successors(n, names, 2):
            watchers[target] += 1
    assert set(watchers.values()) == {2}


def test_crash_checks_one_per_member_ack_or_deadline() -> None:
    checks = CrashChecks()
    assert checks.start("b", 3, seq=10, now=1.0, confirm=0.03)
    assert not checks.start("b", 3, seq=11, now=1.01, confirm=0.03)  # one at a time
    assert checks.start("c", 1, seq=12, now=1.01, confirm=0.03)
    assert checks.next_deadline() == pytest.approx(1.03)
    assert checks.due(1.029) == []
    assert checks.acked(99) is None
    acked = checks.acked(12)
    assert acked is not None and acked.node == "c" and "c" not in checks
    checks.postpone(1.5)  # a stall: nothing is judged before 1.5
    assert checks.due(1.2) == []
    [due] = checks.due(1.5)
    assert (due.node, due.incarnation) == ("b", 3) and len(checks) == 0
    assert math.isinf(checks.next_deadline())


def core_knowing(*others: tuple[str, tuple[str, int]]) -> Membership:
    core = Membership("a", A, FAST, incarnation=5)
    core.start(0.0)
    core.receive(0.0, [Alive(name, 1, addr) for name, addr in others])
    return core


def pings_to(step, addr) -> list[Ping]:  # type: ignore[no-untyped-def]
    return [m for o in step.out if o.dest == addr for m in o.messages if isinstance(m, Ping)]


def test_a_lost_peer_that_stays_silent_is_dead_at_the_deadline_and_gossiped() -> None:
    core = core_knowing(("b", B), ("c", C))
    step = core.peer_lost(1.0, "b")
    [ping] = pings_to(step, B)
    assert ping.target == "b"
    assert core.next_deadline() <= 1.0 + FAST.crash_confirm
    assert core.tick(1.0 + FAST.crash_confirm - 0.001).changes == []
    assert core.status_of("b") == Status.ALIVE
    step = core.tick(1.0 + FAST.crash_confirm)
    assert [(c.node, c.kind, c.by) for c in step.changes] == [("b", "dead", "a")]
    assert core.counters.crashes_confirmed == 1 and core.counters.crash_checks == 1
    # The death is gossiped to whoever is next talked to.
    out = core.receive(1.05, [Ping(7, "a", "c", C)]).out
    assert any(Dead("b", 1, "a") in o.messages for o in out)


def test_a_lost_peer_that_answers_the_ping_lives() -> None:
    core = core_knowing(("b", B))
    [ping] = pings_to(core.peer_lost(1.0, "b"), B)
    assert core.receive(1.002, [Ack(ping.seq)]).changes == []
    assert core.tick(1.5).changes == [] or core.status_of("b") == Status.ALIVE
    assert core.status_of("b") == Status.ALIVE
    assert core.counters.crash_refuted == 1 and core.counters.crashes_confirmed == 0


def test_a_peer_that_left_or_came_back_as_a_new_life_is_not_declared_dead() -> None:
    core = core_knowing(("b", B), ("c", C))
    core.peer_lost(1.0, "b")
    core.receive(1.001, [Dead("b", 1, "b")])  # its leave came after the close
    core.peer_lost(1.0, "c")
    core.receive(1.001, [Alive("c", 2, C)])  # restarted: a newer incarnation
    changes = core.tick(2.0).changes
    assert core.status_of("b") == Status.LEFT and core.status_of("c") == Status.ALIVE
    assert [c.kind for c in changes if c.kind == "dead"] == []
    # Unknown members, ourselves, and members already gone start no check.
    for name in ("zz", "a", "b"):
        assert core.peer_lost(2.1, name).out == []
    assert core.counters.crash_checks == 2


def test_a_stalled_prober_reads_its_queue_before_judging() -> None:
    core = core_knowing(("b", B))
    [ping] = pings_to(core.peer_lost(1.0, "b"), B)
    # The next tick comes 0.5 s late: this process stalled; the ack may wait unread.
    assert [c for c in core.tick(1.5).changes if c.kind == "dead"] == []
    assert core.receive(1.501, [Ack(ping.seq)]).changes == []
    core.tick(3.0)
    assert core.status_of("b") == Status.ALIVE


def test_watch_targets_are_alive_ring_successors_with_addresses() -> None:
    core = core_knowing(("b", B), ("c", C))
    assert core.watch_targets() == (("b", B), ("c", C))
    core.receive(1.0, [Dead("b", 1, "c")])
    assert core.watch_targets() == (("c", C),)
    core.leave(2.0)
    assert core.watch_targets() == ()


# -- whole clusters, virtual time that moves -------------------------------------------------


def cluster(n: int, seed: int = 3) -> tuple[SimNetwork, list[str]]:
    net = SimNetwork(seed=seed)
    names = net.cluster(n)
    assert net.run_until_true(net.converged, limit=20.0, step=0.1)
    net.run_for(1.0)
    return net, names


def detection(net: SimNetwork, victim: str, since: float, limit: float = 10.0) -> float:
    def everyone_knows() -> bool:
        return all(victim not in net.view(n) for n in net.running())

    assert net.run_until_true(everyone_knows, limit=limit, step=0.001)
    return net.now - since


@pytest.mark.parametrize("size", [3, 10])
def test_a_killed_process_is_known_dead_everywhere_in_tens_of_milliseconds(size: int) -> None:
    net, names = cluster(size)
    killed = net.now
    net.crash(names[1], connections_close=True)
    fast = detection(net, names[1], killed)
    # A silent node (power, cable) in the same cluster is left to the probes and suspicion.
    silent_at = net.now
    net.crash(names[2])
    slow = detection(net, names[2], silent_at)
    assert fast <= FAST.crash_confirm + 0.05 < FAST.suspicion_bounds(size)[0] <= slow
    assert [o.change.kind for o in net.changes(names[1], "dead")]
    assert not net.changes(names[1], "left")


def test_a_restarted_process_buries_its_old_life_only_and_rejoins_everywhere() -> None:
    net, names = cluster(5)
    old = net.nodes[names[2]].core.incarnation
    net.crash(names[2], connections_close=True)
    net.run_for(0.2)
    net.restart(names[2], seeds=[net.nodes[names[0]].addr])
    assert net.run_until_true(lambda: net.converged(names), limit=5.0, step=0.01)
    assert {o.change.incarnation for o in net.changes(names[2], "dead")} == {old}
    assert all(o.change.incarnation > old for o in net.changes(names[2], "joined")[-4:])


def test_a_graceful_leave_stays_left_though_its_connections_close_too() -> None:
    net, names = cluster(5)
    net.leave(names[3])
    net.crash(names[3], connections_close=True)  # the process exits after saying goodbye
    net.run_for(2.0)
    assert net.changes(names[3], "dead") == []
    assert {o.observer for o in net.changes(names[3], "left")} == set(net.running())


def test_stalls_close_nothing_and_cost_no_false_death() -> None:
    net, names = cluster(10)
    for i, name in enumerate(names):
        net.stall(name, 0.4)
        net.run_for(0.2 + 0.01 * i)
    net.run_for(3.0)
    assert [o for o in net.log if o.change.kind == "dead"] == []
    assert sum(n.core.counters.crash_checks for n in net.nodes.values()) == 0


# -- rejoining: held out of elections until the views merged ---------------------------------


def test_hold_lasts_until_a_merge_leaves_another_member_alive_in_our_view() -> None:
    from actors.membership.messages import MemberRecord, PushPull

    core = core_knowing(("b", B))
    core.receive(0.5, [Dead("b", 1, "a")])  # we were cut off: b is dead to us
    step = core.hold(1.0)
    assert core.holding
    assert any(o.stream and o.dest == B for o in step.out)  # a push-pull at once
    # b's answer still carries the incarnation we buried: merged, yet b is dead to us ...
    core.receive_stream_reply(1.01, PushPull("b", False, (MemberRecord("b", B, 1, Status.ALIVE),)))
    assert core.holding and core.status_of("b") == Status.DEAD
    # ... until b refutes (it read our view of it in our request) and says so directly.
    core.receive(1.012, [Alive("b", 2, B)])
    assert not core.holding and core.status_of("b") == Status.ALIVE


def test_a_merge_before_the_hold_does_not_count_and_the_hold_ends_by_itself() -> None:
    core = core_knowing(("b", B))
    core.hold(1.0)
    core.receive(1.001, [Alive("b", 2, B)])  # alive, but no push-pull merged yet
    assert core.holding
    assert core.next_deadline() <= 1.0 + FAST.rejoin_hold
    core.tick(1.0 + FAST.rejoin_hold)
    assert not core.holding
    core.hold(5.0)
    core.unhold(5.1)
    assert not core.holding


def test_urgent_meta_goes_to_every_live_member_directly() -> None:
    core = core_knowing(("b", B), ("c", C))
    out = core.set_meta(1.0, b"x", urgent=True).out
    assert {o.dest for o in out} >= {B, C}
    assert all(any(isinstance(m, Alive) and m.meta == b"x" for m in o.messages) for o in out)
