"""Run inside a namespace (``ip netns exec NS python -m tests.net.probe ...``): ask who has an
address and list every answer, or throw malformed frames at the segment.

    who-has IP [--wait S]      one ARP request (IPv4) or NS (IPv6); prints {"macs": [...]}
    watch IP                   a JSON line per gratuitous ARP / unsolicited NA for IP, forever
    junk IP [--count N]        malformed, truncated, oversized and random frames aimed at IP
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import select
import socket
import time

from actors.l2 import arp, ndp

ETH_P_ALL = 0x0003


def interface_mac(name: str) -> bytes:
    with open(f"/sys/class/net/{name}/address") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))


def own_address(family: int, ifname: str) -> bytes:
    import subprocess

    flag = "-6" if family == socket.AF_INET6 else "-4"
    out = json.loads(subprocess.check_output(["ip", "-j", flag, "addr", "show", "dev", ifname]))
    for info in out[0]["addr_info"]:
        if info.get("scope") == "global":
            return ipaddress.ip_address(info["local"]).packed
    raise SystemExit(f"no global {flag} address on {ifname}")


def who_has(ip: str, ifname: str, wait: float) -> list[str]:
    target = ipaddress.ip_address(ip)
    mac = interface_mac(ifname)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((ifname, 0))
    if target.version == 4:
        frame = arp.request_frame(mac, own_address(socket.AF_INET, ifname), target.packed)
    else:
        frame = ndp.solicitation_frame(mac, own_address(socket.AF_INET6, ifname), target.packed)
    sock.send(frame)
    macs: list[str] = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        data, address = sock.recvfrom(2048)
        if address[2] == socket.PACKET_OUTGOING or data[:6] != mac:
            continue
        answer = _answer(data, target.packed)
        if answer:
            macs.append(answer)
    return macs


def _answer(data: bytes, target: bytes) -> str | None:
    """The MAC an ARP reply or NA for ``target`` gives, if ``data`` is one."""
    if len(target) == 4 and data[12:14] == b"\x08\x06" and data[21:22] == b"\x02":
        return data[22:28].hex(":") if data[28:32] == target else None
    is_na = data[12:14] == b"\x86\xdd" and data[54:55] == bytes([ndp.ND_NEIGHBOR_ADVERT])
    if is_na and data[62:78] == target:
        return data[6:12].hex(":")
    return None


def watch(ip: str, ifname: str) -> None:
    """Print a JSON line (monotonic time, sender MAC) per gratuitous ARP or unsolicited NA for
    ``ip`` seen on ``ifname``, until killed. CLOCK_MONOTONIC is shared by every namespace, so
    the times compare with the test's own."""
    target = ipaddress.ip_address(ip).packed
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((ifname, 0))
    print(json.dumps({"ready": time.monotonic()}), flush=True)
    while True:
        data = sock.recv(2048)
        now = time.monotonic()
        is_garp = data[12:14] == b"\x08\x06" and data[28:32] == target == data[38:42]
        is_unsolicited_na = (
            data[12:14] == b"\x86\xdd"
            and data[54:55] == bytes([ndp.ND_NEIGHBOR_ADVERT])
            and data[62:78] == target
            and not data[58] & ndp.FLAG_SOLICITED
        )
        if is_garp or is_unsolicited_na:
            print(json.dumps({"t": now, "mac": data[6:12].hex(":")}), flush=True)


def junk(ip: str, ifname: str, count: int) -> int:
    """Frames that pass (or nearly pass) the responders' filters but are wrong inside."""
    target = ipaddress.ip_address(ip)
    mac = interface_mac(ifname)
    rng = random.Random(5)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.bind((ifname, 0))
    v4 = arp.request_frame(mac, own_address(socket.AF_INET, ifname), b"\x0a\x63\x00\x64")
    if target.version == 4:
        valid = arp.request_frame(mac, own_address(socket.AF_INET, ifname), target.packed)
    else:
        valid = ndp.solicitation_frame(mac, own_address(socket.AF_INET6, ifname), target.packed)
    sent = 0
    for n in range(count):
        kind = n % 6
        frame = bytearray(valid)
        if kind == 0:  # truncated right after the filter's last check
            frame = frame[: rng.randint(14, len(frame) - 1)]
        elif kind == 1:  # oversized: a jumbo frame with a valid head
            frame += os.urandom(rng.randint(2100, 8900))
        elif kind == 2:  # random bytes after the header checks
            for _ in range(6):
                at = rng.randint(14, len(frame) - 1)
                frame[at] = rng.randint(0, 255)
        elif kind == 3:  # lengths that lie (IPv6 payload length, ARP address lengths)
            frame[18:20] = rng.randint(0, 0xFFFF).to_bytes(2, "big")
        elif kind == 4:  # pure noise with the right ethertype
            frame = frame[:14] + bytearray(os.urandom(rng.randint(0, 200)))
        else:  # an ARP-looking frame on the other family, and runts
            frame = bytearray(v4[: rng.randint(0, 60)])
        if len(frame) < 14:
            frame = bytearray(frame) + bytes(14 - len(frame))
        try:
            sock.send(bytes(frame))
            sent += 1
        except OSError:
            pass
    return sent


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("who-has")
    ask.add_argument("ip")
    ask.add_argument("--wait", type=float, default=0.5)
    ask.add_argument("--dev", default="eth0")
    bad = sub.add_parser("junk")
    bad.add_argument("ip")
    bad.add_argument("--count", type=int, default=600)
    bad.add_argument("--dev", default="eth0")
    see = sub.add_parser("watch")
    see.add_argument("ip")
    see.add_argument("--dev", default="eth0")
    args = parser.parse_args()
    if args.command == "watch":
        watch(args.ip, args.dev)
    elif args.command == "who-has":
        print(json.dumps({"macs": who_has(args.ip, args.dev, args.wait)}))
    else:
        print(json.dumps({"sent": junk(args.ip, args.dev, args.count)}))


if __name__ == "__main__":
    main()
