"""The runtime: starts a role's actors in order, supervises them, stops them in reverse.

Start: each actor is started and asked ``ready()`` before the next one starts (a readiness
barrier), so an actor's on_start may rely on everything before it running.
Stop: speakers are first asked to withdraw every announcement, then actors stop in reverse.
Supervision: an actor that dies from an exception is restarted after a backoff (doubling up
to a cap); ActorFailed says so, and the actors holding state republish it so the newcomer
catches up. SIGTERM/SIGINT stop gracefully; SIGUSR1 logs every thread's stack.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pykka

from actors.base import Publish, RuntimeActor
from actors.clock import Clock, RealClock, Scheduler, ThreadScheduler
from actors.events import ActorFailed, ActorStarted, RuntimeReady, RuntimeStopped
from actors.listener import send

log = logging.getLogger(__name__)

ASK_TIMEOUT = 10.0

T = TypeVar("T")


@dataclass
class ActorSpec:
    """How to (re)start one actor: its class and constructor arguments."""

    name: str
    cls: type[RuntimeActor]
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: Speakers withdraw their announcements first on shutdown.
    withdraws_on_stop: bool = False


@dataclass
class _Slot:
    spec: ActorSpec
    ref: pykka.ActorRef[Any] | None = None
    restarts: int = 0


class Runtime:
    def __init__(
        self,
        role: str,
        specs: list[ActorSpec],
        *,
        clock: Clock | None = None,
        scheduler: Scheduler | None = None,
        publish: Publish = send,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
    ) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate actor names in {names}")
        self.role = role
        self.clock = clock or RealClock()
        self.scheduler = scheduler or ThreadScheduler(self.clock)
        self.publish = publish
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._slots = {s.name: _Slot(s) for s in specs}
        self._order = names
        self._lock = threading.RLock()
        self._stopping = False
        self.stopped = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = ASK_TIMEOUT) -> None:
        try:
            for name in self._order:
                self._start_one(name, timeout)
            # What was published during start-up may have reached no subscriber yet (they
            # start later): every actor holding state publishes it once more, in order.
            self._republish_all(except_name=None, timeout=timeout)
        except Exception:
            self.stop("startup failed")
            raise
        self.publish(RuntimeReady(self.clock.now(), self.role, tuple(self._order)))

    def stop(self, reason: str = "stopped", timeout: float = 2.0) -> None:
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        for name in self._order:
            slot = self._slots[name]
            if slot.spec.withdraws_on_stop and slot.ref is not None and slot.ref.is_alive():
                try:
                    slot.ref.proxy().withdraw_all("shutdown").get(timeout=timeout)
                except Exception as exc:  # keep stopping the others whatever happens
                    log.warning("withdrawing %s failed: %r", name, exc)
        self.publish(RuntimeStopped(self.clock.now(), self.role, reason))
        for name in reversed(self._order):
            ref = self._slots[name].ref
            if ref is not None:
                with contextlib.suppress(pykka.ActorDeadError, pykka.Timeout):
                    ref.stop(block=True, timeout=timeout)
        if isinstance(self.scheduler, ThreadScheduler):
            self.scheduler.stop()
        self.stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        # Wait in slices: a signal the kernel delivers to another thread only sets a flag that
        # the main thread checks when it runs Python code, and one endless lock wait would
        # never let it (SIGTERM was then ignored now and then).
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.stopped.is_set():
            left = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if left <= 0:
                break
            self.stopped.wait(left)
        return self.stopped.is_set()

    # -- access for the layers above ---------------------------------------------------------
    def ref(self, name: str) -> pykka.ActorRef[Any]:
        ref = self._slots[name].ref
        if ref is None:
            raise KeyError(f"actor {name!r} is not running")
        return ref

    def proxy(self, name: str) -> Any:
        return self.ref(name).proxy()

    def ask(
        self, name: str, method: Callable[..., T], *args: Any, timeout: float = ASK_TIMEOUT
    ) -> T:
        """Run ``method`` (named by reference, e.g. ``ConfigActor.current``) in actor ``name``
        and wait for its answer. For callers outside the actors only (rule 2). Raises KeyError
        for an actor that is not running."""
        return getattr(self.proxy(name), method.__name__)(*args).get(timeout=timeout)

    def names(self) -> list[str]:
        return list(self._order)

    def restarts(self, name: str) -> int:
        return self._slots[name].restarts

    # -- supervision -------------------------------------------------------------------------
    def _start_one(self, name: str, timeout: float) -> None:
        slot = self._slots[name]
        kwargs = dict(slot.spec.kwargs)
        kwargs.setdefault("clock", self.clock)
        kwargs.setdefault("scheduler", self.scheduler)
        kwargs.setdefault("publish", self.publish)
        kwargs["on_crash"] = self._crashed
        kwargs["name"] = name
        ref = slot.spec.cls.start(**kwargs)
        slot.ref = ref
        ref.proxy().ready().get(timeout=timeout)
        self.publish(ActorStarted(self.clock.now(), name))

    def _crashed(self, name: str, error: BaseException) -> None:
        """Called from the dying actor's thread: schedule the restart, never block here."""
        with self._lock:
            if self._stopping:
                return
            slot = self._slots[name]
            slot.restarts += 1
            delay = min(self.backoff_max, self.backoff_initial * 2 ** (slot.restarts - 1))
        self.publish(ActorFailed(self.clock.now(), name, repr(error), slot.restarts, delay))
        self.scheduler.call_later(delay, lambda: self._restart(name))

    def _restart(self, name: str) -> None:
        with self._lock:
            if self._stopping:
                return
        # Restarting asks the new actor for readiness; do it off the timer thread.
        threading.Thread(target=self._restart_now, args=(name,), daemon=True).start()

    def _restart_now(self, name: str) -> None:
        try:
            self._start_one(name, ASK_TIMEOUT)
        except Exception as exc:
            log.error("restarting %s failed: %r", name, exc)
            self._crashed(name, exc)
            return
        # Let the newcomer catch up: every actor holding state publishes it again.
        self._republish_all(except_name=name, timeout=ASK_TIMEOUT)

    def _republish_all(self, except_name: str | None, timeout: float) -> None:
        for other in self._order:
            ref = self._slots[other].ref
            if ref is None or other == except_name or not ref.is_alive():
                continue
            if hasattr(self._slots[other].spec.cls, "republish"):
                with contextlib.suppress(pykka.ActorDeadError):
                    ref.proxy().republish().get(timeout=timeout)

    # -- signals -----------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: graceful stop (from a thread: handlers must return quickly)."""

        def on_stop(signum: int, _frame: Any) -> None:
            reason = signal.Signals(signum).name
            threading.Thread(target=self.stop, args=(reason,), daemon=True).start()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGUSR1, dump_thread_stacks)


def dump_thread_stacks(_signum: int = 0, _frame: Any = None) -> None:
    """Write every thread's stack to stderr (SIGUSR1).

    A Python-level handler, run by the main thread between bytecodes: faulthandler's C-level
    dump reads other threads' frames while they run and crashed the process now and then."""
    names = {t.ident: t.name for t in threading.enumerate()}
    out: list[str] = []
    for ident, frame in sys._current_frames().items():
        out.append(f"Thread 0x{ident:016x} ({names.get(ident, '?')}), most recent call last:\n")
        out.extend(traceback.format_stack(frame))
    sys.stderr.write("".join(out))
    sys.stderr.flush()


def run_until_stopped(
    runtime: Runtime, duration: float | None, on_tick: Callable[[], None] | None = None
) -> None:
    """Block the main thread until the runtime stops (signal) or ``duration`` elapses."""
    runtime.wait(duration)
    if not runtime.stopped.is_set():
        runtime.stop("duration elapsed")
    if on_tick is not None:
        on_tick()
