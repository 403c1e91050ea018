"""Publish/subscribe between actors, Mopidy style: listeners are actors, ``send`` tells them all.

A publisher never waits for a subscriber: ``send`` only enqueues (``tell``), so a slow console
cannot slow down the allocator or a speaker. Subscribers are found in Pykka's ActorRegistry by
class, so an actor restarted by the supervisor is subscribed again without any re-wiring.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import msgspec
import pykka

from actors.events import Event

log = logging.getLogger(__name__)


class Published(msgspec.Struct, frozen=True):
    """The message that carries an event into a listener's inbox."""

    event: Event


class Listener:
    """Mix-in for actors that receive events. Override :meth:`on_event`.

    ``listens_to`` narrows what is delivered (None = everything), which keeps inboxes small
    when many speakers run in one process.
    """

    listens_to: ClassVar[tuple[type[Event], ...] | None] = None

    def on_event(self, event: Event) -> None:
        """Called in the listener's own thread, once per event, in publication order."""

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Published):
            self.on_event(message.event)
            return None
        return super().on_receive(message)  # type: ignore[misc]


def send(event: Event) -> None:
    """Tell every running Listener actor about ``event`` (fan-out; never blocks)."""
    message = Published(event)
    for ref in pykka.ActorRegistry.get_by_class(Listener):
        wanted = getattr(ref.actor_class, "listens_to", None)
        if wanted is not None and not isinstance(event, wanted):
            continue
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            log.debug("listener %s stopped before %s reached it", ref, event.name)
