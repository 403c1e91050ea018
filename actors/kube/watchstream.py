"""A watch response read as JSON lines: :func:`open_watch` and :class:`WatchStream`.

The API server answers a watch with one JSON object per line (``{"type", "object"}``), sent
in chunks that need not end where a line does. :class:`WatchStream` cuts the chunks into
lines (:func:`split_lines`, pure) and decodes each with ``json.loads``, once: the official
client's ``Watch`` decodes every line, encodes its object again and decodes it once more
(~45 µs a Service event where one ``json.loads`` costs ~12). The events are the API's own
dicts: ``{"type": "ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR", "object": {...}}``; what
they mean (bookmarks, 410 Gone) is the :class:`~actors.kube.reflector.Reflector`'s business.

A line that is not a JSON object is not skipped (that would lose a change): it ends the
stream with :class:`WatchDecodeError`, and the reflector watches again from the last
resourceVersion it holds, which the API server sends again from. An unfinished line when the
stream ends (the connection cut mid-line) is dropped for the same reason.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any


class WatchDecodeError(ValueError):
    """A watch line that is not a JSON object."""


def split_lines(pending: bytes, chunk: bytes) -> tuple[list[bytes], bytes]:
    """The complete, non-blank lines of ``pending + chunk``, and what is left after the last
    newline (the start of a line the next chunk continues)."""
    data = pending + chunk if pending else chunk
    *lines, rest = data.split(b"\n")
    return [line for line in lines if line.strip()], rest


def decode_line(line: bytes) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError as exc:
        raise WatchDecodeError(f"watch line is not JSON ({exc}): {line[:80]!r}") from None
    if not isinstance(event, dict):
        raise WatchDecodeError(f"watch line is not a JSON object: {line[:80]!r}")
    return event


class WatchStream:
    """The events of one watch response, in order; :meth:`stop` ends them from any thread."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self._stopped = threading.Event()
        self._events = self._read()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._events

    def _read(self) -> Iterator[dict[str, Any]]:
        pending = b""
        try:
            for chunk in self.response.stream(amt=None, decode_content=False):
                if self._stopped.is_set():
                    return
                lines, pending = split_lines(pending, chunk)
                for line in lines:
                    yield decode_line(line)
                    if self._stopped.is_set():
                        return
        except Exception:
            if not self._stopped.is_set():
                raise
            # stopped: the shut-down socket's error is the end asked for
        finally:
            with contextlib.suppress(Exception):
                self.response.close()
            with contextlib.suppress(Exception):
                self.response.release_conn()

    def stop(self) -> None:
        """End the stream: its socket is shut down (a read blocked in another thread returns
        at once), and, unless another thread is reading it, the response is closed now."""
        self._stopped.set()
        connection = getattr(self.response, "connection", None)
        sock = getattr(connection, "sock", None) if connection is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(ValueError):  # being read in another thread: it closes it
            self._events.close()


def open_watch(
    call: Callable[..., Any],
    *args: Any,
    resource_version: str,
    timeout: int,
    request_timeout: float,
    **kwargs: Any,
) -> WatchStream:
    """Start a watch through one of the official client's list calls (its connection pool,
    TLS and credentials), from ``resource_version``, with bookmarks; the server ends it after
    ``timeout`` seconds. A refused watch (410 Gone among them) raises the client's
    ``ApiException``, as a refused list does."""
    response = call(
        *args,
        watch=True,
        resource_version=resource_version,
        timeout_seconds=timeout,
        allow_watch_bookmarks=True,
        _preload_content=False,
        _request_timeout=(request_timeout, timeout + request_timeout),
        **kwargs,
    )
    return WatchStream(response)
