"""StateFileWriter: records the computed status (addresses, what this node announces) in a file.

The file-backed speaker never writes its input; ``--state-file F`` asks it to keep ``F`` up to
date instead, replaced atomically on every change, so scripts and tests can read a consistent
document at any moment.

A write that fails (a full disk, a directory gone read-only) is one warning, naming the file
and the reason, not a traceback and not a restart: the last good file stays as it was, and
the writer tries again quietly every ``RETRY`` seconds with whatever is newest by then; the
first write that succeeds again says so.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from actors.base import RuntimeActor
from actors.events import AllocationsUpdated, AnnouncementStarted, AnnouncementStopped, Event
from actors.listener import Listener
from actors.util.atomic import write_atomically

log = logging.getLogger(__name__)

RETRY = 10.0


class StateFileWriter(Listener, RuntimeActor):
    actor_name = "statefile"
    listens_to = (AllocationsUpdated, AnnouncementStarted, AnnouncementStopped)

    def __init__(self, path: str, node: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.path = path
        self.node = node
        self.services: dict[str, Any] = {}
        self.layer2: dict[str, list[str]] = {}
        self.bgp: set[str] = set()
        self.failing = False  # the last write failed (warned once)
        self._retry: Any = None  # the pending retry, while failing

    def on_event(self, event: Event) -> None:
        if isinstance(event, AllocationsUpdated):
            self.services = {
                key: {"ips": [str(ip) for ip in a.ips], "pool": a.pool, "error": a.error}
                for key, a in sorted(event.allocations.items())
            }
        elif isinstance(event, AnnouncementStarted) and event.node == self.node:
            if event.protocol == "layer2":
                self.layer2[event.ip] = list(event.services)
            else:
                self.bgp.add(event.ip)
        elif isinstance(event, AnnouncementStopped) and event.node == self.node:
            if event.protocol == "layer2":
                self.layer2.pop(event.ip, None)
            else:
                self.bgp.discard(event.ip)
        self.write()

    def write(self) -> None:
        """Write the newest state now, unless a retry is pending (it will write it)."""
        if self._retry is None:
            self._flush()

    def _flush(self) -> None:
        self._retry = None
        try:
            self._write()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if not self.failing:
                log.warning(
                    "state file %s: cannot write it (%s); the last good file stays, "
                    "retrying every %.0f s",
                    self.path,
                    reason,
                    RETRY,
                )
            else:
                log.debug("state file %s: still cannot write it (%s)", self.path, reason)
            self.failing = True
            self._retry = self.after(RETRY, self._flush)
            return
        if self.failing:
            log.info("state file %s: written again", self.path)
            self.failing = False

    def _write(self) -> None:
        document = {
            "node": self.node,
            "updated": round(self.clock.wall(), 3),
            "services": self.services,
            "announcing": {
                "layer2": dict(sorted(self.layer2.items())),
                "bgp": sorted(self.bgp),
            },
        }
        write_atomically(self.path, json.dumps(document, indent=2, sort_keys=True) + "\n")
