"""BGP over TCP: one I/O thread per speaker actor, a selector over all its connections.

The actor never touches a socket. It calls ``dial``/``listen``/``send``/``close`` (they only
queue a command and wake the loop) and receives what happens as immutable messages through
``deliver`` (the actor's ``tell``): :class:`ConnUp`, :class:`ConnFailed`, :class:`ConnData`
(whole messages, cut by ``FrameReader``), :class:`ConnBroken` (the stream is not BGP),
:class:`ConnClosed`.

Keepalives are never starved by bulk updates: each connection has an urgent queue (OPEN,
KEEPALIVE, NOTIFICATION) drained before the bulk queue, and bulk data goes out in slices of at
most 64 KiB, so a control message waits for one slice at most.

Socket options (TCP-MD5, TTL, source address) are set here; see ``session.py`` for which.

Inbound connections are bounded before the actor hears of them: an accepted connection is
*pending* until its first OPEN arrives, and beyond ``MAX_PENDING_PER_SOURCE`` pending ones
from one address, or ``MAX_PENDING`` in all, a new one is closed at once (counted in
``refused``): a peer or an attacker reconnecting in a loop, or a connect flood, costs a
socket for a moment, never a message in the actor's mailbox.

What a peer sends is bounded too: each connection may have at most ``MAX_UNREAD`` bytes
delivered that the actor has not yet said it ``consumed``. Beyond that the loop stops reading
that connection until the actor has caught up to half of it, so a peer flooding UPDATEs
faster than the actor decodes them fills its own TCP window, not the actor's mailbox. Every
receiver of :class:`ConnData` calls ``consumed(conn, data.size)`` once it has handled it.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import itertools
import logging
import selectors
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import msgspec

from actors.bgp.codec import BGPError, FrameReader

log = logging.getLogger(__name__)

TCP_MD5SIG = 14  # linux/tcp.h
TCP_MD5SIG_MAXKEYLEN = 80
BULK_SLICE = 64 * 1024
RECV_SIZE = 256 * 1024
#: Inbound connections without an OPEN yet, at most, from one address and in all.
MAX_PENDING_PER_SOURCE = 4
MAX_PENDING = 256
#: Bytes delivered to the actor and not yet consumed, at most, per connection.
MAX_UNREAD = 1024 * 1024
_OPEN = 1  # the message type byte of an OPEN, at offset 18 of its header


# -- what the loop tells the actor ------------------------------------------------------------


class ConnUp(msgspec.Struct, frozen=True):
    conn: int
    outbound: bool
    local: tuple[str, int]
    remote: tuple[str, int]
    #: The interface index of a link-local remote address (IPv6 scope id), else 0.
    remote_scope: int = 0


class ConnFailed(msgspec.Struct, frozen=True):
    conn: int
    reason: str


class ConnData(msgspec.Struct, frozen=True):
    conn: int
    frames: tuple[bytes, ...]
    size: int = 0  # bytes in ``frames``: what the receiver passes to ``consumed``


class ConnBroken(msgspec.Struct, frozen=True):
    conn: int
    error: BGPError


class ConnClosed(msgspec.Struct, frozen=True):
    conn: int
    reason: str


TransportEvent = ConnUp | ConnFailed | ConnData | ConnBroken | ConnClosed


class Transport(Protocol):
    def dial(
        self,
        remote: str,
        port: int,
        *,
        source: str | None = None,
        md5_key: bytes | None = None,
        ttl: int | None = None,
        scope_id: int = 0,
    ) -> int: ...

    def listen(self, address: str, port: int) -> tuple[str, int]: ...

    def set_md5(self, peer: str, key: bytes | None) -> None: ...

    def set_ttl(self, conn: int, ttl: int) -> None: ...

    def send(self, conn: int, frames: Sequence[bytes], *, urgent: bool = False) -> None: ...

    def consumed(self, conn: int, size: int) -> None: ...

    def close(self, conn: int) -> None: ...

    def stop(self) -> None: ...


# -- socket options ---------------------------------------------------------------------------


def md5sig(peer: str, key: bytes | None) -> bytes:
    """The ``struct tcp_md5sig`` for TCP_MD5SIG (RFC 2385): peer address and key (None: remove)."""
    key = key or b""
    if len(key) > TCP_MD5SIG_MAXKEYLEN:
        raise ValueError(f"TCP-MD5 keys are at most {TCP_MD5SIG_MAXKEYLEN} bytes")
    if ":" in peer:
        addr = struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", 0, 0)
        addr += socket.inet_pton(socket.AF_INET6, peer) + struct.pack("=I", 0)
    else:
        addr = struct.pack("=H", socket.AF_INET) + struct.pack("!H", 0)
        addr += socket.inet_pton(socket.AF_INET, peer)
    addr = addr.ljust(128, b"\0")
    return addr + struct.pack("=BBHi", 0, 0, len(key), 0) + key.ljust(TCP_MD5SIG_MAXKEYLEN, b"\0")


def set_ttl(sock: socket.socket, ttl: int) -> None:
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)


def _addr(sockaddr: Any) -> tuple[str, int]:
    host, port = sockaddr[0], sockaddr[1]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return host, port


def _scope(sockaddr: Any) -> int:
    """The scope id (interface index) of an IPv6 socket address, else 0."""
    return sockaddr[3] if len(sockaddr) > 3 else 0


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


# -- the loop ---------------------------------------------------------------------------------


class _Conn(msgspec.Struct, eq=False):
    id: int
    sock: socket.socket
    outbound: bool
    connecting: bool = False
    reader: FrameReader = msgspec.field(default_factory=FrameReader)
    urgent: collections.deque[bytes] = msgspec.field(default_factory=collections.deque)
    bulk: collections.deque[bytes] = msgspec.field(default_factory=collections.deque)
    outbuf: memoryview | None = None
    reading: bool = True
    mask: int = 0
    #: Bytes delivered and not yet consumed; ``paused``: not read until the actor catches up.
    unread: int = 0
    paused: bool = False
    #: Inbound and no OPEN seen yet: counted against the pending caps under this address.
    pending_from: str | None = None


class SocketTransport:
    """The real transport: non-blocking sockets and one selector thread."""

    def __init__(self, deliver: Callable[[TransportEvent], None], name: str = "bgp-io") -> None:
        self._deliver = deliver
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._commands: collections.deque[tuple[Callable[..., None], tuple[Any, ...]]] = (
            collections.deque()
        )
        self._ids = itertools.count(1)
        self._conns: dict[int, _Conn] = {}
        self._listeners: list[socket.socket] = []
        self._md5: dict[str, bytes] = {}
        self._pending: collections.Counter[str] = collections.Counter()
        #: Inbound connections closed at once because of the pending caps.
        self.refused = 0
        self._running = True
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- the actor's side (any thread) ---------------------------------------------------------
    def dial(
        self,
        remote: str,
        port: int,
        *,
        source: str | None = None,
        md5_key: bytes | None = None,
        ttl: int | None = None,
        scope_id: int = 0,
    ) -> int:
        """Connect to ``remote``; ``scope_id``: the interface of a link-local address."""
        conn = next(self._ids)
        self._call(self._dial, conn, remote, port, source, md5_key, ttl, scope_id)
        return conn

    def listen(self, address: str, port: int) -> tuple[str, int]:
        """Bind and listen now (so the caller sees OSError), serve from the loop."""
        sock = socket.socket(_family(address), socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if sock.family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address, port))
            sock.listen(64)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._call(self._add_listener, sock)
        return _addr(sock.getsockname())

    def adopt_listener(self, sock: socket.socket) -> tuple[str, int]:
        """Serve a socket that is already bound and listening (its port was handed out)."""
        sock.setblocking(False)
        self._call(self._add_listener, sock)
        return _addr(sock.getsockname())

    def set_md5(self, peer: str, key: bytes | None) -> None:
        self._call(self._set_md5, peer, key)

    def set_ttl(self, conn: int, ttl: int) -> None:
        self._call(self._set_conn_ttl, conn, ttl)

    def send(self, conn: int, frames: Sequence[bytes], *, urgent: bool = False) -> None:
        self._call(self._queue, conn, tuple(frames), urgent)

    def consumed(self, conn: int, size: int) -> None:
        """The actor has handled ``size`` bytes of ``conn``'s ConnData."""
        self._call(self._consumed, conn, size)

    def close(self, conn: int) -> None:
        self._call(self._close, conn, None)

    def stop(self) -> None:
        if not self._running:
            return
        self._call(self._shutdown)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        self._commands.append((fn, args))
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    # -- the loop thread -----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while self._running:
                for key, mask in self._sel.select():
                    if key.data is None:
                        self._drain_wakeups()
                    elif isinstance(key.data, _Conn):
                        self._serve(key.data, mask)
                    else:
                        self._accept(key.fileobj)  # type: ignore[arg-type]
                    if not self._running:
                        break
        except Exception:  # the loop must never die silently: close everything
            log.exception("BGP transport loop failed")
            self._shutdown()
        finally:
            self._sel.close()
            self._wake_r.close()
            self._wake_w.close()

    def _drain_wakeups(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while self._wake_r.recv(4096):
                pass
        while self._commands:
            fn, args = self._commands.popleft()
            try:
                fn(*args)
            except OSError as exc:  # a command on a dead socket: report, never crash
                log.debug("transport command %s failed: %r", fn.__name__, exc)

    def _shutdown(self) -> None:
        self._running = False
        for c in list(self._conns.values()):
            self._close(c.id, None)
        for sock in self._listeners:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._sel.unregister(sock)
            sock.close()
        self._listeners.clear()

    def _dial(
        self,
        conn: int,
        remote: str,
        port: int,
        source: str | None,
        md5_key: bytes | None,
        ttl: int | None,
        scope_id: int = 0,
    ) -> None:
        sock = socket.socket(_family(remote), socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if md5_key:
                sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, md5sig(remote, md5_key))
            if ttl is not None:
                set_ttl(sock, ttl)
            if source:
                try:
                    sock.bind((source, 0))
                except OSError as exc:
                    raise OSError(exc.errno, f"cannot bind source address {source}") from exc
            err = sock.connect_ex((remote, port, 0, scope_id) if scope_id else (remote, port))
        except OSError as exc:
            sock.close()
            self._deliver(ConnFailed(conn, exc.strerror or str(exc)))
            return
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self._deliver(ConnFailed(conn, errno.errorcode.get(err, str(err))))
            return
        c = _Conn(conn, sock, outbound=True, connecting=True)
        self._conns[conn] = c
        self._interest(c)

    def _add_listener(self, sock: socket.socket) -> None:
        for peer, key in self._md5.items():
            if _family(peer) == sock.family:
                sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, md5sig(peer, key))
        self._listeners.append(sock)
        self._sel.register(sock, selectors.EVENT_READ, "listener")

    def _set_md5(self, peer: str, key: bytes | None) -> None:
        if key:
            self._md5[peer] = key
        else:
            self._md5.pop(peer, None)
        for sock in self._listeners:
            if sock.family == _family(peer):
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, md5sig(peer, key))
                except OSError as exc:
                    if key or exc.errno != errno.ENOENT:  # removing an absent key is fine
                        raise

    def _set_conn_ttl(self, conn: int, ttl: int) -> None:
        c = self._conns.get(conn)
        if c is not None:
            set_ttl(c.sock, ttl)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("accept failed: %r", exc)
                return
            try:
                peername = sock.getpeername()
                remote = _addr(peername)
            except OSError:  # reset before we looked
                sock.close()
                continue
            if not self._admit(remote[0]):
                sock.close()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = _Conn(next(self._ids), sock, outbound=False, pending_from=remote[0])
            self._pending[remote[0]] += 1
            self._conns[c.id] = c
            self._interest(c)
            self._deliver(ConnUp(c.id, False, _addr(sock.getsockname()), remote, _scope(peername)))

    def _admit(self, source: str) -> bool:
        """Whether one more pending inbound connection from ``source`` is allowed."""
        if (
            self._pending[source] < MAX_PENDING_PER_SOURCE
            and sum(self._pending.values()) < MAX_PENDING
        ):
            return True
        self.refused += 1
        if self.refused == 1 or self.refused % 1000 == 0:
            log.warning(
                "BGP: refusing connections beyond %d pending from %s (%d in all); %d refused",
                MAX_PENDING_PER_SOURCE,
                source,
                MAX_PENDING,
                self.refused,
            )
        return False

    def _opened(self, c: _Conn) -> None:
        """An inbound connection sent its OPEN: no longer pending."""
        source, c.pending_from = c.pending_from, None
        if source is not None:
            self._pending[source] -= 1
            if self._pending[source] <= 0:
                del self._pending[source]

    def _serve(self, c: _Conn, mask: int) -> None:
        if c.connecting:
            if mask & selectors.EVENT_WRITE:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self._forget(c)
                    self._deliver(ConnFailed(c.id, errno.errorcode.get(err, str(err))))
                    return
                c.connecting = False
                try:
                    peername = c.sock.getpeername()
                    up = ConnUp(
                        c.id, True, _addr(c.sock.getsockname()), _addr(peername), _scope(peername)
                    )
                except OSError as exc:
                    self._forget(c)
                    self._deliver(ConnFailed(c.id, str(exc)))
                    return
                self._interest(c)
                self._deliver(up)
            return
        if mask & selectors.EVENT_READ:
            self._read(c)
        if c.id in self._conns and mask & selectors.EVENT_WRITE:
            self._flush(c)

    def _read(self, c: _Conn) -> None:
        try:
            data = c.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._forget(c)
            self._deliver(ConnClosed(c.id, exc.strerror or str(exc)))
            return
        if not data:
            self._forget(c)
            self._deliver(ConnClosed(c.id, "connection closed by peer"))
            return
        try:
            frames = c.reader.feed(data)
        except BGPError as exc:
            c.reading = False  # the actor answers with a NOTIFICATION and closes
            self._interest(c)
            self._deliver(ConnBroken(c.id, exc))
            return
        if frames:
            if c.pending_from is not None and any(len(f) > 18 and f[18] == _OPEN for f in frames):
                self._opened(c)
            size = sum(map(len, frames))
            c.unread += size
            if c.unread > MAX_UNREAD:
                c.paused = True
                self._interest(c)
            self._deliver(ConnData(c.id, tuple(frames), size))

    def _consumed(self, conn: int, size: int) -> None:
        c = self._conns.get(conn)
        if c is None:
            return
        c.unread -= size
        if c.paused and c.unread <= MAX_UNREAD // 2:
            c.paused = False
            self._interest(c)

    def _queue(self, conn: int, frames: tuple[bytes, ...], urgent: bool) -> None:
        c = self._conns.get(conn)
        if c is None:
            return
        (c.urgent if urgent else c.bulk).extend(frames)
        if not c.connecting:
            self._flush(c)

    def _flush(self, c: _Conn) -> None:
        while True:
            if c.outbuf is None:
                if c.urgent:
                    data = b"".join(c.urgent)
                    c.urgent.clear()
                elif c.bulk:
                    parts, size = [], 0
                    while c.bulk and size < BULK_SLICE:
                        part = c.bulk.popleft()
                        parts.append(part)
                        size += len(part)
                    data = b"".join(parts)
                else:
                    break
                c.outbuf = memoryview(data)
            try:
                sent = c.sock.send(c.outbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._forget(c)
                self._deliver(ConnClosed(c.id, exc.strerror or str(exc)))
                return
            c.outbuf = c.outbuf[sent:] if sent < len(c.outbuf) else None
        self._interest(c)

    def _close(self, conn: int, _reason: str | None) -> None:
        c = self._conns.get(conn)
        if c is None:
            return
        # Updates are pointless on a closing connection; a NOTIFICATION is worth one try
        # (whatever the kernel accepts now it delivers before the FIN).
        c.bulk.clear()
        if not c.connecting and (c.urgent or c.outbuf is not None):
            with contextlib.suppress(OSError):
                # Finish the message in progress first; if that does not fit, a NOTIFICATION
                # after half a message would only be garbage to the peer.
                done = c.outbuf is None or c.sock.send(c.outbuf) == len(c.outbuf)
                if done and c.urgent:
                    c.sock.send(b"".join(c.urgent))
        self._forget(c)

    def _forget(self, c: _Conn) -> None:
        self._opened(c)  # whatever it was, it is pending no more
        self._conns.pop(c.id, None)
        if c.mask:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._sel.unregister(c.sock)
            c.mask = 0
        with contextlib.suppress(OSError):
            c.sock.close()

    def _interest(self, c: _Conn) -> None:
        if c.connecting:
            mask = selectors.EVENT_WRITE
        else:
            mask = selectors.EVENT_READ if c.reading and not c.paused else 0
            if c.outbuf is not None or c.urgent or c.bulk:
                mask |= selectors.EVENT_WRITE
        if mask == c.mask:
            return
        if c.mask and mask:
            self._sel.modify(c.sock, mask, c)
        elif mask:
            self._sel.register(c.sock, mask, c)
        else:
            self._sel.unregister(c.sock)
        c.mask = mask
