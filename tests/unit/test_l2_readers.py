"""The responder's reader threads, on datagram socket pairs instead of packet sockets.

A socket pair carries frames as a packet socket does (one datagram, one frame) and takes the
same BPF programs (a socket filter sees the datagram from its first byte), so the whole
receive→answer→send loop runs without root: a request is answered, a frame that is not one is
counted and dropped, and a retired interface's reader closes its socket and ends.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time

from actors.l2 import arp
from actors.l2.responder import (
    FRAMES_DROPPED,
    REQUESTS_RECEIVED,
    RESPONSES_SENT,
    InterfaceDuty,
    L2Responder,
    set_stop_check,
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
