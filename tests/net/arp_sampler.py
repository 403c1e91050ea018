"""Run inside a namespace (``python -m tests.net.arp_sampler IP``): ask who has IP every
``--period`` seconds and print a JSON line per question, {"t": monotonic, "macs": [...]},
every MAC that answered within ``--wait``. CLOCK_MONOTONIC is shared by the namespaces, so
the times compare with the speakers' events and the test's own clock."""

from __future__ import annotations

import argparse
import ipaddress
import json
import select
import socket
import time

from actors.l2 import arp
from tests.net.probe import ETH_P_ALL, _answer, interface_mac, own_address


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ip")
    parser.add_argument("--period", type=float, default=0.02)
    parser.add_argument("--wait", type=float, default=0.015)
    parser.add_argument("--dev", default="eth0")
    args = parser.parse_args()
    target = ipaddress.ip_address(args.ip).packed
    mac = interface_mac(args.dev)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((args.dev, 0))
    frame = arp.request_frame(mac, own_address(socket.AF_INET, args.dev), target)
    print(json.dumps({"ready": time.monotonic()}), flush=True)
    while True:
        asked = time.monotonic()
        while select.select([sock], [], [], 0)[0]:
            sock.recv(2048)  # late answers to the last question
        sock.send(frame)
        macs: set[str] = set()
        while (left := asked + args.wait - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            data, address = sock.recvfrom(2048)
            if address[2] == socket.PACKET_OUTGOING or data[:6] != mac:
                continue
            answer = _answer(data, target)
            if answer:
                macs.add(answer)
        print(json.dumps({"t": asked, "macs": sorted(macs)}), flush=True)
        time.sleep(max(0.0, asked + args.period - time.monotonic()))


if __name__ == "__main__":
    main()
