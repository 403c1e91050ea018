"""pyroute2's reading of a namespace's links: the oracle for actors/l2/netlink.py's reader."""

from __future__ import annotations

import socket

from actors.l2.interfaces import Link


def pyroute2_links() -> tuple[Link, ...]:
    """What read_links answered when it asked pyroute2 (the oracle)."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        raw_links = ipr.get_links()
        local: dict[int, bytes] = {}
        for msg in ipr.get_addr(family=socket.AF_INET6):
            address = msg.get("IFA_ADDRESS")
            if address and address.lower().startswith("fe80:") and msg["index"] not in local:
                local[msg["index"]] = socket.inet_pton(socket.AF_INET6, address)
    links = []
    for msg in raw_links:
        text = msg.get("IFLA_ADDRESS") or ""
        try:
            mac = bytes.fromhex(text.replace(":", ""))
        except ValueError:
            mac = b""
        links.append(
            Link(
                index=msg["index"],
                name=msg.get("IFLA_IFNAME") or "",
                mac=mac,
                flags=msg["flags"],
                link_type=msg["ifi_type"],
                enslaved=bool(msg.get("IFLA_MASTER")),
                link_local=local.get(msg["index"]),
            )
        )
    return tuple(sorted(links, key=lambda li: li.index))
