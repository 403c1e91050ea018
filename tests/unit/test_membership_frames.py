"""Gossip TCP frames have a deadline per frame, not per read (actors/membership/transport.py:
read_frame): a client dripping one byte at a time cannot hold one of the stream slots.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from actors.membership import codec
from actors.membership.codec import CodecError
from actors.membership.keyring import Plaintext
from actors.membership.messages import PushPull
from actors.membership.transport import MAX_CONNECTIONS, Transport, read_frame


class DrippingConn:
    """A socket whose every read brings one byte and takes ``pace`` seconds of a moving clock."""

    def __init__(self, data: bytes, clock: list[float], pace: float) -> None:
        self.data, self.clock, self.pace = data, clock, pace
        self.timeouts: list[float | None] = []
        self.timeout: float | None = 2.0

    def gettimeout(self) -> float | None:
        return self.timeout

    def settimeout(self, value: float | None) -> None:
        self.timeout = value
        self.timeouts.append(value)

    def recv(self, size: int) -> bytes:
        self.clock[0] += self.pace
        byte, self.data = self.data[:1], self.data[1:]
        return byte


def test_a_frame_dripping_within_every_read_timeout_misses_its_deadline() -> None:
    now = [0.0]
    frame = codec.frame(b"x" * 100)
    conn = DrippingConn(frame, now, pace=1.0)  # a byte a second: each read is in time
    with pytest.raises(TimeoutError):
        read_frame(conn, 10.0, clock=lambda: now[0])  # type: ignore[arg-type]
    assert 10.0 <= now[0] <= 12.0  # gave up at the frame's deadline, counted from byte one
    assert all(t is not None and t <= 2.0 for t in conn.timeouts)  # never waits beyond a read


def test_a_frame_in_time_is_read_whole() -> None:
    now = [0.0]
    conn = DrippingConn(codec.frame(b"hello"), now, pace=0.1)
    assert read_frame(conn, 10.0, clock=lambda: now[0]) == b"hello"  # type: ignore[arg-type]
    assert conn.timeout == 2.0  # the socket's own timeout restored


def test_an_announced_frame_too_large_is_refused_before_reading_it() -> None:
    now = [0.0]
    conn = DrippingConn((codec.MAX_FRAME + 1).to_bytes(4, "big"), now, pace=0.0)
    with pytest.raises(CodecError):
        read_frame(conn, 10.0, clock=lambda: now[0])  # type: ignore[arg-type]


def test_slow_drip_clients_cannot_hold_the_stream_slots() -> None:
    """Every slot taken by a client announcing 8 MiB and sending one byte at a time: each is
    closed at its frame deadline, and a real push-pull gets through afterwards."""
    replies: list[object] = []
    server = Transport(
        ("127.0.0.1", 0),
        Plaintext(),
        on_datagram=lambda msgs, src: None,
        on_stream=lambda msg, src: msg,  # echo the push-pull
        on_stream_reply=lambda msg, src: None,
        tcp_timeout=2.0,
        frame_timeout=1.0,
    )
    address = server.start()
    stop = threading.Event()
    closed: list[bool] = []

    def drip() -> None:
        with socket.create_connection(address, timeout=10) as sock:
            try:
                sock.sendall(codec.MAX_FRAME.to_bytes(4, "big"))
                while not stop.is_set():
                    sock.sendall(b"x")
                    stop.wait(0.2)  # the pace of the attack (5 bytes/s), not a measurement
            except OSError:
                closed.append(True)  # the server closed it

    drippers = [threading.Thread(target=drip, daemon=True) for _ in range(MAX_CONNECTIONS)]
    client = Transport(
        ("127.0.0.1", 0),
        Plaintext(),
        on_datagram=lambda msgs, src: None,
        on_stream=lambda msg, src: None,
        on_stream_reply=lambda msg, src: replies.append(msg),
    )
    client.start()
    try:
        for thread in drippers:
            thread.start()
        for thread in drippers:
            thread.join(15)
        assert len(closed) == MAX_CONNECTIONS  # every dripper was cut off
        assert server.stats.stream_failures >= MAX_CONNECTIONS
        push = PushPull("n2", True, ())
        client.request(address, push)
        deadline = time.monotonic() + 10
        while not replies and time.monotonic() < deadline:
            time.sleep(0.05)
        assert replies == [push]
    finally:
        stop.set()
        client.close()
        server.close()
