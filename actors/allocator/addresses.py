"""Address keys: the allocator's one integer for an IPv4 or IPv6 address, and their text.

IPv4 is its int, IPv6 its int with bit 128 set, so one dict holds both and a key's family is
one comparison. Also here: parsing requested or reported addresses as MetalLB (Go) does,
printing them as MetalLB's messages do, and the ``avoidBuggyIPs`` test. Pure; imports only
the model.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from actors.model.allocation import V6_TAG, address_of_key
from actors.model.config import IPAddress

# Internal address key: IPv4 as its int, IPv6 as its int with bit 128 set, so one dict holds both
# (V6_TAG; an Allocation keeps one address so).
FAMILY_NAME = {4: "ipv4", 6: "ipv6"}


def address_key(ip: IPAddress) -> int:
    return int(ip) if ip.version == 4 else int(ip) | V6_TAG


address_of = address_of_key


def family_of(key: int) -> int:
    return 6 if key >= V6_TAG else 4


def parse_address(text: str) -> int | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.version == 6:
        if ip.scope_id:
            return None
        # Go's net.ParseIP treats ::ffff:a.b.c.d as IPv4; so does MetalLB.
        if ip.ipv4_mapped is not None:
            return int(ip.ipv4_mapped)
    return address_key(ip)


def quoted(keys: Iterable[int]) -> str:
    """Addresses as Go's %q prints a []net.IP, which MetalLB's messages use."""
    return "[" + " ".join(f'"{address_of(k)}"' for k in keys) + "]"


def is_buggy(value: int) -> bool:
    return (value & 0xFF) in (0, 255)


def count_buggy(first: int, last: int) -> int:
    """IPv4 addresses in [first, last] ending in .0 or .255, counted without walking them."""
    zeros = last // 256 - (first - 1) // 256
    ones = (last + 1) // 256 - first // 256
    return zeros + ones
