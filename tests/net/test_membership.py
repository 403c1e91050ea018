"""Membership over real UDP and TCP on loopback addresses (127.0.0.x).

In-process MembershipActors (real sockets, real threads, real clock) and whole `lbtui speaker`
processes: SIGKILL is detected, SIGTERM is a graceful leave, a node with the wrong key (or no
key) never joins, and hostile datagrams are counted and dropped while the cluster carries on.
Times are printed, never asserted (tests/bench/membership.py measures them).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.clock import RealClock, ThreadScheduler
from actors.events import Event, MembershipUpdated, NodeJoined, NodeLeft
from actors.membership.actor import MembershipActor
from actors.membership.keyring import Keyring, Plaintext, encode_key
from actors.membership.transport import free_port
from tests.recorder import EventJournal

pytestmark = pytest.mark.net

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEY = Keyring([bytes(range(32))])
WRONG = Keyring([bytes(range(2, 34))])
WAIT = 15.0  # generous: the machine is shared; detection itself is sub-second


# -- in-process actors ----------------------------------------------------------------------------


class Cluster:
    def __init__(self) -> None:
        self.journal = EventJournal()
        self.clock = RealClock()
        self.scheduler = ThreadScheduler(self.clock, name="test-membership-timers")
        self.refs: dict[str, pykka.ActorRef[Any]] = {}
        self.addresses: dict[str, tuple[str, int]] = {}

    def start(self, node: str, host: str, *, join: list[str] = (), sealer: Any = KEY) -> None:
        port = free_port(host)
        ref = MembershipActor.start(
            node=node,
            bind=(host, port),
            join=[self.addresses[j] for j in join],
            sealer=sealer,
            clock=self.clock,
            scheduler=self.scheduler,
            publish=self.journal.add,
        )
        self.refs[node] = ref
        self.addresses[node] = (host, port)

    def view(self, observer: str) -> frozenset[str] | None:
        views = [e for e in self.journal.of(MembershipUpdated) if e.observer == observer]
        return views[-1].alive if views else None

    def wait(self, predicate: Callable[[list[Event]], Any], timeout: float = WAIT) -> Any:
        return self.journal.wait_for(predicate, timeout=timeout)

    def wait_converged(self, nodes: list[str]) -> None:
        self.wait(lambda _ev: all(self.view(n) == frozenset(nodes) for n in nodes))

    def stats(self, node: str) -> dict[str, Any]:
        return self.refs[node].proxy().stats().get(timeout=5)

    def close(self) -> None:
        for ref in self.refs.values():
            ref.stop(block=True, timeout=5) if ref.is_alive() else None
        self.scheduler.stop()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        c.close()


def left_events(journal: EventJournal, node: str, reason: str) -> dict[str, NodeLeft]:
    return {e.observer: e for e in journal.of(NodeLeft) if e.node == node and e.reason == reason}


def test_three_actors_join_detect_a_crash_and_hear_a_leave(cluster: Cluster) -> None:
    cluster.start("m-a", "127.0.0.21")
    cluster.start("m-b", "127.0.0.22", join=["m-a"])
    cluster.start("m-c", "127.0.0.23", join=["m-a"])
    cluster.start("m-d", "127.0.0.24", join=["m-b"])
    nodes = ["m-a", "m-b", "m-c", "m-d"]
    cluster.wait_converged(nodes)

    crashed = time.monotonic()
    cluster.refs["m-c"].proxy().crash().get(timeout=5)
    cluster.wait(
        lambda _e: set(left_events(cluster.journal, "m-c", "dead")) == {"m-a", "m-b", "m-d"}
    )
    detected = time.monotonic() - crashed
    assert all("m-c" not in (cluster.view(n) or {"m-c"}) for n in ("m-a", "m-b", "m-d"))

    stopped = time.monotonic()
    cluster.refs["m-d"].stop(block=True, timeout=5)  # graceful: it leaves
    cluster.wait(lambda _e: set(left_events(cluster.journal, "m-d", "left")) == {"m-a", "m-b"})
    heard = time.monotonic() - stopped
    assert not left_events(cluster.journal, "m-d", "dead")
    print(f"\ncrash -> dead everywhere: {detected:.3f} s; leave -> known: {heard:.3f} s")

    # The crashed node comes back (new incarnation) and is welcomed again.
    cluster.refs["m-c"].proxy().revive().get(timeout=5)
    cluster.wait_converged(["m-a", "m-b", "m-c"])
    rejoined = [
        e for e in cluster.journal.of(NodeJoined) if e.node == "m-c" and e.observer == "m-a"
    ]
    assert rejoined[-1].incarnation > rejoined[0].incarnation


@pytest.mark.parametrize("intruder_sealer", [WRONG, Plaintext()], ids=["wrong-key", "no-key"])
def test_a_node_without_the_key_never_joins(cluster: Cluster, intruder_sealer: Any) -> None:
    cluster.start("k-a", "127.0.0.31")
    cluster.start("k-b", "127.0.0.32", join=["k-a"])
    cluster.wait_converged(["k-a", "k-b"])
    cluster.start("k-x", "127.0.0.33", join=["k-a", "k-b"], sealer=intruder_sealer)
    # It keeps trying (join retries) and is refused every time; give it several rounds.
    cluster.wait(lambda _e: cluster.stats("k-a")["auth_failures"] >= 3)
    time.sleep(1.5)
    assert not [
        e
        for e in cluster.journal.events
        if getattr(e, "node", None) == "k-x" and isinstance(e, NodeJoined)
    ]
    assert cluster.view("k-a") == cluster.view("k-b") == frozenset({"k-a", "k-b"})
    assert cluster.stats("k-x")["auth_failures"] + cluster.stats("k-x")["stream_failures"] > 0
    # ...and it published no view of a cluster it is not in (alone only after the grace).
    assert cluster.view("k-x") in (None, frozenset({"k-x"}))


def test_hostile_datagrams_and_streams_are_counted_and_dropped(cluster: Cluster) -> None:
    cluster.start("f-a", "127.0.0.41")
    cluster.start("f-b", "127.0.0.42", join=["f-a"])
    cluster.wait_converged(["f-a", "f-b"])
    target = cluster.addresses["f-a"]
    rng = random.Random(3)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for i in range(400):
            size = rng.choice([0, 1, 13, 29, 30, 100, 1400, 9000])
            payload = rng.randbytes(size)
            if i % 4 == 0:  # looks sealed: right version byte, wrong everything else
                payload = b"\x01" + payload
            udp.sendto(payload, target)
    for junk in (b"", b"\x00\x00\x00\x05hello", b"\xff\xff\xff\xff", rng.randbytes(3000)):
        with socket.create_connection(target, timeout=2) as tcp:
            tcp.sendall(junk)
    cluster.wait(
        lambda _e: (
            cluster.stats("f-a")["auth_failures"] + cluster.stats("f-a")["decode_failures"] >= 300
        )
    )
    # Still a working member: a newcomer joins through the node that took the beating.
    cluster.start("f-c", "127.0.0.43", join=["f-a"])
    cluster.wait_converged(["f-a", "f-b", "f-c"])
    assert cluster.refs["f-a"].is_alive()


# -- lbtui speaker processes ---------------------------------------------------------------------


class Speaker:
    def __init__(self, node: str, host: str, join: list[str], key_file: Path, tmp: Path) -> None:
        self.node = node
        self.out = tmp / f"{node}.out"
        self.err = tmp / f"{node}.err"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lbtui",
                "speaker",
                "--node-name",
                node,
                "--cluster",
                str(EXAMPLES / "cluster.yaml"),
                "--config",
                str(EXAMPLES / "crds" / "config.yaml"),
                "--no-l2",
                "--no-bgp",
                "--ml-bind",
                f"{host}:7946",
                "--ml-join",
                ",".join(join),
                "--ml-secret-file",
                str(key_file),
            ],
            stdout=self.out.open("w"),
            stderr=self.err.open("w"),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.out.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line being written
        return out

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], Any], timeout: float = 30
    ) -> Any:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = predicate(self.events())
            if found:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.node} exited: {self.err.read_text()[-2000:]}")
            time.sleep(0.05)
        raise AssertionError(
            f"{self.node}: condition not met; stderr: {self.err.read_text()[-2000:]}"
        )

    def alive_view(self) -> set[str] | None:
        views = [e for e in self.events() if e["event"] == "MembershipUpdated"]
        return set(views[-1]["alive"]) if views else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def test_speakers_fail_over_on_sigkill_and_sigterm_and_shut_out_a_wrong_key(tmp_path: Path) -> None:
    key = tmp_path / "secret"
    key.write_text(encode_key(KEY.primary) + "\n")
    wrong = tmp_path / "wrong"
    wrong.write_text(encode_key(WRONG.primary) + "\n")
    hosts = {"node-a": "127.0.0.51", "node-b": "127.0.0.52", "node-c": "127.0.0.53"}
    seeds = [f"{h}:7946" for h in hosts.values()]
    speakers: dict[str, Speaker] = {}
    try:
        for node, host in hosts.items():
            speakers[node] = Speaker(node, host, seeds, key, tmp_path)
        speakers["node-x"] = Speaker("node-x", "127.0.0.54", seeds, wrong, tmp_path)
        everyone = set(hosts)
        for node in hosts:
            speakers[node].wait_for(lambda _e, n=node: speakers[n].alive_view() == everyone)
        # node-b owns 10.99.0.100 (see `lbtui plan`); kill it without a word.
        owner = "node-b"
        speakers[owner].wait_for(
            lambda ev: any(
                e["event"] == "AnnouncementStarted" and e["ip"] == "10.99.0.100" for e in ev
            )
        )
        killed = time.monotonic()
        speakers[owner].proc.send_signal(signal.SIGKILL)
        for node in ("node-a", "node-c"):
            speakers[node].wait_for(
                lambda ev: any(
                    e["event"] == "NodeLeft" and e["node"] == owner and e["reason"] == "dead"
                    for e in ev
                )
            )
        detected = time.monotonic() - killed
        # `lbtui plan --node-down node-b`: node-c is the successor.
        takeover = speakers["node-c"].wait_for(
            lambda ev: [
                e for e in ev if e["event"] == "AnnouncementStarted" and e["ip"] == "10.99.0.100"
            ]
        )
        assert takeover[-1]["reason"] == f"failover from {owner} (dead)"

        # SIGTERM: node-a withdraws, leaves, and node-c takes over everything at once.
        stopped = time.monotonic()
        speakers["node-a"].proc.send_signal(signal.SIGTERM)
        assert speakers["node-a"].proc.wait(timeout=10) == 0
        speakers["node-c"].wait_for(
            lambda ev: any(
                e["event"] == "NodeLeft" and e["node"] == "node-a" and e["reason"] == "left"
                for e in ev
            )
        )
        heard = time.monotonic() - stopped
        pinned = speakers["node-c"].wait_for(
            lambda ev: [
                e for e in ev if e["event"] == "AnnouncementStarted" and e["ip"] == "10.99.0.120"
            ]
        )
        assert pinned[-1]["reason"] == "failover from node-a (left)"
        # The wrong key never got in, anywhere.
        for s in speakers.values():
            if s.node != "node-x":
                assert all(
                    "node-x" not in e.get("alive", [])
                    for e in s.events()
                    if e["event"] == "MembershipUpdated"
                )
        assert speakers["node-x"].alive_view() in (None, {"node-x"})
        print(f"\nSIGKILL -> dead on both others: {detected:.3f} s; SIGTERM -> left: {heard:.3f} s")
    finally:
        for s in speakers.values():
            s.stop()


# -- the demo, gossiping for real ------------------------------------------------------------------


def test_demo_gossip_kill_fails_over_and_revive_rejoins() -> None:
    from actors.events import AnnouncementStarted, IpAssigned, RuntimeReady
    from actors.roles.demo import DemoOptions, build, kill_node, revive_node
    from actors.runtime import ActorSpec
    from tests.recorder import Recorder

    journal = EventJournal()
    runtime, _, network = build(
        DemoOptions(nodes=3, scenario_text="steps: []", membership="gossip"),
        extra=[ActorSpec("recorder", Recorder, {"journal": journal})],
    )
    runtime.start()
    try:
        journal.wait_for(lambda ev: any(isinstance(e, RuntimeReady) for e in ev), timeout=WAIT)
        nodes = frozenset({"node-1", "node-2", "node-3"})
        journal.wait_for(
            lambda ev: (
                {e.observer for e in ev if isinstance(e, MembershipUpdated) and e.alive == nodes}
                == nodes
            ),
            timeout=WAIT,
        )
        ip = journal.wait_for(
            lambda ev: next(
                (e.ips[0] for e in ev if isinstance(e, IpAssigned) and e.service == "default/web"),
                None,
            ),
            timeout=WAIT,
        )
        owner = journal.wait_for(lambda _ev: (network.view().l2.get(ip) or (None,))[0], WAIT)
        killed = time.monotonic()
        kill_node(runtime, owner)
        others = nodes - {owner}
        journal.wait_for(
            lambda _ev: set(left_events(journal, owner, "dead")) == set(others), timeout=WAIT
        )
        detected = time.monotonic() - killed
        new_owner = journal.wait_for(
            lambda _ev: next(iter(network.view().l2.get(ip) or ()), None) in others, timeout=WAIT
        )
        assert new_owner
        # The simulated segment changes before the speaker's event reaches the journal.
        started = journal.wait_for(
            lambda ev: [
                e
                for e in ev
                if isinstance(e, AnnouncementStarted) and e.ip == ip and e.node != owner
            ],
            timeout=WAIT,
        )
        assert started[-1].reason == f"failover from {owner} (dead)"
        before = len(journal.events)
        revive_node(runtime, owner)
        journal.wait_for(
            lambda ev: (
                {e.observer for e in ev[before:] if isinstance(e, NodeJoined) and e.node == owner}
                >= set(others)
            ),
            timeout=WAIT,
        )
        joins = [e for e in journal.of(NodeJoined) if e.node == owner and e.observer in others]
        assert joins[-1].incarnation > joins[0].incarnation
        print(f"\ndemo: kill -> dead on both others: {detected:.3f} s")
    finally:
        runtime.stop("test")
