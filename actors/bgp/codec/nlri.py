"""Prefixes on the wire (RFC 4271 §4.3, RFC 4760 §5): a length in bits, then only the bytes
that length needs. Prefixes travel through lbtui as text (``10.0.0.1/32``, ``fd00::/64``).

Encoding is on the hot path (100k routes), so text is parsed with ``inet_pton`` rather than
``ipaddress`` and the result is cached.
"""

from __future__ import annotations

import socket
from functools import lru_cache

from actors.bgp.codec.errors import BGPError, ErrorCode, UpdateSubcode

AFI_IPV4 = 1
AFI_IPV6 = 2

_FAMILY = {AFI_IPV4: (socket.AF_INET, 4, 32), AFI_IPV6: (socket.AF_INET6, 16, 128)}


_LENGTH_BYTE = [bytes([n]) for n in range(129)]


@lru_cache(maxsize=1 << 18)
def encode_prefix(prefix: str) -> tuple[int, bytes]:
    """``("10.0.0.1/32")`` -> ``(AFI_IPV4, b"\\x20\\x0a\\x00\\x00\\x01")``. Raises ValueError."""
    address, _, length_text = prefix.partition("/")
    if ":" in address:
        afi, family, bits = AFI_IPV6, socket.AF_INET6, 128
    else:
        afi, family, bits = AFI_IPV4, socket.AF_INET, 32
    raw = socket.inet_pton(family, address)  # OSError on bad text
    length = int(length_text) if length_text else bits
    if length == bits:  # host routes, what service addresses mostly are
        return afi, _LENGTH_BYTE[length] + raw
    if not 0 <= length < bits:
        raise ValueError(f"bad prefix length in {prefix!r}")
    used = (length + 7) // 8
    body = bytearray(raw[:used])
    if length % 8:
        body[-1] &= (0xFF << (8 - length % 8)) & 0xFF
    return afi, _LENGTH_BYTE[length] + bytes(body)


def prefix_afi(prefix: str) -> int:
    return AFI_IPV6 if ":" in prefix else AFI_IPV4


def decode_prefixes(data: bytes | memoryview, afi: int) -> tuple[str, ...]:
    """Every prefix in an NLRI or withdrawn-routes field, as canonical text. Raises BGPError."""
    family, size, bits = _FAMILY[afi]
    out: list[str] = []
    i, n = 0, len(data)
    pad = bytes(size)
    while i < n:
        length = data[i]
        if length > bits:
            raise BGPError(
                ErrorCode.UPDATE_MESSAGE,
                UpdateSubcode.INVALID_NETWORK_FIELD,
                b"",
                f"prefix length {length} > {bits}",
            )
        used = (length + 7) // 8
        if i + 1 + used > n:
            raise BGPError(
                ErrorCode.UPDATE_MESSAGE,
                UpdateSubcode.INVALID_NETWORK_FIELD,
                b"",
                "prefix overruns its field",
            )
        body = bytearray(data[i + 1 : i + 1 + used])
        if length % 8:
            body[-1] &= (0xFF << (8 - length % 8)) & 0xFF
        out.append(f"{socket.inet_ntop(family, bytes(body) + pad[used:])}/{length}")
        i += 1 + used
    return tuple(out)
