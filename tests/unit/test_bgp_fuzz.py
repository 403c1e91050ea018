"""Fuzzing the BGP decoder: whatever the bytes, the answer is a message or a NOTIFICATION.

Random messages and mutations of valid ones (bytes flipped, cut, grown, lengths lied about)
go through ``decode_message``, the FrameReader and an Established FSM: nothing but BGPError
may come out of the decoder, and the FSM must answer every bad message with a NOTIFICATION
carrying that error, then close.
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.bgp.codec import (
    KEEPALIVE,
    BGPError,
    FrameReader,
    NotificationMessage,
    OpenMessage,
    RouteRefreshMessage,
    UpdateMessage,
    decode_message,
)
from actors.bgp.codec.attributes.base import MpReach, MpUnreach, PathAttributes
from actors.bgp.codec.capabilities import (
    FourOctetAsCapability,
    GracefulRestartCapability,
    GracefulRestartFamily,
    MultiprotocolCapability,
    RouteRefreshCapability,
)
from actors.bgp.codec.extended_nexthop import ExtendedNextHopCapability
from actors.bgp.codec.header import MARKER
from actors.bgp.codec.update import end_of_rib
from actors.bgp.fsm import Close, Fsm, FsmConfig, Send, SessionUp, State

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CORPUS = [
    KEEPALIVE,
    OpenMessage(
        4200000001,
        90,
        0x0A000001,
        (
            MultiprotocolCapability(1, 1),
            MultiprotocolCapability(2, 1),
            RouteRefreshCapability(),
            FourOctetAsCapability(4200000001),
            GracefulRestartCapability(120, True, False, (GracefulRestartFamily(1, 1, True),)),
        ),
    ).encode(),
    UpdateMessage(
        ("10.1.0.0/16",),
        PathAttributes(
            origin=0,
            as_path=((2, (64512, 4200000001)),),
            next_hop="10.99.0.11",
            med=5,
            local_pref=100,
            communities=(1, 2, 3),
            large_communities=((1, 2, 3),),
        ),
        ("10.99.1.10/32", "10.98.0.0/15"),
    ).encode(),
    UpdateMessage(
        (),
        PathAttributes(
            origin=2,
            as_path=(),
            mp_reach=MpReach(2, 1, ("fd00:99::11", "fe80::1"), ("fd00:99:1::/64",)),
            mp_unreach=MpUnreach(2, 1, ("fd00:98::/48",)),
        ),
    ).encode(),
    # Unnumbered BGP: extended next hop offered, IPv4 routes with an IPv6 next hop (RFC 8950).
    OpenMessage(
        64600, 9, 0x0A000002, (MultiprotocolCapability(1, 1), ExtendedNextHopCapability())
    ).encode(),
    UpdateMessage(
        (),
        PathAttributes(
            origin=0,
            as_path=((2, (64601,)),),
            mp_reach=MpReach(1, 1, ("fe80::2",), ("192.0.2.0/32", "198.51.100.0/24")),
        ),
    ).encode(),
    end_of_rib(2, 1),
    NotificationMessage.shutdown("bye").encode(),
    RouteRefreshMessage(1, 1).encode(),
]


def with_header(body: bytes, msg_type: int) -> bytes:
    return MARKER + struct.pack("!HB", 19 + len(body), msg_type) + body


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    message = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "grow", "insert", "lie"]))
        body = message[19:]
        if kind == "flip" and body:
            i = draw(st.integers(0, len(body) - 1))
            body[i] = draw(st.integers(0, 255))
        elif kind == "cut" and body:
            body = body[: draw(st.integers(0, len(body) - 1))]
        elif kind == "grow":
            body += draw(st.binary(min_size=1, max_size=16))
        elif kind == "insert":
            i = draw(st.integers(0, len(body)))
            body[i:i] = draw(st.binary(min_size=1, max_size=8))
        message = bytearray(with_header(bytes(body), message[18]))
        if kind == "lie":  # a header length that does not match the bytes
            message[16:18] = struct.pack("!H", draw(st.integers(0, 0xFFFF)))
    return bytes(message)


random_messages = st.builds(
    with_header, st.binary(max_size=200), st.integers(min_value=0, max_value=7)
)


def decodes_or_notifies(message: bytes) -> BGPError | None:
    for four_octet in (True, False):
        try:
            decoded = decode_message(message, four_octet)
        except BGPError as error:
            assert 1 <= error.code <= 7
            return error
        # Whatever decodes also re-encodes to a stable form.
        if isinstance(decoded, UpdateMessage):
            once = decoded.encode(four_octet)
            again = decode_message(once, four_octet)
            assert isinstance(again, UpdateMessage) and again.encode(four_octet) == once
    return None


@SETTINGS
@given(st.one_of(mutated(), random_messages, st.binary(max_size=64)))
def test_decoder_never_raises_anything_but_a_notification(message: bytes) -> None:
    decodes_or_notifies(message)


@SETTINGS
@given(st.lists(st.one_of(mutated(), st.binary(max_size=40)), max_size=5), st.integers(1, 50))
def test_frame_reader_only_raises_bgp_errors(pieces: list[bytes], chunk: int) -> None:
    stream = b"".join(pieces)
    reader = FrameReader()
    try:
        for i in range(0, len(stream), chunk):
            for frame in reader.feed(stream[i : i + chunk]):
                decodes_or_notifies(frame)
    except BGPError as error:
        assert error.code == 1


def established_fsm() -> Fsm:
    fsm = Fsm(FsmConfig(local_asn=64512, peer_asn=4200000001, hold_time=90))
    local = OpenMessage(64512, 90, 0x0A00000B, (FourOctetAsCapability(64512),))
    fsm.start(0.0)
    fsm.dialing(0.0, 1)
    fsm.connection_up(0.0, 1, True, local)
    fsm.received(0.0, 1, CORPUS[1])
    actions = fsm.received(0.0, 1, KEEPALIVE)
    assert any(isinstance(a, SessionUp) for a in actions) and fsm.state is State.ESTABLISHED
    return fsm


@SETTINGS
@given(mutated())
def test_established_fsm_answers_bad_messages_with_their_notification(message: bytes) -> None:
    fsm = established_fsm()
    try:
        decode_message(message, True)
        expected = None
    except BGPError as error:
        expected = error
    actions = fsm.received(1.0, 1, message)
    sent = [decode_message(a.data) for a in actions if isinstance(a, Send)]
    notifications = [m for m in sent if isinstance(m, NotificationMessage)]
    if expected is not None:
        assert notifications == [
            NotificationMessage(expected.code, expected.subcode, expected.data)
        ]
        assert Close(1) in actions and fsm.state is State.IDLE
    elif notifications:  # a valid OPEN in Established is an FSM error, also notified
        assert notifications[0].code in (5, 6) or isinstance(
            decode_message(message), NotificationMessage
        )
