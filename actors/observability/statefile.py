"""StateFileWriter: records the computed status (addresses, what this node announces) in a file.

The file-backed speaker never writes its input; ``--state-file F`` asks it to keep ``F`` up to
date instead, replaced atomically on every change, so scripts and tests can read a consistent
document at any moment.
"""

from __future__ import annotations

import json
from typing import Any

from actors.base import RuntimeActor
from actors.events import AllocationsUpdated, AnnouncementStarted, AnnouncementStopped, Event
from actors.listener import Listener
from actors.util.atomic import write_atomically


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
