"""Router advertisements and solicitations heard in a namespace for a while, decoded by scapy
(the tests' oracle, never lbtui's own codec): one JSON line each, printed when the time is up.

    ip netns exec NS python -m tests.net.ra_sampler SECONDS
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import sys
import time


def main(seconds: float) -> None:
    from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6ND_RS, ICMPv6NDOptSrcLLAddr

    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    for ifindex, _ in socket.if_nameindex():  # solicitations go to all-routers: be one
        group = socket.inet_pton(socket.AF_INET6, "ff02::2") + struct.pack("=I", ifindex)
        with contextlib.suppress(OSError):  # an interface without multicast (lo)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group)
    print(json.dumps({"ready": True}), flush=True)
    start = time.monotonic()
    heard = []
    while (left := start + seconds - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            continue
        data, ancillary, _, source = sock.recvmsg(2048, 256)
        if data[0] not in (133, 134):
            continue
        hop_limit, ifindex = None, 0
        for level, kind, value in ancillary:
            if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT:
                hop_limit = struct.unpack("=i", value[:4])[0]
            elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
                ifindex = struct.unpack("=I", value[16:20])[0]
        packet = (ICMPv6ND_RA if data[0] == 134 else ICMPv6ND_RS)(data)
        mac = packet[ICMPv6NDOptSrcLLAddr].lladdr if ICMPv6NDOptSrcLLAddr in packet else None
        heard.append(
            {
                "t": round(time.monotonic() - start, 3),
                "type": "ra" if data[0] == 134 else "rs",
                "source": source[0].split("%")[0],
                "interface": socket.if_indextoname(ifindex) if ifindex else None,
                "hop_limit": hop_limit,
                "lifetime": packet.routerlifetime if data[0] == 134 else None,
                "mac": mac,
            }
        )
    for line in heard:
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]))
