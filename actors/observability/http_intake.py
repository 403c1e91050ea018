"""What the endpoint server's loop decides about a connection still sending its request, and
what a handler reads that request from.

The loop of :class:`actors.observability.httpd.EndpointServer` reads every connection's request
itself, without a thread, and gives it to a handler thread only once it is complete. This
module holds the decisions it makes on the way, as functions of plain values (tested without
sockets):

- :func:`request_size`: whether the bytes received so far hold a whole request (its head and,
  with a ``Content-Length`` the server accepts, its body), and how long it is;
- :func:`choose_victim`: when every connection is taken, which connection still waiting for
  its request gives way to a new one: the oldest of the source holding the most connections,
  so one client (an attacker opening thousands) makes room from its own, never from others;

and :class:`Intake`, the handler's ``rfile``: the bytes the loop already read, then the socket.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

#: Most bytes a request's head (request line and headers) may have.
MAX_HEAD = 64 * 1024

_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\S*)[ \t]*\r?$", re.I | re.M)
_EXPECT_CONTINUE = re.compile(rb"^expect[ \t]*:[ \t]*100-continue[ \t]*\r?$", re.I | re.M)


def head_end(buffer: bytes | bytearray) -> int | None:
    """Where the head in ``buffer`` ends (after its blank line), or None if it has not yet.
    A bare LF ends a line as it does for http.server."""
    ends = [i + len(m) for m in (b"\r\n\r\n", b"\n\n") if (i := buffer.find(m)) >= 0]
    if buffer.startswith((b"\r\n", b"\n")):  # a blank request line: http.server closes
        ends.append(2 if buffer.startswith(b"\r\n") else 1)
    return min(ends) if ends else None


def request_size(buffer: bytes | bytearray, max_body: int) -> int | None:
    """How many bytes of ``buffer`` the request at its start takes, or None if more must
    arrive first. A ``Content-Length`` beyond ``max_body`` (or one that is not a number) does
    not wait for the body: the handler answers it (413, or reads no body); nor does one sent
    with ``Expect: 100-continue`` (its client waits for the handler's 100 before sending it)."""
    end = head_end(buffer)
    if end is None:
        return None
    head = bytes(buffer[:end])
    lengths = _CONTENT_LENGTH.findall(head)
    length = int(lengths[0]) if len(lengths) == 1 and lengths[0].isdigit() else 0
    if length > max_body or _EXPECT_CONTINUE.search(head):
        return end
    return end + length if len(buffer) >= end + length else None


def choose_victim(
    waiting: Iterable[tuple[Hashable, Hashable, float]], open_per_source: Mapping[Hashable, int]
) -> Hashable | None:
    """The connection to close to make room, from ``waiting``'s (connection, source, since):
    of the source with the most open connections (a tie: the one whose connection waits
    longest), the connection waiting longest. None if nothing waits (every connection is
    busy with a request)."""
    best: tuple[int, float] | None = None
    oldest: dict[Hashable, tuple[float, Hashable]] = {}
    for connection, source, since in waiting:
        if source not in oldest or since < oldest[source][0]:
            oldest[source] = (since, connection)
    victim = None
    for source, (since, connection) in oldest.items():
        rank = (-open_per_source.get(source, 0), since)
        if best is None or rank < best:
            best, victim = rank, connection
    return victim


class Intake:
    """A handler's ``rfile``: ``readline`` and ``read`` over the bytes the server's loop
    already received, then over the (blocking, with the handler's timeout) socket.
    :meth:`leftover` is what was received beyond the request read (a pipelined next one)."""

    def __init__(self, sock: Any, received: bytes) -> None:
        self._sock = sock
        self._buffer = bytearray(received)
        self.closed = False

    def _fill(self) -> bool:
        data = self._sock.recv(65536)
        self._buffer += data
        return bool(data)

    def readline(self, limit: int = -1) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                size = end + 1
                break
            if 0 <= limit <= len(self._buffer) or not self._fill():
                size = len(self._buffer)
                break
        if limit >= 0:
            size = min(size, limit)
        line = bytes(self._buffer[:size])
        del self._buffer[:size]
        return line

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self._buffer) < size) and self._fill():
            pass
        size = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def leftover(self) -> bytes:
        return bytes(self._buffer)

    def close(self) -> None:
        self.closed = True


def peer_source(address: Any) -> Hashable:
    """Whom a connection counts against: its peer's address without the port."""
    if isinstance(address, tuple) and address:
        return address[0]
    return address


def shut(sock: socket.socket) -> None:
    """Shut ``sock`` down under its owner's feet: its thread's next read sees the end. (On a
    TLS socket the plain socket's shutdown, leaving the TLS object to its thread.)"""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
