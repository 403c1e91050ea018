"""How a speaker process gets layer 2: the options, the announcer handle and the actor spec.

The L2AnnouncerActor answers ARP/NDP for the addresses the speaker hands to its L2Announcer;
both are made here, together, after the checks that can refuse ``--l2-*`` options before
anything starts.
"""

from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Sequence

import msgspec

from actors.l2.actor import L2Announcer, L2AnnouncerActor
from actors.l2.interfaces import DEFAULT_EXCLUDE, InterfacePolicy
from actors.l2.responder import L2Responder
from actors.runtime import ActorSpec


class L2Options(msgspec.Struct, frozen=True):
    """``--no-l2`` (``enabled`` False), ``--l2-exclude`` (empty: MetalLB's default list of
    interfaces never answered on), ``--l2-refresh`` and ``--l2-no-xdp`` (``in_kernel`` False:
    no XDP program answering ARP and NDP in the kernel)."""

    enabled: bool = True
    exclude: tuple[str, ...] = ()
    refresh: float | None = None
    in_kernel: bool = True


def l2_parts(
    node: str,
    *,
    exclude: Sequence[str] | None = None,
    refresh: float | None = None,
    in_kernel: bool = False,
) -> tuple[L2Announcer, list[ActorSpec]]:
    """The L2 half for CompositeAnnouncer and the actor to put in the speaker's specs.

    Raises ValueError for a bad exclusion pattern or refresh period, PermissionError when
    this process may not open raw packet sockets (CAP_NET_RAW), so the command can say so
    before anything starts.
    """
    patterns = tuple(DEFAULT_EXCLUDE if exclude is None else exclude)
    InterfacePolicy(patterns)  # validates the patterns
    if refresh is not None and refresh <= 0:
        raise ValueError("--l2-refresh must be a positive number of seconds")
    check_raw_sockets()
    announcer = L2Announcer()
    spec = ActorSpec(
        "l2",
        L2AnnouncerActor,
        {
            "node": node,
            "announcer": announcer,
            "exclude": patterns,
            "refresh": refresh,
            "responder": functools.partial(L2Responder, in_kernel=in_kernel),
        },
    )
    return announcer, [spec]


def check_raw_sockets() -> None:
    """PermissionError, with what to do about it, if raw packet sockets may not be opened."""
    try:
        probe = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError as exc:
        raise PermissionError(
            "layer 2 answers ARP/NDP on raw sockets and needs CAP_NET_RAW "
            "(run as root, or pass --no-l2)"
        ) from exc
    # Closing a packet socket waits out the network stack's RCU grace period (~15 ms of the
    # speaker's start here): a thread of its own does it.
    threading.Thread(target=probe.close, name="l2-probe-close", daemon=True).start()
