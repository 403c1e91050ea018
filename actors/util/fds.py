"""Sockets the kernel lets go of first when the process ends, however it ends.

At a process's end the kernel releases its descriptors from the highest number down, one
after another, and some take long to release: a packet socket or an XDP link waits out an RCU
grace period (~10 ms each). Sockets that tell peers this process is gone (the membership
listener, which then refuses connections, and the watch connections, which then close) are
moved above every other descriptor, so a crash is heard before those are released: with three
packet sockets above it, a killed process's TCP close reached its peer 30 ms late
(tests/bench/failover.py's ``kill`` row, and the test of this module).
"""

from __future__ import annotations

import fcntl
import resource
import socket

#: Descriptor numbers kept at the top for sockets released first (the membership listener,
#: its incoming and outgoing watches), and the highest top used even where the limit is
#: higher (the descriptor table grows to the highest number used: 8 bytes each).
RESERVED = 128
HIGHEST = 4096


def released_first(sock: socket.socket) -> socket.socket:
    """``sock``, moved to a descriptor above those the process opens otherwise; ``sock``
    itself where there is no room up there. The socket given is closed once moved."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    floor = min(soft, HIGHEST) - RESERVED
    if floor <= 0 or sock.fileno() >= floor:
        return sock
    try:
        fd = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, floor)
    except OSError:  # every reserved number taken
        return sock
    moved = socket.socket(sock.family, sock.type, sock.proto, fileno=fd)
    moved.settimeout(sock.gettimeout())
    sock.close()
    return moved
