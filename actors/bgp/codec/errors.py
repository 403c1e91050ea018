"""BGP error codes (RFC 4271 §4.5, RFC 4486, RFC 6608, RFC 7313) and the exception that carries one.

Any malformed input anywhere in the codec raises :class:`BGPError`; its code, subcode and data
are exactly what goes into the NOTIFICATION sent before closing the connection.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    MESSAGE_HEADER = 1
    OPEN_MESSAGE = 2
    UPDATE_MESSAGE = 3
    HOLD_TIMER_EXPIRED = 4
    FSM = 5
    CEASE = 6
    ROUTE_REFRESH = 7


class HeaderSubcode(IntEnum):
    NOT_SYNCHRONIZED = 1
    BAD_LENGTH = 2
    BAD_TYPE = 3


class OpenSubcode(IntEnum):
    UNSPECIFIC = 0
    UNSUPPORTED_VERSION = 1
    BAD_PEER_AS = 2
    BAD_BGP_IDENTIFIER = 3
    UNSUPPORTED_OPTIONAL_PARAMETER = 4
    UNACCEPTABLE_HOLD_TIME = 6
    UNSUPPORTED_CAPABILITY = 7


class UpdateSubcode(IntEnum):
    MALFORMED_ATTRIBUTE_LIST = 1
    UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE = 2
    MISSING_WELL_KNOWN_ATTRIBUTE = 3
    ATTRIBUTE_FLAGS_ERROR = 4
    ATTRIBUTE_LENGTH_ERROR = 5
    INVALID_ORIGIN = 6
    INVALID_NEXT_HOP = 8
    OPTIONAL_ATTRIBUTE_ERROR = 9
    INVALID_NETWORK_FIELD = 10
    MALFORMED_AS_PATH = 11


class FsmSubcode(IntEnum):
    UNSPECIFIED = 0
    UNEXPECTED_IN_OPEN_SENT = 1
    UNEXPECTED_IN_OPEN_CONFIRM = 2
    UNEXPECTED_IN_ESTABLISHED = 3


class CeaseSubcode(IntEnum):
    UNSPECIFIC = 0
    MAX_PREFIXES = 1
    ADMINISTRATIVE_SHUTDOWN = 2
    PEER_DECONFIGURED = 3
    ADMINISTRATIVE_RESET = 4
    CONNECTION_REJECTED = 5
    OTHER_CONFIGURATION_CHANGE = 6
    CONNECTION_COLLISION_RESOLUTION = 7
    OUT_OF_RESOURCES = 8
    HARD_RESET = 9
    BFD_DOWN = 10


class RouteRefreshSubcode(IntEnum):
    INVALID_MESSAGE_LENGTH = 1


_CODE_TEXT = {
    ErrorCode.MESSAGE_HEADER: "Message Header Error",
    ErrorCode.OPEN_MESSAGE: "OPEN Message Error",
    ErrorCode.UPDATE_MESSAGE: "UPDATE Message Error",
    ErrorCode.HOLD_TIMER_EXPIRED: "Hold Timer Expired",
    ErrorCode.FSM: "Finite State Machine Error",
    ErrorCode.CEASE: "Cease",
    ErrorCode.ROUTE_REFRESH: "ROUTE-REFRESH Message Error",
}

_SUBCODE_TEXT: dict[int, dict[int, str]] = {
    ErrorCode.MESSAGE_HEADER: {
        1: "Connection Not Synchronized",
        2: "Bad Message Length",
        3: "Bad Message Type",
    },
    ErrorCode.OPEN_MESSAGE: {
        1: "Unsupported Version Number",
        2: "Bad Peer AS",
        3: "Bad BGP Identifier",
        4: "Unsupported Optional Parameter",
        6: "Unacceptable Hold Time",
        7: "Unsupported Capability",
        11: "Role Mismatch",
    },
    ErrorCode.UPDATE_MESSAGE: {
        1: "Malformed Attribute List",
        2: "Unrecognized Well-known Attribute",
        3: "Missing Well-known Attribute",
        4: "Attribute Flags Error",
        5: "Attribute Length Error",
        6: "Invalid ORIGIN Attribute",
        8: "Invalid NEXT_HOP Attribute",
        9: "Optional Attribute Error",
        10: "Invalid Network Field",
        11: "Malformed AS_PATH",
    },
    ErrorCode.FSM: {
        1: "Receive Unexpected Message in OpenSent State",
        2: "Receive Unexpected Message in OpenConfirm State",
        3: "Receive Unexpected Message in Established State",
    },
    ErrorCode.CEASE: {
        1: "Maximum Number of Prefixes Reached",
        2: "Administrative Shutdown",
        3: "Peer De-configured",
        4: "Administrative Reset",
        5: "Connection Rejected",
        6: "Other Configuration Change",
        7: "Connection Collision Resolution",
        8: "Out of Resources",
        9: "Hard Reset",
        10: "BFD Down",
    },
    ErrorCode.ROUTE_REFRESH: {1: "Invalid Message Length"},
}


def describe(code: int, subcode: int) -> str:
    """``Cease: Administrative Shutdown``, ``Hold Timer Expired``, ``code 9 subcode 1``."""
    name = _CODE_TEXT.get(code)  # type: ignore[call-overload]
    if name is None:
        return f"error code {code} subcode {subcode}"
    sub = _SUBCODE_TEXT.get(code, {}).get(subcode)
    if sub:
        return f"{name}: {sub}"
    return name if subcode == 0 else f"{name} (subcode {subcode})"


class BGPError(Exception):
    """Malformed or unacceptable input: send NOTIFICATION(code, subcode, data), then close."""

    def __init__(self, code: int, subcode: int, data: bytes = b"", detail: str = "") -> None:
        self.code = int(code)
        self.subcode = int(subcode)
        self.data = bytes(data)
        self.detail = detail
        text = describe(self.code, self.subcode)
        super().__init__(f"{text}: {detail}" if detail else text)
