"""The runtime: starts a role's actors in order, supervises them, stops them in reverse.

Start: each actor is started and asked ``ready()`` before the next one starts (a readiness
barrier), so an actor's on_start may rely on everything before it running.
Stop: speakers are first asked to withdraw every announcement, then actors stop in reverse.
Supervision: an actor that dies from an exception is restarted after a backoff (doubling up
to a cap); ActorFailed says so, and the actors holding state republish it so the newcomer
catches up. SIGTERM/SIGINT stop gracefully; SIGUSR1 logs every thread's stack.

The runtime knows no role: the role builders (``actors.roles``) hand it a list of
:class:`ActorSpec`, and it must not import them.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import pykka

from actors.base import Publish, RuntimeActor
from actors.clock import Clock, RealClock, Scheduler, ThreadScheduler
from actors.events import ActorFailed, ActorStarted, RuntimeReady, RuntimeStopped
from actors.listener import send
from actors.util.backoff import backoff_delay

log = logging.getLogger(__name__)

ASK_TIMEOUT = 10.0

T = TypeVar("T")


class ActorSpec(msgspec.Struct, frozen=True):
    """How to (re)start one actor: its class and constructor arguments.

    The keywords are checked against the class's constructor when the spec is made, so a
    misspelt one is a TypeError naming the actor while the role is built, not a crash when
    the actor starts. The runtime adds ``clock``, ``scheduler``, ``publish``, ``on_crash``
    and ``name`` itself."""

    name: str
    cls: type[RuntimeActor]
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)
    #: Speakers withdraw their announcements first on shutdown.
    withdraws_on_stop: bool = False

    def __post_init__(self) -> None:
        check_keywords(self.name, self.cls, self.kwargs)


def check_keywords(name: str, cls: type, kwargs: dict[str, Any]) -> None:
    """Raise TypeError if ``cls(**kwargs)`` (plus what the runtime adds) cannot be called:
    a keyword no constructor takes, or a required argument missing.

    Keywords a constructor passes on through ``**kwargs`` are looked up in the next
    constructor along the MRO, up to one that takes no ``**kwargs`` (RuntimeActor's); a
    class whose chain never closes is not checked."""
    accepted: set[str] = set()
    required: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = list(inspect.signature(init).parameters.values())[1:]  # after self
        named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        accepted.update(p.name for p in named)
        required.update(p.name for p in named if p.default is p.empty)
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    else:
        return
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise TypeError(f"actor {name!r}: {cls.__name__} takes no keyword {unknown[0]!r}")
    missing = sorted(required - set(kwargs) - _RUNTIME_KEYWORDS)
    if missing:
        raise TypeError(f"actor {name!r}: {cls.__name__} needs {missing[0]!r}")


#: What :meth:`Runtime._start_one` gives every actor besides its spec's keywords.
_RUNTIME_KEYWORDS = frozenset({"clock", "scheduler", "publish", "on_crash", "name"})


class _Slot(msgspec.Struct):
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
            delay = backoff_delay(slot.restarts, self.backoff_initial, self.backoff_max)
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


def run_until_stopped(runtime: Runtime, duration: float | None) -> None:
    """A headless role's life, in the main thread: start with SIGTERM/SIGINT/SIGUSR1
    handled, then block until a signal stops it or ``duration`` seconds have passed."""
    runtime.install_signal_handlers()
    runtime.start()
    runtime.wait(duration)
    if not runtime.stopped.is_set():
        runtime.stop("duration elapsed")
