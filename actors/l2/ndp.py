"""NDP frames (RFC 4861): parse Neighbor Solicitations, build Neighbor Advertisements.

As for ARP, the NA frame is laid out once with ``struct`` as a template (no scapy at run time;
the tests hold it byte for byte against scapy's), then the addresses are patched in and the
ICMPv6 checksum recomputed per packet. Parsing checks what
RFC 4861 §7.1.1 asks a receiver to check (hop limit 255, code 0, checksum, length, target not
multicast, options of non-zero length) and never raises: a bad frame comes back as None.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

import msgspec

ETH_P_IPV6 = 0x86DD
IPPROTO_ICMPV6 = 58
ND_NEIGHBOR_SOLICIT = 135
ND_NEIGHBOR_ADVERT = 136
OPT_SOURCE_LLADDR = 1
OPT_TARGET_LLADDR = 2
UNSPECIFIED = b"\x00" * 16
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")
ALL_NODES_MAC = bytes.fromhex("333300000001")

ETH_LEN = 14
IPV6_LEN = 40
ICMP_AT = ETH_LEN + IPV6_LEN  # 54
NS_MIN_LEN = ICMP_AT + 24  # type, code, checksum, reserved, target
NA_LEN = ICMP_AT + 32  # NA with one target link-layer address option

_NA_TYPE_CODE = bytes((ND_NEIGHBOR_ADVERT, 0))
FLAG_SOLICITED = 0x40
FLAG_OVERRIDE = 0x20
_FLAG_WORDS = {flags: bytes((flags, 0, 0, 0)) for flags in range(256)}

# version/class/flow, payload length, next header, hop limit
_IPV6_FIXED = struct.Struct("!IHBB")


class NeighborSolicitation(msgspec.Struct, frozen=True):
    eth_src: bytes
    src: bytes  # 16 bytes; unspecified (::) for duplicate address detection
    dst: bytes
    target: bytes
    source_lladdr: bytes | None  # the Source Link-Layer Address option, if any

    @property
    def is_dad(self) -> bool:
        return self.src == UNSPECIFIED


def solicited_node(ip: bytes) -> bytes:
    """ff02::1:ffXX:XXXX, the group a solicitation for ``ip`` is sent to."""
    return bytes.fromhex("ff0200000000000000000001ff") + ip[13:16]


def multicast_mac(group: bytes) -> bytes:
    """33:33 followed by the group's last 32 bits (RFC 2464 §7)."""
    return b"\x33\x33" + group[12:16]


def checksum(data: bytes | bytearray) -> bytes:
    """The Internet checksum (RFC 1071) of ``data``, as the two bytes to put in a header.

    The one's complement sum of 16-bit words is the number the bytes spell, modulo 0xFFFF
    (2**16 = 1 modulo 0xFFFF): one ``int.from_bytes`` does what a loop over words would.
    """
    number = int.from_bytes(data, "big")
    if len(data) % 2:
        number <<= 8  # padded with a zero byte
    return ones_complement(number).to_bytes(2, "big")


def ones_complement(number: int) -> int:
    """The checksum field value for data whose bytes spell ``number``."""
    return -number % 0xFFFF


def _pseudo_header(src: bytes, dst: bytes, length: int) -> bytes:
    return src + dst + struct.pack("!I3xB", length, IPPROTO_ICMPV6)


def parse_solicitation(frame: bytes) -> NeighborSolicitation | None:
    """The NS in ``frame`` if it is a valid one (RFC 4861 §7.1.1), else None."""
    fields = _solicitation(frame)
    if fields is None:
        return None
    return NeighborSolicitation(frame[6:12], *fields)


def _solicitation(frame: bytes) -> tuple[bytes, bytes, bytes, bytes | None] | None:
    """(source, destination, target, source link-layer address) of a valid NS, else None."""
    if len(frame) < NS_MIN_LEN or frame[12:14] != b"\x86\xdd":
        return None
    version_flow, payload_len, next_header, hop_limit = _IPV6_FIXED.unpack_from(frame, ETH_LEN)
    if version_flow >> 28 != 6 or next_header != IPPROTO_ICMPV6 or hop_limit != 255:
        return None
    end = ICMP_AT + payload_len
    if payload_len < 24 or end > len(frame):
        return None
    if frame[ICMP_AT] != ND_NEIGHBOR_SOLICIT or frame[ICMP_AT + 1] != 0:
        return None
    # Source, destination and the ICMPv6 message lie side by side in the frame; the rest of
    # the pseudo-header (length, next header) adds payload_len + 58. Valid iff the sum is 0.
    number = int.from_bytes(frame[22:end], "big")
    if payload_len % 2:
        number <<= 8
    if (number + payload_len + IPPROTO_ICMPV6) % 0xFFFF:
        return None
    if frame[ICMP_AT + 8] == 0xFF:
        return None  # a multicast target
    source_lladdr = None
    at = ICMP_AT + 24
    while at < end:
        if at + 2 > end:
            return None
        kind, units = frame[at], frame[at + 1]
        if units == 0 or at + units * 8 > end:
            return None
        if kind == OPT_SOURCE_LLADDR and units == 1:
            source_lladdr = frame[at + 2 : at + 8]
        at += units * 8
    src, dst, target = frame[22:38], frame[38:54], frame[ICMP_AT + 8 : ICMP_AT + 24]
    if src == UNSPECIFIED and (source_lladdr is not None or dst != solicited_node(target)):
        return None  # §7.1.1: DAD goes to the solicited-node group and carries no SLLA
    return src, dst, target, source_lladdr


def _na_template() -> bytes:
    """An NA with one target link-layer address option, every address and the checksum zero:
    Ethernet, IPv6 (payload 32 bytes, next header ICMPv6, hop limit 255), then type 136,
    code 0, checksum, flags and reserved, target, option (type 2, one 8-byte unit, MAC)."""
    zero_mac = bytes(6)
    return b"".join(
        (
            zero_mac + zero_mac + struct.pack("!H", ETH_P_IPV6),
            _IPV6_FIXED.pack(6 << 28, NA_LEN - ICMP_AT, IPPROTO_ICMPV6, 255),
            UNSPECIFIED + UNSPECIFIED,
            struct.pack("!BBH4x", ND_NEIGHBOR_ADVERT, 0, 0),
            UNSPECIFIED,
            struct.pack("!BB6s", OPT_TARGET_LLADDR, 1, zero_mac),
        )
    )


class NdpReplier:
    """Builds the NAs of one interface from the template, its MAC and source patched in once.

    ``source`` is the interface's link-local address when it has one (as MetalLB sends), else
    the announced address itself (a valid NA source too). Per NA, the template's constant
    pieces are joined around the addresses, and the checksum is the precomputed sum of the
    constant words plus the sums of the addresses that vary.
    """

    __slots__ = ("_constant", "_head", "_option", "mac", "source")

    def __init__(self, mac: bytes, source: bytes | None) -> None:
        if len(mac) != 6:
            raise ValueError(f"a MAC address has 6 bytes, not {len(mac)}")
        self.mac = mac
        self.source = source
        frame = bytearray(_na_template())
        frame[6:12] = mac
        frame[NA_LEN - 6 : NA_LEN] = mac
        self._head = bytes(frame[6:22])  # our MAC, ethertype, IPv6 fixed header
        self._option = bytes(frame[ICMP_AT + 24 : NA_LEN])  # target link-layer address
        # What the checksum covers and no NA changes: type and code, the option, and the
        # pseudo-header's length (32) and next header (58).
        self._constant = int.from_bytes(_NA_TYPE_CODE + self._option, "big") + 32 + 58

    def _advert(self, eth_dst: bytes, dst: bytes, target: bytes, flags: int) -> bytes:
        addresses = (self.source or target) + dst
        # flags sit in the high byte of the word after the checksum
        total = self._constant + (flags << 8) + int.from_bytes(addresses + target, "big")
        return b"".join(
            (
                eth_dst,
                self._head,
                addresses,
                _NA_TYPE_CODE,
                ones_complement(total).to_bytes(2, "big"),
                _FLAG_WORDS[flags],
                target,
                self._option,
            )
        )

    def reply(self, ns: NeighborSolicitation) -> bytes:
        """A Solicited NA to the asker with our MAC as the target link-layer address.

        Override is set (RFC 4861 §7.2.4: SHOULD, unless anycast or proxy): after a failover
        the new owner's answer must replace what the asker had cached. MetalLB clears it.
        """
        eth_dst = ns.source_lladdr or ns.eth_src
        return self._advert(eth_dst, ns.src, ns.target, FLAG_SOLICITED | FLAG_OVERRIDE)

    def unsolicited(self, target: bytes) -> bytes:
        """The takeover announcement: to all nodes, Override set, Solicited clear."""
        return self._advert(ALL_NODES_MAC, ALL_NODES, target, FLAG_OVERRIDE)

    def answer(self, frame: bytes, announced: Mapping[bytes, str]) -> tuple[bytes | None, str]:
        """The per-packet path: (reply, ip) for a valid NS for an announced address, else
        (None, why not).

        A duplicate address detection probe (source ``::``) for an announced address is
        defended as RFC 4862 §5.4.3 and RFC 4861 §7.2.4 say: an advertisement to all nodes,
        Solicited clear, Override set, so the prober sees the address in use and does not
        take it. A probe for anything else is left alone."""
        fields = _solicitation(frame)
        if fields is None:
            return None, "malformed"
        src, _dst, target, source_lladdr = fields
        # A group address as the sender (Ethernet source, link-layer option or IPv6 source)
        # is never a real host: answering would send the advertisement to a whole group.
        if frame[6] & 1 or (source_lladdr is not None and source_lladdr[0] & 1) or src[0] == 0xFF:
            return None, "multicast sender"
        ip = announced.get(target)
        if src == UNSPECIFIED:
            if ip is None:
                return None, "dad"
            return self.unsolicited(target), ip
        if ip is None:
            return None, "not announced"
        eth_dst = source_lladdr or frame[6:12]
        return self._advert(eth_dst, src, target, FLAG_SOLICITED | FLAG_OVERRIDE), ip


def solicitation_frame(
    src_mac: bytes, src: bytes, target: bytes, *, multicast: bool = True, hop_limit: int = 255
) -> bytes:
    """A Neighbor Solicitation with a source link-layer option (tests, benchmarks)."""
    dst = solicited_node(target) if multicast else target
    icmp = bytearray(
        struct.pack(
            "!BBH4x16sBB6s", ND_NEIGHBOR_SOLICIT, 0, 0, target, OPT_SOURCE_LLADDR, 1, src_mac
        )
    )
    icmp[2:4] = checksum(_pseudo_header(src, dst, len(icmp)) + icmp)
    eth_dst = multicast_mac(dst) if multicast else b"\xff" * 6
    ipv6 = _IPV6_FIXED.pack(6 << 28, len(icmp), IPPROTO_ICMPV6, hop_limit) + src + dst
    return eth_dst + src_mac + b"\x86\xdd" + ipv6 + bytes(icmp)
