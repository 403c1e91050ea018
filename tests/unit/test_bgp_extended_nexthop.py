"""RFC 8950 on the wire: the extended next hop capability in OPEN, and IPv4 routes carried in
MP_REACH_NLRI with an IPv6 next hop (link-local alone, 16 bytes, or global + link-local, 32
bytes), encoded by lbtui and decoded back, by hand-written bytes and by hypothesis."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.bgp.codec import BGPError, OpenMessage, UpdateMessage, decode_message
from actors.bgp.codec.attributes.base import MpReach, PathAttributes
from actors.bgp.codec.capabilities import (
    CapabilityCode,
    MultiprotocolCapability,
    UnknownCapability,
    decode_capabilities,
    decode_capability,
    encode_capability,
)
from actors.bgp.codec.extended_nexthop import (
    IPV4_UNICAST_OVER_IPV6,
    ExtendedNextHopCapability,
    decode_extended_nexthop,
)
from actors.bgp.codec.nlri import encode_prefix
from actors.bgp.codec.update import pack_mp_announce

ATTRS = PathAttributes(origin=0, as_path=((2, (64601,)),))


def test_the_capability_on_the_wire_is_code_5_and_afi_safi_nexthop_afi_triples() -> None:
    cap = ExtendedNextHopCapability()
    assert cap.families == (IPV4_UNICAST_OVER_IPV6,)
    assert encode_capability(cap) == bytes([5, 6, 0, 1, 0, 1, 0, 2])
    assert CapabilityCode.EXTENDED_NEXT_HOP == 5
    assert decode_capability(5, bytes([0, 1, 0, 1, 0, 2])) == cap
    two = ExtendedNextHopCapability(((1, 1, 2), (1, 128, 2)))
    assert decode_capabilities(encode_capability(two)) == [two]
    assert two.allows(1, 128, 2) and not cap.allows(1, 128, 2)


@pytest.mark.parametrize("value", [b"", b"\0\1\0\1\0", b"\0\1\0\1\0\2\0"])
def test_a_capability_of_a_bad_length_is_an_open_message_error(value: bytes) -> None:
    with pytest.raises(BGPError) as caught:
        decode_extended_nexthop(value)
    assert caught.value.code == 2  # OPEN Message Error


def test_open_round_trip_keeps_the_capability() -> None:
    sent = OpenMessage(
        64601, 9, 0x0A000002, (MultiprotocolCapability(1, 1), ExtendedNextHopCapability())
    )
    got = decode_message(sent.encode())
    assert isinstance(got, OpenMessage)
    assert got.capability(ExtendedNextHopCapability) == ExtendedNextHopCapability()
    assert got == sent.__class__(**{**_fields(sent), "wire_asn": 64601})


def _fields(message: OpenMessage) -> dict:
    return {name: getattr(message, name) for name in message.__struct_fields__}


@pytest.mark.parametrize(
    ("next_hops", "length"),
    [(("fe80::2",), 16), (("2001:db8:1::2", "fe80::2"), 32)],
)
def test_ipv4_routes_with_an_ipv6_next_hop_round_trip(next_hops, length) -> None:
    update = UpdateMessage(
        attributes=PathAttributes(
            origin=0,
            as_path=((2, (64601,)),),
            mp_reach=MpReach(1, 1, next_hops, ("192.0.2.0/32", "198.51.100.0/24")),
        )
    )
    raw = update.encode()
    # The MP_REACH_NLRI value: AFI 1, SAFI 1, next hop length 16 or 32.
    at = raw.index(bytes([0x80, 14]))
    assert raw[at + 3 : at + 7] == bytes([0, 1, 1, length])
    got = decode_message(raw)
    assert got == update
    assert got.announced() == ("192.0.2.0/32", "198.51.100.0/24")


def test_the_bulk_packer_sends_ipv4_nlri_with_a_link_local_next_hop() -> None:
    from actors.bgp.codec.attributes.registry import encode_attributes

    next_hop = ipaddress.IPv6Address("fe80::2").packed
    prefixes = [encode_prefix(f"192.0.2.{i}/32")[1] for i in range(200)]
    frames = pack_mp_announce(encode_attributes(ATTRS), 1, 1, next_hop, prefixes)
    announced: list[str] = []
    for frame in frames:
        message = decode_message(frame)
        assert isinstance(message, UpdateMessage)
        mp = message.attributes.mp_reach
        assert mp is not None and (mp.afi, mp.safi, mp.next_hops) == (1, 1, ("fe80::2",))
        assert message.nlri == ()  # nothing in the IPv4 NLRI field
        announced += mp.nlri
    assert announced == [f"192.0.2.{i}/32" for i in range(200)]


def test_an_ipv4_next_hop_of_another_length_is_refused() -> None:
    value = struct.pack("!HBB", 1, 1, 8) + bytes(8) + b"\0"
    raw = UpdateMessage(attributes=ATTRS).encode()
    body = raw[19:]
    attrs = body[4:] + bytes([0x80, 14, len(value)]) + value
    bad = raw[:16] + struct.pack("!HB", 19 + 4 + len(attrs), 2) + b"\0\0"
    bad += struct.pack("!H", len(attrs)) + attrs
    with pytest.raises(BGPError) as caught:
        decode_message(bad)
    assert caught.value.code == 3  # UPDATE Message Error


ipv4_prefixes = st.builds(
    lambda n, length: str(ipaddress.IPv4Network((n >> (32 - length) << (32 - length), length))),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
link_locals = st.integers(1, 2**64 - 1).map(
    lambda low: str(ipaddress.IPv6Address((0xFE80 << 112) | low))
)
globals_v6 = st.integers(0, 2**125 - 1).map(
    lambda n: str(ipaddress.IPv6Address((0x2000 << 112) | n))
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(ipv4_prefixes, min_size=1, max_size=40, unique=True),
    link_locals,
    st.one_of(st.none(), globals_v6),
)
def test_fuzz_ipv4_over_ipv6_round_trip(prefixes, link_local, global_v6) -> None:
    hops = (global_v6, link_local) if global_v6 else (link_local,)
    update = UpdateMessage(
        attributes=PathAttributes(
            origin=0, as_path=(), mp_reach=MpReach(1, 1, hops, tuple(prefixes))
        )
    )
    assert decode_message(update.encode()) == update


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 65535), st.integers(0, 65535), st.integers(0, 65535))))
def test_fuzz_capability_round_trip(families) -> None:
    cap = ExtendedNextHopCapability(tuple(families))
    if not families:
        with pytest.raises(BGPError):
            decode_capabilities(encode_capability(cap))
        return
    if len(families) * 6 > 255:
        with pytest.raises(ValueError):
            encode_capability(cap)
        return
    assert decode_capabilities(encode_capability(cap)) == [cap]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=40))
def test_fuzz_capability_bytes_decode_or_raise_bgp_error(value: bytes) -> None:
    try:
        found = decode_capability(5, value)
    except BGPError:
        return
    assert isinstance(found, ExtendedNextHopCapability | UnknownCapability)
    assert encode_capability(found)[2:] == value
