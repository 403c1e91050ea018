"""Run inside a fresh namespace holding a veth pair (veth0 <-> veth1): the L2Responder on
veth0, a raw-socket client on veth1 speaking for six askers. Prints one JSON object of
observations for tests/net/test_l2_responder.py.

    ip netns exec NS python -m tests.net.burst_check

- one ARP request and one Neighbor Solicitation, each alone on the wire: answered as scapy
  builds the answer, each read by a receive call that took one frame (the serial path);
- bursts of requests from the six askers (ARP and NDP mixed, 60 in each burst, 420 in all):
  every one answered once, byte for byte as scapy builds the answer to that asker, and some
  read by receive calls that took several frames at once (the batched path, counted).
"""

from __future__ import annotations

import collections
import ctypes
import ipaddress
import json
import socket
import struct
from types import MappingProxyType

from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether

from actors.l2 import arp, mmsg, ndp
from actors.l2.interfaces import read_links
from actors.l2.responder import RECEIVES, RESPONSES_SENT, InterfaceDuty, L2Responder
from tests.net.filter_check import VIP4, VIP6, collect, drain, text

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
ASKERS = [
    (
        bytes.fromhex(f"0299000002{i:02x}"),
        ipaddress.ip_address(f"10.99.0.{30 + i}").packed,
        ipaddress.ip_address(f"fd00:99::{30 + i:x}").packed,
    )
    for i in range(6)
]
BURSTS, BURST = 7, 60


def expected_arp(server_mac: bytes, mac: bytes, ip: bytes) -> bytes:
    return bytes(
        Ether(dst=mac.hex(":"), src=server_mac.hex(":"))
        / ARP(op=2, hwsrc=server_mac.hex(":"), psrc=text(VIP4), hwdst=mac.hex(":"), pdst=text(ip))
    )


def expected_na(server_mac: bytes, source6: bytes, mac: bytes, ip: bytes) -> bytes:
    return bytes(
        Ether(dst=mac.hex(":"), src=server_mac.hex(":"))
        / IPv6(src=text(source6), dst=text(ip), hlim=255)
        / ICMPv6ND_NA(R=0, S=1, O=1, tgt=text(VIP6))
        / ICMPv6NDOptDstLLAddr(lladdr=server_mac.hex(":"))
    )


def main() -> None:
    links = {li.name: li for li in read_links()}
    server, client = links["veth0"], links["veth1"]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.bind(("veth1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    # The answers go to the askers' MACs, not veth1's: receive them all.
    mreq = struct.pack("iHH8s", client.index, PACKET_MR_PROMISC, 0, b"")
    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
    duty = InterfaceDuty(
        "veth0",
        server.index,
        server.mac,
        server.link_local,
        ipv4=MappingProxyType({VIP4: text(VIP4)}),
        ipv6=MappingProxyType({VIP6: text(VIP6)}),
    )
    source6 = server.link_local or VIP6
    requests, answers = [], []
    for mac, ip4, ip6 in ASKERS:
        requests.append(arp.request_frame(mac, ip4, VIP4))
        answers.append(expected_arp(server.mac, mac, ip4))
        requests.append(ndp.solicitation_frame(mac, ip6, VIP6))
        answers.append(expected_na(server.mac, source6, mac, ip6))
    out: dict[str, object] = {}
    responder = L2Responder()
    try:
        out["errors"] = responder.update({"veth0": duty})
        drain(sock)

        # Alone on the wire: one frame per receive call.
        serial_equal = []
        for request, answer in zip(requests[:2], answers[:2], strict=True):
            sock.send(request)
            serial_equal.append(collect(sock, 1) == [answer])
        out["serial_equal"] = serial_equal
        out["serial_receives"] = responder.counters.snapshot()[RECEIVES]

        # Bursts from all six askers: each answered once, as scapy answers that asker.
        want: collections.Counter[bytes] = collections.Counter()
        got: collections.Counter[bytes] = collections.Counter()
        # One sendmmsg that keeps the GIL queues a whole burst at the responder before its
        # reader can run again, so the burst is met as one however loaded the machine is
        # (a loop of sends could be kept pace with, each frame then read alone).
        sender = mmsg.Batcher(sock, mmsg._Calls(ctypes.PyDLL))
        refused: list[int] = []
        for n in range(BURSTS):
            burst = [requests[(n * BURST + i) % len(requests)] for i in range(BURST)]
            refused += sender.send(burst)
            want.update(answers[(n * BURST + i) % len(requests)] for i in range(BURST))
            got.update(collect(sock, BURST, wait=5.0))
        receives = responder.counters.snapshot()[RECEIVES]
        out["send_refused"] = refused
        out["asked"] = BURSTS * BURST
        out["answered"] = sum(got.values())
        out["answered_equal"] = sum((got & want).values())
        out["responses_sent"] = sum(responder.counters.snapshot()[RESPONSES_SENT].values())
        out["batched_calls"] = sum(receives.values())
        out["receives"] = receives
    finally:
        responder.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
