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
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import resource
import select
import socket
import struct
import threading
import time

from actors.bgp.codec import KEEPALIVE, FrameReader
from actors.bgp.codec.open import OpenMessage

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


def slowhttp(args: argparse.Namespace) -> None:
    host, port = args.target.rsplit(":", 1)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.clients + 256), hard))
    conns: dict[socket.socket, float] = {}
    print(json.dumps({"ready": time.monotonic()}), flush=True)
    while True:
        while len(conns) < args.clients:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((host, int(port)))
            conns[s] = time.monotonic()
        now = time.monotonic()
        for s, last in list(conns.items()):
            if now - last < 1.0:
                continue
            try:
                s.send(b"GET /state HTTP/1.1\r\nX" if last == conns[s] and now - last < 2 else b"x")
                conns[s] = now
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:  # the server closed it: open another
                s.close()
                del conns[s]
        time.sleep(0.05)


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
    args = parser.parse_args()
    bgp(args) if args.command == "bgp" else slowhttp(args)


if __name__ == "__main__":
    main()
