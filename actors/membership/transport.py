"""UDP and TCP for membership: sealed datagrams for the protocol, framed TCP for push-pull.

One background thread waits on both sockets (and a wake-up pipe, so close() is immediate):
it reads every queued datagram, opens and decodes it, and hands the messages on. Anything
that fails authentication or decoding is counted and dropped; nothing a peer sends can raise
out of here. TCP push-pull requests are served one short thread per connection (they are
rare: every few seconds per node), with a cap on how many run at once; each frame must
arrive whole within ``frame_timeout`` of its first byte (a client dripping one byte a second
cannot hold a slot: the deadline is per frame, not per read), and each read waits at most
``tcp_timeout``. A stream whose first frame is a ``Ping`` is a watch connection (crash
detection by the kernel, ``watch``): answered, then held by the reader thread, threadless.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping

import msgspec

from actors.membership import codec
from actors.membership.codec import CodecError
from actors.membership.keyring import AuthError, Sealer
from actors.membership.messages import Ack, Address, Message, Ping
from actors.membership.watch import OnLost, WatchConn, Watches
from actors.util.fds import released_first

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65_535
MAX_CONNECTIONS = 16
FRAME_TIMEOUT = 10.0  # a whole frame (at most codec.MAX_FRAME, 8 MiB) from its first byte

OnDatagram = Callable[[tuple[Message, ...], Address], None]
OnStream = Callable[[Message, Address], Message | None]
OnStreamReply = Callable[[Message, Address], None]


class TransportStats(msgspec.Struct):
    datagrams_in: int = 0
    datagrams_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    auth_failures: int = 0
    decode_failures: int = 0
    send_errors: int = 0
    streams_in: int = 0
    streams_out: int = 0
    stream_failures: int = 0
    streams_refused: int = 0
    watches_out: int = 0
    watches_in: int = 0
    watches_refused: int = 0
    watch_failures: int = 0
    watch_closes: int = 0
    crashes_seen: int = 0
    fast_acks: int = 0

    def as_dict(self) -> dict[str, int]:
        return msgspec.structs.asdict(self)


def parse_address(text: str, default_port: int = 7946) -> Address:
    """``ADDR:PORT``, ``ADDR``, ``[V6]:PORT`` or ``V6`` into an Address; ValueError otherwise."""
    text = text.strip()
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r}: expected :PORT after ']'")
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(port_text, text)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r}: not an IP address (ADDR:PORT)") from None
    return (str(ip), port)


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 <= int(text) < 65536:
        raise ValueError(f"{whole!r}: bad port {text!r}")
    return int(text)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class Transport:
    """The sockets of one membership node."""

    def __init__(
        self,
        bind: Address,
        sealer: Sealer,
        *,
        on_datagram: OnDatagram,
        on_stream: OnStream,
        on_stream_reply: OnStreamReply,
        tcp_timeout: float = 2.0,
        frame_timeout: float = FRAME_TIMEOUT,
        name: str = "membership",
        node: str = "",
        on_peer_lost: OnLost | None = None,
        fast_acks: bool = True,
    ) -> None:
        self.bind = bind
        self.sealer = sealer
        self.on_datagram = on_datagram
        self.on_stream = on_stream
        self.on_stream_reply = on_stream_reply
        self.tcp_timeout = tcp_timeout
        self.frame_timeout = frame_timeout
        self.name = name
        #: The member these sockets belong to: watch connections asking for another are
        #: refused. Empty: no watches are accepted.
        self.node = node
        self.stats = TransportStats()
        self.address: Address = bind
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._wake_r, self._wake_w = os.pipe()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._connections = threading.BoundedSemaphore(MAX_CONNECTIONS)
        os.set_blocking(self._wake_r, False)
        self._watches = Watches(self, on_peer_lost)
        #: Pings for ``node`` are acked by the reader thread (``_ack_pings``).
        self.fast_acks = fast_acks
        self._graceful = True

    # -- life -------------------------------------------------------------------------------
    def start(self) -> Address:
        """Bind UDP and TCP on the same port (port 0: a free one) and start reading."""
        self._udp, self._tcp = _bind_pair(self.bind)
        host = self._udp.getsockname()[0]
        self.address = (host, self._udp.getsockname()[1])
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-io", daemon=True)
        self._thread.start()
        return self.address

    def close(self, *, graceful: bool = True) -> None:
        """Close every socket. Watch connections end with a goodbye byte unless not
        ``graceful`` (the demo's simulated crash: the peers must see what a kernel shows)."""
        if self._closed.is_set():
            return
        self._graceful = graceful
        self._closed.set()
        self.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        for sock in (self._udp, self._tcp):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def wake(self) -> None:
        """Make the reader look again (new watches to register, or closing)."""
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def watch(self, targets: Mapping[str, Address]) -> None:
        """Keep a watch connection to exactly these members (name -> address)."""
        if not self.closed:
            self._watches.want(targets)

    def watch_counts(self) -> tuple[int, int]:
        return self._watches.counts()

    # -- sending ----------------------------------------------------------------------------
    def send(self, dest: Address, messages: tuple[Message, ...]) -> None:
        """One sealed datagram. Failures are counted, never raised (UDP is best effort)."""
        if self._udp is None or self.closed:
            return
        try:
            packet = self.sealer.seal(codec.encode(messages))
            self._udp.sendto(packet, dest)
        except (OSError, ValueError, TypeError, OverflowError) as exc:
            self.stats.send_errors += 1
            log.debug("membership: sending to %s failed: %r", dest, exc)
            return
        self.stats.datagrams_out += 1
        self.stats.bytes_out += len(packet)

    def request(self, dest: Address, message: Message) -> None:
        """Push-pull over TCP in the background; the reply goes to on_stream_reply."""
        if self.closed:
            return
        self.stats.streams_out += 1
        threading.Thread(
            target=self._request, args=(dest, message), name=f"{self.name}-pp", daemon=True
        ).start()

    def _request(self, dest: Address, message: Message) -> None:
        try:
            with socket.create_connection(dest, timeout=self.tcp_timeout) as conn:
                conn.sendall(codec.frame(self.sealer.seal(codec.encode([message]))))
                data = read_frame(conn, self.frame_timeout)
            reply = self.open(data)
        except (OSError, CodecError, AuthError, ValueError) as exc:
            self.stats.stream_failures += 1
            log.debug("membership: push-pull with %s failed: %r", dest, exc)
            return
        if reply and not self.closed:
            self.on_stream_reply(reply[0], dest)

    # -- receiving --------------------------------------------------------------------------
    def open(self, packet: bytes) -> tuple[Message, ...]:
        """Authenticate, decrypt and decode. Raises AuthError or CodecError."""
        return codec.decode(self.sealer.open(packet))

    def read_sealed(self, conn: socket.socket) -> tuple[Message, ...]:
        """One sealed frame off a stream. Raises OSError, AuthError or CodecError."""
        return self.open(read_frame(conn, self.frame_timeout))

    def handle_datagram(self, packet: bytes, src: Address) -> tuple[Message, ...] | None:
        """One datagram off the wire: messages handed on, or counted and dropped."""
        self.stats.datagrams_in += 1
        self.stats.bytes_in += len(packet)
        try:
            messages = self.open(packet)
        except AuthError:
            self.stats.auth_failures += 1
            return None
        except CodecError:
            self.stats.decode_failures += 1
            return None
        if self.node and self.fast_acks:
            messages = self._ack_pings(messages)
            if not messages:
                return messages
        self.on_datagram(messages, src)
        return messages

    def _ack_pings(self, messages: tuple[Message, ...]) -> tuple[Message, ...]:
        """Answer pings for us here, on the reader thread: an ack must not wait behind the
        actor's mailbox or another thread's turn at the interpreter (a prober under load
        would suspect us for our own business). The rest goes on to the core."""
        rest = []
        for msg in messages:
            if isinstance(msg, Ping) and msg.target == self.node:
                self.stats.fast_acks += 1
                self.send(msg.source_addr, (Ack(msg.seq),))
            else:
                rest.append(msg)
        return messages if len(rest) == len(messages) else tuple(rest)

    def _run(self) -> None:
        assert self._udp is not None and self._tcp is not None
        selector = selectors.DefaultSelector()
        selector.register(self._udp, selectors.EVENT_READ, "udp")
        selector.register(self._tcp, selectors.EVENT_READ, "tcp")
        selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self.closed:
                timeout = self._watches.service(selector)
                for key, _ in selector.select(timeout):
                    if key.data == "udp":
                        self._drain_udp()
                    elif key.data == "tcp":
                        self._accept()
                    elif key.data == "wake":
                        with contextlib.suppress(OSError):
                            os.read(self._wake_r, 4096)
                    elif isinstance(key.data, WatchConn) and not self.closed:
                        self._watches.readable(selector, key.data)
        except Exception:  # the reader must never die silently: log, then stop reading
            if not self.closed:
                log.exception("membership transport reader failed")
        finally:
            # The listener first: a peer that sees its watch close must find the port shut.
            with contextlib.suppress(OSError):
                self._tcp.close()
            self._watches.close(selector, graceful=self._graceful)
            selector.close()

    def _drain_udp(self) -> None:
        assert self._udp is not None
        while not self.closed:
            try:
                packet, src = self._udp.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable surfacing on Linux
                log.debug("membership: recvfrom: %r", exc)
                return
            try:
                self.handle_datagram(packet, (src[0], src[1]))
            except Exception:  # a failing consumer must not stop the reader
                log.exception("membership: handling a datagram failed")

    def _accept(self) -> None:
        assert self._tcp is not None
        try:
            conn, src = self._tcp.accept()
        except (BlockingIOError, InterruptedError, OSError):
            return
        if not self._connections.acquire(blocking=False):
            self.stats.streams_refused += 1
            conn.close()
            return
        threading.Thread(
            target=self._serve,
            args=(conn, (src[0], src[1])),
            name=f"{self.name}-tcp",
            daemon=True,
        ).start()

    def _serve(self, conn: socket.socket, src: Address) -> None:
        kept = False
        try:
            conn.settimeout(self.tcp_timeout)
            self.stats.streams_in += 1
            try:
                request = self.read_sealed(conn)
            except AuthError:
                self.stats.auth_failures += 1
                return
            except EmptyStream:  # connected and closed: a peer checking we still listen
                return
            except CodecError:
                self.stats.decode_failures += 1
                return
            if isinstance(request[0], Ping):
                kept = self._watches.accept(conn, request[0])
                return
            reply = self.on_stream(request[0], src)
            if reply is not None:
                conn.sendall(codec.frame(self.sealer.seal(codec.encode([reply]))))
        except Exception as exc:  # a bad peer or a stopping actor: count, never raise
            self.stats.stream_failures += 1
            log.debug("membership: serving push-pull from %s failed: %r", src, exc)
        finally:
            if not kept:
                with contextlib.suppress(OSError):
                    conn.close()
            self._connections.release()


class EmptyStream(CodecError):
    """The connection closed before the first byte of a frame."""


def _read_exact(
    conn: socket.socket, size: int, deadline: float, clock: Callable[[], float]
) -> bytes:
    chunks = []
    idle = conn.gettimeout()
    while size:
        left = deadline - clock()
        if left <= 0:
            raise TimeoutError("frame not received in time")
        if left == float("inf"):
            conn.settimeout(idle)
        else:
            conn.settimeout(left if idle is None else min(idle, left))
        chunk = conn.recv(min(size, 65_536))
        if not chunk:
            if deadline == float("inf"):
                raise EmptyStream("connection closed before a frame")
            raise CodecError("connection closed mid-frame")
        chunks.append(chunk)
        size -= len(chunk)
    conn.settimeout(idle)
    return b"".join(chunks)


def read_frame(
    conn: socket.socket, frame_timeout: float, clock: Callable[[], float] = time.monotonic
) -> bytes:
    """One length-prefixed frame: the first byte waits as long as a read may (the socket's
    timeout); from then on the whole frame must be in within ``frame_timeout`` seconds, or
    TimeoutError. A frame announcing more than codec.MAX_FRAME is a CodecError at once."""
    first = _read_exact(conn, 1, float("inf"), clock)
    deadline = clock() + frame_timeout
    rest = _read_exact(conn, codec.FRAME_HEADER.size - 1, deadline, clock)
    (size,) = codec.FRAME_HEADER.unpack(first + rest)
    if size > codec.MAX_FRAME:
        raise CodecError("frame too large")
    return _read_exact(conn, size, deadline, clock)


def _bind_pair(bind: Address, attempts: int = 20) -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets on one port; with port 0, a port free for both."""
    host, port = bind
    family = _family(host)
    last: OSError | None = None
    for _ in range(attempts if port == 0 else 1):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            udp.bind((host, port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, udp.getsockname()[1]))
            tcp.listen(64)
        except OSError as exc:
            udp.close()
            tcp.close()
            last = exc
            continue
        udp.setblocking(False)
        tcp.setblocking(False)
        with contextlib.suppress(OSError):  # room for bursts (a push-pull's worth of gossip)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        # Released first if the process dies: peers confirming a crash are refused at once.
        return udp, released_first(tcp)
    raise OSError(f"cannot bind membership UDP+TCP on {host}:{port}: {last}")


def check_bindable(bind: Address) -> None:
    """Raise OSError (with a readable message) if ``bind`` cannot take UDP and TCP now."""
    udp, tcp = _bind_pair(bind)
    udp.close()
    tcp.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP right now (the demo binds its nodes on them)."""
    udp, tcp = _bind_pair((host, 0))
    port: int = udp.getsockname()[1]
    udp.close()
    tcp.close()
    return port


def local_address_towards(dest: Address) -> str:
    """The source address the kernel would use to reach ``dest`` (no packet is sent)."""
    with socket.socket(_family(dest[0]), socket.SOCK_DGRAM) as probe:
        probe.connect(dest)
        return str(probe.getsockname()[0])
