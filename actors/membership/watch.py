"""Watch connections: the I/O half of crash detection by the kernel (the decisions are in
``crash``). Used by the membership ``Transport``; no protocol logic here.

Each member keeps one TCP connection to each of its ring successors (``want``) and accepts
one from each predecessor. A connection starts with a sealed ``Ping`` frame naming whom it
wants (a new process at an old address that is someone else says nothing and closes) and
the answer is a sealed ``Ack`` frame; from then on nothing travels on it but, at a graceful
end, one goodbye byte. The transport's reader thread waits on all of them with its
selector, so a watch costs a socket, never a thread.

When a connection closes without the goodbye, a short thread connects to the peer's
membership port once more: refused means nobody listens there any more (a process that is
merely stalled keeps its listener, and its kernel accepts for it), and only then is the peer
reported lost. Connected, it lives (an outgoing watch is simply made again); a timeout or
an unreachable network says nothing (silent nodes are the probes' business).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from actors.membership import codec
from actors.membership.messages import Ack, Address, Ping
from actors.util.fds import released_first

log = logging.getLogger(__name__)

GOODBYE = b"\x00"
#: A wanted watch that could not be made is tried again this often.
RETRY = 1.0
#: Incoming watches kept at most (each member has k predecessors; the rest is an attack).
MAX_INCOMING = 64

OnLost = Callable[[str, Address], None]


class WatchConn(msgspec.Struct, eq=False):
    sock: socket.socket
    node: str
    addr: Address
    outgoing: bool


class Watches:
    """The watch connections of one transport. ``want`` and ``accept`` may be called from
    any thread; ``service``, ``readable`` and ``close`` from the transport's reader only."""

    def __init__(self, transport: Any, on_lost: OnLost | None) -> None:
        self.t = transport
        self.on_lost = on_lost
        self._lock = threading.Lock()
        self._wanted: dict[str, Address] = {}
        self._open: dict[str, WatchConn] = {}  # outgoing, by node
        self._incoming: set[WatchConn] = set()
        self._connecting: set[str] = set()
        self._retry_at: dict[str, float] = {}
        self._ready: list[WatchConn] = []  # made by other threads, to be registered
        self._closed = False

    # -- any thread -------------------------------------------------------------------------
    def want(self, targets: Mapping[str, Address]) -> None:
        """Keep a watch on exactly these members (name -> membership address)."""
        with self._lock:
            self._wanted = dict(targets)
            for node in list(self._retry_at):
                if node not in self._wanted:
                    del self._retry_at[node]
            for node in self._wanted:
                if node not in self._open and node not in self._connecting:
                    self._retry_at[node] = 0.0
        self.t.wake()

    def accept(self, sock: socket.socket, ping: Ping) -> bool:
        """A connection whose first frame was a Ping: a predecessor's watch. True if kept
        (answered and handed to the reader); False: the caller closes it."""
        if not self.t.node or ping.target != self.t.node:
            return False
        with self._lock:
            if self._closed or len(self._incoming) + len(self._ready) >= MAX_INCOMING:
                self.t.stats.watches_refused += 1
                return False
        sock.sendall(codec.frame(self.t.sealer.seal(codec.encode([Ack(ping.seq)]))))
        sock = released_first(sock)  # if this process dies, the peer hears of it at once
        sock.setblocking(False)
        conn = WatchConn(sock, ping.source, ping.source_addr, outgoing=False)
        with self._lock:
            if self._closed:
                sock.close()
                return False
            self._ready.append(conn)
        self.t.stats.watches_in += 1
        self.t.wake()
        return True

    def _connect(self, node: str, addr: Address) -> None:
        """Thread: make an outgoing watch (handshake included)."""
        conn: WatchConn | None = None
        try:
            # Released first if this process dies: the peer hears of it at once.
            sock = released_first(socket.create_connection(addr, timeout=self.t.tcp_timeout))
            try:
                hello = Ping(0, node, self.t.node, self.t.address)
                sock.sendall(codec.frame(self.t.sealer.seal(codec.encode([hello]))))
                answer = self.t.read_sealed(sock)
                if answer != (Ack(0),):
                    raise OSError(f"{node} did not accept the watch")
                sock.setblocking(False)
                conn = WatchConn(sock, node, addr, outgoing=True)
            finally:
                if conn is None:
                    sock.close()
        except Exception as exc:  # refused, timed out, wrong node, bad key: try again later
            self.t.stats.watch_failures += 1
            log.debug("membership: watching %s at %s failed: %r", node, addr, exc)
        with self._lock:
            self._connecting.discard(node)
            if conn is None:
                if node in self._wanted:
                    self._retry_at[node] = time.monotonic() + RETRY
            else:
                self._ready.append(conn)
                self.t.stats.watches_out += 1
        self.t.wake()

    def _confirm(self, conn: WatchConn) -> None:
        """Thread: the connection closed unannounced; is anybody still listening there?"""
        if _nobody_listens(conn.addr, self.t.tcp_timeout):
            self.t.stats.crashes_seen += 1
            if self.on_lost is not None and not self.t.closed:
                self.on_lost(conn.node, conn.addr)
        if conn.outgoing:
            with self._lock:
                if conn.node in self._wanted and conn.node not in self._open:
                    self._retry_at[conn.node] = 0.0
            self.t.wake()

    # -- the reader thread ------------------------------------------------------------------
    def service(self, selector: Any) -> float | None:
        """Register what other threads made, drop what is no longer wanted, start due
        connects. Returns how long the reader may sleep (None: until something happens)."""
        now = time.monotonic()
        with self._lock:
            ready, self._ready = self._ready, []
            unwanted = [c for n, c in self._open.items() if n not in self._wanted]
            due = [n for n, t in self._retry_at.items() if t <= now]
            for node in due:
                del self._retry_at[node]
                self._connecting.add(node)
            targets = {n: self._wanted[n] for n in due}
            wait = min(self._retry_at.values(), default=None)
        for conn in ready:
            if self._closed or (conn.outgoing and conn.node not in self._wanted):
                self._end(selector, conn, goodbye=True, registered=False)
                continue
            try:
                selector.register(conn.sock, selectors.EVENT_READ, conn)
            except (KeyError, ValueError, OSError):  # closed meanwhile: nothing to watch
                self._end(selector, conn, goodbye=False, registered=False)
                continue
            if conn.outgoing:
                old = self._open.get(conn.node)
                if old is not None:
                    self._end(selector, old, goodbye=True)
                self._open[conn.node] = conn
            else:
                self._incoming.add(conn)
        for conn in unwanted:
            self._end(selector, conn, goodbye=True)
        for node, addr in targets.items():
            threading.Thread(
                target=self._connect, args=(node, addr), name=f"{self.t.name}-watch", daemon=True
            ).start()
        return None if wait is None else max(0.0, wait - now)

    def readable(self, selector: Any, conn: WatchConn) -> None:
        try:
            data = conn.sock.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset: as unannounced as it gets
            data = b""
        if data and not data.startswith(GOODBYE):
            self.t.stats.decode_failures += 1  # nothing else may travel on a watch
            data = GOODBYE
        self._end(selector, conn, goodbye=False)
        self.t.stats.watch_closes += 1
        if data:  # the peer said goodbye: it left or stopped watching us on purpose
            if conn.outgoing:
                with self._lock:
                    if conn.node in self._wanted:
                        self._retry_at[conn.node] = time.monotonic() + RETRY
            return
        threading.Thread(
            target=self._confirm, args=(conn,), name=f"{self.t.name}-confirm", daemon=True
        ).start()

    def close(self, selector: Any, *, graceful: bool) -> None:
        """Every watch ends; ``graceful``: with the goodbye byte (not in a simulated crash)."""
        with self._lock:
            self._closed = True
            ready, self._ready = self._ready, []
        for conn in [*self._open.values(), *self._incoming]:
            self._end(selector, conn, goodbye=graceful)
        for conn in ready:
            self._end(selector, conn, goodbye=graceful, registered=False)

    def _end(
        self, selector: Any, conn: WatchConn, *, goodbye: bool, registered: bool = True
    ) -> None:
        if registered:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(conn.sock)
        if self._open.get(conn.node) is conn:
            del self._open[conn.node]
        self._incoming.discard(conn)
        if goodbye:
            with contextlib.suppress(OSError):
                conn.sock.send(GOODBYE)
        with contextlib.suppress(OSError):
            conn.sock.close()

    def counts(self) -> tuple[int, int]:
        """(outgoing, incoming) watches open now."""
        return len(self._open), len(self._incoming)


#: How long a fresh connection to a peer whose watch closed must stay open to prove a live
#: listener. A dying process's kernel may still complete the handshake from the listen queue
#: and then reset it as the listener goes; a live one waits for our frame.
CONFIRM_WAIT = 0.2


def _nobody_listens(addr: Address, timeout: float) -> bool:
    """True if ``addr`` refuses a TCP connection, or accepts and resets it at once (a
    listener being torn down with its process: Linux resets what waits in its queue). False
    if it stays open or is closed politely (a live process, perhaps at its connection cap)
    or the answer is unknown (a timeout, an unreachable network: the probes' business)."""
    try:
        sock = socket.create_connection(addr, timeout=timeout)
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    except OSError as exc:
        log.debug("membership: confirming %s: %r", addr, exc)
        return False
    with sock:
        sock.settimeout(CONFIRM_WAIT)
        try:
            sock.recv(1)
        except TimeoutError:
            return False
        except OSError:  # reset
            return True
        return False
