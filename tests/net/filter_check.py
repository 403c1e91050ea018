"""Run inside a fresh namespace holding a veth pair (veth0 <-> veth1): the L2Responder on
veth0, a raw-socket client on veth1. Prints one JSON object of observations for
tests/net/test_l2_responder.py.

    ip netns exec NS python -m tests.net.filter_check

- the kernel's BPF filter: what it must drop (other targets, ARP replies, a frame that only
  looks like a request, a hop limit below 255, a DAD probe for an address we do not announce,
  requests tagged for VLAN 100) never reaches Python (no counter moves); what it must pass (a
  VLAN-less ARP request for the VIP, an NS for the VIP6 to its solicited-node group, a DAD
  probe for the VIP6, a priority-tagged request) does;
- the answers byte for byte scapy's: the ARP reply, the solicited NA, the DAD defence;
- bursts of requests, every one answered, every answer scapy's.
"""

from __future__ import annotations

import ipaddress
import json
import select
import socket
import time
from types import MappingProxyType

from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether

from actors.l2 import arp, ndp
from actors.l2.interfaces import read_links
from actors.l2.responder import FRAMES_DROPPED, REQUESTS_RECEIVED, InterfaceDuty, L2Responder

VIP4 = ipaddress.ip_address("10.99.0.100").packed
VIP6 = ipaddress.ip_address("fd00:99::100").packed
OTHER4 = ipaddress.ip_address("10.99.0.101").packed
OTHER6 = ipaddress.ip_address("fd00:99::101").packed
CLIENT4 = ipaddress.ip_address("10.99.0.2").packed
CLIENT6 = ipaddress.ip_address("fd00:99::2").packed
ALL_NODES = "ff02::1"


def text(packed: bytes) -> str:
    return str(ipaddress.ip_address(packed))


def drain(sock: socket.socket) -> None:
    while select.select([sock], [], [], 0)[0]:
        sock.recv(4096)


def ours(data: bytes) -> bool:
    """An ARP reply from the VIP, or an NA from our side for the VIP6 (the kernels in the
    namespace send frames of their own: DAD, MLD, router solicitations)."""
    if data[12:14] == b"\x08\x06":
        return data[21] == arp.OP_REPLY and data[28:32] in (VIP4, OTHER4)
    return (
        data[12:14] == b"\x86\xdd"
        and data[20] == ndp.IPPROTO_ICMPV6
        and data[54] == ndp.ND_NEIGHBOR_ADVERT
        and data[62:78] in (VIP6, OTHER6)
    )


def collect(sock: socket.socket, want: int, wait: float = 2.0) -> list[bytes]:
    """Up to ``want`` of our answers seen on the client's socket within ``wait``."""
    got: list[bytes] = []
    deadline = time.monotonic() + wait
    while len(got) < want and (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        data = sock.recv(4096)
        if ours(data):
            got.append(data)
    return got


def dad_probe(src_mac: bytes, target: bytes) -> bytes:
    """A duplicate address detection probe: source ::, to the solicited-node group, no
    source link-layer option (RFC 4862 §5.4.2)."""
    group = ndp.solicited_node(target)
    icmp = bytearray(
        bytes([ndp.ND_NEIGHBOR_SOLICIT, 0, 0, 0]) + bytes(4) + target
    )  # type, code, checksum, reserved, target
    pseudo = ndp.UNSPECIFIED + group + len(icmp).to_bytes(4, "big") + bytes(3) + b"\x3a"
    icmp[2:4] = ndp.checksum(pseudo + icmp)
    ipv6 = (6 << 28).to_bytes(4, "big") + len(icmp).to_bytes(2, "big") + b"\x3a\xff"
    return ndp.multicast_mac(group) + src_mac + b"\x86\xdd" + ipv6 + ndp.UNSPECIFIED + group + icmp


def tagged(frame: bytes, tci: int) -> bytes:
    """``frame`` with an 802.1Q tag of TCI ``tci`` after the MAC addresses."""
    return frame[:12] + b"\x81\x00" + tci.to_bytes(2, "big") + frame[12:]


def main() -> None:
    links = {li.name: li for li in read_links()}
    server, client = links["veth0"], links["veth1"]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.bind(("veth1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    duty = InterfaceDuty(
        "veth0",
        server.index,
        server.mac,
        server.link_local,
        ipv4=MappingProxyType({VIP4: text(VIP4)}),
        ipv6=MappingProxyType({VIP6: text(VIP6)}),
    )
    ask4 = arp.request_frame(client.mac, CLIENT4, VIP4)
    ask6 = ndp.solicitation_frame(client.mac, CLIENT6, VIP6)  # to the solicited-node group
    as_reply = bytearray(ask4)
    as_reply[21] = arp.OP_REPLY
    out: dict[str, object] = {}
    responder = L2Responder()
    try:
        out["errors"] = responder.update({"veth0": duty})

        def reached() -> int:
            """Frames that reached Python: answered requests plus dropped frames."""
            counters = responder.counters.snapshot()
            return sum(counters[REQUESTS_RECEIVED].values()) + sum(
                counters[FRAMES_DROPPED].values()
            )

        # What the filter drops never reaches Python.
        drain(sock)
        for frame in (
            arp.request_frame(client.mac, CLIENT4, OTHER4),
            bytes(as_reply),
            ask4[:40],  # cut short: the target is missing
            ndp.solicitation_frame(client.mac, CLIENT6, OTHER6),
            ndp.solicitation_frame(client.mac, CLIENT6, VIP6, hop_limit=64),
            dad_probe(client.mac, OTHER6),
            tagged(ask4, 100),
            tagged(ask4, 0xE000 | 100),  # priority 7 on VLAN 100
            tagged(ask6, 100),
        ):
            for _ in range(20):
                sock.send(frame)
        time.sleep(0.3)
        out["reached_after_filtered"] = reached()
        out["answers_to_filtered"] = len(collect(sock, 1, wait=0.3))

        # What it passes does, and is answered as scapy would answer it.
        drain(sock)
        sock.send(ask4)
        reply4 = collect(sock, 1)
        sock.send(ask6)
        reply6 = collect(sock, 1)
        sock.send(dad_probe(client.mac, VIP6))
        defence = collect(sock, 1)
        sock.send(tagged(ask4, 0xA000))  # priority 5, VLAN 0: the untagged network
        priority = collect(sock, 1)
        out["reached_after_passed"] = reached()
        source6 = server.link_local or VIP6
        expected = {
            "arp": bytes(
                Ether(dst=client.mac.hex(":"), src=server.mac.hex(":"))
                / ARP(
                    op=2,
                    hwsrc=server.mac.hex(":"),
                    psrc=text(VIP4),
                    hwdst=client.mac.hex(":"),
                    pdst=text(CLIENT4),
                )
            ),
            "na": bytes(
                Ether(dst=client.mac.hex(":"), src=server.mac.hex(":"))
                / IPv6(src=text(source6), dst=text(CLIENT6), hlim=255)
                / ICMPv6ND_NA(R=0, S=1, O=1, tgt=text(VIP6))
                / ICMPv6NDOptDstLLAddr(lladdr=server.mac.hex(":"))
            ),
            "dad": bytes(
                Ether(dst="33:33:00:00:00:01", src=server.mac.hex(":"))
                / IPv6(src=text(source6), dst=ALL_NODES, hlim=255)
                / ICMPv6ND_NA(R=0, S=0, O=1, tgt=text(VIP6))
                / ICMPv6NDOptDstLLAddr(lladdr=server.mac.hex(":"))
            ),
        }
        out["scapy_equal"] = {
            "arp": reply4 == [expected["arp"]],
            "na": reply6 == [expected["na"]],
            "dad": defence == [expected["dad"]],
            "priority": priority == [expected["arp"]],
        }

        # Bursts of requests, each request answered once.
        drain(sock)
        answered = equal = 0
        bursts, burst = 12, 60
        for _ in range(bursts):
            for _ in range(burst):
                sock.send(ask4)
            replies = collect(sock, burst, wait=5.0)
            answered += len(replies)
            equal += sum(r == expected["arp"] for r in replies)
        out["asked"] = bursts * burst
        out["answered"] = answered
        out["answered_equal"] = equal
    finally:
        responder.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
