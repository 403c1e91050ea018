"""JsonLinesEventLog: a Listener that writes every event as one JSON object per line.

This is ``lbtui demo --headless`` and ``lbtui speaker``'s stdout. Writing happens in the
listener's own thread, so a slow pipe never slows a publisher. (The console keeps its own
in-memory log of events, in lbtui/state/: a different thing.)
"""

from __future__ import annotations

import json
import threading
from typing import Any, TextIO

from actors.base import RuntimeActor
from actors.events import Event
from actors.listener import Listener


class JsonLinesEventLog(Listener, RuntimeActor):
    actor_name = "eventlog"

    def __init__(self, stream: TextIO, *, time_origin: float = 0.0, **kw: Any) -> None:
        super().__init__(**kw)
        self.stream = stream
        self.time_origin = time_origin
        self.count = 0
        self._lock = threading.Lock()

    def on_event(self, event: Event) -> None:
        record = event.to_json()
        record["t"] = round(event.t - self.time_origin, 6)
        line = json.dumps(record, separators=(",", ":"), sort_keys=False)
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                return  # the reader went away; the runtime carries on
        self.count += 1
