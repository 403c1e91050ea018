"""BFD control packets: exact bytes, scapy as an oracle, RFC 5880 §6.8.6 checks, fuzz."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.bgp.bfd.codec import (
    BfdDecodeError,
    ControlPacket,
    Diagnostic,
    State,
    decode,
    diagnostic_text,
    encode,
)

UP = ControlPacket(
    state=State.UP,
    detect_multiplier=3,
    my_discriminator=0x11223344,
    your_discriminator=0x55667788,
    desired_min_tx=100_000,
    required_min_rx=300_000,
    poll=True,
)


def test_encodes_the_rfc_layout_byte_for_byte() -> None:
    data = encode(UP)
    assert len(data) == 24
    # version 1, diag 0 | state Up (3 << 6) + P (0x20) | mult 3 | length 24
    assert data[:4] == bytes([0x20, 0xE0, 3, 24])
    assert struct.unpack("!IIIII", data[4:]) == (0x11223344, 0x55667788, 100_000, 300_000, 0)


def test_round_trip_keeps_every_field() -> None:
    packet = ControlPacket(
        state=State.INIT,
        detect_multiplier=255,
        my_discriminator=1,
        your_discriminator=0xFFFFFFFF,
        desired_min_tx=0xFFFFFFFF,
        required_min_rx=0,
        required_min_echo_rx=50_000,
        diagnostic=Diagnostic.CONTROL_DETECTION_TIME_EXPIRED,
        final=True,
        control_plane_independent=True,
        demand=True,
        auth=bytes([1, 5, 1, ord("p"), ord("w")]),
    )
    assert decode(encode(packet)) == packet


def test_scapy_reads_our_bytes_and_we_read_scapys() -> None:
    from scapy.contrib.bfd import BFD

    ours = BFD(encode(UP))
    assert (ours.version, ours.sta, ours.detect_mult, ours.len) == (1, 3, 3, 24)
    assert (ours.my_discriminator, ours.your_discriminator) == (0x11223344, 0x55667788)
    assert (ours.min_tx_interval, ours.min_rx_interval, ours.echo_rx_interval) == (
        100_000,
        300_000,
        0,
    )
    assert "P" in str(ours.flags) and "F" not in str(ours.flags)

    theirs = BFD(
        version=1,
        diag=3,
        sta=1,
        flags="F",
        detect_mult=5,
        my_discriminator=7,
        your_discriminator=9,
        min_tx_interval=1_000_000,
        min_rx_interval=250_000,
        echo_rx_interval=0,
    )
    packet = decode(bytes(theirs))
    assert packet == ControlPacket(
        state=State.DOWN,
        detect_multiplier=5,
        my_discriminator=7,
        your_discriminator=9,
        desired_min_tx=1_000_000,
        required_min_rx=250_000,
        diagnostic=Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN,
        final=True,
    )
    assert bytes(theirs) == encode(packet)


def _with(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes([value]) + data[offset + 1 :]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (encode(UP)[:23], "short"),
        (_with(encode(UP), 0, 0x40), "version"),  # version 2
        (_with(encode(UP), 3, 23), "length"),
        (_with(encode(UP), 3, 30), "length"),  # longer than what arrived
        (encode(UP) + b"\0\0", "ok"),  # trailing bytes beyond Length are ignored
        (_with(encode(UP), 2, 0), "detect-multiplier"),
        (_with(encode(UP), 1, 0xE1), "multipoint"),
        (encode(UP)[:4] + b"\0\0\0\0" + encode(UP)[8:], "discriminator"),
        (encode(UP)[:8] + b"\0\0\0\0" + encode(UP)[12:], "discriminator"),  # Up, your = 0
        (_with(_with(encode(UP), 1, 0xE4), 3, 24), "length"),  # A bit, no auth section
    ],
)
def test_reception_checks(data: bytes, reason: str) -> None:
    if reason == "ok":
        assert decode(data) == UP
        return
    with pytest.raises(BfdDecodeError) as info:
        decode(data)
    assert info.value.reason == reason


def test_your_discriminator_may_be_zero_while_down() -> None:
    down = ControlPacket(State.DOWN, 3, 5, 0, 1_000_000, 300_000)
    assert decode(encode(down)) == down


def test_encode_rejects_fields_that_do_not_fit() -> None:
    with pytest.raises(ValueError):
        encode(ControlPacket(State.UP, 256, 1, 1, 1, 1))
    with pytest.raises(ValueError):
        encode(ControlPacket(State.UP, 3, 1 << 32, 1, 1, 1))
    with pytest.raises(ValueError):
        encode(ControlPacket(State.UP, 3, 1, 1, 1, 1, diagnostic=32))


def test_diagnostics_read_well() -> None:
    assert diagnostic_text(1) == "control detection time expired"
    assert diagnostic_text(7) == "administratively down"
    assert diagnostic_text(20) == "diagnostic 20"
    assert State.ADMIN_DOWN.text == "admin-down"


packets = st.builds(
    ControlPacket,
    state=st.sampled_from(State),
    detect_multiplier=st.integers(1, 255),
    my_discriminator=st.integers(1, 0xFFFFFFFF),
    your_discriminator=st.integers(1, 0xFFFFFFFF),
    desired_min_tx=st.integers(0, 0xFFFFFFFF),
    required_min_rx=st.integers(0, 0xFFFFFFFF),
    required_min_echo_rx=st.integers(0, 0xFFFFFFFF),
    diagnostic=st.integers(0, 31),
    poll=st.booleans(),
    final=st.booleans(),
    control_plane_independent=st.booleans(),
    demand=st.booleans(),
)


@given(packets)
def test_any_valid_packet_round_trips(packet: ControlPacket) -> None:
    assert decode(encode(packet)) == packet


def _decodes_or_rejects(data: bytes) -> None:
    try:
        packet = decode(data)
    except BfdDecodeError:
        return
    # Whatever decodes re-encodes to exactly the bytes it came from (Length bytes of them).
    assert encode(packet) == data[: data[3]]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=80))
def test_random_bytes_never_raise_anything_else(data: bytes) -> None:
    _decodes_or_rejects(data)


@settings(max_examples=200)
@given(packets, st.lists(st.tuples(st.integers(0, 40), st.integers(0, 255)), max_size=4))
def test_mutated_packets_never_raise_anything_else(
    packet: ControlPacket, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(encode(packet))
    for offset, value in edits:
        if offset < len(data):
            data[offset] = value
        else:
            data.append(value)
    _decodes_or_rejects(bytes(data))
