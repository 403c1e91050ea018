"""BFD over UDP (RFC 5881 single hop, RFC 5883 multihop): the sockets, nothing else.

Each session gets its own sending socket, bound to the session's local address and to a source
port of its own in 49152-65535, sending with TTL/hop limit 255 (the GTSM of RFC 5881 §5) and
DSCP CS6 like other routing protocols. Packets arrive on one socket per (local address, port
3784 or 4784), bound to that address, which reports each datagram's received TTL so the actor
can drop anything that crossed a router. One thread reads every receiving socket and hands
each datagram to ``deliver`` (the BfdActor's inbox); sending happens in the caller's thread
and never blocks. Link-local addresses (unnumbered peers) are written with their interface,
``fe80::1%eth1``, everywhere above the sockets.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import random
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from actors.bgp.bfd.codec import MULTI_HOP_PORT, SINGLE_HOP_PORT, SOURCE_PORTS

log = logging.getLogger(__name__)

TTL = 255
DSCP_CS6 = 0xC0
# Linux values, not all exported by Python's socket module.
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)


class BfdDatagram(msgspec.Struct, frozen=True):
    """One received datagram, as the actor gets it."""

    data: bytes
    source: str  # the sender's address
    local: str  # the local address of the socket it arrived on
    port: int  # 3784 (single hop) or 4784 (multihop)
    ttl: int | None  # received TTL / hop limit (None: the kernel did not say)


class BfdLink(Protocol):
    """The sending half of one session."""

    source_port: int

    def send(self, data: bytes) -> bool:
        """Send one packet; False when the kernel refused it (no route, link down, ...)."""
        ...

    def close(self) -> None: ...


class BfdTransport(Protocol):
    def start(self, deliver: Callable[[BfdDatagram], None]) -> None: ...

    def stop(self) -> None: ...

    def source_for(self, peer: str) -> str | None:
        """The local address the kernel would send from to reach ``peer`` (None: no route)."""
        ...

    def open(self, local: str, peer: str, multihop: bool) -> BfdLink:
        """A link from ``local`` to ``peer``; raises OSError when ``local`` cannot be bound."""
        ...


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def sockaddr(address: str, port: int) -> tuple[str, int] | tuple[str, int, int, int]:
    """The socket address of ``address``; a scoped link-local one (``fe80::1%eth1``, an
    unnumbered peer's) carries its interface as scope id (Python ignores ``%eth1`` there).
    Raises OSError for an unknown interface."""
    host, _, scope = address.partition("%")
    if not scope:
        return (address, port)
    try:
        index = int(scope) if scope.isdigit() else socket.if_nametoindex(scope)
    except ValueError as exc:  # a NUL in the name
        raise OSError(f"bad interface {scope!r}") from exc
    return (host, port, 0, index)


def scoped(address: Any) -> str:
    """A socket address as text: ``fe80::1%eth1`` when it has a scope id, else the host."""
    host = str(address[0]).partition("%")[0]
    if len(address) > 3 and address[3]:
        try:
            return f"{host}%{socket.if_indextoname(address[3])}"
        except OSError:
            return f"{host}%{address[3]}"
    return host


class UdpLink:
    def __init__(self, sock: socket.socket, peer: str, port: int, release: Callable[[], None]):
        self._sock = sock
        self._peer = sockaddr(peer, port)
        self._release = release
        self.source_port: int = sock.getsockname()[1]

    def send(self, data: bytes) -> bool:
        try:
            self._sock.sendto(data, self._peer)
            return True
        except OSError as exc:  # ENETUNREACH, EHOSTUNREACH, EAGAIN, ...: the path is the news
            log.debug("BFD send to %s failed: %s", self._peer[0], exc)
            return False

    def close(self) -> None:
        self._sock.close()
        self._release()


class UdpBfdTransport:
    """The real transport. ``rng`` picks source ports (injected for reproducible tests)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._receivers: dict[tuple[str, int], tuple[socket.socket, int]] = {}  # -> refcount
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._changes: list[tuple[str, socket.socket, tuple[str, int]]] = []
        self._deliver: Callable[[BfdDatagram], None] | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, deliver: Callable[[BfdDatagram], None]) -> None:
        self._deliver = deliver
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._run, name="bfd-receive", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            for sock, _ in self._receivers.values():
                sock.close()
            self._receivers.clear()
        self._wake_r.close()
        self._wake_w.close()
        self._selector.close()

    # -- sessions ----------------------------------------------------------------------------
    def source_for(self, peer: str) -> str | None:
        try:
            with socket.socket(_family(peer), socket.SOCK_DGRAM) as probe:
                probe.connect(sockaddr(peer, SINGLE_HOP_PORT))  # no packet: a route lookup
                return scoped(probe.getsockname())
        except (OSError, ValueError):
            return None

    def open(self, local: str, peer: str, multihop: bool) -> UdpLink:
        port = MULTI_HOP_PORT if multihop else SINGLE_HOP_PORT
        self._acquire_receiver(local, port)
        try:
            sock = self._sending_socket(local)
        except OSError:
            self._release_receiver(local, port)
            raise
        return UdpLink(sock, peer, port, lambda: self._release_receiver(local, port))

    def _sending_socket(self, local: str) -> socket.socket:
        family = _family(local)
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, TTL)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, DSCP_CS6)
            else:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, TTL)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, DSCP_CS6)
            sock.setblocking(False)
            # A source port of its own per session (RFC 5881 §4), random to be hard to guess.
            first = self._rng.randrange(len(SOURCE_PORTS))
            for i in range(len(SOURCE_PORTS)):
                port = SOURCE_PORTS[(first + i) % len(SOURCE_PORTS)]
                try:
                    sock.bind(sockaddr(local, port))
                    return sock
                except OSError as exc:
                    if exc.errno != errno.EADDRINUSE:
                        raise
            raise OSError(errno.EADDRINUSE, "no free BFD source port")
        except BaseException:
            sock.close()
            raise

    def _acquire_receiver(self, local: str, port: int) -> None:
        key = (local, port)
        with self._lock:
            found = self._receivers.get(key)
            if found is not None:
                self._receivers[key] = (found[0], found[1] + 1)
                return
            family = _family(local)
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
                else:
                    sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
                sock.bind(sockaddr(local, port))
                sock.setblocking(False)
            except BaseException:
                sock.close()
                raise
            self._receivers[key] = (sock, 1)
            self._changes.append(("add", sock, key))
        self._wake()

    def _release_receiver(self, local: str, port: int) -> None:
        key = (local, port)
        with self._lock:
            found = self._receivers.get(key)
            if found is None:
                return
            sock, count = found
            if count > 1:
                self._receivers[key] = (sock, count - 1)
                return
            del self._receivers[key]
            self._changes.append(("remove", sock, key))
        self._wake()

    # -- the receiving thread ----------------------------------------------------------------
    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _apply_changes(self) -> None:
        with self._lock:
            changes, self._changes = self._changes, []
        for op, sock, key in changes:
            if op == "add":
                self._selector.register(sock, selectors.EVENT_READ, key)
            else:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(sock)
                sock.close()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._apply_changes()
            try:
                ready = self._selector.select()
            except (OSError, ValueError):  # a socket closed under us: pick up the change
                continue
            for key, _ in ready:
                if key.data is None:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                    continue
                self._drain(key.fileobj, key.data)  # type: ignore[arg-type]

    def _drain(self, sock: socket.socket, bound: tuple[str, int]) -> None:
        deliver = self._deliver
        for _ in range(64):  # bounded: one busy socket must not starve the others
            try:
                data, ancillary, _flags, source = sock.recvmsg(512, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if deliver is not None:
                ttl = _received_ttl(ancillary)
                deliver(BfdDatagram(data, scoped(source), bound[0], bound[1], ttl))


_TTL_MESSAGES = ((socket.IPPROTO_IP, socket.IP_TTL), (socket.IPPROTO_IPV6, IPV6_HOPLIMIT))


def _received_ttl(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, value in ancillary:
        if (level, kind) in _TTL_MESSAGES:
            if len(value) >= 4:
                return int(struct.unpack("i", value[:4])[0])
            if len(value) >= 1:
                return value[0]
    return None
