"""Run inside the client namespace (``python -m tests.net.attacker ...``): the hostile side of
the load-and-attack test. Prints one JSON line when ready, then attacks until killed.

    bgp [--flooders 2] [--rate 10000] [--reconnect 2]
        A BGP "peer" on every local address, port 179: it answers the speaker's OPEN, then on
        the first ``--flooders`` addresses (.200, .201, ...) floods UPDATEs at ``--rate``
        messages a second, and on the others closes after ``--reconnect`` seconds (the
        speaker reconnects, again and again).
    slowhttp HOST:PORT [--clients 2000]
        Half-sent HTTP requests: keeps up to ``--clients`` connections open, each having sent
        a request line and then one more header byte a second; reconnects what the server
        closes.
    gossip HOST:PORT [--drips 20] [--datagrams 500]
        Membership's ports: ``--drips`` TCP connections each announcing an 8 MiB frame, then
        sending one byte of it a second (reconnecting what the server closes), and
        ``--datagrams`` random UDP datagrams a second.
    arpflood IP [--rate 5000] [--dev eth0]
        ARP requests for IP (and for addresses beside it nobody has) at ``--rate`` a second.

slowhttp and gossip keep the time each connection lived until the server closed it; on
SIGTERM they print {"closed": n, "longest": s, "open": n, "oldest": s} (``oldest``: the age of
the oldest connection the server has not closed yet) and exit.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import random
import resource
import select
import selectors
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable

from actors.bgp.codec import KEEPALIVE, FrameReader
from actors.bgp.codec.open import OpenMessage
from actors.l2 import arp
from tests.net.probe import interface_mac, own_address

MARKER = b"\xff" * 16


def update(i: int) -> bytes:
    """An UPDATE announcing ten /32s of 10.100.0.0/16 (2-octet AS_PATH: we offer no 4-octet
    capability)."""
    attrs = (
        b"\x40\x01\x01\x00"  # ORIGIN IGP
        + b"\x40\x02\x04\x02\x01\xfb\xf4"  # AS_PATH: AS_SEQUENCE [64500]
        + b"\x40\x03\x04\x0a\x63\x00\x02"  # NEXT_HOP 10.99.0.2
    )
    nlri = b"".join(b"\x20\x0a\x64" + struct.pack("!H", (i * 10 + k) % 65536) for k in range(10))
    body = b"\x00\x00" + struct.pack("!H", len(attrs)) + attrs + nlri
    return MARKER + struct.pack("!HB", 19 + len(body), 2) + body


def bgp_session(conn: socket.socket, flood: bool, rate: int, reconnect: float) -> None:
    with conn:
        conn.settimeout(10)
        reader = FrameReader()
        frames: list[bytes] = []
        while not frames:
            data = conn.recv(65536)
            if not data:
                return
            frames = reader.feed(data)
        local = conn.getsockname()[0]
        bgp_id = int(ipaddress.ip_address(local))
        conn.sendall(OpenMessage(64500, 90, bgp_id).encode() + KEEPALIVE)
        conn.setblocking(False)
        started = time.monotonic()
        updates = [update(i) for i in range(1000)]
        sent = 0
        while True:
            readable, _, _ = select.select([conn], [], [], 0.01)
            if readable:
                try:
                    if not conn.recv(65536):
                        return
                except BlockingIOError:
                    pass
                except OSError:
                    return
            if not flood:
                if time.monotonic() - started >= reconnect:
                    return
                continue
            due = int((time.monotonic() - started) * rate)
            batch = b"".join(updates[(sent + k) % 1000] for k in range(min(due - sent, 500)))
            if batch:
                try:
                    conn.setblocking(True)
                    conn.settimeout(1)
                    conn.sendall(batch)
                    conn.setblocking(False)
                except (TimeoutError, BlockingIOError):
                    conn.setblocking(False)
                except OSError:
                    return
                sent = max(sent + min(due - sent, 500), due - rate)  # never owe more than 1 s


def bgp(args: argparse.Namespace) -> None:
    listener = socket.create_server(("0.0.0.0", 179), reuse_port=False, backlog=128)
    print(json.dumps({"ready": time.monotonic()}), flush=True)
    while True:
        conn, _ = listener.accept()
        index = int(conn.getsockname()[0].rsplit(".", 1)[1]) - 200
        flood = 0 <= index < args.flooders
        threading.Thread(
            target=bgp_session, args=(conn, flood, args.rate, args.reconnect), daemon=True
        ).start()


class Lifetimes:
    """When each attack connection opened, and how long those the server closed had lived."""

    def __init__(self) -> None:
        self.opened: dict[socket.socket, float] = {}
        self.closed: list[float] = []

    def open(self, sock: socket.socket) -> None:
        self.opened[sock] = time.monotonic()

    def close(self, sock: socket.socket) -> None:
        self.closed.append(time.monotonic() - self.opened.pop(sock))
        sock.close()

    def report_on_sigterm(self) -> None:
        def report(_signum: int, _frame: object) -> None:
            now = time.monotonic()
            summary = {
                "closed": len(self.closed),
                "longest": max(self.closed, default=0.0),
                "open": len(self.opened),
                "oldest": max((now - t for t in self.opened.values()), default=0.0),
            }
            print(json.dumps(summary), flush=True)
            os._exit(0)

        signal.signal(signal.SIGTERM, report)


def dripping(target: tuple[str, int], count: int, first: bytes, drip: Callable[[], bytes]) -> None:
    """Keep ``count`` connections to ``target`` open, each having sent ``first`` and then
    ``drip()`` a second; note when the server closes one (it reads as end of stream) and open
    another in its place."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 256), hard))
    lives = Lifetimes()
    lives.report_on_sigterm()
    selector = selectors.DefaultSelector()
    last: dict[socket.socket, float] = {}
    print(json.dumps({"ready": time.monotonic()}), flush=True)
    while True:
        while len(lives.opened) < count:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(target)
            lives.open(s)
            last[s] = 0.0
            selector.register(s, selectors.EVENT_READ)
        for key, _ in selector.select(timeout=0.05):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            try:
                if s.recv(4096):
                    continue  # an answer (a 408 or 503 before the close): the close follows
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                pass
            selector.unregister(s)
            del last[s]
            lives.close(s)
        now = time.monotonic()
        for s, sent in list(last.items()):
            if now - sent < 1.0:
                continue
            try:
                s.send(first if sent == 0.0 else drip())
                last[s] = now
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:  # reset: the server is done with it
                selector.unregister(s)
                del last[s]
                lives.close(s)


def slowhttp(args: argparse.Namespace) -> None:
    host, port = args.target.rsplit(":", 1)
    dripping((host, int(port)), args.clients, b"GET /state HTTP/1.1\r\nX", lambda: b"x")


def gossip(args: argparse.Namespace) -> None:
    """Random datagrams from a thread; the dripping frames here."""
    host, port = args.target.rsplit(":", 1)
    target = (host, int(port))

    def datagrams() -> None:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while True:
            started = time.monotonic()
            for _ in range(args.datagrams // 10):
                with contextlib.suppress(OSError):
                    udp.sendto(random.randbytes(random.randint(1, 1400)), target)
            time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))

    threading.Thread(target=datagrams, daemon=True).start()
    header = struct.pack("!I", 8 * 1024 * 1024)  # the largest frame membership accepts
    dripping(target, args.drips, header, lambda: b"\x00")


def arpflood(args: argparse.Namespace) -> None:
    mac = interface_mac(args.dev)
    source = own_address(socket.AF_INET, args.dev)
    base = ipaddress.ip_address(args.ip)
    frames = [arp.request_frame(mac, source, (base + k).packed) for k in range(8)]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((args.dev, 0))
    print(json.dumps({"ready": time.monotonic()}), flush=True)
    sent = 0
    started = time.monotonic()
    while True:
        due = int((time.monotonic() - started) * args.rate)
        while sent < due:
            with contextlib.suppress(OSError):
                sock.send(frames[sent % len(frames)])
            sent += 1
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bgp")
    b.add_argument("--flooders", type=int, default=2)
    b.add_argument("--rate", type=int, default=10_000)
    b.add_argument("--reconnect", type=float, default=2.0)
    h = sub.add_parser("slowhttp")
    h.add_argument("target")
    h.add_argument("--clients", type=int, default=2000)
    g = sub.add_parser("gossip")
    g.add_argument("target")
    g.add_argument("--drips", type=int, default=20)
    g.add_argument("--datagrams", type=int, default=500)
    a = sub.add_parser("arpflood")
    a.add_argument("ip")
    a.add_argument("--rate", type=int, default=5000)
    a.add_argument("--dev", default="eth0")
    args = parser.parse_args()
    commands = {"bgp": bgp, "slowhttp": slowhttp, "gossip": gossip, "arpflood": arpflood}
    commands[args.command](args)


if __name__ == "__main__":
    main()
