"""MembershipActor without threads or sockets: a fake transport, a manual clock, timers drained
by hand. What it publishes, when, and what it sends."""

from __future__ import annotations

import contextlib
import io
import queue
import socket
from pathlib import Path
from typing import Any, ClassVar

import pytest

from actors.base import Tick
from actors.clock import ManualClock
from actors.events import (
    CandidacyChanged,
    Event,
    MembershipUpdated,
    NodeJoined,
    NodeLeft,
    PeersDiscovered,
)
from actors.membership.actor import (
    Datagram,
    MembershipActor,
    MuteEvents,
    StreamReply,
    encode_tags,
)
from actors.membership.messages import Alive, Dead, MemberRecord, Message, PushPull, Status
from actors.membership.profile import FAST

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

ME = ("10.0.0.1", 7946)
SEED = ("10.0.0.2", 7946)


class FakeTransport:
    instances: ClassVar[list[FakeTransport]] = []

    def __init__(self, bind: Any, sealer: Any, **kw: Any) -> None:
        self.bind = bind
        self.sealer = sealer
        self.sent: list[tuple[Any, tuple[Message, ...]]] = []
        self.requests: list[tuple[Any, Message]] = []
        self.closed = False
        FakeTransport.instances.append(self)

    def start(self) -> Any:
        return self.bind

    def send(self, dest: Any, messages: tuple[Message, ...]) -> None:
        self.sent.append((dest, messages))

    def request(self, dest: Any, message: Message) -> None:
        self.requests.append((dest, message))

    def close(self, *, graceful: bool = True) -> None:
        self.closed = True
        self.graceful = graceful


def actor(**kw: Any) -> tuple[MembershipActor, list[Event], ManualClock]:
    clock = ManualClock()
    events: list[Event] = []
    a = MembershipActor(
        node="me",
        bind=ME,
        clock=clock,
        scheduler=clock,
        publish=events.append,
        transport_factory=FakeTransport,
        **kw,
    )
    a.on_start()
    return a, events, clock


def run_timers(a: MembershipActor, clock: ManualClock, seconds: float) -> None:
    """Advance virtual time, handing each fired timer to the actor as its thread would."""
    end = clock.now() + seconds
    while True:
        clock.advance_to(min(end, clock.next_due() or end))
        while True:
            try:
                envelope = a.actor_inbox.get_nowait()
            except queue.Empty:
                break
            message = getattr(envelope, "message", envelope)
            if isinstance(message, Tick):
                a.on_receive(message)
        if clock.now() >= end:
            return


def views(events: list[Event]) -> list[MembershipUpdated]:
    return [e for e in events if isinstance(e, MembershipUpdated)]


def test_no_view_until_a_seed_answers_then_the_cluster() -> None:
    a, events, _ = actor(join=[SEED])
    assert views(events) == []  # a speaker must not think it is alone and claim everything
    dest, request = FakeTransport.instances[-1].requests[0]
    assert dest == SEED and isinstance(request, PushPull) and request.join
    # Gossip to our previous life's address names some members: not a whole view yet.
    a.on_receive((a._generation, Datagram((Alive("other", 2, ("10.0.0.7", 7946)),), SEED)))
    assert views(events) == []
    reply = PushPull("seed", False, (MemberRecord("seed", SEED, 3, Status.ALIVE),))
    a.on_receive((a._generation, StreamReply(reply, SEED)))
    assert views(events)[-1].alive == frozenset({"me", "seed", "other"})
    assert any(isinstance(e, NodeJoined) and e.observer == "me" for e in events)


def test_alone_after_the_join_grace_when_no_seed_answers() -> None:
    a, events, clock = actor(join=[SEED], join_grace=1.0)
    run_timers(a, clock, 0.9)
    assert views(events) == []
    run_timers(a, clock, 0.2)
    assert views(events)[-1].alive == frozenset({"me"})


def test_seeds_from_discovery_and_an_empty_discovery() -> None:
    a, events, _ = actor(expect_seeds=True)
    assert views(events) == []
    a.on_event(PeersDiscovered(0.0, "other-node", ("10.0.0.9:7946",)))  # not ours: ignored
    a.on_event(PeersDiscovered(0.0, "me", ()))
    assert views(events)[-1].alive == frozenset({"me"})
    a.on_event(PeersDiscovered(0.1, "me", ("10.0.0.3:7946", "garbage")))
    assert ("10.0.0.3", 7946) in [d for d, _ in FakeTransport.instances[-1].requests]


def test_candidacy_is_spread_as_a_tag_and_read_back_as_not_candidates() -> None:
    a, events, _ = actor()
    a.on_event(CandidacyChanged(0.0, "me", False, "no carrier"))
    assert views(events)[-1].not_candidates == frozenset({"me"})
    gen = a._generation
    a.on_receive((gen, Datagram((Alive("b", 2, SEED, encode_tags({"candidate": "false"})),), SEED)))
    assert views(events)[-1].not_candidates == frozenset({"me", "b"})
    a.on_receive((gen, Datagram((Alive("b", 3, SEED, encode_tags({"candidate": "true"})),), SEED)))
    assert views(events)[-1].not_candidates == frozenset({"me"})


def test_leave_on_stop_crash_is_silent_and_mute_publishes_nothing() -> None:
    a, events, _ = actor()
    gen = a._generation
    a.on_receive((gen, Datagram((Alive("b", 2, SEED),), SEED)))
    transport = FakeTransport.instances[-1]
    a.on_stop()
    assert (SEED, (Dead("me", a.core.incarnation, "me"),)) in transport.sent  # type: ignore[union-attr]
    assert transport.closed

    b, events, _ = actor()
    gen = b._generation
    b.on_receive((gen, Datagram((Alive("c", 2, SEED),), SEED)))
    b.crash()
    transport = FakeTransport.instances[-1]
    sent_before = len(transport.sent)
    b.on_stop()
    assert len(transport.sent) == sent_before  # a crash says nothing, even at stop
    b.revive()
    assert FakeTransport.instances[-1] is not transport  # a new process, new sockets
    b.on_receive(MuteEvents())
    count = len(events)
    b.on_receive((b._generation, Datagram((Dead("c", 2, "x"),), SEED)))
    assert len(events) == count and not any(isinstance(e, NodeLeft) for e in events[count:])


# -- lbtui speaker's membership options --------------------------------------------------------


def speaker_exit(tmp_path: Path, *extra: str) -> tuple[int, str]:
    from lbtui.cli import main

    err = io.StringIO()
    argv = [
        "speaker",
        "--node-name",
        "node-a",
        "--cluster",
        str(EXAMPLES / "cluster.yaml"),
        "--no-l2",
        "--no-bgp",
        *extra,
    ]
    with contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def test_speaker_refuses_a_switch_interval_out_of_range(tmp_path: Path) -> None:
    for bad in ("0", "nan", "1000", "-1"):
        code, err = speaker_exit(tmp_path, "--switch-interval", bad)
        assert code == 1 and "--switch-interval" in err and "0.01 to 100 ms" in err, err


def test_speaker_refuses_bad_membership_options(tmp_path: Path) -> None:
    code, err = speaker_exit(tmp_path, "--ml-bind", "node-a:7946")
    assert code == 1 and "not an IP address" in err
    code, err = speaker_exit(tmp_path, "--ml-bind", "127.0.0.1:7946", "--ml-join", "10.0.0.1:x")
    assert code == 1 and "bad port" in err
    code, err = speaker_exit(tmp_path, "--ml-bind", "127.0.0.1", "--ml-timer", "warp=1")
    assert code == 1 and "NAME one of" in err
    code, err = speaker_exit(tmp_path, "--ml-bind", "127.0.0.1", "--ml-timer", "probe_timeout=5")
    assert code == 1 and "shorter than probe_interval" in err
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        code, err = speaker_exit(tmp_path, "--ml-bind", f"127.0.0.1:{port}")
    assert code == 1 and "cannot bind membership" in err and "Traceback" not in err
    secret = tmp_path / "secret"
    secret.write_text("dG9vIHNob3J0\n")
    code, err = speaker_exit(tmp_path, "--ml-bind", "127.0.0.1", "--ml-secret-file", str(secret))
    assert code == 1 and f"{secret}:1" in err and "dG9v" not in err
    code, err = speaker_exit(tmp_path, "--ml-secret-file", str(tmp_path / "missing"))
    assert code == 2 and "cannot read" in err


def test_a_node_whose_link_returns_stays_out_until_the_views_merged() -> None:
    """No split brain on rejoin: the returning node's view calls the owner dead, so it keeps
    candidate=false until a push-pull merged the views, then tells everyone directly."""
    a, events, clock = actor(join=[SEED])
    gen = a._generation
    joined = PushPull("b", False, (MemberRecord("b", SEED, 2, Status.ALIVE),))
    a.on_receive((gen, StreamReply(joined, SEED)))
    a.on_event(CandidacyChanged(0.0, "me", False, "no carrier"))
    a.on_receive((gen, Datagram((Dead("b", 2, "me"),), SEED)))  # cut off: b is dead to us
    assert views(events)[-1].alive == frozenset({"me"})
    transport = FakeTransport.instances[-1]
    asked = len(transport.requests)
    clock.advance(0.5)
    a.on_event(CandidacyChanged(0.5, "me", True, "carrier on eth0"))
    assert a.tags["candidate"] == "false" and a.core is not None and a.core.holding
    assert views(events)[-1].not_candidates == frozenset({"me"})  # we claim nothing yet
    assert any(d == SEED for d, _ in transport.requests[asked:])  # asked for the views now
    # b's answer: its record (newer: it refuted our verdict) and ours as it knows it.
    reply = PushPull("b", False, (MemberRecord("b", SEED, 3, Status.ALIVE),))
    sent = len(transport.sent)
    a.on_receive((gen, StreamReply(reply, SEED)))
    assert a.tags["candidate"] == "true" and not a.core.holding
    last = views(events)[-1]
    assert last.alive == frozenset({"me", "b"}) and last.not_candidates == frozenset()
    direct = [m for d, msgs in transport.sent[sent:] if d == SEED for m in msgs]
    assert any(isinstance(m, Alive) and m.node == "me" for m in direct)  # not only gossip


def test_a_returning_node_that_hears_nobody_is_a_candidate_after_the_hold() -> None:
    a, events, clock = actor(join=[SEED])
    gen = a._generation
    joined = PushPull("b", False, (MemberRecord("b", SEED, 2, Status.ALIVE),))
    a.on_receive((gen, StreamReply(joined, SEED)))
    a.on_event(CandidacyChanged(0.0, "me", False, "no carrier"))
    a.on_receive((gen, Datagram((Dead("b", 2, "me"),), SEED)))
    a.on_event(CandidacyChanged(0.1, "me", True, "carrier on eth0"))
    run_timers(a, clock, FAST.rejoin_hold - 0.05)
    assert a.tags["candidate"] == "false"
    run_timers(a, clock, 0.1)
    assert a.tags["candidate"] == "true"
    assert views(events)[-1].not_candidates == frozenset()
    # Losing carrier again while held ends the hold at once.
    a.on_event(CandidacyChanged(3.0, "me", False, "no carrier"))
    a.on_event(CandidacyChanged(3.1, "me", True, "carrier on eth0"))
    a.on_event(CandidacyChanged(3.2, "me", False, "no carrier"))
    assert a.core is not None and not a.core.holding and a.tags["candidate"] == "false"


def test_profile_overrides() -> None:
    p = FAST.with_overrides(["probe_interval=0.2", "gossip-nodes=4", "suspicion_log_scale=yes"])
    assert (p.probe_interval, p.gossip_nodes, p.suspicion_log_scale) == (0.2, 4, True)
    assert p.probe_timeout == FAST.probe_timeout
    for bad in ("probe_interval", "probe_interval=fast", "gossip_nodes=0", "name=x"):
        with pytest.raises(ValueError):
            FAST.with_overrides([bad])
    # Crash detection by the kernel can be switched off (the probes alone), not made negative.
    assert FAST.with_overrides(["crash_watch=0"]).crash_watch == 0
    with pytest.raises(ValueError, match="zero or more"):
        FAST.with_overrides(["crash_watch=-1"])


def test_a_changed_secret_file_is_reloaded_and_a_broken_one_ignored(tmp_path: Path) -> None:
    from actors.membership.keyring import Keyring, encode_key

    first, second = Keyring.generate(), Keyring.generate()
    secret = tmp_path / "secret"
    secret.write_text(encode_key(first.primary) + "\n")
    a, _, clock = actor(sealer=first, secret_file=str(secret), secret_poll=1.0)
    transport = FakeTransport.instances[-1]
    secret.write_text(f"{encode_key(second.primary)}\n{encode_key(first.primary)}\n")
    run_timers(a, clock, 1.1)
    assert isinstance(transport.sealer, Keyring) and transport.sealer.primary == second.primary
    assert len(transport.sealer) == 2
    secret.write_text("broken!\n")
    run_timers(a, clock, 1.1)
    assert transport.sealer.primary == second.primary  # the last good keys stay
