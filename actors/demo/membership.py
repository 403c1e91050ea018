"""The demo's simulated failure detection: membership without sockets, and gossip over loopback."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pykka

from actors.base import RuntimeActor
from actors.events import MembershipUpdated, NodeJoined, NodeLeft, NodeSuspected
from actors.membership.actor import MuteEvents

DETECTION_DELAY = 0.6  # seconds from a kill to NodeLeft, roughly the `fast` gossip profile


class SimulatedMembership(RuntimeActor):
    """Liveness for the demo: all nodes alive until the scenario kills one."""

    actor_name = "membership"

    def __init__(
        self, nodes: tuple[str, ...], *, detection_delay: float = DETECTION_DELAY, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.nodes = nodes
        self.detection_delay = detection_delay
        self.dead: set[str] = set()

    def on_start(self) -> None:
        self.republish()

    def republish(self) -> None:
        alive = frozenset(self.nodes) - self.dead
        self.publish(MembershipUpdated(self.clock.now(), "demo", alive, frozenset(self.dead)))

    def kill(self, node: str) -> None:
        """The node crashed: suspected at once, declared dead after the detection delay."""
        self.publish(NodeSuspected(self.clock.now(), node, "demo"))
        self.after(self.detection_delay, self.declare_dead, node)

    def declare_dead(self, node: str) -> None:
        if node in self.dead:
            return
        self.dead.add(node)
        self.publish(NodeLeft(self.clock.now(), node, "dead"))
        self.republish()

    def revive(self, node: str) -> None:
        if node not in self.dead:
            return
        self.dead.discard(node)
        self.publish(NodeJoined(self.clock.now(), node))
        self.republish()


class DemoGossip(RuntimeActor):
    """The demo's handle on real gossip: kill and revive one node's MembershipActor.

    Calls go down fire-and-forget (tell), so the scenario never waits on a sibling.
    """

    actor_name = "membership"

    def __init__(self, nodes: tuple[str, ...], resolve: Callable[[str], Any], **kw: Any) -> None:
        super().__init__(**kw)
        self.nodes = nodes
        self.resolve = resolve

    def _member(self, node: str) -> Any:
        if node not in self.nodes:
            raise KeyError(f"no node {node!r}")
        return self.resolve(f"membership/{node}").proxy()

    def kill(self, node: str) -> None:
        """The node's gossip stops answering, without a word: the others must notice."""
        self._member(node).crash()

    def revive(self, node: str) -> None:
        """It comes back as a new process: a new incarnation, joining through the others."""
        self._member(node).revive()

    def on_stop(self) -> None:
        # The whole demo is stopping (we stop before the members): the members' goodbyes to
        # each other are no news, so nothing follows RuntimeStopped. Told, so it is in every
        # member's inbox before the first goodbye datagram.
        for node in self.nodes:
            with contextlib.suppress(pykka.ActorDeadError, KeyError):
                self.resolve(f"membership/{node}").tell(MuteEvents())
