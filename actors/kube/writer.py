"""What every Kubernetes writer shares: :class:`ApiWriter`, an actor that writes through a
:class:`~actors.kube.api.KubeApi` and retries a failed round with backoff (:class:`Retrying`).

A writer puts what it owns in :meth:`ApiWriter.sync`, one round of writes; a failed round calls
:meth:`ApiWriter.retry_later`, a whole one ``self.retry.succeeded()``. The writers themselves
(one per module: ``service_status``, ``pool_status``, ``config_state``, ``speaker_status``,
``memberlist_secret``) keep what is their own: what they listen to, whether they write only
while leading, and the objects they write.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from actors.base import RuntimeActor
from actors.kube.api import KubeApi
from actors.util.backoff import backoff_delay


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
