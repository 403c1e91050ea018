"""The BGP codec against scapy's encoding (the oracle), and its NOTIFICATION for bad input.

scapy is slow and has known gaps (one community per attribute, one capability per optional
parameter, a global switch for 4-byte AS paths): it is only used here, to cross-check bytes.
"""

from __future__ import annotations

import ipaddress
import struct

import pytest

from actors.bgp.codec import (
    KEEPALIVE,
    BGPError,
    FrameReader,
    KeepaliveMessage,
    NotificationMessage,
    OpenMessage,
    RouteRefreshMessage,
    UpdateMessage,
    decode_message,
    describe,
)
from actors.bgp.codec.attributes.base import AttrType, MpReach, PathAttributes
from actors.bgp.codec.attributes.communities import (
    community_text,
    community_value,
    large_community_text,
    large_community_value,
)
from actors.bgp.codec.attributes.registry import CODECS, encode_attributes
from actors.bgp.codec.capabilities import (
    FourOctetAsCapability,
    GracefulRestartCapability,
    GracefulRestartFamily,
    MultiprotocolCapability,
    RouteRefreshCapability,
    UnknownCapability,
)
from actors.bgp.codec.header import MARKER, MessageType, frame
from actors.bgp.codec.nlri import decode_prefixes, encode_prefix
from actors.bgp.codec.update import (
    end_of_rib,
    pack_ipv4_announce,
    pack_ipv4_withdraw,
    pack_mp_announce,
    pack_mp_withdraw,
)


@pytest.fixture(scope="module")
def scapy_bgp():
    import scapy.contrib.bgp as bgp

    # Gotcha 1 of the recipes: 4-byte AS paths need this runtime switch.
    bgp.bgp_module_conf.use_2_bytes_asn = False
    return bgp


def raw(packet) -> bytes:
    from scapy.all import raw as scapy_raw

    return scapy_raw(packet)


# -- OPEN ---------------------------------------------------------------------------------------

OUR_OPEN = OpenMessage(
    asn=4200000001,
    hold_time=90,
    bgp_id=0x0A63000B,
    capabilities=(
        MultiprotocolCapability(1, 1),
        MultiprotocolCapability(2, 1),
        RouteRefreshCapability(),
        FourOctetAsCapability(4200000001),
        GracefulRestartCapability(
            120, restarting=True, families=(GracefulRestartFamily(1, 1, True),)
        ),
    ),
)


def test_open_matches_scapy_capability_by_capability(scapy_bgp) -> None:
    b = scapy_bgp
    gr = b.BGPCapGracefulRestart(
        restart_flags=0x8,
        restart_time=120,
        entries=[b.BGPCapGracefulRestart.GRTuple(afi=1, safi=1, flags=0x80)],
    )
    caps = [
        b.BGPCapMultiprotocol(afi=1, safi=1),
        b.BGPCapMultiprotocol(afi=2, safi=1),
        b.BGPCapGeneric(code=2),
        b.BGPCapFourBytesASN(asn=4200000001),
        gr,
    ]
    # scapy writes one capability per optional parameter; we pack them into one. Both are
    # legal, so compare the capability bytes and the fixed part rather than whole messages.
    scapy_caps = b"".join(raw(c) for c in caps)
    ours = OUR_OPEN.encode()
    assert ours[29 + 2 :] == scapy_caps
    scapy_open = b.BGPHeader(type=1) / b.BGPOpen(
        my_as=23456,
        hold_time=90,
        bgp_id="10.99.0.11",
        opt_params=[b.BGPOptParam(param_value=c) for c in caps],
    )
    scapy_bytes = raw(scapy_open)
    assert scapy_bytes[16 + 3 : 16 + 3 + 9] == ours[19:28]  # version, AS_TRANS, hold, id
    # Our decoder reads scapy's layout (several parameters) to the same message.
    decoded = decode_message(scapy_bytes)
    assert decoded == OpenMessage(**{**_fields(OUR_OPEN), "wire_asn": 23456})


def _fields(msg: OpenMessage) -> dict:
    return {f: getattr(msg, f) for f in msg.__struct_fields__}


def test_open_parsed_by_scapy(scapy_bgp) -> None:
    b = scapy_bgp
    parsed = b.BGPHeader(OUR_OPEN.encode())
    opn = parsed[b.BGPOpen]
    assert (opn.version, opn.my_as, opn.hold_time, opn.bgp_id) == (4, 23456, 90, "10.99.0.11")
    # Gotcha 3: scapy reads only the first capability of a parameter.
    assert opn.opt_params[0].param_value.afi == 1


def test_open_round_trip_and_negotiation_helpers() -> None:
    decoded = decode_message(OUR_OPEN.encode())
    assert isinstance(decoded, OpenMessage)
    assert decoded.asn == 4200000001 and decoded.wire_asn == 23456
    assert decoded.families == {(1, 1), (2, 1)}
    assert decoded.four_octet_as and decoded.route_refresh
    gr = decoded.graceful_restart
    assert gr is not None and gr.restarting and gr.restart_time == 120
    assert gr.families == (GracefulRestartFamily(1, 1, True),)
    assert decoded.router_id == "10.99.0.11"
    plain = decode_message(OpenMessage(64512, 0, 1).encode())
    assert isinstance(plain, OpenMessage)
    assert plain.families == {(1, 1)}  # no multiprotocol capability: IPv4 unicast only
    assert not plain.four_octet_as and plain.graceful_restart is None


def test_bird_style_open_with_seven_capabilities_in_one_parameter() -> None:
    # What BIRD 2 sends (recipes §2): MP v4, MP v6, route refresh, GR, 4-octet AS,
    # enhanced route refresh (70) and long-lived GR (71), all in one parameter.
    caps = (
        bytes.fromhex("0104 00010001".replace(" ", ""))
        + bytes.fromhex("010400020001")
        + bytes.fromhex("0200")
        + bytes.fromhex("4002") + struct.pack("!H", 120)
        + bytes.fromhex("4104") + struct.pack("!I", 64500)
        + bytes.fromhex("4600")
        + bytes.fromhex("4700")
    )  # fmt: skip
    body = struct.pack("!BHHIB", 4, 64500, 9, 0x0A630001, len(caps) + 2) + b"\x02"
    body += bytes([len(caps)]) + caps
    decoded = decode_message(frame(MessageType.OPEN, body))
    assert isinstance(decoded, OpenMessage)
    assert decoded.families == {(1, 1), (2, 1)}
    assert decoded.asn == 64500 and decoded.route_refresh
    assert decoded.graceful_restart == GracefulRestartCapability(120)
    assert UnknownCapability(70, b"") in decoded.capabilities
    assert UnknownCapability(71, b"") in decoded.capabilities


# -- UPDATE -------------------------------------------------------------------------------------

V4_ATTRS = PathAttributes(
    origin=0,
    as_path=((2, (4200000001,)),),
    next_hop="10.99.0.11",
    local_pref=150,
    communities=(community_value("64512:100"),),
)


def test_ipv4_update_is_byte_identical_to_scapy(scapy_bgp) -> None:
    b = scapy_bgp
    attrs = [
        b.BGPPathAttr(type_flags=0x40, type_code=1, attribute=b.BGPPAOrigin(origin=0)),
        b.BGPPathAttr(
            type_flags=0x40,
            type_code=2,
            attribute=b.BGPPAAS4BytesPath(
                segments=[
                    b.BGPPAAS4BytesPath.ASPathSegment(segment_type=2, segment_value=[4200000001])
                ]
            ),
        ),
        b.BGPPathAttr(
            type_flags=0x40, type_code=3, attribute=b.BGPPANextHop(next_hop="10.99.0.11")
        ),
        b.BGPPathAttr(type_flags=0x40, type_code=5, attribute=b.BGPPALocalPref(local_pref=150)),
        b.BGPPathAttr(
            type_flags=0xC0,
            type_code=8,
            attribute=b.BGPPACommunity(community=community_value("64512:100")),
        ),
    ]
    scapy_update = b.BGPHeader(type=2) / b.BGPUpdate(
        path_attr=attrs,
        nlri=[b.BGPNLRI_IPv4(prefix="10.99.1.10/32"), b.BGPNLRI_IPv4(prefix="10.98.0.0/16")],
    )
    ours = UpdateMessage((), V4_ATTRS, ("10.99.1.10/32", "10.98.0.0/16")).encode()
    assert ours == raw(scapy_update)
    parsed = b.BGPHeader(ours)[b.BGPUpdate]
    assert [n.prefix for n in parsed.nlri] == ["10.99.1.10/32", "10.98.0.0/16"]
    assert decode_message(ours) == UpdateMessage((), V4_ATTRS, ("10.99.1.10/32", "10.98.0.0/16"))


def test_ipv6_mp_reach_is_byte_identical_to_scapy(scapy_bgp) -> None:
    b = scapy_bgp
    mp = b.BGPPAMPReachNLRI(
        afi=2,
        safi=1,
        nh_addr_len=16,
        nh_v6_addr="fd00:99::11",
        nlri=[b.BGPNLRI_IPv6(prefix="fd00:99:1::10/128"), b.BGPNLRI_IPv6(prefix="fd00:98::/48")],
    )
    scapy_update = b.BGPHeader(type=2) / b.BGPUpdate(
        path_attr=[
            b.BGPPathAttr(type_flags=0x40, type_code=1, attribute=b.BGPPAOrigin(origin=0)),
            b.BGPPathAttr(type_flags=0x40, type_code=2, attribute=b.BGPPAAS4BytesPath(segments=[])),
            b.BGPPathAttr(type_flags=0x80, type_code=14, attribute=mp),
        ]
    )
    attrs = PathAttributes(
        origin=0,
        as_path=(),
        mp_reach=MpReach(2, 1, ("fd00:99::11",), ("fd00:99:1::10/128", "fd00:98::/48")),
    )
    ours = UpdateMessage((), attrs).encode()
    assert ours == raw(scapy_update)
    assert decode_message(ours) == UpdateMessage((), attrs)
    # The bulk packer produces the same message.
    common = encode_attributes(PathAttributes(origin=0, as_path=()))
    packed = pack_mp_announce(
        common,
        2,
        1,
        bytes.fromhex("fd000099000000000000000000000011"),
        [encode_prefix("fd00:99:1::10/128")[1], encode_prefix("fd00:98::/48")[1]],
    )
    assert packed == [ours]


def test_mp_unreach_and_withdrawals_match_scapy(scapy_bgp) -> None:
    b = scapy_bgp
    unreach = b.BGPPAMPUnreachNLRI(
        afi=2,
        safi=1,
        afi_safi_specific=b.BGPPAMPUnreachNLRI_IPv6(
            withdrawn_routes=[b.BGPNLRI_IPv6(prefix="fd00:99:1::10/128")]
        ),
    )
    scapy_update = b.BGPHeader(type=2) / b.BGPUpdate(
        path_attr=[b.BGPPathAttr(type_flags=0x80, type_code=15, attribute=unreach)]
    )
    assert pack_mp_withdraw(2, 1, [encode_prefix("fd00:99:1::10/128")[1]]) == [raw(scapy_update)]
    scapy_v4 = b.BGPHeader(type=2) / b.BGPUpdate(
        withdrawn_routes=[b.BGPNLRI_IPv4(prefix="10.99.1.10/32")]
    )
    assert pack_ipv4_withdraw([encode_prefix("10.99.1.10/32")[1]]) == [raw(scapy_v4)]
    decoded = decode_message(raw(scapy_update))
    assert isinstance(decoded, UpdateMessage)
    assert decoded.withdrawn_all() == ("fd00:99:1::10/128",)


def test_large_communities_match_scapy(scapy_bgp) -> None:
    b = scapy_bgp
    attr = b.BGPPathAttr(
        type_flags=0xC0,
        type_code=32,
        attribute=b.BGPPALargeCommunity(
            segments=[
                b.BGPLargeCommunitySegment(
                    global_administrator=64512, local_data_part1=1, local_data_part2=1
                ),
                b.BGPLargeCommunitySegment(
                    global_administrator=4200000001, local_data_part1=7, local_data_part2=9
                ),
            ]
        ),
    )
    ours = encode_attributes(PathAttributes(large_communities=((64512, 1, 1), (4200000001, 7, 9))))
    assert ours == raw(attr)


def test_several_communities_in_one_attribute() -> None:
    # scapy parses only the first (gotcha 2), so this one is checked against hand-made bytes.
    attrs = PathAttributes(communities=(community_value("64512:100"), community_value("65535:1")))
    assert encode_attributes(attrs) == bytes.fromhex("c00808fc000064ffff0001")
    assert community_text(community_value("64512:100")) == "64512:100"
    assert large_community_value("large:1:2:3") == (1, 2, 3)
    assert large_community_text((1, 2, 3)) == "large:1:2:3"


def test_every_attribute_type_has_one_registered_codec_filling_a_field() -> None:
    assert sorted(CODECS) == sorted(AttrType)
    for code, codec in CODECS.items():
        assert codec.code == code
        assert codec.field in PathAttributes.__struct_fields__


def test_two_byte_session_uses_as_trans_and_as4_path() -> None:
    encoded = UpdateMessage((), V4_ATTRS, ("10.99.1.10/32",)).encode(four_octet=False)
    decoded = decode_message(encoded, four_octet_as=False)
    assert isinstance(decoded, UpdateMessage)
    assert decoded.attributes.as_path == ((2, (23456,)),)
    assert decoded.attributes.as4_path == ((2, (4200000001,)),)
    assert decoded.attributes.full_as_path() == (4200000001,)


def test_packing_many_prefixes_fills_messages() -> None:
    prefixes = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32" for i in range(10_000)]
    attrs = encode_attributes(V4_ATTRS)
    messages = pack_ipv4_announce(attrs, [encode_prefix(p)[1] for p in prefixes])
    assert all(len(m) <= 4096 for m in messages)
    assert len(messages) == 13  # ~800 /32s per message, not one message per prefix
    seen: list[str] = []
    for m in messages:
        decoded = decode_message(m)
        assert isinstance(decoded, UpdateMessage) and decoded.attributes == V4_ATTRS
        seen += decoded.nlri
    assert seen == prefixes
    withdrawals = pack_ipv4_withdraw([encode_prefix(p)[1] for p in prefixes])
    assert sum(len(decode_message(m).withdrawn) for m in withdrawals) == 10_000  # type: ignore[union-attr]
    v6 = [
        str(ipaddress.ip_network(f"fd00:99:{i >> 16:x}::{i & 0xFFFF:x}/128")) for i in range(3000)
    ]
    mp = pack_mp_announce(attrs, 2, 1, bytes(16), [encode_prefix(p)[1] for p in v6])
    assert all(len(m) <= 4096 for m in mp) and len(mp) < 20
    assert [p for m in mp for p in decode_message(m).announced()] == v6  # type: ignore[union-attr]


def test_end_of_rib_markers() -> None:
    v4 = decode_message(end_of_rib(1, 1))
    v6 = decode_message(end_of_rib(2, 1))
    assert isinstance(v4, UpdateMessage) and v4.end_of_rib == (1, 1)
    assert isinstance(v6, UpdateMessage) and v6.end_of_rib == (2, 1)
    assert UpdateMessage(nlri=()).end_of_rib == (1, 1)
    assert decode_message(UpdateMessage((), V4_ATTRS, ("10.0.0.0/8",)).encode()).end_of_rib is None  # type: ignore[union-attr]


def test_prefixes_encode_minimal_bytes_and_mask_host_bits() -> None:
    assert encode_prefix("10.99.1.10/32") == (1, b"\x20\x0a\x63\x01\x0a")
    assert encode_prefix("10.99.1.0/23") == (1, b"\x17\x0a\x63\x00")
    assert encode_prefix("0.0.0.0/0") == (1, b"\x00")
    assert encode_prefix("fd00:99::/64")[1] == b"\x40" + bytes.fromhex("fd00009900000000")
    assert decode_prefixes(b"\x17\x0a\x63\x01", 1) == ("10.99.0.0/23",)


# -- the other messages ---------------------------------------------------------------------------


def test_keepalive_notification_route_refresh_match_scapy(scapy_bgp) -> None:
    b = scapy_bgp
    assert raw(b.BGPHeader(type=4)) == KEEPALIVE == KeepaliveMessage().encode()
    notification = NotificationMessage(6, 2, b"\x05bye!!")
    scapy_notification = b.BGPHeader(type=3) / b.BGPNotification(
        error_code=6, error_subcode=2, data=b"\x05bye!!"
    )
    assert notification.encode() == raw(scapy_notification)
    refresh = RouteRefreshMessage(2, 1)
    assert refresh.encode() == raw(b.BGPHeader(type=5) / b.BGPRouteRefresh(afi=2, safi=1))
    assert decode_message(refresh.encode()) == refresh
    assert decode_message(notification.encode()) == notification


def test_notifications_read_well() -> None:
    assert NotificationMessage(4, 0).describe() == "Hold Timer Expired"
    assert (
        NotificationMessage.shutdown("upgrade to 1.2").describe()
        == 'Cease: Administrative Shutdown ("upgrade to 1.2")'
    )
    assert NotificationMessage(6, 7).describe() == "Cease: Connection Collision Resolution"
    assert describe(2, 2) == "OPEN Message Error: Bad Peer AS"
    assert describe(3, 11) == "UPDATE Message Error: Malformed AS_PATH"
    assert describe(42, 1) == "error code 42 subcode 1"


# -- malformed input: the right NOTIFICATION -----------------------------------------------------


def update_body(attrs: bytes, nlri: bytes = b"", withdrawn: bytes = b"") -> bytes:
    body = struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(attrs)) + attrs
    return frame(MessageType.UPDATE, body + nlri)


ORIGIN = bytes.fromhex("40010100")
AS_PATH = bytes.fromhex("4002060201fa56ea01")
NEXT_HOP = bytes.fromhex("4003040a63000b")
NLRI = b"\x20\x0a\x63\x01\x0a"

MALFORMED = {
    "bad marker": (b"\x00" * 16 + struct.pack("!HB", 19, 4), (1, 1)),
    "length below 19": (MARKER + struct.pack("!HB", 18, 4), (1, 2)),
    "length disagrees": (MARKER + struct.pack("!HB", 25, 4), (1, 2)),
    "keepalive with a body": (frame(4, b"\0"), (1, 2)),
    "unknown type": (frame(9, b""), (1, 3)),
    "open version 3": (
        frame(1, struct.pack("!BHHIB", 3, 64512, 90, 1, 0)),
        (2, 1),
    ),
    "open hold time 2": (frame(1, struct.pack("!BHHIB", 4, 64512, 2, 1, 0)), (2, 6)),
    "open bgp id 0": (frame(1, struct.pack("!BHHIB", 4, 64512, 90, 0, 0)), (2, 3)),
    "open unknown parameter": (
        frame(1, struct.pack("!BHHIB", 4, 64512, 90, 1, 2) + b"\x07\x00"),
        (2, 4),
    ),
    "open parameter overrun": (
        frame(1, struct.pack("!BHHIB", 4, 64512, 90, 1, 2) + b"\x02\x05"),
        (2, 0),
    ),
    "update attribute overrun": (update_body(b"\x40\x01\x05\x00"), (3, 5)),
    "update withdrawn overrun": (frame(2, b"\x00\x10\x00\x00"), (3, 1)),
    "repeated attribute": (update_body(ORIGIN + ORIGIN), (3, 1)),
    "unknown well-known": (update_body(b"\x40\x63\x00"), (3, 2)),
    "missing next hop": (update_body(ORIGIN + AS_PATH, NLRI), (3, 3)),
    "origin flags": (update_body(b"\xc0\x01\x01\x00"), (3, 4)),
    "origin length": (update_body(b"\x40\x01\x02\x00\x00"), (3, 5)),
    "origin value": (update_body(b"\x40\x01\x01\x07"), (3, 6)),
    "multicast next hop": (update_body(ORIGIN + AS_PATH + b"\x40\x03\x04\xe0\0\0\1", NLRI), (3, 8)),
    "communities length": (update_body(b"\xc0\x08\x03\x00\x00\x00"), (3, 9)),
    "prefix length 33": (update_body(ORIGIN + AS_PATH + NEXT_HOP, b"\x21" + bytes(5)), (3, 10)),
    "truncated prefix": (update_body(ORIGIN + AS_PATH + NEXT_HOP, b"\x20\x0a"), (3, 10)),
    "as path segment type": (update_body(b"\x40\x02\x06\x07\x01\x00\x00\x00\x01"), (3, 11)),
    "as path overrun": (update_body(b"\x40\x02\x06\x02\x05\x00\x00\x00\x01"), (3, 11)),
    "route refresh length": (frame(5, b"\x00\x01\x00\x01\x00"), (7, 1)),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_messages_raise_the_right_notification(name: str) -> None:
    message, expected = MALFORMED[name]
    with pytest.raises(BGPError) as caught:
        decode_message(message)
    assert (caught.value.code, caught.value.subcode) == expected


def test_frame_reader_cuts_a_stream_anywhere() -> None:
    stream = KEEPALIVE + OUR_OPEN.encode() + UpdateMessage((), V4_ATTRS, ("10.0.0.0/8",)).encode()
    for split in range(1, len(stream)):
        reader = FrameReader()
        frames = reader.feed(stream[:split]) + reader.feed(stream[split:])
        assert b"".join(frames) == stream and len(frames) == 3
    with pytest.raises(BGPError) as caught:
        FrameReader().feed(b"\x01" * 19)
    assert (caught.value.code, caught.value.subcode) == (1, 1)
