"""The responder's reader threads, on datagram socket pairs instead of packet sockets.

A socket pair carries frames as a packet socket does (one datagram, one frame) and takes the
same BPF programs (a socket filter sees the datagram from its first byte), so the whole
receive→answer→send loop runs without root: a request is answered, a frame that is not one is
counted and dropped, and a retired interface's reader closes its socket and ends. A burst
waiting in the queue is read and answered many frames per call (recvmmsg, sendmmsg), a lone
request one frame per call, and without the batched calls everything still is answered.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
import time

import pytest

from actors.l2 import arp, mmsg
from actors.l2.packet_socket import set_stop_check
from actors.l2.responder import (
    FRAMES_DROPPED,
    RECEIVE_SIZES,
    RECEIVES,
    REQUESTS_RECEIVED,
    RESPONSES_SENT,
    InterfaceDuty,
    L2Responder,
    _still_announced,
)

OURS = bytes.fromhex("029900000001")
ASKER = bytes.fromhex("0299000000fe")
VIP = "10.99.0.100"
VIP_PACKED = ipaddress.ip_address(VIP).packed
ASKER_IP = ipaddress.ip_address("10.99.0.2").packed


class Wires:
    """The opener the responder is given: for each socket it opens, the far end is kept."""

    def __init__(self) -> None:
        self.far: dict[int, socket.socket] = {}  # ethertype -> the test's end
        self.near: dict[int, socket.socket] = {}

    def open(self, _ifname: str, ethertype: int) -> socket.socket:
        near, far = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        set_stop_check(near)
        far.settimeout(10)
        self.near[ethertype], self.far[ethertype] = near, far
        return near

    def close(self) -> None:
        for sock in self.far.values():
            sock.close()


def duty(*ips: str) -> InterfaceDuty:
    return InterfaceDuty("eth0", 2, OURS, ipv4={ipaddress.ip_address(ip).packed: ip for ip in ips})


def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.01)


def test_a_request_is_answered_and_a_retired_reader_closes_its_socket() -> None:
    wires = Wires()
    responder = L2Responder(open_socket=wires.open)
    try:
        assert responder.update({"eth0": duty(VIP)}) == []
        arp_end = wires.far[arp.ETH_P_ARP]
        arp_end.send(arp.request_frame(ASKER, ASKER_IP, VIP_PACKED))
        expected, _ = arp.ArpReplier(OURS).answer(
            arp.request_frame(ASKER, ASKER_IP, VIP_PACKED), {VIP_PACKED: VIP}
        )
        assert arp_end.recv(2048) == expected
        wait_for(lambda: responder.counters.get(RESPONSES_SENT, VIP) == 1)
        assert responder.counters.get(REQUESTS_RECEIVED, VIP) == 1

        # A gratuitous ARP passes the filter (its target is ours) and is counted, not answered;
        # then a request is answered again: the reader went on.
        request, _reply = arp.ArpReplier(ASKER).gratuitous(VIP_PACKED)
        arp_end.send(request)
        arp_end.send(arp.request_frame(ASKER, ASKER_IP, VIP_PACKED))
        assert arp_end.recv(2048) == expected
        assert responder.counters.get(FRAMES_DROPPED, "gratuitous") == 1

        readers = [t for t in threading.enumerate() if t.name.startswith("l2-")]
        assert {t.name for t in readers} == {"l2-arp-eth0", "l2-ndp-eth0"}
        assert responder.update({}) == []  # the interface is retired
        for reader in readers:
            reader.join(timeout=10)
            assert not reader.is_alive()
        assert all(sock.fileno() == -1 for sock in wires.near.values())
    finally:
        responder.close()
        wires.close()


def test_close_ends_every_reader() -> None:
    wires = Wires()
    responder = L2Responder(open_socket=wires.open)
    try:
        responder.update({"eth0": duty(VIP)})
    finally:
        responder.close()
        wires.close()
    assert all(sock.fileno() == -1 for sock in wires.near.values())
    assert not [t for t in threading.enumerate() if t.name.endswith("-eth0")]


class QueuedWires(Wires):
    """Wires whose ARP pair already holds ``frames`` when the reader first reads: a burst
    waiting in the queue, as under a flood."""

    def __init__(self, frames: list[bytes]) -> None:
        super().__init__()
        self.frames = frames

    def open(self, ifname: str, ethertype: int) -> socket.socket:
        near = super().open(ifname, ethertype)
        if ethertype == arp.ETH_P_ARP:
            for sock in (near, self.far[ethertype]):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 21)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
            for frame in self.frames:
                self.far[ethertype].send(frame)
        return near


def askers(count: int) -> list[tuple[bytes, bytes]]:
    """(MAC, IPv4) of ``count`` distinct askers."""
    return [
        (bytes.fromhex(f"0299000001{i:02x}"), ipaddress.ip_address(f"10.99.1.{i + 1}").packed)
        for i in range(count)
    ]


def test_a_burst_is_read_and_answered_many_frames_per_call_byte_for_byte() -> None:
    """300 requests from 6 askers, 1 in 5 for a foreign address and 1 in 10 gratuitous, all
    waiting when the reader starts: the 210 asking for ours answered in order, each answer the
    replier's own; frames taken by calls that returned several (the counter by size, the
    batched path); the foreign and gratuitous ones counted as dropped, as one at a time."""
    replier = arp.ArpReplier(OURS)
    frames, expected = [], []
    for i in range(300):
        mac, ip = askers(6)[i % 6]
        if i % 10 == 9:
            request, _ = arp.ArpReplier(mac).gratuitous(ip)  # heard, not answered
        else:
            target = VIP_PACKED if i % 5 else ipaddress.ip_address("10.99.0.200").packed
            request = arp.request_frame(mac, ip, target)
            reply, _ = replier.answer(request, {VIP_PACKED: VIP})
            if reply is not None:
                expected.append(reply)
        frames.append(request)
    wires = QueuedWires(frames)
    responder = L2Responder(open_socket=wires.open)
    try:
        responder.update({"eth0": duty(VIP)})
        arp_end = wires.far[arp.ETH_P_ARP]
        got = [arp_end.recv(2048) for _ in expected]
        assert got == expected
        wait_for(lambda: responder.counters.get(RESPONSES_SENT, VIP) == len(expected))
        counters = responder.counters.snapshot()
        assert counters[REQUESTS_RECEIVED] == {VIP: len(expected)}
        assert counters[FRAMES_DROPPED] == {"gratuitous": 30, "not announced": 60}
        assert len(expected) == 210
        receives = counters[RECEIVES]
        assert sum(receives.values()) > 0  # the batched path was taken
        assert max(RECEIVE_SIZES.index(label) for label in receives) <= mmsg.VLEN
        assert min(RECEIVE_SIZES.index(label) for label in receives) >= 2
    finally:
        responder.close()
        wires.close()


def test_one_frame_at_a_time_stays_on_recv() -> None:
    """A lone request is read by ``recv`` and answered by ``send``: recvmmsg is not called."""
    wires = Wires()
    responder = L2Responder(open_socket=wires.open)
    try:
        responder.update({"eth0": duty(VIP)})
        arp_end = wires.far[arp.ETH_P_ARP]
        request = arp.request_frame(ASKER, ASKER_IP, VIP_PACKED)
        for _ in range(3):
            arp_end.send(request)
            assert arp_end.recv(2048) == replier_answer(request)
            time.sleep(0.05)  # the reader is asleep in recv again when the next one comes
        wait_for(lambda: responder.counters.get(RESPONSES_SENT, VIP) == 3)
        assert responder.counters.snapshot()[RECEIVES] == {}  # no call took several
    finally:
        responder.close()
        wires.close()


def replier_answer(request: bytes) -> bytes:
    reply, _ = arp.ArpReplier(OURS).answer(request, {VIP_PACKED: VIP})
    assert reply is not None
    return reply


def test_without_batched_calls_a_burst_is_answered_one_frame_per_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where recvmmsg is refused at run time (ENOSYS: an old kernel, a seccomp profile), the
    reader goes on with recv and send; with ``batched=False`` it never tries."""

    def refused(self: mmsg.Batcher) -> list[bytes]:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(mmsg, "_unavailable", None)
    monkeypatch.setattr(mmsg.Batcher, "receive", refused)
    for batched in (True, False):
        requests = [arp.request_frame(mac, ip, VIP_PACKED) for mac, ip in askers(4) * 25]
        wires = QueuedWires(requests)
        responder = L2Responder(open_socket=wires.open, batched=batched)
        try:
            responder.update({"eth0": duty(VIP)})
            arp_end = wires.far[arp.ETH_P_ARP]
            assert [arp_end.recv(2048) for _ in requests] == [replier_answer(r) for r in requests]
            wait_for(lambda r=responder: r.counters.get(RESPONSES_SENT, VIP) == 100)
            assert responder.counters.snapshot()[RECEIVES] == {}
        finally:
            responder.close()
            wires.close()


class RefusingBatcher:
    """A batcher whose kernel refuses the replies at the given indexes."""

    def __init__(self, refused: list[int]) -> None:
        self.refused = refused
        self.sent: list[bytes] = []

    def send(self, frames: list[bytes]) -> list[int]:
        self.sent = [f for i, f in enumerate(frames) if i not in self.refused]
        return self.refused


def test_refused_replies_are_counted_dropped_and_not_sent() -> None:
    responder = L2Responder()
    batcher = RefusingBatcher([1, 3])
    replies = [b"a", b"b", b"c", b"d", b"e"]
    ips = ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2", "10.0.0.3"]
    responder._reply(None, batcher, replies, ips)  # type: ignore[arg-type]
    counters = responder.counters.snapshot()
    assert batcher.sent == [b"a", b"c", b"e"]
    assert counters[RESPONSES_SENT] == {"10.0.0.1": 2, "10.0.0.3": 1}
    assert counters[FRAMES_DROPPED] == {"send failed": 2}


def test_a_round_answered_while_the_duty_changed_keeps_only_what_is_still_announced() -> None:
    """The duty swapped while a batched round was being answered: the replies for a withdrawn
    address are not sent (a withdraw applies to the frames of a round not yet sent too)."""
    replies, ips = _still_announced(
        duty("10.99.0.100"), 0, [b"a", b"b", b"c"], ["10.99.0.100", "10.99.0.101", "10.99.0.100"]
    )
    assert (replies, ips) == ([b"a", b"c"], ["10.99.0.100", "10.99.0.100"])
    assert _still_announced(duty(), 0, [b"a"], ["10.99.0.100"]) == ([], [])
