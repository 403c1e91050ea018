"""The Extended Next Hop Encoding capability (RFC 8950, capability code 5): which address
families a speaker accepts with a next hop of another family.

Its value is a list of (NLRI AFI, NLRI SAFI, next hop AFI) triples, 6 bytes each (AFI 2
bytes, SAFI 2 bytes, next hop AFI 2 bytes). Unnumbered BGP offers ``(1, 1, 2)``: IPv4
unicast routes with an IPv6 next hop, carried in MP_REACH_NLRI. Registered in
``capabilities.DECODERS``; imports nothing of the codec but its errors.
"""

from __future__ import annotations

import struct

import msgspec

from actors.bgp.codec.errors import BGPError, ErrorCode, OpenSubcode

CODE = 5
#: IPv4 unicast with an IPv6 next hop: what unnumbered sessions offer and need.
IPV4_UNICAST_OVER_IPV6 = (1, 1, 2)


class ExtendedNextHopCapability(msgspec.Struct, frozen=True):
    families: tuple[tuple[int, int, int], ...] = (IPV4_UNICAST_OVER_IPV6,)
    code = CODE

    def value(self) -> bytes:
        return b"".join(struct.pack("!HHH", *family) for family in self.families)

    def allows(self, afi: int, safi: int, next_hop_afi: int) -> bool:
        return (afi, safi, next_hop_afi) in self.families


def decode_extended_nexthop(value: bytes) -> ExtendedNextHopCapability:
    if not value or len(value) % 6:
        raise BGPError(
            ErrorCode.OPEN_MESSAGE,
            OpenSubcode.UNSPECIFIC,
            b"",
            f"extended next hop capability of length {len(value)}",
        )
    return ExtendedNextHopCapability(tuple(struct.iter_unpack("!HHH", value)))
