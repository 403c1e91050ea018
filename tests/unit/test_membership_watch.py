"""Watch connections on real sockets (loopback): the I/O half of crash detection by the
kernel (actors/membership/watch.py through the Transport). A process killed with SIGKILL is
reported lost by its watcher; a graceful close, a live peer that drops the connection, and a
watch asking for somebody else are not."""

from __future__ import annotations

import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.membership import codec
from actors.membership.keyring import Keyring
from actors.membership.messages import Ack, Address, Ping
from actors.membership.transport import Transport, read_frame

REPO = Path(__file__).resolve().parents[2]
KEY = Keyring.generate()


def transport(node: str, lost: queue.Queue[tuple[str, Address]] | None = None) -> Transport:
    t = Transport(
        ("127.0.0.1", 0),
        KEY,
        on_datagram=lambda msgs, src: None,
        on_stream=lambda msg, src: None,
        on_stream_reply=lambda msg, src: None,
        tcp_timeout=1.0,
        node=node,
        on_peer_lost=(lambda n, a: lost.put((n, a))) if lost is not None else None,
    )
    t.start()
    return t


def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture
def watcher() -> Iterator[tuple[Transport, queue.Queue[tuple[str, Address]]]]:
    lost: queue.Queue[tuple[str, Address]] = queue.Queue()
    t = transport("a", lost)
    yield t, lost
    t.close()


def test_a_graceful_close_says_goodbye_and_a_crash_does_not(watcher) -> None:  # type: ignore[no-untyped-def]
    a, lost = watcher
    b_lost: queue.Queue[tuple[str, Address]] = queue.Queue()
    b, c = transport("b", b_lost), transport("c")
    a.watch({"b": b.address, "c": c.address})
    wait_for(lambda: a.watch_counts() == (2, 0) and b.watch_counts() == (0, 1))
    b.close()  # graceful: goodbye byte, then the port is gone
    c.close(graceful=False)  # as a killed process: no goodbye
    assert lost.get(timeout=5) == ("c", c.address)
    time.sleep(0.3)
    assert lost.empty()
    assert a.stats.crashes_seen == 1 and a.stats.watch_closes == 2


def test_the_watched_side_sees_its_watcher_die_too(watcher) -> None:  # type: ignore[no-untyped-def]
    a, _ = watcher
    lost: queue.Queue[tuple[str, Address]] = queue.Queue()
    b = transport("b", lost)
    try:
        a.watch({"b": b.address})
        wait_for(lambda: b.watch_counts() == (0, 1))
        address = a.address
        a.close(graceful=False)
        assert lost.get(timeout=5) == ("a", address)
    finally:
        b.close()


class ResettingPeer:
    """A live member (its listener stays) that resets the first watch made to it; ``full``:
    then, at its connection cap, closes every new connection at once (politely)."""

    def __init__(self, full: bool = False) -> None:
        self.full = full
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = ("127.0.0.1", self.listener.getsockname()[1])
        self.handshakes = 0
        self.held: list[socket.socket] = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        if self.full and self.handshakes:
            conn.close()
            return
        try:
            conn.settimeout(2)
            [hello] = codec.decode(KEY.open(read_frame(conn, 2)))
        except Exception:
            conn.close()  # the watcher's check: it connected, saw us listen, went away
            return
        assert isinstance(hello, Ping)
        conn.sendall(codec.frame(KEY.seal(codec.encode([Ack(hello.seq)]))))
        self.handshakes += 1
        if self.handshakes == 1:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # RST
        else:
            self.held.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


def test_a_live_peer_that_resets_the_connection_is_not_lost_and_is_watched_again(
    watcher,  # type: ignore[no-untyped-def]
) -> None:
    a, lost = watcher
    peer = ResettingPeer()
    try:
        a.watch({"b": peer.address})
        wait_for(lambda: a.stats.watch_closes == 1)
        wait_for(lambda: peer.handshakes == 2 and a.watch_counts() == (1, 0))
        assert lost.empty() and a.stats.crashes_seen == 0
    finally:
        peer.close()


def test_a_live_peer_at_its_connection_cap_is_not_lost(watcher) -> None:  # type: ignore[no-untyped-def]
    a, lost = watcher
    peer = ResettingPeer(full=True)
    try:
        a.watch({"b": peer.address})
        wait_for(lambda: a.stats.watch_closes == 1)
        wait_for(lambda: a.stats.watch_failures >= 1)  # the new watch is closed too: retried
        assert lost.empty() and a.stats.crashes_seen == 0
    finally:
        peer.close()


def test_a_watch_for_somebody_else_or_with_the_wrong_key_is_refused(watcher) -> None:  # type: ignore[no-untyped-def]
    a, _ = watcher
    for sealer, name in ((KEY, "z"), (Keyring.generate(), "a")):
        with socket.create_connection(a.address, timeout=2) as s:
            hello = Ping(0, name, "x", ("127.0.0.1", 1))
            s.sendall(codec.frame(sealer.seal(codec.encode([hello]))))
            s.settimeout(2)
            assert s.recv(100) == b""  # closed without an answer
    assert a.watch_counts() == (0, 0)
    assert a.stats.auth_failures == 1


def test_an_unwanted_watch_is_closed_without_alarm(watcher) -> None:  # type: ignore[no-untyped-def]
    a, lost = watcher
    b_lost: queue.Queue[tuple[str, Address]] = queue.Queue()
    b = transport("b", b_lost)
    try:
        a.watch({"b": b.address})
        wait_for(lambda: b.watch_counts() == (0, 1))
        a.watch({})
        wait_for(lambda: b.watch_counts() == (0, 0) and a.watch_counts() == (0, 0))
        time.sleep(0.2)
        assert b_lost.empty() and lost.empty() and b.stats.crashes_seen == 0
    finally:
        b.close()


CHILD = textwrap.dedent(
    """
    import base64, sys, time
    from actors.membership.keyring import Keyring
    from actors.membership.transport import Transport
    key = Keyring([base64.b64decode(sys.argv[1])])
    t = Transport(("127.0.0.1", 0), key, on_datagram=lambda m, s: None,
                  on_stream=lambda m, s: None, on_stream_reply=lambda m, s: None, node="b")
    print(t.start()[1], flush=True)
    time.sleep(60)
    """
)


def test_sigkill_of_the_watched_process_is_reported_in_milliseconds(watcher) -> None:  # type: ignore[no-untyped-def]
    import base64

    a, lost = watcher
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, base64.b64encode(KEY.primary).decode()],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        a.watch({"b": ("127.0.0.1", port)})
        wait_for(lambda: a.watch_counts() == (1, 0))
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        assert lost.get(timeout=5) == ("b", ("127.0.0.1", port))
        print(f"\nSIGKILL -> reported lost: {(time.monotonic() - killed) * 1000:.1f} ms")
    finally:
        proc.kill()
        proc.wait()
