"""An in-memory network for membership cores, in virtual time: tests and benchmarks.

Every node is a real ``Membership`` core; the network delivers its datagrams after a delay
(plus jitter), loses some of them, and can crash, stall, partition and restart nodes. With
``wire=True`` every datagram really goes through the codec and AES-GCM, so the traffic and
CPU figures of the benchmark are those of the real thing.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from actors.membership import codec
from actors.membership.core import Membership
from actors.membership.keyring import Keyring
from actors.membership.messages import Address, Message, PushPull
from actors.membership.profile import FAST, Profile
from actors.membership.records import MemberChange, Step

PORT = 7946


class Observed(msgspec.Struct, frozen=True):
    t: float
    observer: str
    change: MemberChange


class Traffic(msgspec.Struct):
    packets_out: int = 0
    packets_in: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    streams: int = 0


class _Node(msgspec.Struct):
    name: str
    addr: Address
    core: Membership
    crashed: bool = False
    stalled_until: float = 0.0
    inbox: list[tuple[str, Any]] = msgspec.field(default_factory=list)
    version: int = 0
    traffic: Traffic = msgspec.field(default_factory=Traffic)


def address_of(index: int) -> Address:
    return (f"10.{index // 250}.{index % 250}.1", PORT)


class SimNetwork:
    def __init__(
        self,
        *,
        seed: int = 0,
        delay: float = 0.0003,
        jitter: float = 0.0004,
        loss: float = 0.0,
        wire: bool = False,
        keyring: Keyring | None = None,
    ) -> None:
        self.now = 0.0
        self.rng = random.Random(seed)
        self.delay = delay
        self.jitter = jitter
        self.loss = loss
        self.wire = wire
        self.keyring = keyring or (Keyring.generate() if wire else None)
        self.nodes: dict[str, _Node] = {}
        self.by_addr: dict[Address, str] = {}
        self.log: list[Observed] = []
        self.on_change: Callable[[Observed], None] | None = None
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._groups: dict[str, int] | None = None
        self._index = itertools.count()

    # -- building ---------------------------------------------------------------------------
    def add(
        self,
        name: str,
        *,
        profile: Profile = FAST,
        seeds: Iterable[Address] = (),
        incarnation: int | None = None,
    ) -> Address:
        """A node started now, joining through ``seeds``. Returns its address."""
        old = self.nodes.get(name)
        addr = old.addr if old else address_of(next(self._index))
        core = Membership(
            name,
            addr,
            profile,
            incarnation=incarnation if incarnation is not None else int(self.now * 1000) + 1,
            seeds=seeds,
            rng=random.Random(self.rng.random()),
        )
        node = _Node(name, addr, core)
        if old is not None:
            node.version = old.version + 1
            node.traffic = old.traffic
        self.nodes[name] = node
        self.by_addr[addr] = name
        self._apply(node, core.start(self.now))
        return addr

    def cluster(self, count: int, *, profile: Profile = FAST, prefix: str = "n") -> list[str]:
        """``count`` nodes, each joining through the first; run until they know each other."""
        names = [f"{prefix}{i}" for i in range(count)]
        first = self.add(names[0], profile=profile)
        for name in names[1:]:
            self.add(name, profile=profile, seeds=[first])
        return names

    # -- faults -----------------------------------------------------------------------------
    def crash(self, name: str, *, connections_close: bool = False) -> None:
        """The process dies: no more packets in or out, nothing said. With
        ``connections_close`` its kernel closes its TCP connections and refuses new ones (a
        killed process on a live node): the members holding a watch connection with it are
        told (``peer_lost``) one round trip later. Without it the node fell silent (power,
        cable) and only the probes can tell."""
        node = self.nodes[name]
        if connections_close and not node.crashed:
            for other in self.running():
                if other == name or not self._reachable(name, other):
                    continue
                if name in self._watching(other) or other in self._watching(name):
                    self._at(self.now + 2 * self.delay, lambda o=other: self._lost(o, name))
        node.crashed = True
        node.inbox.clear()

    def _watching(self, name: str) -> set[str]:
        return {n for n, _addr in self.nodes[name].core.watch_targets()}

    def _lost(self, observer: str, gone: str) -> None:
        """``observer`` saw ``gone``'s connection close and its port refuse a new one."""
        if self.nodes[gone].crashed:  # back already: the connect would have succeeded
            self._arrive(observer, "lost", gone)

    def restart(self, name: str, *, seeds: Iterable[Address]) -> None:
        """A crashed node comes back as a new process (a new, higher incarnation)."""
        profile = self.nodes[name].core.profile
        self.add(name, profile=profile, seeds=seeds)

    def stall(self, name: str, seconds: float) -> None:
        """The process freezes (GC, CPU starvation, SIGSTOP): packets wait in its socket."""
        node = self.nodes[name]
        node.stalled_until = self.now + seconds
        self._at(self.now + seconds, lambda: self._wake(name))

    def leave(self, name: str) -> None:
        node = self.nodes[name]
        self._apply(node, node.core.leave(self.now))
        node.crashed = True

    def partition(self, *groups: Iterable[str]) -> None:
        self._groups = {n: i for i, group in enumerate(groups) for n in group}

    def heal(self) -> None:
        self._groups = None

    # -- running ----------------------------------------------------------------------------
    def run_until(self, t: float) -> None:
        while self._heap and self._heap[0][0] <= t:
            due, _, action = heapq.heappop(self._heap)
            self.now = max(self.now, due)
            action()
        self.now = max(self.now, t)

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def run_until_true(
        self, predicate: Callable[[], bool], limit: float, step: float = 0.01
    ) -> bool:
        end = self.now + limit
        while self.now < end:
            if predicate():
                return True
            self.run_for(step)
        return predicate()

    # -- views ------------------------------------------------------------------------------
    def view(self, observer: str) -> frozenset[str]:
        return self.nodes[observer].core.alive()

    def running(self) -> list[str]:
        return [n for n, node in self.nodes.items() if not node.crashed]

    def converged(self, expected: Iterable[str] | None = None) -> bool:
        """Every running node sees exactly the running nodes (or ``expected``) alive."""
        want = frozenset(expected if expected is not None else self.running())
        return all(self.view(n) == want for n in self.running())

    def changes(self, node: str, kind: str) -> list[Observed]:
        return [o for o in self.log if o.change.node == node and o.change.kind == kind]

    # -- internals --------------------------------------------------------------------------
    def _at(self, t: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), action))

    def _reachable(self, a: str, b: str) -> bool:
        groups = self._groups
        return groups is None or groups.get(a, -1) == groups.get(b, -2)

    def _apply(self, node: _Node, step: Step) -> None:
        for change in step.changes:
            observed = Observed(self.now, node.name, change)
            self.log.append(observed)
            if self.on_change is not None:
                self.on_change(observed)
        for out in step.out:
            if out.stream:
                self._stream(node, out.dest, out.messages[0])
            else:
                self._datagram(node, out.dest, out.messages)
        self._schedule(node)

    def _schedule(self, node: _Node) -> None:
        due = node.core.next_deadline()
        if due == float("inf"):
            return
        node.version += 1
        version = node.version
        self._at(max(due, self.now), lambda: self._tick(node.name, version))

    def _tick(self, name: str, version: int) -> None:
        node = self.nodes[name]
        if node.version != version or node.crashed or self.now < node.stalled_until:
            return
        self._apply(node, node.core.tick(self.now))

    def _wake(self, name: str) -> None:
        node = self.nodes[name]
        if node.crashed or self.now < node.stalled_until:
            return
        inbox, node.inbox = node.inbox, []
        for kind, payload in inbox:
            self._deliver_now(node, kind, payload)
        self._apply(node, node.core.tick(self.now))

    def _datagram(self, src: _Node, dest: Address, messages: tuple[Message, ...]) -> None:
        src.traffic.packets_out += 1
        payload: Any = messages
        if self.wire:
            assert self.keyring is not None
            payload = self.keyring.seal(codec.encode(messages))
            src.traffic.bytes_out += len(payload)
        name = self.by_addr.get(dest)
        if name is None or not self._reachable(src.name, name):
            return
        if self.loss and self.rng.random() < self.loss:
            return
        t = self.now + self.delay + self.rng.random() * self.jitter
        self._at(t, lambda: self._arrive(name, "datagram", (payload, src.addr)))

    def _stream(self, src: _Node, dest: Address, request: Message) -> None:
        src.traffic.streams += 1
        name = self.by_addr.get(dest)
        if name is None or not self._reachable(src.name, name):
            return
        t = self.now + 2 * self.delay
        self._at(t, lambda: self._arrive(name, "stream", (request, src.name)))

    def _arrive(self, name: str, kind: str, payload: Any) -> None:
        node = self.nodes[name]
        if node.crashed:
            return
        if self.now < node.stalled_until:
            node.inbox.append((kind, payload))
            return
        self._deliver_now(node, kind, payload)

    def _deliver_now(self, node: _Node, kind: str, payload: Any) -> None:
        if kind == "datagram":
            data, src_addr = payload
            node.traffic.packets_in += 1
            if self.wire:
                assert self.keyring is not None
                node.traffic.bytes_in += len(data)
                data = codec.decode(self.keyring.open(data))
            self._apply(node, node.core.receive(self.now, data, src_addr))
        elif kind == "stream":
            request, src_name = payload
            reply, step = node.core.receive_stream(self.now, request)
            self._apply(node, step)
            if reply is not None:
                self._at(
                    self.now + 2 * self.delay,
                    lambda: self._stream_reply(src_name, reply, node.name),
                )
        elif kind == "reply":
            self._apply(node, node.core.receive_stream_reply(self.now, payload))
        elif kind == "lost":
            self._apply(node, node.core.peer_lost(self.now, payload))

    def _stream_reply(self, name: str, reply: PushPull, sender: str) -> None:
        node = self.nodes[name]
        if node.crashed or not self._reachable(name, sender):
            return
        if self.now < node.stalled_until:
            node.inbox.append(("reply", reply))
            return
        self._apply(node, node.core.receive_stream_reply(self.now, reply))
