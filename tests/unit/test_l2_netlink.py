"""The links and IPv6 addresses read over netlink with ``struct`` (actors/l2/netlink.py on
actors/util/netlink.py), against pyroute2's reading of the same namespace as the oracle; bad
bytes never raise."""

from __future__ import annotations

import socket
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.l2 import netlink
from actors.l2.interfaces import read_links
from actors.util.netlink import attributes, messages
from tests.netlink_oracle import pyroute2_links


def test_the_links_of_this_namespace_are_what_pyroute2_reads() -> None:
    ours = read_links()
    assert ours == pyroute2_links()
    assert any(li.name == "lo" for li in ours)


def test_ipv6_addresses_are_what_pyroute2_reads() -> None:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        expected = [
            (msg["index"], socket.inet_pton(socket.AF_INET6, msg.get("IFA_ADDRESS")))
            for msg in ipr.get_addr(family=socket.AF_INET6)
        ]
    assert netlink.addresses(socket.AF_INET6) == expected


def _message(kind: int, body: bytes, attrs: list[tuple[int, bytes]]) -> bytes:
    payload = body
    for attr, value in attrs:
        length = 4 + len(value)
        payload += struct.pack("=HH", length, attr) + value + bytes(-length % 4)
    return struct.pack("=IHHII", 16 + len(payload), kind, 2, 7, 0) + payload


def test_a_link_message_parses_to_its_fields() -> None:
    body = struct.pack("=BxHiII", 0, 1, 5, 0x11043, 0)
    message = _message(
        netlink.RTM_NEWLINK,
        body,
        [(3, b"eth0\0"), (1, bytes.fromhex("029900000001")), (10, struct.pack("=I", 4))],
    )
    assert netlink.parse_link(message) == netlink.RawLink(
        5, "eth0", bytes.fromhex("029900000001"), 0x11043, 1, 4
    )
    assert [m[0] for m in messages(message + message)] == [netlink.RTM_NEWLINK] * 2


def test_attributes_past_the_end_and_short_messages_are_skipped() -> None:
    body = struct.pack("=BxHiII", 0, 1, 5, 0, 0)
    message = _message(netlink.RTM_NEWLINK, body, [(3, b"eth0\0")])
    truncated = message[:-4]  # the name attribute now claims more than there is
    assert netlink.parse_link(truncated) == netlink.RawLink(5, "", b"", 0, 1, 0)
    assert netlink.parse_link(message[:20]) is None
    assert netlink.parse_address(message[:20]) is None
    assert list(messages(message[:-1])) == []  # the header claims more than there is


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    for _kind, _flags, _seq, message in messages(data):
        netlink.parse_link(message)
        netlink.parse_address(message)
    netlink.parse_link(data)
    netlink.parse_address(data)
    list(attributes(data, 0))
