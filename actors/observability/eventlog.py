"""JsonLinesEventLog: a Listener that writes every event as one JSON object per line.

This is ``lbtui demo --headless`` and ``lbtui speaker``'s stdout. Writing happens in the
listener's own thread, so a slow pipe never slows a publisher. (The console keeps its own
in-memory log of events, in lbtui/state/: a different thing.)

Each line has ``t``, seconds since the process started (a restarted speaker starts again from
0), and ``time``, the same instant in RFC 3339 UTC with milliseconds, as the log lines: what
lines up the events of several speakers, or of one speaker's successive lives.
"""

from __future__ import annotations

import json
import threading
from typing import Any, TextIO

from actors.base import RuntimeActor
from actors.clock import rfc3339
from actors.events import Event
from actors.listener import Listener


class JsonLinesEventLog(Listener, RuntimeActor):
    actor_name = "eventlog"

    def __init__(
        self,
        stream: TextIO,
        *,
        time_origin: float = 0.0,
        wall_origin: float | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.stream = stream
        self.time_origin = time_origin
        #: The wall clock (epoch seconds) at ``time_origin``; None: no ``time`` field.
        self.wall_origin = wall_origin
        self.count = 0
        self._lock = threading.Lock()

    def on_event(self, event: Event) -> None:
        record = event.to_json()
        since = event.t - self.time_origin
        record["t"] = round(since, 6)
        if self.wall_origin is not None:
            record["time"] = rfc3339(self.wall_origin + since)
        line = json.dumps(record, separators=(",", ":"), sort_keys=False)
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                return  # the reader went away; the runtime carries on
        self.count += 1
