"""BFD control packets (RFC 5880 §4.1): encoding and decoding, no I/O.

``decode`` applies every reception check of RFC 5880 §6.8.6 that does not depend on a session
(version, lengths, detect multiplier, multipoint, discriminators) and raises
:class:`BfdDecodeError` for anything else; it never raises another exception, whatever the
bytes (the hypothesis fuzz in tests/unit/test_bfd_codec.py holds it to that). Intervals are
microseconds, as on the wire.
"""

from __future__ import annotations

import struct
from enum import IntEnum

import msgspec

VERSION = 1
HEADER = struct.Struct("!BBBBIIIII")
MIN_LENGTH = HEADER.size  # 24
MAX_U32 = 0xFFFFFFFF

SINGLE_HOP_PORT = 3784  # RFC 5881
MULTI_HOP_PORT = 4784  # RFC 5883
SOURCE_PORTS = range(49152, 65536)  # RFC 5881 §4


class State(IntEnum):
    ADMIN_DOWN = 0
    DOWN = 1
    INIT = 2
    UP = 3

    @property
    def text(self) -> str:
        return self.name.lower().replace("_", "-")


class Diagnostic(IntEnum):
    NONE = 0
    CONTROL_DETECTION_TIME_EXPIRED = 1
    ECHO_FUNCTION_FAILED = 2
    NEIGHBOR_SIGNALED_SESSION_DOWN = 3
    FORWARDING_PLANE_RESET = 4
    PATH_DOWN = 5
    CONCATENATED_PATH_DOWN = 6
    ADMINISTRATIVELY_DOWN = 7
    REVERSE_CONCATENATED_PATH_DOWN = 8


def diagnostic_text(code: int) -> str:
    """Readable diagnostic; codes RFC 5880 leaves unassigned (9-31) are shown by number."""
    try:
        return Diagnostic(code).name.lower().replace("_", " ")
    except ValueError:
        return f"diagnostic {code}"


class BfdDecodeError(ValueError):
    """A datagram that is not a valid BFD control packet; ``reason`` is a short counter key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# Flag bits of the second octet (after the 2-bit state).
_POLL, _FINAL, _CPI, _AUTH, _DEMAND, _MULTIPOINT = 0x20, 0x10, 0x08, 0x04, 0x02, 0x01


class ControlPacket(msgspec.Struct, frozen=True):
    state: State
    detect_multiplier: int
    my_discriminator: int
    your_discriminator: int
    desired_min_tx: int  # µs
    required_min_rx: int  # µs
    required_min_echo_rx: int = 0  # µs; 0: we do not want echo packets (echo is not supported)
    diagnostic: int = Diagnostic.NONE
    poll: bool = False
    final: bool = False
    control_plane_independent: bool = False
    demand: bool = False
    multipoint: bool = False
    # The raw authentication section (type, length, data) when the A bit is set.
    auth: bytes = b""

    @property
    def authenticated(self) -> bool:
        return bool(self.auth)


def encode(packet: ControlPacket) -> bytes:
    """The packet's bytes; raises ValueError for a field that does not fit (a bug of ours)."""
    if not 0 <= packet.diagnostic <= 31:
        raise ValueError(f"diagnostic {packet.diagnostic} does not fit in 5 bits")
    if not 0 <= packet.detect_multiplier <= 255:
        raise ValueError(f"detect multiplier {packet.detect_multiplier} does not fit in 8 bits")
    for name in (
        "my_discriminator",
        "your_discriminator",
        "desired_min_tx",
        "required_min_rx",
        "required_min_echo_rx",
    ):
        value = getattr(packet, name)
        if not 0 <= value <= MAX_U32:
            raise ValueError(f"{name} {value} does not fit in 32 bits")
    if packet.auth and (len(packet.auth) < 2 or packet.auth[1] != len(packet.auth)):
        raise ValueError("authentication section length does not match its length octet")
    length = MIN_LENGTH + len(packet.auth)
    if length > 255:
        raise ValueError("packet longer than 255 bytes")
    flags = (
        (int(packet.state) << 6)
        | (_POLL if packet.poll else 0)
        | (_FINAL if packet.final else 0)
        | (_CPI if packet.control_plane_independent else 0)
        | (_AUTH if packet.auth else 0)
        | (_DEMAND if packet.demand else 0)
        | (_MULTIPOINT if packet.multipoint else 0)
    )
    header = HEADER.pack(
        (VERSION << 5) | packet.diagnostic,
        flags,
        packet.detect_multiplier,
        length,
        packet.my_discriminator,
        packet.your_discriminator,
        packet.desired_min_tx,
        packet.required_min_rx,
        packet.required_min_echo_rx,
    )
    return header + packet.auth


def decode(data: bytes) -> ControlPacket:
    """Parse and check one datagram (RFC 5880 §6.8.6, the session-independent part)."""
    if len(data) < MIN_LENGTH:
        raise BfdDecodeError("short", f"{len(data)} bytes, a control packet has at least 24")
    (vers_diag, flags, mult, length, my_disc, your_disc, tx, rx, echo) = HEADER.unpack_from(data)
    version = vers_diag >> 5
    if version != VERSION:
        raise BfdDecodeError("version", f"version {version}, expected {VERSION}")
    authenticated = bool(flags & _AUTH)
    if length < (MIN_LENGTH + 2 if authenticated else MIN_LENGTH):
        raise BfdDecodeError("length", f"length field {length} too small")
    if length > len(data):
        raise BfdDecodeError("length", f"length field {length} exceeds the {len(data)} received")
    auth = b""
    if authenticated:
        auth = bytes(data[MIN_LENGTH:length])
        if auth[1] != len(auth):
            raise BfdDecodeError("auth-length", f"authentication length {auth[1]} != {len(auth)}")
    elif length != MIN_LENGTH:
        raise BfdDecodeError("length", f"length field {length} without authentication")
    if mult == 0:
        raise BfdDecodeError("detect-multiplier", "detect multiplier is zero")
    if flags & _MULTIPOINT:
        raise BfdDecodeError("multipoint", "multipoint bit set")
    if my_disc == 0:
        raise BfdDecodeError("discriminator", "my discriminator is zero")
    state = State(flags >> 6)
    if your_disc == 0 and state not in (State.DOWN, State.ADMIN_DOWN):
        raise BfdDecodeError("discriminator", f"your discriminator is zero in state {state.text}")
    return ControlPacket(
        state=state,
        detect_multiplier=mult,
        my_discriminator=my_disc,
        your_discriminator=your_disc,
        desired_min_tx=tx,
        required_min_rx=rx,
        required_min_echo_rx=echo,
        diagnostic=vers_diag & 0x1F,
        poll=bool(flags & _POLL),
        final=bool(flags & _FINAL),
        control_plane_independent=bool(flags & _CPI),
        demand=bool(flags & _DEMAND),
        multipoint=False,
        auth=auth,
    )
