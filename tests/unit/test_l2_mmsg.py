"""The batched packet I/O (actors/l2/mmsg.py): recvmmsg and sendmmsg through ctypes.

On datagram socket pairs (one datagram, one frame, as on a packet socket; no root needed):
a burst is taken in one call in order and byte for byte, never more than the bound of a round;
an empty socket answers as ``recv`` would; replies leave in order. With fake calls: a frame
the kernel refuses is skipped and the rest sent, a kernel without ``sendmmsg`` falls back to
one ``send`` per frame; a libc without the calls gives no batcher, and says so once.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import socket
import struct
from collections.abc import Iterator

import pytest

from actors.l2 import mmsg


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    near, far = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    for sock in (near, far):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    # A blocking receive gives up after 50 ms (the responder's sockets: after STOP_CHECK).
    near.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("@ll", 0, 50_000))
    far.settimeout(5)
    yield near, far
    near.close()
    far.close()


@pytest.fixture
def fresh_libc(monkeypatch: pytest.MonkeyPatch) -> None:
    """The module's once-per-process state, reset for the test (and put back after)."""
    monkeypatch.setattr(mmsg, "_calls", None)
    monkeypatch.setattr(mmsg, "_unavailable", None)


def frames(count: int) -> list[bytes]:
    """Distinct frames of varying lengths (42 to 86 bytes: an ARP request to an NS)."""
    return [bytes([i % 256]) * (42 + i % 45) for i in range(count)]


def test_a_burst_is_taken_in_one_call_in_order_and_bounded(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    near, far = pair
    batcher = mmsg.batcher(near, vlen=16)
    assert batcher is not None
    sent = frames(40)
    for frame in sent:
        far.send(frame)
    got = [batcher.receive() for _ in range(3)]
    assert [len(batch) for batch in got] == [16, 16, 8]  # never more than vlen a call
    assert [frame for batch in got for frame in batch] == sent


def test_a_lone_frame_comes_back_alone_and_an_idle_socket_times_out_as_recv(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    near, far = pair
    batcher = mmsg.batcher(near)
    assert batcher is not None
    far.send(b"\x01" * 60)
    assert batcher.receive() == [b"\x01" * 60]  # MSG_WAITFORONE: no wait for a second one
    with pytest.raises(BlockingIOError):  # SO_RCVTIMEO passed: what recv raises
        batcher.receive()
    with pytest.raises(BlockingIOError):
        near.recv(2048)


def test_a_frame_longer_than_a_slot_arrives_truncated_as_with_recv(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    near, far = pair
    batcher = mmsg.batcher(near)
    assert batcher is not None
    long = bytes(range(256)) * 12  # 3072 bytes
    far.send(long)
    far.send(b"after")
    assert batcher.receive() == [long[: mmsg.RECV_SIZE], b"after"]


def test_replies_leave_in_one_call_in_order(pair: tuple[socket.socket, socket.socket]) -> None:
    near, far = pair
    batcher = mmsg.batcher(near)
    assert batcher is not None
    replies = frames(mmsg.VLEN)
    assert batcher.send(replies) == []
    assert [far.recv(2048) for _ in replies] == replies
    # the slots are reused: a second, shorter round is not polluted by the first
    assert batcher.send([b"\x07" * 42, b"\x08" * 86]) == []
    assert [far.recv(2048), far.recv(2048)] == [b"\x07" * 42, b"\x08" * 86]


class FakeCalls:
    """``sendmmsg`` answering from a script: a count sent, or -1 with an errno."""

    def __init__(self, script: list[int | tuple[int, int]]) -> None:
        self.script = script
        self.calls: list[tuple[int, int]] = []  # (first index, how many) per call
        self.base = 0

    def recvmmsg(self, *_args: object) -> int:
        raise AssertionError("not used here")

    def sendmmsg(self, _fd: int, at: int, vlen: int, _flags: int) -> int:
        self.calls.append(((at - self.base) // ctypes.sizeof(mmsg._MMsgHdr), vlen))
        step = self.script.pop(0)
        if isinstance(step, tuple):
            ctypes.set_errno(step[1])
            return step[0]
        return step


def fake_batcher(sock: socket.socket, calls: FakeCalls) -> mmsg.Batcher:
    batcher = mmsg.Batcher(sock, calls, vlen=8)  # type: ignore[arg-type]
    calls.base = batcher._shdr_at
    return batcher


def test_a_refused_frame_is_skipped_and_the_rest_still_sent(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    near, _far = pair
    # 3 sent, then the 4th refused (buffer full), then EINTR (retried), then the other 4
    calls = FakeCalls([3, (-1, errno.ENOBUFS), (-1, errno.EINTR), 4])
    refused = fake_batcher(near, calls).send(frames(8))
    assert refused == [3]
    assert calls.calls == [(0, 8), (3, 5), (4, 4), (4, 4)]


def test_without_sendmmsg_the_rest_goes_one_send_each(
    pair: tuple[socket.socket, socket.socket],
    fresh_libc: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    near, far = pair
    calls = FakeCalls([2, (-1, errno.ENOSYS)])
    batcher = fake_batcher(near, calls)
    replies = frames(6)
    with caplog.at_level(logging.WARNING, logger=mmsg.__name__):
        assert batcher.send(replies) == []
        assert batcher.send(replies[:2]) == []  # from now on, without sendmmsg
    assert calls.calls == [(0, 6), (2, 4)]
    # the first two went by the fake (nowhere), the rest by send
    assert [far.recv(2048) for _ in range(6)] == replies[2:] + replies[:2]
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
    assert mmsg.batcher(near) is None  # and no new socket is given one


def test_a_libc_without_the_calls_gives_no_batcher_and_says_so_once(
    pair: tuple[socket.socket, socket.socket],
    fresh_libc: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def missing() -> None:
        raise AttributeError("undefined symbol: recvmmsg")

    monkeypatch.setattr(mmsg, "_Calls", missing)
    with caplog.at_level(logging.WARNING, logger=mmsg.__name__):
        assert mmsg.batcher(pair[0]) is None
        assert mmsg.batcher(pair[1]) is None
    assert [r.getMessage() for r in caplog.records] == [
        "recvmmsg/sendmmsg unavailable (undefined symbol: recvmmsg): one frame per system call"
    ]
