"""The membership core in virtual time: a simulated network of real cores (actors.membership.sim).

Everything here is deterministic (seeded) and runs in milliseconds of wall time per virtual
second. Bounds are the profile's, not wall-clock speed.
"""

from __future__ import annotations

import pytest

from actors.membership.core import Membership
from actors.membership.messages import Ack, Alive, Dead, IndirectPing, Nack, Ping, Status, Suspect
from actors.membership.profile import FAST, LAN, Profile, profile_named
from actors.membership.records import Probe, Suspicion
from actors.membership.sim import SimNetwork

A, B, C = ("10.0.0.1", 7946), ("10.0.0.2", 7946), ("10.0.0.3", 7946)


def started(name: str = "a", addr=A, profile: Profile = FAST) -> Membership:
    core = Membership(name, addr, profile, incarnation=5)
    core.start(0.0)
    return core


def knows(core: Membership, name: str, addr, inc: int = 1) -> None:
    core.receive(0.0, [Alive(name, inc, addr)])


def converged_cluster(n: int, *, seed: int = 1, loss: float = 0.0, profile: Profile = FAST):
    net = SimNetwork(seed=seed, loss=loss)
    names = net.cluster(n, profile=profile)
    assert net.run_until_true(net.converged, limit=20.0, step=0.1)
    net.run_for(1.0)
    return net, names


def detection_time(net: SimNetwork, victim: str, crashed_at: float) -> float:
    others = [n for n in net.running()]
    times = [o.t for o in net.changes(victim, "dead") if o.observer in others]
    assert len({o.observer for o in net.changes(victim, "dead")} & set(others)) == len(others)
    return max(times) - crashed_at


# -- the pure core, message by message -------------------------------------------------------


def test_ping_for_us_is_acked_and_a_ping_for_someone_else_is_not() -> None:
    core = started()
    out = core.receive(1.0, [Ping(7, "a", "b", B)]).out
    assert out[0].dest == B and out[0].messages[0] == Ack(7)
    assert core.receive(1.0, [Ping(8, "z", "b", B)]).out == []


def test_suspicion_of_ourselves_is_refuted_with_a_higher_incarnation_sent_to_the_accuser() -> None:
    core = started()
    knows(core, "b", B)
    step = core.receive(1.0, [Suspect("a", 5, "b")])
    assert core.incarnation == 6
    direct = [o for o in step.out if o.dest == B]
    assert Alive("a", 6, A) in direct[0].messages
    assert core.awareness == 1  # Lifeguard: being suspected makes us doubt ourselves
    # A stale accusation (older incarnation) gets our current record, no new incarnation.
    step = core.receive(1.1, [Dead("a", 5, "b")])
    assert core.incarnation == 6
    assert any(Alive("a", 6, A) in o.messages for o in step.out if o.dest == B)


def test_alive_with_a_higher_incarnation_clears_a_suspicion() -> None:
    core = started()
    knows(core, "b", B, inc=3)
    changes = core.receive(1.0, [Suspect("b", 3, "c")]).changes
    assert [c.kind for c in changes] == ["suspected"] and core.status_of("b") == Status.SUSPECT
    assert core.receive(1.1, [Alive("b", 3, B)]).changes == []  # same incarnation: no refute
    changes = core.receive(1.2, [Alive("b", 4, B)]).changes
    assert [c.kind for c in changes] == ["alive"] and core.status_of("b") == Status.ALIVE


def test_confirmations_shrink_the_suspicion_timeout_towards_its_floor() -> None:
    low, high = FAST.suspicion_bounds(10)
    s = Suspicion(0.0, 2, low, high, {"b"}, high)
    assert s.deadline == high
    assert not s.confirm("b")  # the first accuser does not confirm itself
    assert s.confirm("c") and low < s.deadline < high
    assert s.confirm("d") and s.deadline == pytest.approx(low)
    assert not s.confirm("e")  # k reached: no further change


def test_dead_and_left_are_told_apart_and_final_for_that_incarnation() -> None:
    core = started()
    knows(core, "b", B, inc=2)
    knows(core, "c", C, inc=2)
    assert [c.kind for c in core.receive(1.0, [Dead("b", 2, "c")]).changes] == ["dead"]
    assert [c.kind for c in core.receive(1.0, [Dead("c", 2, "c")]).changes] == ["left"]
    assert core.receive(1.1, [Alive("b", 2, B)]).changes == []
    assert [c.kind for c in core.receive(1.2, [Alive("b", 3, B)]).changes] == ["joined"]


def test_indirect_probe_relays_the_ack_or_nacks_in_time() -> None:
    core = started()
    step = core.receive(1.0, [IndirectPing(40, "c", C, "b", B, True)])
    ping = step.out[0].messages[0]
    assert step.out[0].dest == C and isinstance(ping, Ping) and ping.target == "c"
    relayed = core.receive(1.01, [Ack(ping.seq)]).out
    assert relayed[0].dest == B and relayed[0].messages[0] == Ack(40)
    # No answer this time: a nack before the prober's own deadline.
    core.receive(2.0, [IndirectPing(41, "c", C, "b", B, True)])
    assert core.tick(2.0 + 0.5 * FAST.probe_timeout).out == []
    out = core.tick(2.0 + FAST.nack_fraction * FAST.probe_timeout).out
    nacks = [o for o in out if Nack(41) in o.messages]
    assert nacks and nacks[0].dest == B


def probing() -> tuple[Membership, Probe, float]:
    """A node that knows three others, at the moment its first probe has gone out."""
    core = started()
    for name, addr in (("b", B), ("c", C), ("d", ("10.0.0.4", 7946))):
        knows(core, name, addr)
    t = 0.0
    while core._probe is None:
        t = core.next_deadline()
        core.tick(t)
    return core, core._probe, t


def test_failed_probe_without_nacks_raises_awareness_and_stretches_timeouts() -> None:
    core, probe, t = probing()
    # Nobody answers, not even the helpers: the fault is more likely ours.
    while core._probe is probe:
        t = core.next_deadline()
        core.tick(t)
    assert core.awareness == 2  # two helpers were asked, neither nacked
    assert core._scaled(FAST.probe_timeout) == pytest.approx(3 * FAST.probe_timeout)


def test_when_every_helper_has_nacked_the_verdict_comes_at_once() -> None:
    """A silent target, helpers that reached us: the suspicion starts with the last nack, not
    at the end of the probe's interval; one nack of two leaves the wait as it was."""
    core, probe, t = probing()
    while not probe.indirect_sent:
        t = core.next_deadline()
        core.tick(t)
    assert probe.expected_nacks == 2
    t += 0.01
    core.receive(t, [Nack(probe.seq)])
    assert core.next_deadline() == pytest.approx(probe.sent_at + FAST.probe_interval)
    t += 0.001
    core.receive(t, [Nack(probe.seq)])
    assert core.next_deadline() == pytest.approx(t)
    step = core.tick(t)
    assert core._probe is None
    assert core.members[probe.target].status == Status.SUSPECT
    assert t < probe.sent_at + FAST.probe_interval
    assert core.awareness == 0  # both helpers answered: the fault is not ours
    assert any(c.kind == "suspected" for c in step.changes)


def test_a_late_timer_means_we_stalled_and_no_verdict_is_taken_at_once() -> None:
    core = started()
    knows(core, "b", B)
    t = core.next_deadline()
    core.tick(t)
    while core._probe is None:
        t = core.next_deadline()
        core.tick(t)
    late = t + 1.0  # we froze for a second while the probe was out
    step = core.tick(late)
    assert core.counters.stalls == 1 and core.status_of("b") == Status.ALIVE
    assert step.changes == []
    seq = core._probe.seq
    core.receive(late + 0.001, [Ack(seq)])  # the ack that waited in the socket
    assert core._probe is None and core.status_of("b") == Status.ALIVE


def test_leave_tells_every_member_directly() -> None:
    core = started()
    knows(core, "b", B)
    knows(core, "c", C)
    out = core.leave(1.0).out
    assert {o.dest for o in out} == {B, C}
    assert all(o.messages == (Dead("a", 5, "a"),) for o in out)
    assert core.next_deadline() == float("inf")


def test_profiles() -> None:
    assert profile_named("lan") is LAN and profile_named("fast") is FAST
    with pytest.raises(ValueError, match="unknown membership profile"):
        profile_named("warp")
    # memberlist: suspicion = 4 · max(1, log10 N) · 1 s; retransmits 4 · ceil(log10(N + 1)).
    assert LAN.suspicion_bounds(100) == (8.0, 48.0)
    assert LAN.suspicion_bounds(5) == (4.0, 24.0)
    assert LAN.retransmit_limit(100) == 12
    assert FAST.suspicion_bounds(100) == FAST.suspicion_bounds(5)
    assert FAST.replace(probe_interval=0.2).probe_interval == 0.2


# -- whole clusters in virtual time -----------------------------------------------------------


def test_a_hundred_nodes_converge_through_one_seed() -> None:
    net = SimNetwork(seed=7)
    names = net.cluster(100)
    assert net.run_until_true(net.converged, limit=10.0, step=0.25)
    assert net.view(names[57]) == frozenset(names)
    assert not [o for o in net.log if o.change.kind in ("suspected", "dead")]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_crashed_node_is_declared_dead_by_all_within_the_fast_bound(seed: int) -> None:
    net, names = converged_cluster(20, seed=seed)
    victim = names[seed * 3]
    crashed_at = net.now
    net.crash(victim)
    assert net.run_until_true(
        lambda: all(victim not in net.view(n) for n in net.running()), limit=5.0
    )
    assert detection_time(net, victim, crashed_at) < 2.0  # fast: p99 goal
    assert not [o for o in net.log if o.change.kind == "dead" and o.change.node != victim]


def test_lan_profile_detects_within_its_suspicion_bound() -> None:
    net, names = converged_cluster(10, profile=LAN)
    crashed_at = net.now
    net.crash(names[4])
    low, high = LAN.suspicion_bounds(10)
    bound = 3 * LAN.probe_interval + high
    assert net.run_until_true(
        lambda: all(names[4] not in net.view(n) for n in net.running()), limit=bound, step=0.1
    )
    # Confirmations brought it close to the floor, far below the unconfirmed maximum.
    assert low < detection_time(net, names[4], crashed_at) < low + 4 * LAN.probe_interval


@pytest.mark.parametrize(("n", "seed"), [(5, 1), (5, 2), (5, 3), (20, 4), (50, 5)])
def test_a_node_stalled_for_half_a_second_is_suspected_but_never_declared_dead(
    n: int, seed: int
) -> None:
    net, names = converged_cluster(n, seed=seed, loss=0.01)
    victim = names[1 + seed % (n - 1)]
    for _ in range(3):
        net.stall(victim, 0.5)
        net.run_for(2.0)
    assert net.changes(victim, "suspected")  # it was noticed...
    assert not [o for o in net.log if o.change.kind == "dead"]  # ...and nobody died
    assert net.converged(names)


def test_a_stall_beyond_the_suspicion_floor_is_declared_dead_then_rejoins() -> None:
    net, names = converged_cluster(10, seed=9)
    net.stall(names[3], 3.0)
    net.run_for(3.5)
    assert net.changes(names[3], "dead")
    assert net.run_until_true(lambda: net.converged(names), limit=5.0)
    assert net.changes(names[3], "joined")


def test_a_partition_heals() -> None:
    net, names = converged_cluster(10, seed=11)
    left, right = names[:5], names[5:]
    net.partition(left, right)
    net.run_for(4.0)
    assert all(net.view(n) == frozenset(left) for n in left)
    assert all(net.view(n) == frozenset(right) for n in right)
    net.heal()
    assert net.run_until_true(lambda: net.converged(names), limit=3 * FAST.reconnect_interval)


def test_a_restarted_node_rejoins_with_a_new_incarnation() -> None:
    net, names = converged_cluster(10, seed=13)
    victim = names[6]
    before = net.nodes[victim].core.incarnation
    net.crash(victim)
    assert net.run_until_true(lambda: victim not in net.view(names[0]), limit=3.0)
    net.run_for(1.0)
    net.restart(victim, seeds=[net.nodes[names[0]].addr])
    assert net.run_until_true(lambda: net.converged(names), limit=2.0)
    assert net.nodes[victim].core.incarnation > before
    rejoined = net.nodes[names[2]].core.members[victim]
    assert rejoined.incarnation == net.nodes[victim].core.incarnation


def test_graceful_leave_is_known_everywhere_at_once() -> None:
    net, names = converged_cluster(20, seed=17)
    left_at = net.now
    net.leave(names[8])
    net.run_for(0.01)
    seen = {o.observer for o in net.changes(names[8], "left")}
    assert seen == set(names) - {names[8]}
    assert max(o.t for o in net.changes(names[8], "left")) - left_at < 0.005
    assert not net.changes(names[8], "dead")


def test_lossy_network_still_converges_and_detects() -> None:
    net, names = converged_cluster(20, seed=19, loss=0.05)
    net.crash(names[5])
    assert net.run_until_true(
        lambda: all(names[5] not in net.view(n) for n in net.running()), limit=4.0
    )
    net.run_for(2.0)
    assert not [o for o in net.log if o.change.kind == "dead" and o.change.node != names[5]]


def test_gossip_through_the_real_codec_and_encryption() -> None:
    net = SimNetwork(seed=23, wire=True)
    names = net.cluster(8)
    assert net.run_until_true(net.converged, limit=5.0)
    net.crash(names[2])
    assert net.run_until_true(
        lambda: all(names[2] not in net.view(n) for n in net.running()), limit=3.0
    )
    traffic = net.nodes[names[0]].traffic
    assert traffic.bytes_out > 0 and traffic.packets_in > 0
