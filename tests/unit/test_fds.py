"""Sockets released first at the process's end (actors/util/fds.py)."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from actors.util.fds import released_first

REPO = Path(__file__).resolve().parents[2]


def test_a_moved_socket_sits_above_the_others_and_still_works() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname(), timeout=3.0)
    original = client.fileno()
    others = [socket.socket() for _ in range(3)]  # opened after it: higher numbers
    try:
        moved = released_first(client)
        assert moved.fileno() > max(s.fileno() for s in others) > original
        assert client.fileno() == -1 and moved.gettimeout() == 3.0
        peer, _ = server.accept()
        moved.sendall(b"hi")
        assert peer.recv(2) == b"hi"
        peer.close()
        moved.close()
    finally:
        server.close()
        for s in others:
            s.close()


def test_a_socket_already_at_the_top_stays_where_it_is() -> None:
    sock = released_first(socket.socket())
    try:
        assert released_first(sock) is sock
    finally:
        sock.close()


_CHILD = """
import socket, sys, time
from actors.util.fds import released_first
port = int(sys.argv[1])
first = socket.create_connection(("127.0.0.1", port))
if sys.argv[2] == "moved":
    first = released_first(first)
slow = [socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) for _ in range(3)]
last = socket.create_connection(("127.0.0.1", port))
print("ready", flush=True)
time.sleep(60)
"""


def _killed_child_closes(moved: bool) -> bool:
    """Whether a killed process's first connection had closed by the time its last one did
    (three packet sockets, slow to release, opened between them)."""
    server = socket.create_server(("127.0.0.1", 0))
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(server.getsockname()[1]), "moved" if moved else "-"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    accepted: list[socket.socket] = []
    try:
        first, _ = server.accept()
        last, _ = server.accept()
        accepted += [first, last]
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        os.kill(child.pid, signal.SIGKILL)
        assert select.select([last], [], [], 10)[0] == [last]  # the last one has closed
        return select.select([first], [], [], 0)[0] == [first]
    finally:
        child.kill()
        child.wait()
        for sock in (*accepted, server):
            sock.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="packet sockets need CAP_NET_RAW")
def test_a_killed_process_releases_a_moved_socket_before_its_slow_ones() -> None:
    assert _killed_child_closes(moved=True)
    # Not moved, it is released after the packet sockets (an RCU grace period each).
    assert not _killed_child_closes(moved=False)
