"""The demo's membership switch: how the scenario and the console kill and revive a node.

Whatever stands in for gossip, the demo runs one actor under the name ``membership``
(``names.MEMBERSHIP``) with ``kill(node)`` and ``revive(node)``:

- :class:`DemoGossip` over real gossip (one MembershipActor per node, named
  :func:`member_name`): a kill silences that node's gossip abruptly, and the others must
  notice; a revive brings it back as a new incarnation.
- :class:`SimulatedMembership` without sockets, for virtual time (a ManualClock scheduler,
  as in tests), where real sockets cannot keep pace: a killed node is suspected at once and
  declared dead after a fixed delay.
"""

from __future__ import annotations

import contextlib
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import pykka

from actors.base import RuntimeActor
from actors.events import MembershipUpdated, NodeJoined, NodeLeft, NodeSuspected
from actors.membership.actor import MuteEvents
from actors.model import names

DETECTION_DELAY = 0.6  # seconds from a kill to NodeLeft, roughly the `fast` gossip profile


def member_name(node: str) -> str:
    """The name of ``node``'s own MembershipActor when the demo gossips for real."""
    return f"{names.MEMBERSHIP}/{node}"


class MembershipSwitch(RuntimeActor):
    """The demo's membership actor: kills and revives nodes as far as liveness goes (their
    speakers are crashed and revived beside it). Calls go down fire-and-forget, so the
    scenario never waits on a sibling."""

    actor_name = names.MEMBERSHIP

    @abstractmethod
    def kill(self, node: str) -> None:
        """Take ``node`` out of liveness, as a crash would."""

    @abstractmethod
    def revive(self, node: str) -> None:
        """Bring a killed ``node`` back."""


class SimulatedMembership(MembershipSwitch):
    """Liveness without sockets: all nodes alive until the scenario kills one."""

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


class DemoGossip(MembershipSwitch):
    """The switch over real gossip: kill and revive one node's MembershipActor, found by
    ``resolve(member_name(node))``."""

    def __init__(self, nodes: tuple[str, ...], resolve: Callable[[str], Any], **kw: Any) -> None:
        super().__init__(**kw)
        self.nodes = nodes
        self.resolve = resolve

    def _member(self, node: str) -> Any:
        if node not in self.nodes:
            raise KeyError(f"no node {node!r}")
        return self.resolve(member_name(node)).proxy()

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
                self.resolve(member_name(node)).tell(MuteEvents())
