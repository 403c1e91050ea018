"""What every Kubernetes writer shares: :class:`ApiWriter`, an actor that writes through a
:class:`~actors.kube.api.KubeApi` and retries a failed round with backoff (:class:`Retrying`).

A writer puts what it owns in :meth:`ApiWriter.sync`, one round of writes; a failed round calls
:meth:`ApiWriter.retry_later`, a whole one ``self.retry.succeeded()``. The writers themselves
(one per module: ``service_status``, ``pool_status``, ``config_state``, ``speaker_status``,
``memberlist_secret``) keep what is their own: what they listen to, whether they write only
while leading, and the objects they write.

A writer with many objects to write (the controller's Service status: one per Service) writes
them through a :class:`WritePool`: at most ``WRITERS`` calls in flight at once, each in a worker
thread, each outcome told back to the actor as a :class:`~actors.base.Tick`. One at a time,
10,000 Services wait 20,000 round trips; unbounded, a burst would meet the API server's
priority-and-fairness limits as a storm of 429s. A pool can yield to another
(``WritePool(yields_to=status_pool)``): its work waits, in order, while the other has a write
queued or in flight, and runs once it has none. The controller's Events yield so to its status
writes: a user waits for the address in status, the ``IPAllocated`` Event may trail.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from abc import abstractmethod
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pykka

from actors.base import RuntimeActor, Tick
from actors.kube.api import KubeApi
from actors.util.backoff import backoff_delay

log = logging.getLogger(__name__)

#: Calls in flight at once per pool: far below any API server's priority level (the default
#: workload-low level alone has ~245 seats of the default 600), enough to hide round trips.
WRITERS = 16
#: The same for best-effort writes that must not hold up the others (Events).
EVENT_WRITERS = 8


class WritePool:
    """At most ``size`` calls in flight at once, each in a worker thread (started on first use,
    stopped by :meth:`shutdown`); if ``yields_to`` is given, its work runs only while that pool
    has nothing queued or in flight (held meanwhile, in order, never dropped)."""

    def __init__(self, size: int = WRITERS, *, yields_to: WritePool | None = None) -> None:
        self.size = size
        self.yields_to = yields_to
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._pending = 0  # work submitted and not finished
        # The pools yielding to this one, and (in each of them) the work held: guarded by the
        # lock of the pool yielded to, so that no work is held after it found none to release.
        # Locks are only ever taken in that order: the pool yielded to's, then a yielding one's.
        self._yielding: list[WritePool] = []
        self._held: deque[Callable[[], None]] = deque()
        if yields_to is not None:
            with yields_to._lock:
                yields_to._yielding.append(self)

    @property
    def pending(self) -> int:
        """Work submitted and not finished (queued or in flight)."""
        return self._pending

    @property
    def held(self) -> int:
        """Work waiting for the pool this one yields to."""
        return len(self._held)

    def run(self, work: Callable[[], None]) -> None:
        """Run ``work()`` in a worker thread (its exceptions are logged, never raised)."""
        first = self.yields_to
        if first is not None:
            with first._lock:
                if first._pending or self._held:
                    self._held.append(work)
                    return
        self._submit(work)

    def _submit(self, work: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                work()
            except Exception:
                log.exception("a write failed unexpectedly")
            finally:
                self._finished()

        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.size, thread_name_prefix="kube-write")
            executor = self._executor
            self._pending += 1
        try:
            executor.submit(guarded)
        except RuntimeError:  # shut down meanwhile: the write is dropped
            self._finished()

    def _finished(self) -> None:
        """One piece of work done: if it was the last, the pools yielding to this one run
        what they held, in order (under this pool's lock, so that nothing a yielding pool is
        given meanwhile overtakes it)."""
        with self._lock:
            self._pending -= 1
            if self._pending:
                return
            for pool in self._yielding:
                while pool._held:
                    pool._submit(pool._held.popleft())

    def call(
        self,
        actor: pykka.ActorRef[Any],
        call: Callable[..., Any],
        args: tuple[Any, ...],
        done: Callable[..., Any],
        *context: Any,
    ) -> None:
        """``call(*args)`` in a worker; then ``done(*context, result, error)`` in the actor's
        own thread (``error`` the exception, or None)."""

        def work() -> None:
            try:
                result, error = call(*args), None
            except Exception as exc:
                result, error = None, exc
            with contextlib.suppress(pykka.ActorDeadError):
                actor.tell(Tick(done, (*context, result, error)))

        self.run(work)

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        first = self.yields_to
        if first is not None:
            with first._lock:
                self._held.clear()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


class Retrying:
    """Backoff for one writer: doubling from ``initial`` to ``maximum``, reset on success."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.failures = 0
        self.scheduled = False

    def next_delay(self) -> float:
        self.failures += 1
        return backoff_delay(self.failures, self.initial, self.maximum)

    def succeeded(self) -> None:
        self.failures = 0


class ApiWriter(RuntimeActor):
    """An actor that writes objects through ``api``, in ``namespace`` ('' for a writer whose
    objects live in every namespace, as Services do), retrying a failed :meth:`sync`."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str = "",
        *,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.api = api
        self.namespace = namespace
        self.retry = Retrying(retry_initial, retry_max)

    @abstractmethod
    def sync(self) -> None:
        """One round of writes: what the API shows is made what this writer wants."""

    def retry_later(self) -> None:
        """Run :meth:`sync` again after the next backoff delay, unless a retry is pending."""
        if not self.retry.scheduled:
            self.retry.scheduled = True
            self.after(self.retry.next_delay(), self._retry)

    def _retry(self) -> None:
        self.retry.scheduled = False
        self.sync()
