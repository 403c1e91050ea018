"""The ICMPv6 socket of unnumbered BGP: hears router advertisements and solicitations on the
host's interfaces and sends ours (``ndp`` builds them), one raw socket and one reader thread.

Opened only when a BGPPeer is unnumbered, and it sends only on the interfaces the actor names
(the unnumbered peers'). The kernel filters the socket to types 133 and 134 (ICMP6_FILTER);
our own multicast is not looped back. What it hears goes to ``deliver`` as :class:`LinkHeard`
(the actor's tell), through a ``HeardGate`` (a flood is dropped, not queued); malformed
messages are counted and dropped. Needs CAP_NET_RAW.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Callable

import msgspec

from actors.bgp.unnumbered import ndp
from actors.bgp.unnumbered.discovery import HeardGate

log = logging.getLogger(__name__)

ICMP6_FILTER = 1
SIOCGIFHWADDR = 0x8927
ALL_NODES = "ff02::1"
ALL_ROUTERS = "ff02::2"


class LinkHeard(msgspec.Struct, frozen=True):
    ifindex: int
    address: str  # the sender's link-local address
    kind: int  # ndp.ROUTER_ADVERTISEMENT or ndp.ROUTER_SOLICITATION


def icmp6_filter(*passing: int) -> bytes:
    """``struct icmp6_filter`` blocking every type but ``passing`` (a set bit blocks)."""
    words = [0xFFFFFFFF] * 8
    for kind in passing:
        words[kind >> 5] &= ~(1 << (kind & 31)) & 0xFFFFFFFF
    return struct.pack("=8I", *words)


def interface_mac(name: str) -> bytes:
    """The interface's hardware address (SIOCGIFHWADDR), or b"" if it has none."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            raw = fcntl.ioctl(sock, SIOCGIFHWADDR, struct.pack("256s", name.encode()[:15]))
    except OSError:
        return b""
    mac = raw[18:24]
    return mac if any(mac) else b""


class IcmpLink:
    def __init__(self, deliver: Callable[[LinkHeard], None], name: str = "bgp-ndp") -> None:
        self._deliver = deliver
        self.dropped = 0
        self.gate = HeardGate()
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        try:
            sock = self.sock
            sock.setsockopt(
                socket.IPPROTO_ICMPV6,
                ICMP6_FILTER,
                icmp6_filter(ndp.ROUTER_SOLICITATION, ndp.ROUTER_ADVERTISEMENT),
            )
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ndp.HOP_LIMIT)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ndp.HOP_LIMIT)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        except OSError:
            self.sock.close()
            raise
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- sending (the actor's thread) -----------------------------------------------------------
    def advertise(self, ifindex: int, mac: bytes = b"") -> None:
        self._send(ndp.router_advertisement(mac), ALL_NODES, ifindex)

    def solicit(self, ifindex: int, mac: bytes = b"") -> None:
        self._send(ndp.router_solicitation(mac), ALL_ROUTERS, ifindex)

    def _send(self, data: bytes, group: str, ifindex: int) -> None:
        try:
            self.sock.sendto(data, (group, 0, 0, ifindex))
        except OSError as exc:  # the interface went down or away: the next round retries
            log.debug("ndp: cannot send on interface %d: %s", ifindex, exc)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        for sock in (self.sock, self._wake_r, self._wake_w):
            sock.close()

    # -- the reader thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopped:
            try:
                ready, _, _ = select.select([self.sock, self._wake_r], [], [])
            except (OSError, ValueError):
                return
            if self._wake_r in ready or self._stopped:
                return
            try:
                data, ancillary, _, source = self.sock.recvmsg(2048, 256)
            except BlockingIOError:
                continue
            except OSError:
                return
            heard = self._parse(data, ancillary, source)
            if heard is None:
                self.dropped += 1
                continue
            if not self.gate.admit(time.monotonic(), heard):
                continue
            try:
                self._deliver(heard)
            except Exception as exc:  # the actor is gone (stopping): so is this thread
                log.debug("ndp: reader stops: %r", exc)
                return

    @staticmethod
    def _parse(data: bytes, ancillary: list, source: tuple) -> LinkHeard | None:
        hop_limit: int | None = None
        ifindex = source[3] if len(source) > 3 else 0
        for level, kind, value in ancillary:
            if level != socket.IPPROTO_IPV6:
                continue
            if kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
                hop_limit = struct.unpack("=i", value[:4])[0]
            elif kind == socket.IPV6_PKTINFO and len(value) >= 20:
                ifindex = struct.unpack("=I", value[16:20])[0]
        message = ndp.parse(data, hop_limit if hop_limit is not None else ndp.HOP_LIMIT)
        address = source[0].split("%", 1)[0]
        if message is None or not ifindex:
            return None
        return LinkHeard(ifindex, address, message.kind)
