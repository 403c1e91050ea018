"""Posting core/v1 Events about Services: :class:`EventRecorder`, best effort.

As client-go's recorder: an event that cannot be written is dropped (and counted), never
retried forever. The controller reports as ``metallb-controller``, a speaker as
``metallb-speaker`` with its node as the host, as MetalLB's do.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
from typing import TYPE_CHECKING, Any

from actors.kube.api import KubeApi, rfc3339, split_key
from actors.model.cluster import Service

if TYPE_CHECKING:
    from actors.kube.writer import WritePool

log = logging.getLogger(__name__)

CONTROLLER_COMPONENT = "metallb-controller"
SPEAKER_COMPONENT = "metallb-speaker"


class EventRecorder:
    """Posts core/v1 Events about Services, best effort (as client-go's recorder: an event
    that cannot be written is dropped, never retried forever); through ``pool`` if given
    (``record`` then says only that it was queued)."""

    def __init__(
        self, api: KubeApi, component: str, host: str = "", pool: WritePool | None = None
    ) -> None:
        self.api = api
        self.component = component
        self.host = host
        self.pool = pool
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self.sent = 0
        self.dropped = 0

    def record(
        self, wall: float, key: str, service: Service | None, kind: str, reason: str, message: str
    ) -> bool:
        namespace, name = split_key(key)
        stamp = rfc3339(wall)
        involved: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Service",
            "namespace": namespace,
            "name": name,
        }
        if service is not None:
            involved["uid"] = service.metadata.uid
            involved["resourceVersion"] = service.metadata.resource_version
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                # client-go's naming (the object's name and the time in hex), plus a random
                # part: several speakers may report on one service in the same nanosecond.
                "name": f"{name}.{int(wall * 1e9) + next(self._seq):x}{secrets.token_hex(3)}",
                "namespace": namespace,
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }
        if self.pool is not None:
            self.pool.run(lambda: self._post(namespace, body, key))
            return True
        return self._post(namespace, body, key)

    def _post(self, namespace: str, body: dict[str, Any], key: str) -> bool:
        try:
            self.api.create_event(namespace, body)
        except Exception as exc:
            with self._lock:
                self.dropped += 1
            log.info("event %s on %s dropped: %s", body["reason"], key, exc)
            return False
        with self._lock:
            self.sent += 1
        return True
