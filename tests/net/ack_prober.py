"""Run inside a node's namespace (``python -m tests.net.ack_prober ADDR:PORT NODE KEYFILE S``):
ping NODE's membership every 20 ms for S seconds, sealed with the key in KEYFILE, and print
the ack round trips as JSON ({"sent", "acked", "p50", "p99", "max"}, milliseconds): how long
an attacked speaker takes to answer a probe."""

from __future__ import annotations

import json
import socket
import sys
import time

from actors.membership import codec
from actors.membership.keyring import Keyring
from actors.membership.messages import Ack, Ping


def main() -> None:
    target, node, keyfile, seconds = sys.argv[1:5]
    host, port = target.rsplit(":", 1)
    key = Keyring.from_file(keyfile)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 0))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as route:
        route.connect((host, int(port)))
        me = (route.getsockname()[0], sock.getsockname()[1])
    sent: dict[int, float] = {}
    rtts: list[float] = []
    end = time.monotonic() + float(seconds)
    seq = 0
    while time.monotonic() < end:
        seq += 1
        sent[seq] = time.monotonic()
        ping = Ping(seq, node, "prober", me)
        sock.sendto(key.seal(codec.encode([ping])), (host, int(port)))
        deadline = sent[seq] + 0.02
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            for msg in codec.decode(key.open(data)):
                if isinstance(msg, Ack) and msg.seq in sent:
                    rtts.append((time.monotonic() - sent.pop(msg.seq)) * 1000)
        time.sleep(max(0.0, deadline - time.monotonic()))
    rtts.sort()
    pick = lambda q: round(rtts[min(len(rtts) - 1, int(q * len(rtts)))], 2) if rtts else None  # noqa: E731
    print(
        json.dumps(
            {
                "sent": seq,
                "acked": len(rtts),
                "p50": pick(0.5),
                "p99": pick(0.99),
                "max": round(rtts[-1], 2) if rtts else None,
            }
        )
    )


if __name__ == "__main__":
    main()
