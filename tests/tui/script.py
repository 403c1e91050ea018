"""Scripted event lists for the console tests: the real cores, no threads, virtual time.

A tiny synchronous bus stands in for Pykka: the real ConfigActor, ClusterActor, AllocatorActor
and SpeakerActors are constructed without being started, publish into the bus, and the bus
hands each event to every listener in order (as ``listener.send`` would, minus the threads).
Membership is scripted (suspect, then dead after the demo's detection delay), like the demo.
The result is the exact event list a demo run would produce, the same every time.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from actors.allocator.actor import AllocatorActor
from actors.clock import ManualClock
from actors.cluster.actor import ClusterActor
from actors.config.actor import ConfigActor
from actors.config.store import ConfigStore, EditOutcome
from actors.demo.cluster import DEMO_CONFIG, DemoCluster, ServiceSpec
from actors.demo.membership import DETECTION_DELAY
from actors.events import (
    ActorStarted,
    Event,
    MembershipUpdated,
    NodeJoined,
    NodeLeft,
    NodeSuspected,
    RuntimeReady,
)
from actors.speaker.actor import SpeakerActor
from actors.speaker.announcer import RecordingAnnouncer

START = 1000.0


class ScriptedDemo:
    """The demo's actors on a synchronous bus; ``events`` is everything published so far."""

    def __init__(
        self,
        nodes: int = 3,
        services: list[ServiceSpec] | None = None,
        config_text: str = DEMO_CONFIG,
    ) -> None:
        self.clock = ManualClock(start=START)
        self.events: list[Event] = []
        self._queue: deque[Event] = deque()
        self.demo = DemoCluster(nodes, services)
        kw: dict[str, Any] = {"clock": self.clock, "publish": self.publish}
        self.config = ConfigActor(ConfigStore.from_text(config_text), **kw)
        self.cluster = ClusterActor(self.demo, **kw)
        self.allocator = AllocatorActor(**kw)
        self.speakers = {
            node: SpeakerActor(node, RecordingAnnouncer(), **kw) for node in self.demo.node_names
        }
        self.listeners: list[Any] = [self.cluster, self.allocator, *self.speakers.values()]
        self.dead: set[str] = set()

    def publish(self, event: Event) -> None:
        self._queue.append(event)

    def run(self) -> None:
        while self._queue:
            event = self._queue.popleft()
            self.events.append(event)
            for listener in self.listeners:
                wanted = listener.listens_to
                if wanted is None or isinstance(event, wanted):
                    listener.on_event(event)

    def at(self, t: float) -> None:
        self.clock.advance_to(START + t)

    # -- the demo's life ---------------------------------------------------------------------
    def start(self) -> ScriptedDemo:
        self.config.on_start()
        self.run()
        self.cluster.on_start()
        self.run()
        self._membership()
        for name in ("config", "cluster", "allocator", "membership", *self.speakers):
            self.publish(ActorStarted(self.clock.now(), name))
        self.publish(RuntimeReady(self.clock.now(), "demo", ("config", "cluster")))
        self.run()
        return self

    def _membership(self) -> None:
        alive = frozenset(self.demo.node_names) - self.dead
        self.publish(MembershipUpdated(self.clock.now(), "demo", alive, frozenset(self.dead)))
        self.run()

    def kill(self, node: str, at: float) -> None:
        """A crash at ``at``; suspected at once, dead after the demo's detection delay."""
        self.at(at)
        self.speakers[node].crash()
        self.publish(NodeSuspected(self.clock.now(), node, "demo"))
        self.run()
        self.at(at + DETECTION_DELAY)
        self.dead.add(node)
        self.publish(NodeLeft(self.clock.now(), node, "dead"))
        self._membership()

    def revive(self, node: str, at: float) -> None:
        self.at(at)
        self.dead.discard(node)
        self.publish(NodeJoined(self.clock.now(), node))
        self._membership()
        self.speakers[node].revive()
        self.run()

    def add_service(self, spec: ServiceSpec, at: float) -> None:
        self.at(at)
        self.cluster.change(lambda src: src.add_service(spec))
        self.run()

    def apply_edit(self, doc: dict[str, Any]) -> EditOutcome:
        outcome = self.config.apply_edit(doc)
        self.run()
        return outcome

    def delete(self, kind: str, name: str) -> EditOutcome:
        outcome = self.config.delete(kind, name)
        self.run()
        return outcome


def demo_events() -> tuple[ScriptedDemo, list[Event]]:
    """The built-in demo's first seconds: start, a new service, node-1 killed at 3 s."""
    demo = ScriptedDemo().start()
    demo.add_service(ServiceSpec("checkout", "shop", endpoints=("node-2", "node-3")), at=1.0)
    demo.kill("node-1", at=3.0)
    demo.at(5.0)
    return demo, list(demo.events)
