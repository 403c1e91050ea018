"""Run inside a fresh namespace holding a veth pair (veth0 <-> veth1): NDP answered in the kernel
(XDP) on veth0, asked from a raw socket on veth1. Prints one JSON object for the test.

    ip netns exec NS python -m tests.net.kernel_ndp_check

What it looks at: NSs to the target's solicited-node group and unicast to us answered byte for
byte as the readers answer them (and as scapy builds the NA) without reaching a reader, and
counted; what must still reach the readers: a duplicate address detection probe for the VIP6
(defended to all nodes), an NS without a source link-layer option; an expired lease handing
NSs to a responder in user space; a responder process killed (SIGKILL), its program gone and
nobody answering; the address maps' kernel memory.
"""

from __future__ import annotations

import ipaddress
import json
from types import MappingProxyType

from actors.l2 import ndp
from actors.l2.responder import REQUESTS_RECEIVED, InterfaceDuty, L2Responder
from tests.net.filter_check import dad_probe
from tests.net.kernel_rig import kernel_beside_readers, responder_process, veth_ends, xdp_on
from tests.net.responder_check import CLIENT6, VIP6, answers

VIP6_TEXT = "fd00:99::100"


def scapy_na(asker_mac: bytes, mac: bytes, source: bytes) -> bytes:
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
    from scapy.layers.l2 import Ether

    return bytes(
        Ether(dst=asker_mac.hex(":"), src=mac.hex(":"))
        / IPv6(
            src=str(ipaddress.ip_address(source)),
            dst=str(ipaddress.ip_address(CLIENT6)),
            hlim=255,
        )
        / ICMPv6ND_NA(R=0, S=1, O=1, tgt=VIP6_TEXT)
        / ICMPv6NDOptDstLLAddr(lladdr=mac.hex(":"))
    )


def without_option(ns: bytes) -> bytes:
    """``ns`` without its source link-layer option (a unicast probe may leave it out): the
    readers answer it, to the Ethernet source; the kernel's program leaves it to them."""
    frame = bytearray(ns[: ndp.ICMP_AT + 24])
    frame[18:20] = (24).to_bytes(2, "big")
    frame[56:58] = bytes(2)
    pseudo = frame[22:54] + (24).to_bytes(4, "big") + bytes(3) + bytes((ndp.IPPROTO_ICMPV6,))
    frame[56:58] = ndp.checksum(bytes(pseudo) + bytes(frame[ndp.ICMP_AT :]))
    return bytes(frame)


def memlock(fd: int) -> int:
    """The kernel memory a map holds (its fdinfo's memlock), in bytes."""
    with open(f"/proc/self/fdinfo/{fd}") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("memlock:"))


def killed(sock, ask6: bytes) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """A responder process answering NDP in the kernel, then killed."""
    out: dict[str, object] = {}
    with responder_process(VIP6, VIP6_TEXT) as (child, errors):
        out["child_errors"] = errors
        out["child_running"] = len(answers(sock, ask6, VIP6))
        child.kill()
        child.wait()
        out["child_killed"] = len(answers(sock, ask6, VIP6))
        out["xdp_after_kill"] = xdp_on("veth0")
    return out


def main() -> None:
    server, client, sock = veth_ends()
    ask6 = ndp.solicitation_frame(client.mac, CLIENT6, VIP6)  # to the solicited-node group
    unicast6 = server.mac + ndp.solicitation_frame(client.mac, CLIENT6, VIP6, multicast=False)[6:]
    duty = InterfaceDuty(
        "veth0",
        server.index,
        server.mac,
        server.link_local,
        ipv6=MappingProxyType({VIP6: VIP6_TEXT}),
    )
    replier = ndp.NdpReplier(server.mac, server.link_local)
    expected = replier.answer(ask6, duty.ipv6)[0]
    out: dict[str, object] = {"link_local": server.link_local is not None}
    responder = L2Responder(in_kernel=True)
    try:
        out["errors"] = responder.update({"veth0": duty})
        out["settled"] = responder.settle()
        out["xdp_on"] = xdp_on("veth0")
        got = answers(sock, ask6, VIP6) + answers(sock, unicast6, VIP6)
        out["replies"] = len(got)
        out["replies_equal"] = got == [expected, replier.answer(unicast6, duty.ipv6)[0]]
        out["scapy_equal"] = expected == scapy_na(client.mac, server.mac, server.link_local or VIP6)
        counters = responder.counters
        out["requests_by_readers"] = counters.table(REQUESTS_RECEIVED).get(VIP6_TEXT, 0)
        out["requests_counted"] = counters.get(REQUESTS_RECEIVED, VIP6_TEXT)
        # Left to the readers: the DAD probe (defended to all nodes) and an NS without option.
        probe = dad_probe(client.mac, VIP6)
        defence = answers(sock, probe, VIP6)
        out["dad_defended"] = defence == [replier.answer(probe, duty.ipv6)[0]]
        out["dad_to_all_nodes"] = [d[38:54] == ndp.ALL_NODES for d in defence]
        bare = without_option(unicast6)
        out["bare_answered"] = answers(sock, bare, VIP6) == [replier.answer(bare, duty.ipv6)[0]]
        out["requests_by_readers_after"] = counters.table(REQUESTS_RECEIVED).get(VIP6_TEXT, 0)
        out["requests_counted_after"] = counters.get(REQUESTS_RECEIVED, VIP6_TEXT)
    finally:
        responder.close()
    out["xdp_after_close"] = xdp_on("veth0")

    # An expired lease: a kernel program whose lease is let run out, a responder in user
    # space beside it, which then answers.
    with kernel_beside_readers(duty, source=server.link_local) as (readers, kernel):
        kernel.announce({}, duty.ipv6)
        kernel.renew()
        out["leased"] = answers(sock, ask6, VIP6) == [expected]
        out["readers_while_leased"] = readers.counters.get(REQUESTS_RECEIVED, VIP6_TEXT)
        kernel.expire()
        out["expired"] = answers(sock, ask6, VIP6) == [expected]
        out["readers_after_expiry"] = readers.counters.get(REQUESTS_RECEIVED, VIP6_TEXT)
        out["kernel_replies"] = kernel.replies()
        out["map_memlock"] = [memlock(m.fd) for m in (kernel.addresses, kernel.addresses6)]

    out.update(killed(sock, ask6))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
