"""The layer 2 responders' raw packet sockets: opened so no frame slips in before the filter,
with a receive timeout their reader checks for retirement, the BPF filter attached (with a
fallback when the kernel refuses a long one), multicast groups joined at the link and IPv6
levels.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import struct
from collections.abc import Callable, Mapping

from actors.l2 import bpf

log = logging.getLogger(__name__)

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_DROP_MEMBERSHIP = 2
PACKET_MR_MULTICAST = 0
PACKET_QDISC_BYPASS = 20
PACKET_IGNORE_OUTGOING = 23
#: How often a reader blocked in recv looks whether its port was retired (SO_RCVTIMEO).
STOP_CHECK = 0.5


def open_packet_socket(ifname: str, ethertype: int) -> socket.socket:
    """A raw packet socket on ``ifname`` for ``ethertype`` that receives nothing yet.

    Created with protocol 0 (no frames) and a drop-all filter before bind, so no frame can
    slip in before the real filter is attached. Blocking, with a receive timeout of
    ``STOP_CHECK`` (its reader's chance to see it was retired); sends never block
    (``MSG_DONTWAIT``).
    """
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        bpf.attach(sock, bpf.DROP_ALL)
        # Without this every frame the host sends with this ethertype (all of its IPv6 traffic
        # for the NDP socket) would be cloned to us only for the filter to drop it.
        with contextlib.suppress(OSError):  # Linux < 4.20: the filter still drops them
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        set_stop_check(sock)
        # Replies and gratuitous ARPs go straight to the driver, past the queueing discipline
        # (Linux 3.14): one small frame nothing should hold back behind bulk traffic.
        with contextlib.suppress(OSError):
            sock.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        sock.bind((ifname, ethertype))
    except BaseException:
        sock.close()
        raise
    return sock


def set_stop_check(sock: socket.socket) -> None:
    """A blocking receive on ``sock`` gives up after ``STOP_CHECK`` (EAGAIN), so its reader
    can look whether it should stop; any socket a responder's ``open_socket`` returns needs it."""
    seconds = int(STOP_CHECK)
    timeval = struct.pack("@ll", seconds, int((STOP_CHECK - seconds) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)


def attach_filter(
    sock: socket.socket,
    program: bpf.Program,
    build: Callable[..., bpf.Program],
    targets: Mapping[bytes, str],
) -> bpf.Program:
    """Attach ``program``; if the kernel refuses one that long (socket option memory), attach
    the type-only version and let Python filter by target. Returns what is attached."""
    try:
        bpf.attach(sock, program)
        return program
    except OSError as exc:
        if exc.errno != errno.ENOMEM:
            raise
        log.warning(
            "BPF filter for %d addresses refused (%s): filtering in Python", len(targets), exc
        )
        fallback = build(targets, any_target=True)
        bpf.attach(sock, fallback)
        # Remember what we asked for, so an unchanged set is not re-attached every time.
        return program


def link_membership(sock: socket.socket, option: int, index: int, mac: bytes) -> None:
    """Let the group's multicast MAC through the NIC's filter (no promiscuous mode needed)."""
    mreq = struct.pack("iHH8s", index, PACKET_MR_MULTICAST, len(mac), mac)
    sock.setsockopt(SOL_PACKET, option, mreq)


def ipv6_membership(sock: socket.socket, option: int, index: int, group: bytes) -> bool:
    """Join or leave ``group`` at the IPv6 level too: the kernel then sends MLD reports, so
    switches doing MLD snooping forward solicitations to us. Best effort (IPv6 may be off)."""
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, option, group + struct.pack("@I", index))
    except OSError as exc:
        log.debug("MLD %s of %s on ifindex %d: %r", option, group.hex(), index, exc)
        return False
    return True
