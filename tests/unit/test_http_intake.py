"""The endpoint server's decisions about connections still sending their request
(actors/observability/http_intake.py): when a request is whole, which connection gives way
when all are taken, and the reader a handler gets. No sockets but a socketpair."""

from __future__ import annotations

import socket

import pytest

from actors.observability.http_intake import (
    Intake,
    choose_victim,
    head_end,
    peer_source,
    request_size,
)

GET = b"GET /state HTTP/1.1\r\nHost: x\r\n\r\n"
POST5 = b"POST / HTTP/1.1\r\ncontent-length:5\r\n\r\n"
BIG = b"POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n"
NAN = b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"
EXPECT = b"POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"


@pytest.mark.parametrize(
    ("received", "size"),
    [
        (b"", None),
        (b"GET /state HTTP/1.1\r\nHost: x\r\n", None),  # the slow client's half-sent request
        (GET, len(GET)),
        (GET + b"GET /next", len(GET)),  # pipelined: only the first
        (b"GET / HTTP/1.1\nHost: x\n\n", 24),  # bare LFs, as http.server reads them
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc", None),  # body still coming
        (POST5 + b"abcdeX", len(POST5) + 5),
        (BIG, len(BIG)),  # too big: the 413 at once
        (NAN, len(NAN)),  # not a number: no body
        (EXPECT, len(EXPECT)),  # the body comes after the handler's 100 Continue
        (b"\r\nGET", 2),  # a blank request line: the handler closes
    ],
)
def test_request_size(received: bytes, size: int | None) -> None:
    assert request_size(received, max_body=1024) == size


def test_head_end_of_a_head_that_never_ends() -> None:
    assert head_end(b"GET / HTTP/1.1\r\n" + b"X-Drip: " + b"x" * 100_000) is None


def test_the_heaviest_source_gives_way_from_its_oldest() -> None:
    waiting = [
        ("real", "10.0.0.1", 1.0),  # the oldest of all, but its source holds one connection
        ("atk-new", "10.9.9.9", 5.0),
        ("atk-old", "10.9.9.9", 2.0),
        ("other", "10.0.0.2", 0.5),
    ]
    counts = {"10.0.0.1": 1, "10.9.9.9": 30, "10.0.0.2": 2}
    assert choose_victim(waiting, counts) == "atk-old"


def test_a_tie_between_sources_takes_the_longest_waiting() -> None:
    waiting = [("a", "s1", 3.0), ("b", "s2", 1.0), ("c", "s1", 2.0)]
    assert choose_victim(waiting, {"s1": 2, "s2": 2}) == "b"
    # busy connections count for their source even though only waiting ones can go
    assert choose_victim(waiting, {"s1": 2, "s2": 5}) == "b"
    assert choose_victim(waiting, {"s1": 6, "s2": 5}) == "c"


def test_nothing_waiting_nothing_to_close() -> None:
    assert choose_victim([], {"s1": 10}) is None


def test_the_source_is_the_peer_address_without_its_port() -> None:
    assert peer_source(("10.0.0.1", 4242)) == "10.0.0.1"
    assert peer_source(("::1", 4242, 0, 0)) == "::1"
    assert peer_source("unix") == "unix"


def test_the_intake_reads_what_was_received_then_the_socket() -> None:
    ours, theirs = socket.socketpair()
    try:
        ours.settimeout(5)
        intake = Intake(ours, b"POST / HTTP/1.1\r\nContent-Length: 7\r\n\r\nbod")
        assert intake.readline(65537) == b"POST / HTTP/1.1\r\n"
        assert intake.readline(65537) == b"Content-Length: 7\r\n"
        assert intake.readline(65537) == b"\r\n"
        theirs.sendall(b"y-ok")
        assert intake.read(7) == b"body-ok"
    finally:
        ours.close()
        theirs.close()


def test_the_intake_keeps_what_follows_the_request() -> None:
    ours, theirs = socket.socketpair()
    try:
        ours.settimeout(5)
        intake = Intake(ours, b"ab")
        theirs.sendall(b"cdefGET /next HTTP/1.1\r\n")
        assert intake.read(6) == b"abcdef"
        assert intake.leftover().startswith(b"GET /next")
        intake = Intake(ours, b"a very long line")
        assert intake.readline(6) == b"a very"  # a limit, as http.server passes one
        theirs.close()
        assert intake.readline() == b" long line"  # the end: what there is
        assert intake.read() == b""
    finally:
        ours.close()
        theirs.close()
