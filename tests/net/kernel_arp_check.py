"""Run inside a fresh namespace holding a veth pair (veth0 <-> veth1): ARP answered in the
kernel (XDP) on veth0, asked from a raw socket on veth1. Prints one JSON object for the test.

    ip netns exec NS python -m tests.net.kernel_arp_check

What it looks at: the replies byte for byte (against the readers' own answer and scapy's), a
padded request, what must still reach the readers (NDP, gratuitous ARP from another MAC), the
program visible on the link while it runs and gone after; an expired lease handing requests
to a responder in user space; and a responder process that is frozen (SIGSTOP), thawed, then
killed (SIGKILL).
"""

from __future__ import annotations

import json
import os
import signal
import time
from types import MappingProxyType

from actors.l2 import arp, ndp, xdp
from actors.l2.responder import CONFLICTS, REQUESTS_RECEIVED, InterfaceDuty, L2Responder
from tests.net.kernel_rig import kernel_beside_readers, responder_process, veth_ends, xdp_on
from tests.net.responder_check import CLIENT4, CLIENT6, VIP4, VIP6, answers

VIP4_TEXT = "10.99.0.100"


def scapy_reply(request: bytes, mac: bytes) -> bytes:
    from scapy.layers.l2 import ARP, Ether

    asked = Ether(request)
    reply = Ether(dst=asked.src, src=mac.hex(":")) / ARP(
        op=2, hwsrc=mac.hex(":"), psrc=asked[ARP].pdst, hwdst=asked[ARP].hwsrc,
        pdst=asked[ARP].psrc,
    )  # fmt: skip
    return bytes(reply)


def frozen_and_killed(sock, ask4: bytes) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """A responder process answering in the kernel: answers, frozen, thawed, killed."""
    out: dict[str, object] = {}
    with responder_process(VIP4, VIP4_TEXT) as (child, errors):
        out["child_errors"] = errors
        out["child_running"] = len(answers(sock, ask4, VIP4))
        os.kill(child.pid, signal.SIGSTOP)
        time.sleep(2 * xdp.LEASE)  # the last renewal's lease has run out
        out["child_frozen"] = len(answers(sock, ask4, VIP4))
        out["xdp_while_frozen"] = xdp_on("veth0")
        os.kill(child.pid, signal.SIGCONT)
        time.sleep(4 * xdp.RENEW)
        out["child_thawed"] = len(answers(sock, ask4, VIP4, wait=0.5)) > 0
        child.kill()
        child.wait()
        out["child_killed"] = len(answers(sock, ask4, VIP4))
        out["xdp_after_kill"] = xdp_on("veth0")
    return out


def main() -> None:
    server, client, sock = veth_ends()
    ask4 = arp.request_frame(client.mac, CLIENT4, VIP4)
    ask6 = ndp.solicitation_frame(client.mac, CLIENT6, VIP6)
    duty = InterfaceDuty(
        "veth0",
        server.index,
        server.mac,
        server.link_local,
        ipv4=MappingProxyType({VIP4: VIP4_TEXT}),
        ipv6=MappingProxyType({VIP6: "fd00:99::100"}),
    )
    out: dict[str, object] = {}
    expected = arp.ArpReplier(server.mac).answer(ask4, duty.ipv4)[0]
    responder = L2Responder(in_kernel=True)
    try:
        out["errors"] = responder.update({"veth0": duty})
        out["settled"] = responder.settle()
        out["xdp_on"] = xdp_on("veth0")
        got = answers(sock, ask4, VIP4) + answers(sock, ask4 + bytes(18), VIP4)  # padded: 60
        out["replies"] = len(got)
        out["replies_equal"] = all(r == expected for r in got)
        out["scapy_equal"] = expected == scapy_reply(ask4, server.mac)
        out["ndp_answered"] = len(answers(sock, ask6, VIP6))
        other = bytes.fromhex("0299000000aa")
        sock.send(arp.ArpReplier(other).gratuitous(VIP4)[0])
        time.sleep(0.2)
        counters = responder.counters
        out["conflicts"] = counters.snapshot()[CONFLICTS]
        out["requests_by_readers"] = counters.table(REQUESTS_RECEIVED).get(VIP4_TEXT, 0)
        out["requests_counted"] = counters.get(REQUESTS_RECEIVED, VIP4_TEXT)
    finally:
        responder.close()
    out["xdp_after_close"] = xdp_on("veth0")

    # An expired lease: the same address, a kernel program whose lease is let run out, and a
    # responder in user space beside it, which then answers every request.
    with kernel_beside_readers(duty) as (readers, kernel):
        kernel.announce(duty.ipv4)
        kernel.renew()
        out["leased"] = len(answers(sock, ask4, VIP4))
        out["readers_while_leased"] = readers.counters.get(REQUESTS_RECEIVED, VIP4_TEXT)
        kernel.expire()
        out["expired"] = len(answers(sock, ask4, VIP4))
        out["readers_after_expiry"] = readers.counters.get(REQUESTS_RECEIVED, VIP4_TEXT)
        out["kernel_replies"] = kernel.replies()

    # A full map: the address it refused is answered by the readers, the other by the kernel.
    second = bytes([10, 99, 0, 101])
    both = MappingProxyType({VIP4: VIP4_TEXT, second: "10.99.0.101"})
    full = InterfaceDuty("veth0", server.index, server.mac, ipv4=both)
    with kernel_beside_readers(full, max_addresses=1) as (readers, kernel):
        out["refused"] = kernel.announce(both)
        kernel.renew()
        ask_second = arp.request_frame(client.mac, CLIENT4, second)
        out["full_answers"] = [
            len(answers(sock, ask4, VIP4)),
            len(answers(sock, ask_second, second)),
        ]
        out["full_readers"] = {
            ip: readers.counters.get(REQUESTS_RECEIVED, ip) for ip in both.values()
        }

    out.update(frozen_and_killed(sock, ask4))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
