"""Pings are acked by the transport's reader thread (actors/membership/transport.py:
_ack_pings), not after the actor's mailbox: real sockets on loopback."""

from __future__ import annotations

import queue

from actors.membership.keyring import Keyring
from actors.membership.messages import Ack, Address, Message, Ping, Suspect
from actors.membership.transport import Transport

KEY = Keyring.generate()


def transport(node: str, inbox: queue.Queue[tuple[tuple[Message, ...], Address]]) -> Transport:
    t = Transport(
        ("127.0.0.1", 0),
        KEY,
        on_datagram=lambda msgs, src: inbox.put((msgs, src)),
        on_stream=lambda msg, src: None,
        on_stream_reply=lambda msg, src: None,
        node=node,
    )
    t.start()
    return t


def test_a_ping_for_us_is_acked_by_the_reader_and_the_rest_goes_to_the_core() -> None:
    a_in: queue.Queue[tuple[tuple[Message, ...], Address]] = queue.Queue()
    b_in: queue.Queue[tuple[tuple[Message, ...], Address]] = queue.Queue()
    a, b = transport("a", a_in), transport("b", b_in)
    try:
        a.send(b.address, (Ping(7, "b", "a", a.address),))
        assert a_in.get(timeout=5) == ((Ack(7),), b.address)
        # Piggybacked news still reaches b's core; the ping itself does not.
        a.send(b.address, (Ping(8, "b", "a", a.address), Suspect("b", 3, "a")))
        assert a_in.get(timeout=5)[0] == (Ack(8),)
        assert b_in.get(timeout=5)[0] == (Suspect("b", 3, "a"),)
        # A ping for somebody else (a new process at an old address) is the core's business.
        a.send(b.address, (Ping(9, "z", "a", a.address),))
        assert b_in.get(timeout=5)[0] == (Ping(9, "z", "a", a.address),)
        assert b.stats.fast_acks == 2 and b_in.empty()
    finally:
        a.close()
        b.close()
