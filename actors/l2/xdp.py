"""ARP and NDP answered in the kernel: an XDP program per interface, attached while this
process lives.

A user-space responder has to be woken for every request; the kernel's own ARP and NDP answer
inside the asker's send. On this 2-core machine the smallest Python reader stays 2.3-2.6x the
kernel's round trip (tests/bench/l2_floor.py). The program (:mod:`actors.l2.xdp_program`)
answers an ARP request or a Neighbor Solicitation for an announced address where the frame
arrives, before any socket sees it, with the very reply :meth:`actors.l2.arp.ArpReplier.answer`
or :meth:`actors.l2.ndp.NdpReplier.answer` builds (held byte for byte against them by
``BPF_PROG_TEST_RUN`` in the tests, and against scapy). Everything it does not answer (not a
well-formed request, not for us, a multicast sender, gratuitous ARP, duplicate address
detection, an NS of another layout, not announced, an expired lease, a VLAN tag) it passes on
untouched, and the packet socket's reader decides as before: one truth, two places it can be
acted on.

Why it cannot outlive the speaker, or answer for a frozen one:

- It is attached through a BPF link, not pinned. The link lives exactly as long as its file
  descriptor: when the process exits, however it exits (SIGKILL included), the kernel closes
  the descriptor and detaches the program. A node whose speaker died stops answering at once,
  as the user-space responder does (no split brain after a crash).
- It answers only while a lease holds: a deadline on the monotonic clock that the responder's
  lease thread pushes ``LEASE`` ahead every ``RENEW``. A stopped or starved process (SIGSTOP,
  the GIL held, swapped out) stops renewing, and within ``LEASE`` its requests go back to the
  packet socket, where nobody reads them either. Gossip takes longer than ``LEASE`` to call a
  stalled node dead (the fast profile's suspicion alone lasts at least 0.6 s), so a new owner
  never answers beside a frozen one's kernel.

Attached in generic (skb) mode: it works on every interface, veth included (native mode on a
veth sends XDP_TX frames only to a peer that runs XDP itself). Another XDP program already on
the interface is left alone: the link cannot be made (EBUSY) and user space answers.

Maps: the announced addresses, one map per family (IPv4 or IPv6 in network order -> replies
sent, a 64-bit counter the program adds to), and the lease (one 64-bit deadline in ns). The
NAs' source (the interface's link-local address) is written into the program: when it
changes, the program is replaced (the readers answer meanwhile).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

from actors.l2 import ebpf
from actors.l2.xdp_program import arp_program as arp_program  # its ARP half, for tests
from actors.l2.xdp_program import neighbour_program

log = logging.getLogger(__name__)

#: How long the kernel answers after the last renewal, and how often the lease is renewed.
LEASE = 0.25
RENEW = 0.05
#: Addresses of each family one interface can answer for in the kernel (beyond, the map
#: refuses more and those addresses are answered from user space). Each of a map's buckets
#: costs 16 bytes of kernel memory, charged to the speaker's cgroup, whatever is in it.
MAX_ADDRESSES = 16384
_U64 = struct.Struct("=Q")
_LEASE_KEY = bytes(4)
EMPTY: Mapping[bytes, str] = MappingProxyType({})
_Identity = tuple[int, bytes, bytes | None]  # an interface's index and MAC, and the NA source


class KernelNeighbours:
    """One interface's program, its maps and its link: ARP and NDP answered in the kernel for
    the addresses given to :meth:`announce`, while :meth:`renew` is called more often than
    ``LEASE``. ``source`` is the NAs' source address (the interface's link-local address;
    None: the target's own, as :class:`actors.l2.ndp.NdpReplier`). ``close`` (or the
    process's end) detaches it. Thread-safe: the lease thread renews while the actor
    announces."""

    def __init__(
        self,
        ifindex: int,
        mac: bytes,
        source: bytes | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.ifindex, self.mac, self.source = ifindex, mac, source
        self._clock = clock
        self._lock = threading.Lock()
        self._maps: list[ebpf.Map] = []
        self._link = -1
        self._announced: dict[bytes, str] = {}  # both families: a key's length says which
        #: Replies counted for addresses no longer announced (so counters never go back).
        self._withdrawn_counts: dict[str, int] = {}
        try:
            # Entries made as addresses come (all of them at once would be ~1.3 MB of kernel
            # memory per map and interface, for the few addresses a node announces).
            size = max_addresses
            self.addresses = self._map(ebpf.MAP_TYPE_HASH, 4, 8, size, ebpf.NO_PREALLOC)
            self.addresses6 = self._map(ebpf.MAP_TYPE_HASH, 16, 8, size, ebpf.NO_PREALLOC)
            self.lease = self._map(ebpf.MAP_TYPE_ARRAY, 4, 8, 1)
            code = neighbour_program(
                mac, source, self.addresses.fd, self.addresses6.fd, self.lease.fd
            )
            prog = ebpf.load_xdp(code, "lbtui_neigh")
            try:
                self._link = ebpf.link_xdp(prog, ifindex)
            finally:
                os.close(prog)  # the link holds the program
        except BaseException:
            self.close()
            raise
        self._tables = {4: self.addresses, 16: self.addresses6}

    def _map(
        self, kind: int, key_size: int, value_size: int, entries: int, flags: int = 0
    ) -> ebpf.Map:
        m = ebpf.Map(kind, key_size, value_size, entries, flags)
        self._maps.append(m)
        return m

    def announce(self, ipv4: Mapping[bytes, str], ipv6: Mapping[bytes, str] = EMPTY) -> list[str]:
        """Answer for exactly ``ipv4`` and ``ipv6`` (packed -> text) from now on: the
        withdrawn first. Returns the addresses the maps refused (answered from user space
        instead)."""
        wanted = {**ipv4, **ipv6}
        refused = []
        with self._lock:
            self._check_open()
            for packed in [p for p in self._announced if p not in wanted]:
                text = self._announced.pop(packed)
                count = self._withdrawn_counts.get(text, 0) + self._count(packed)
                self._withdrawn_counts[text] = count
                with contextlib.suppress(FileNotFoundError):
                    self._tables[len(packed)].delete(packed)
            for packed, text in wanted.items():
                if packed in self._announced:
                    continue
                table = self._tables.get(len(packed))
                try:
                    if table is None:
                        raise ValueError(f"{len(packed)} bytes is no IPv4 or IPv6 address")
                    table.update(packed, bytes(8))
                except (OSError, ValueError) as exc:  # a map full (E2BIG) or out of memory
                    log.debug("kernel ARP/NDP: %s not taken: %r", text, exc)
                    refused.append(text)
                    continue
                self._announced[packed] = text
        return refused

    def renew(self) -> None:
        """Let the kernel answer for another ``LEASE``."""
        with self._lock:
            self._check_open()
            self.lease.update(_LEASE_KEY, _U64.pack(self._clock() + int(LEASE * 1e9)))

    def expire(self) -> None:
        """Stop the kernel answering now (user space takes every request)."""
        with self._lock:
            self._check_open()
            self.lease.update(_LEASE_KEY, bytes(8))

    def replies(self) -> dict[str, int]:
        """Replies the kernel sent, by address (announced now or before; after ``close``,
        the counts at that moment)."""
        with self._lock:
            return self._replies()

    def _replies(self) -> dict[str, int]:
        counts = dict(self._withdrawn_counts)
        if self._link >= 0:
            for packed, text in self._announced.items():
                counts[text] = counts.get(text, 0) + self._count(packed)
        return counts

    def _count(self, packed: bytes) -> int:
        value = self._tables[len(packed)].get(packed)
        return _U64.unpack(value)[0] if value else 0

    def _check_open(self) -> None:
        if self._link < 0:
            raise OSError(errno.EBADF, "the kernel ARP/NDP program was detached")

    def close(self) -> None:
        """Detach the program (at once) and free the maps; the counts stay readable."""
        with self._lock:
            if self._link >= 0:
                self._withdrawn_counts = self._replies()
                self._announced.clear()
                os.close(self._link)
                self._link = -1
            for m in self._maps:
                m.close()


class KernelNeighbourSet:
    """A responder's programs, one per interface, and the thread that attaches them and renews
    their leases.

    Attaching takes tens of milliseconds (the maps, the verifier, the link), so it is done by
    that thread, not by the caller: :meth:`announce` returns at once, the readers answer until
    the program is on the link, and the program then answers for what was announced last.
    Where a program cannot be attached the interface is left to user space, and why is
    logged once per reason (the readers answer there as they always did)."""

    def __init__(
        self, make: Callable[[int, bytes, bytes | None], KernelNeighbours] = KernelNeighbours
    ) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # work to do, or a program attached
        self._by_name: dict[str, KernelNeighbours] = {}
        #: What :meth:`announce` last asked for each interface: (index, MAC, NA source) and
        #: the addresses of each family.
        self._wanted: dict[str, tuple[_Identity, Mapping[bytes, str], Mapping[bytes, str]]] = {}
        self._pending: set[str] = set()  # interfaces waiting for their program
        self._gone: dict[str, int] = {}  # replies counted by detached programs
        self._refused: set[str] = set()
        self._closed = False
        self._thread: threading.Thread | None = None

    def announce(
        self,
        name: str,
        ifindex: int,
        mac: bytes,
        ipv4: Mapping[bytes, str],
        ipv6: Mapping[bytes, str] = EMPTY,
        source: bytes | None = None,
    ) -> None:
        """Answer for ``ipv4`` and ``ipv6`` on interface ``name`` in the kernel: at once where
        its program is attached, else once it is (a changed index or MAC is a new interface;
        a changed NA source, a new program for it)."""
        identity = (ifindex, mac, source)
        with self._lock:
            if self._closed:
                return
            self._wanted[name] = (identity, ipv4, ipv6)
            kernel = self._by_name.get(name)
            if kernel is not None and _identity(kernel) == identity:
                self._announce_in(name, kernel, ipv4, ipv6)
                return
            if kernel is not None:
                self._drop(name)
            self._pending.add(name)
            self._changed.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._attach_and_renew, name="l2-xdp", daemon=True
                )
                self._thread.start()

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until every interface announced has its program or was refused one; False if
        ``timeout`` passed first."""
        with self._lock:
            return self._changed.wait_for(lambda: not self._pending or self._closed, timeout)

    def attached(self) -> list[str]:
        with self._lock:
            return sorted(self._by_name)

    def detach(self, name: str) -> None:
        """Stop answering on ``name`` in the kernel, at once."""
        with self._lock:
            self._wanted.pop(name, None)
            self._pending.discard(name)
            self._drop(name)
            self._changed.notify_all()

    def replies(self) -> dict[str, int]:
        """Replies the kernel sent on every interface, by address, since the start."""
        with self._lock:
            counts = dict(self._gone)
            kernels = list(self._by_name.values())
        for kernel in kernels:
            for ip, n in kernel.replies().items():
                counts[ip] = counts.get(ip, 0) + n
        return counts

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._pending.clear()
            for name in list(self._by_name):
                self._drop(name)
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=RENEW + 5)

    # -- under the lock ----------------------------------------------------------------------
    def _announce_in(
        self,
        name: str,
        kernel: KernelNeighbours,
        ipv4: Mapping[bytes, str],
        ipv6: Mapping[bytes, str],
    ) -> None:
        try:
            kernel.announce(ipv4, ipv6)
        except OSError as exc:
            log.debug("kernel ARP/NDP on %s: %r", name, exc)

    def _drop(self, name: str) -> None:
        kernel = self._by_name.pop(name, None)
        if kernel is None:
            return
        kernel.close()
        for ip, n in kernel.replies().items():
            self._gone[ip] = self._gone.get(ip, 0) + n

    # -- the thread --------------------------------------------------------------------------
    def _attach_and_renew(self) -> None:
        """Attach what is pending, and every ``RENEW`` let each program answer for another
        ``LEASE`` (this thread stalls with the process, and then the kernel stops answering
        too)."""
        while True:
            with self._lock:
                # Nothing to renew: sleep until there is something to attach.
                renewing = RENEW if self._by_name else None
                self._changed.wait_for(lambda: self._pending or self._closed, renewing)
                if self._closed:
                    return
                name = min(self._pending, default=None)
                next_one = (name, self._wanted[name][0]) if name is not None else None
                kernels = list(self._by_name.values())
            if next_one is not None:
                self._attach(*next_one)
            for kernel in kernels:
                try:
                    kernel.renew()
                except OSError as exc:  # detached meanwhile, or out of memory
                    log.debug("kernel ARP/NDP lease not renewed: %r", exc)

    def _attach(self, name: str, identity: _Identity) -> None:
        kernel: KernelNeighbours | None = None
        reason = ""
        try:
            kernel = self._make(*identity)
            kernel.renew()
        except OSError as exc:
            if kernel is not None:
                kernel.close()
            kernel = None
            reason = exc.strerror or str(exc)
        with self._lock:
            wanted = self._wanted.get(name)
            if kernel is None:
                self._pending.discard(name)  # the readers answer; tried again when announced
                self._changed.notify_all()
                if reason not in self._refused:
                    self._refused.add(reason)
                    log.warning(
                        "ARP and NDP are answered from user space on %s: XDP could not be "
                        "attached (%s)",
                        name,
                        reason,
                    )
                return
            if self._closed or wanted is None or wanted[0] != identity:
                kernel.close()  # detached, or changed, while it was being attached
                return
            self._pending.discard(name)
            self._by_name[name] = kernel
            self._announce_in(name, kernel, wanted[1], wanted[2])
            self._changed.notify_all()
        log.info("ARP and NDP are answered in the kernel (XDP) on %s", name)


def _identity(kernel: KernelNeighbours) -> _Identity:
    return (kernel.ifindex, kernel.mac, kernel.source)
