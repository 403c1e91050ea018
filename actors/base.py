"""The base class of every runtime actor: injected clock and publisher, supervised failure.

An actor never creates its own clock or calls ``listener.send`` directly: both are injected so
that unit tests can construct an actor without starting its thread, call its methods, and look
at what it published (house rule 4).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

import msgspec
import pykka

from actors.clock import Clock, RealClock, Scheduler, ThreadScheduler, TimerHandle
from actors.events import Event
from actors.listener import send

log = logging.getLogger(__name__)

Publish = Callable[[Event], None]
CrashHandler = Callable[[str, BaseException], None]


class Tick(msgspec.Struct, frozen=True):
    """A timer firing: run ``method(*args)`` in the actor's own thread.

    ``method`` is a bound method of the actor, named by reference so that a rename is caught
    by the linter and the type checker, not when the timer fires."""

    method: Callable[..., Any]
    args: tuple[Any, ...] = ()


class RuntimeActor(pykka.ThreadingActor):
    """A Pykka actor wired for the lbtui runtime."""

    #: How the runtime and the event log name this actor (unique within one runtime).
    actor_name: str = "actor"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        scheduler: Scheduler | None = None,
        publish: Publish = send,
        on_crash: CrashHandler | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.clock: Clock = clock or RealClock()
        self._scheduler = scheduler
        self.publish = publish
        self._on_crash = on_crash
        if name:
            self.actor_name = name

    @property
    def scheduler(self) -> Scheduler:
        if self._scheduler is None:
            self._scheduler = ThreadScheduler(self.clock)
        return self._scheduler

    def after(self, delay: float, method: Callable[..., Any], *args: Any) -> TimerHandle:
        """Call ``method(*args)`` (a bound method of this actor) in this actor's thread after
        ``delay`` seconds."""
        ref = self.actor_ref
        message = Tick(method, args)

        def fire() -> None:
            # If the actor has stopped, its timers die with it.
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(message)

        return self.scheduler.call_later(delay, fire)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Tick):
            return message.method(*message.args)
        return super().on_receive(message)

    def ready(self) -> bool:
        """Answered once on_start has finished: the runtime's readiness barrier asks this."""
        return True

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        log.error("actor %s failed: %r", self.actor_name, exception_value)
        if self._on_crash is not None and exception_value is not None:
            self._on_crash(self.actor_name, exception_value)
