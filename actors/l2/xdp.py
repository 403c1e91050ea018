"""ARP answered in the kernel: an XDP program per interface, attached while this process lives.

A user-space responder has to be woken for every request; the kernel's own ARP answers inside
the asker's send. On this 2-core machine the smallest Python reader stays 2.3-2.6x the kernel's
round trip (tests/bench/l2_floor.py). This program answers an ARP request for an announced
address where the frame arrives, before any socket sees it, with the very reply
:meth:`actors.l2.arp.ArpReplier.answer` builds (held byte for byte against it by
``BPF_PROG_TEST_RUN`` in the tests, and against scapy). Everything it does not answer (not a
well-formed request, not for us, a multicast sender, gratuitous, not announced, an expired
lease, a VLAN tag) it passes on untouched, and the packet socket's reader decides as before:
one truth, two places it can be acted on.

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

Maps: the announced addresses (IPv4 in network order -> replies sent, a 64-bit counter the
program adds to) and the lease (one 64-bit deadline in ns).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import struct
import sys
import threading
import time
from collections.abc import Callable, Mapping

from actors.l2 import arp, ebpf
from actors.l2.ebpf import FP, JEQ, JGE, JGT, JNE, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9

log = logging.getLogger(__name__)

#: How long the kernel answers after the last renewal, and how often the lease is renewed.
LEASE = 0.25
RENEW = 0.05
#: Addresses one interface can answer for in the kernel (beyond, the map refuses more and
#: those addresses are answered from user space). The map's buckets cost 16 bytes each.
MAX_ADDRESSES = 16384
_U64 = struct.Struct("=Q")
_LEASE_KEY = bytes(4)


def _loaded(wire: bytes) -> int:
    """The value a load of these wire bytes gives the program (loads are in host order)."""
    return int.from_bytes(wire, sys.byteorder)


def arp_program(mac: bytes, addresses_fd: int, lease_fd: int) -> bytes:
    """The program for an interface with ``mac``, reading the two maps by their fds.

    The checks are :meth:`ArpReplier.answer`'s, in its order; each constant is compared as a
    load of the packet reads it (:func:`_loaded`).
    """
    request_head = arp.REQUEST_HEAD  # bytes 12..22 of every request we answer
    mac_lo, mac_hi = _loaded(mac[0:4]), _loaded(mac[4:6])
    a = ebpf.Asm()
    a.movr(R6, R1)  # the context (struct xdp_md): data at 0, data_end at 4
    a.load(R7, R6, 0, 4)
    a.load(R8, R6, 4, 4)
    a.movr(R2, R7)
    a.add(R2, arp.FRAME_LEN)
    a.jumpr(JGT, R2, R8, "pass")  # shorter than a request: not ours to judge
    a.load(R2, R7, 12, 4)
    a.jump32(JNE, R2, _loaded(request_head[0:4]), "pass")
    a.load(R2, R7, 16, 4)
    a.jump32(JNE, R2, _loaded(request_head[4:8]), "pass")
    a.load(R2, R7, 20, 2)
    a.jump32(JNE, R2, _loaded(request_head[8:10]), "pass")
    # Destination: broadcast or our MAC.
    a.load(R2, R7, 0, 4)
    a.load(R3, R7, 4, 2)
    a.jump32(JNE, R2, 0xFFFFFFFF, "unicast")
    a.jump32(JEQ, R3, 0xFFFF, "for_us")
    a.label("unicast")
    a.jump32(JNE, R2, mac_lo, "pass")
    a.jump32(JNE, R3, mac_hi, "pass")
    a.label("for_us")
    # A sender with the group bit set is never a real host (user space counts it).
    a.load(R2, R7, 6, 1)
    a.and_(R2, 1)
    a.jump32(JNE, R2, 0, "pass")
    a.load(R2, R7, 22, 1)
    a.and_(R2, 1)
    a.jump32(JNE, R2, 0, "pass")
    # Gratuitous (sender = target): user space hears it (the split-brain alarm).
    a.load(R2, R7, 28, 4)
    a.load(R3, R7, 38, 4)
    a.jumpr(JEQ, R2, R3, "pass")
    a.store(FP, -4, R3, 4)  # the target address: the key of the address map
    a.store_imm(FP, -8, 0, 4)  # the lease's key
    # The lease: answer only while the responder renews it.
    a.map_fd(R1, lease_fd)
    a.movr(R2, FP)
    a.add(R2, -8)
    a.call(ebpf.MAP_LOOKUP)
    a.jump(JEQ, R0, 0, "pass")
    a.load(R9, R0, 0, 8)
    a.call(ebpf.KTIME_GET_NS)
    a.jumpr(JGE, R0, R9, "pass")
    a.map_fd(R1, addresses_fd)
    a.movr(R2, FP)
    a.add(R2, -4)
    a.call(ebpf.MAP_LOOKUP)
    a.jump(JEQ, R0, 0, "pass")  # not announced here
    a.movr(R9, R0)  # the address's counter
    # A padded request (60 bytes from most hosts) gets the 42-byte reply user space sends.
    a.load(R7, R6, 0, 4)
    a.load(R8, R6, 4, 4)
    a.movr(R2, R7)
    a.subr(R2, R8)
    a.add(R2, arp.FRAME_LEN)
    a.jump(JEQ, R2, 0, "sized")
    a.movr(R1, R6)
    a.call(ebpf.XDP_ADJUST_TAIL)
    a.jump(JNE, R0, 0, "pass")
    a.label("sized")
    a.load(R7, R6, 0, 4)  # the frame may have moved: its pointers are read again
    a.load(R8, R6, 4, 4)
    a.movr(R2, R7)
    a.add(R2, arp.FRAME_LEN)
    a.jumpr(JGT, R2, R8, "pass")
    # The reply, in place: to the asker, from us; op reply; we are the sender of the target
    # address, the asker the target.
    a.load(R2, R7, 22, 4)  # the asker's MAC
    a.load(R3, R7, 26, 2)
    a.load(R4, R7, 28, 4)  # the asker's address
    a.load(R5, R7, 38, 4)  # the address asked for
    a.store(R7, 0, R2, 4)
    a.store(R7, 4, R3, 2)
    a.store_imm(R7, 6, mac_lo, 4)
    a.store_imm(R7, 10, mac_hi, 2)
    a.store_imm(R7, 20, _loaded(struct.pack("!H", arp.OP_REPLY)), 2)
    a.store_imm(R7, 22, mac_lo, 4)
    a.store_imm(R7, 26, mac_hi, 2)
    a.store(R7, 28, R5, 4)
    a.store(R7, 32, R2, 4)
    a.store(R7, 36, R3, 2)
    a.store(R7, 38, R4, 4)
    a.mov(R1, 1)
    a.atomic_add64(R9, 0, R1)
    a.mov(R0, ebpf.XDP_TX)
    a.exit()
    a.label("pass")
    a.mov(R0, ebpf.XDP_PASS)
    a.exit()
    return a.assemble()


class KernelArp:
    """One interface's program, its maps and its link: ARP answered in the kernel for the
    addresses given to :meth:`announce`, while :meth:`renew` is called more often than
    ``LEASE``. ``close`` (or the process's end) detaches it. Thread-safe: the lease thread
    renews while the actor announces."""

    def __init__(
        self,
        ifindex: int,
        mac: bytes,
        clock: Callable[[], int] = time.monotonic_ns,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.ifindex, self.mac = ifindex, mac
        self._clock = clock
        self._lock = threading.Lock()
        self._maps: list[ebpf.Map] = []
        self._link = -1
        self._announced: dict[bytes, str] = {}
        #: Replies counted for addresses no longer announced (so counters never go back).
        self._withdrawn_counts: dict[str, int] = {}
        try:
            # Not preallocated: all its entries would be 1.3 MB of kernel memory per
            # interface, charged to the speaker's cgroup, for the few addresses a node has.
            self.addresses = self._map(
                ebpf.MAP_TYPE_HASH, 4, 8, max_addresses, ebpf.BPF_F_NO_PREALLOC
            )
            self.lease = self._map(ebpf.MAP_TYPE_ARRAY, 4, 8, 1)
            prog = ebpf.load_xdp(arp_program(mac, self.addresses.fd, self.lease.fd), "lbtui_arp")
            try:
                self._link = ebpf.link_xdp(prog, ifindex)
            finally:
                os.close(prog)  # the link holds the program
        except BaseException:
            self.close()
            raise

    def _map(
        self, kind: int, key_size: int, value_size: int, entries: int, flags: int = 0
    ) -> ebpf.Map:
        m = ebpf.Map(kind, key_size, value_size, entries, flags)
        self._maps.append(m)
        return m

    def announce(self, ipv4: Mapping[bytes, str]) -> list[str]:
        """Answer for exactly ``ipv4`` (packed -> text) from now on: the withdrawn first.
        Returns the addresses the map refused (answered from user space instead)."""
        refused = []
        with self._lock:
            self._check_open()
            for packed in [p for p in self._announced if p not in ipv4]:
                text = self._announced.pop(packed)
                count = self._withdrawn_counts.get(text, 0) + self._count(packed)
                self._withdrawn_counts[text] = count
                with contextlib.suppress(FileNotFoundError):
                    self.addresses.delete(packed)
            for packed, text in ipv4.items():
                if packed in self._announced:
                    continue
                try:
                    self.addresses.update(packed, bytes(8))
                except OSError as exc:  # the map is full (E2BIG) or out of memory
                    log.debug("kernel ARP: %s not taken: %r", text, exc)
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
        value = self.addresses.get(packed)
        return _U64.unpack(value)[0] if value else 0

    def _check_open(self) -> None:
        if self._link < 0:
            raise OSError(errno.EBADF, "the kernel ARP program was detached")

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


class KernelArpSet:
    """A responder's programs, one per interface, and the thread that renews their leases.

    Where a program cannot be attached the interface is left to user space, and why is
    logged once per reason (the readers answer there as they always did)."""

    def __init__(self, make: Callable[[int, bytes], KernelArp] = KernelArp) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._by_name: dict[str, KernelArp] = {}
        self._gone: dict[str, int] = {}  # replies counted by detached programs
        self._refused: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def announce(self, name: str, ifindex: int, mac: bytes, ipv4: Mapping[bytes, str]) -> None:
        """Answer for ``ipv4`` on interface ``name`` in the kernel, attaching first if need be
        (a changed index or MAC is a new interface)."""
        with self._lock:
            kernel = self._by_name.get(name)
        if kernel is not None and (kernel.ifindex, kernel.mac) != (ifindex, mac):
            self.detach(name)
            kernel = None
        if kernel is None:
            kernel = self._attach(name, ifindex, mac)
            if kernel is None:
                return
        try:
            kernel.announce(ipv4)
        except OSError as exc:
            log.debug("kernel ARP on %s: %r", name, exc)

    def _attach(self, name: str, ifindex: int, mac: bytes) -> KernelArp | None:
        try:
            kernel = self._make(ifindex, mac)
            kernel.renew()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if reason not in self._refused:
                self._refused.add(reason)
                log.warning(
                    "ARP is answered from user space on %s: XDP could not be attached (%s)",
                    name,
                    reason,
                )
            return None
        log.info("ARP is answered in the kernel (XDP) on %s", name)
        with self._lock:
            self._by_name[name] = kernel
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._renew_leases, name="l2-xdp-lease", daemon=True
                )
                self._thread.start()
        return kernel

    def attached(self) -> list[str]:
        with self._lock:
            return sorted(self._by_name)

    def detach(self, name: str) -> None:
        """Stop answering on ``name`` in the kernel, at once."""
        with self._lock:
            kernel = self._by_name.pop(name, None)
        if kernel is None:
            return
        kernel.close()
        with self._lock:
            for ip, n in kernel.replies().items():
                self._gone[ip] = self._gone.get(ip, 0) + n

    def replies(self) -> dict[str, int]:
        """Replies the kernel sent on every interface, by address, since the start."""
        with self._lock:
            counts = dict(self._gone)
            kernels = list(self._by_name.values())
        for kernel in kernels:
            for ip, n in kernel.replies().items():
                counts[ip] = counts.get(ip, 0) + n
        return counts

    def _renew_leases(self) -> None:
        """Every ``RENEW``, let each program answer for another ``LEASE`` (this thread stalls
        with the process, and then the kernel stops answering too)."""
        while not self._stop.wait(RENEW):
            with self._lock:
                kernels = list(self._by_name.values())
            for kernel in kernels:
                try:
                    kernel.renew()
                except OSError as exc:  # detached meanwhile, or out of memory
                    log.debug("kernel ARP lease not renewed: %r", exc)

    def close(self) -> None:
        self._stop.set()
        for name in self.attached():
            self.detach(name)
        if self._thread is not None:
            self._thread.join(timeout=RENEW + 1)
