"""Run inside a fresh namespace holding a veth pair (veth0 <-> veth1): the L2Responder
announces an IPv6 VIP on veth0, and the kernel adds the same address on veth1, running its
own duplicate address detection. Prints the kernel's verdict (JSON) for the test.

    ip netns exec NS python -m tests.net.dad_check
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from types import MappingProxyType

from actors.l2.interfaces import read_links
from actors.l2.responder import InterfaceDuty, L2Responder

VIP = "fd00:99::100"


def links_ready() -> dict:
    """The veth pair once veth0 has its link-local address (the NA's source)."""
    deadline = time.monotonic() + 10
    while True:
        links = {li.name: li for li in read_links()}
        if links["veth0"].link_local or time.monotonic() > deadline:
            return links
        time.sleep(0.1)


def verdict_on_veth1() -> str:
    """Add VIP on veth1 and wait for the kernel's DAD: "dadfailed", "ok" or "tentative"."""
    subprocess.run(["ip", "-6", "addr", "add", f"{VIP}/64", "dev", "veth1"], check=True)
    deadline = time.monotonic() + 8
    state = "tentative"
    while time.monotonic() < deadline:
        shown = json.loads(
            subprocess.run(
                ["ip", "-j", "-6", "addr", "show", "dev", "veth1"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        info = [a for link in shown for a in link.get("addr_info", []) if a.get("local") == VIP]
        if info and info[0].get("dadfailed"):
            state = "dadfailed"
            break
        if info and not info[0].get("tentative"):
            state = "ok"
            break
        time.sleep(0.1)
    subprocess.run(["ip", "-6", "addr", "del", f"{VIP}/64", "dev", "veth1"], check=True)
    return state


def main() -> None:
    links = links_ready()
    server = links["veth0"]
    base = InterfaceDuty("veth0", server.index, server.mac, server.link_local)
    packed = ipaddress.IPv6Address(VIP).packed
    duty = InterfaceDuty(
        "veth0",
        server.index,
        server.mac,
        server.link_local,
        ipv6=MappingProxyType({packed: VIP}),
    )
    out: dict[str, object] = {"link_local": bool(server.link_local)}
    responder = L2Responder()
    try:
        out["errors"] = responder.update({"veth0": duty})
        out["announced"] = verdict_on_veth1()
        responder.update({"veth0": base})
        out["withdrawn"] = verdict_on_veth1()
    finally:
        responder.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
