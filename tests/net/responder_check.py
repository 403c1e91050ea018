"""Run inside a fresh namespace holding a veth pair (veth0 <-> veth1): the L2Responder on
veth0, a raw-socket client on veth1. Prints one JSON object of observations for the test.

    ip netns exec NS python -m tests.net.responder_check [--in-kernel]

With ``--in-kernel`` the responder also answers ARP in the kernel (XDP): the same checks hold,
and ``python_arp_requests`` says how many ARP requests still reached the readers.
"""

from __future__ import annotations

import ipaddress
import json
import select
import socket
import sys
import threading
import time
from types import MappingProxyType

from actors.l2 import arp, ndp
from actors.l2.responder import (
    FRAMES_DROPPED,
    REQUESTS_RECEIVED,
    RESPONSES_SENT,
    InterfaceDuty,
    L2Responder,
)

VIP4 = ipaddress.ip_address("10.99.0.100").packed
VIP6 = ipaddress.ip_address("fd00:99::100").packed
CLIENT4 = ipaddress.ip_address("10.99.0.2").packed
CLIENT6 = ipaddress.ip_address("fd00:99::2").packed


def answers(sock: socket.socket, frame: bytes, target: bytes, wait: float = 0.3) -> list[bytes]:
    """Send ``frame`` and collect every ARP reply / NA for ``target`` within ``wait``."""
    while select.select([sock], [], [], 0)[0]:
        sock.recv(4096)
    sock.send(frame)
    got = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        data = sock.recv(4096)
        arp_reply = data[12:14] == b"\x08\x06" and data[21:22] == b"\x02"
        na = data[12:14] == b"\x86\xdd" and data[54:55] == b"\x88"
        if (arp_reply and data[28:32] == target) or (na and data[62:78] == target):
            got.append(data)
    return got


def main() -> None:
    from tests.net.kernel_rig import veth_ends

    server, client, sock = veth_ends()
    ask4 = arp.request_frame(client.mac, CLIENT4, VIP4)
    ask6 = ndp.solicitation_frame(client.mac, CLIENT6, VIP6)
    base = InterfaceDuty("veth0", server.index, server.mac, server.link_local)
    duty = InterfaceDuty(
        "veth0",
        server.index,
        server.mac,
        server.link_local,
        ipv4=MappingProxyType({VIP4: "10.99.0.100"}),
        ipv6=MappingProxyType({VIP6: "fd00:99::100"}),
    )
    out: dict[str, object] = {}
    responder = L2Responder(in_kernel="--in-kernel" in sys.argv)
    try:
        out["errors"] = responder.update({"veth0": base})
        out["before"] = [len(answers(sock, ask4, VIP4)), len(answers(sock, ask6, VIP6))]
        responder.update({"veth0": duty})
        responder.settle()  # with --in-kernel: its program is on the link
        replies4, replies6 = answers(sock, ask4, VIP4), answers(sock, ask6, VIP6)
        out["announced"] = [len(replies4), len(replies6)]
        out["reply_macs"] = [r[6:12].hex(":") for r in replies4 + replies6]
        out["server_mac"] = server.mac.hex(":")
        for _ in range(50):  # garbage that passes the filter
            sock.send(ask4[:30] + b"\x00" * 30)
        # Withdraw while a client floods requests: once update() has returned, at most the
        # replies the I/O thread was handing to the kernel at that instant are still sent and
        # counted (one round: a frame, or under a flood up to mmsg.VLEN in one sendmmsg).
        flooding = threading.Event()
        flooding.set()

        def flood() -> None:
            while flooding.is_set():
                sock.send(ask4)

        flooder = threading.Thread(target=flood)
        flooder.start()
        time.sleep(0.2)
        responder.update({"veth0": base})
        out["responses_at_withdraw"] = responder.counters.get(RESPONSES_SENT, "10.99.0.100")
        time.sleep(0.3)
        out["responses_later"] = responder.counters.get(RESPONSES_SENT, "10.99.0.100")
        flooding.clear()
        flooder.join()
        time.sleep(0.1)
        while select.select([sock], [], [], 0)[0]:
            sock.recv(4096)
        out["withdrawn"] = [len(answers(sock, ask4, VIP4)), len(answers(sock, ask6, VIP6))]
        counters = responder.counters.snapshot()
        out["requests"] = counters[REQUESTS_RECEIVED]
        out["responses"] = counters[RESPONSES_SENT]
        out["dropped"] = counters[FRAMES_DROPPED]
        out["python_arp_requests"] = responder.counters.table(REQUESTS_RECEIVED).get(
            "10.99.0.100", 0
        )
        out["gratuitous"] = responder.send(
            "veth0", arp.ArpReplier(server.mac).gratuitous(VIP4), socket.AF_INET
        )
        responder.update({})  # the interface goes: its sockets are closed by the I/O thread
        out["ports_after_removal"] = sorted(responder.duties())
    finally:
        responder.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
