"""What lbtui's small HTTP endpoints share (health and metrics, the status endpoint, the
webhooks): answers with a length, and no access log on stderr (probes come every few
seconds, and an access line per request says nothing an operator needs)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(
        self,
        code: int,
        body: bytes,
        content_type: str = "text/plain",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(OSError):  # the client went away: nothing left to tell it
            self.wfile.write(body)

    def reply_json(self, code: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self.reply(
            code, json.dumps(body, separators=(",", ":")).encode(), "application/json", headers
        )
