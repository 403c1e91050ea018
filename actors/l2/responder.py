"""The responders: AF_PACKET raw sockets with a BPF filter, answering ARP and NDP.

One ARP socket and one IPv6 socket per interface, each read by a thread of its own. The
kernel's BPF filter lets through only requests for addresses this node announces on that
interface; the reader parses with ``struct``, checks again against the current duty table (so
a withdrawn address is never answered, even from frames already queued), and sends the reply
from the same socket.

The receive→reply path of a lone request is two system calls: a blocking ``recv`` and the
reply's ``send``, then straight back into ``recv``. A shared ``poll`` loop that drains each
socket until it would block costs two more (the poll, the ``recv`` that fails with EAGAIN and
its exception), and the second one runs after the reply is sent, while the asker waits for the
CPU: measured side by side (tests/bench/l2.py), that was a third of the serial round trip.
Under a flood, frames queue up behind the one being answered: when ``recv`` keeps finding its
frame already waiting, the reader takes the whole queue (up to ``mmsg.VLEN``) with one
``recvmmsg`` and answers it with one ``sendmmsg`` (:mod:`actors.l2.mmsg`), until a round finds
one frame. Lone requests stay on ``recv``: a ``recvmmsg`` through ctypes that finds one frame
costs ~2 us more. A receive ring (PACKET_RX_RING, TPACKET_V2, read in place and slept on with
``poll``) was measured beside it (tests/bench/l2_floor.py): the flood rate rose by under a
tenth, the serial round trip grew by 6-10 us (the ``poll`` wake-up and the ring walk in Python
cost more than the ``recv`` they save), so the reader stays on ``recv``. A receive timeout
(``SO_RCVTIMEO``) lets a reader notice its port was retired; it then closes its own socket, so
no socket is closed under a thread blocked on it.

With ``in_kernel``, ARP requests and Neighbor Solicitations for each interface's announced
addresses are also answered by an XDP program before any socket sees them, with the same
bytes (:mod:`actors.l2.xdp`). What the kernel does not answer (among them duplicate address
detection probes, and solicitations of a layout other than the common one) reaches the
readers as before; where XDP cannot be attached (no CAP_BPF, an old kernel, another XDP
program), the readers answer everything, as without it. A program is attached in the
background (tens of milliseconds): until it is on the link, the readers answer there too.

The actor calls :meth:`L2Responder.update` with the new duties: the table is swapped first
(answers for withdrawn addresses stop at once), then filters are re-attached and NDP
solicited-node groups joined or left. Every frame is handled under a catch-all: bad input is
counted, never raised.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

import msgspec

from actors.l2 import arp, bpf, mmsg, ndp, xdp
from actors.l2.packet_socket import (
    PACKET_ADD_MEMBERSHIP,
    PACKET_DROP_MEMBERSHIP,
    STOP_CHECK,
    attach_filter,
    ipv6_membership,
    link_membership,
    open_packet_socket,
)

log = logging.getLogger(__name__)

RECV_SIZE = mmsg.RECV_SIZE  # more than any ARP or NS we answer; longer frames arrive truncated
#: After a receive error (the link went away), wait this long before reading again.
ERROR_PAUSE = 0.5

# MetalLB's metric names (label: ip).
REQUESTS_RECEIVED = "metallb_layer2_requests_received"
RESPONSES_SENT = "metallb_layer2_responses_sent"
GRATUITOUS_SENT = "metallb_layer2_gratuitous_sent"
# lbtui's own: frames that reached Python and were not answered, by reason.
FRAMES_DROPPED = "lbtui_layer2_frames_dropped"
# Gratuitous ARPs from another MAC for an address we answer for (split brain), by ip.
CONFLICTS = "lbtui_l2_conflicts_total"
# The readers' receive calls that took several frames at once, by how many (a bucket: "2-3",
# "4-7", ... "64"): how often a burst was read in one call (a frame read alone is not counted).
RECEIVES = "lbtui_layer2_receives"
#: A ``recv`` that returns sooner than this found its frame already queued (a reader woken
#: from sleep takes longer): a burst is under way, so the next round takes the whole queue.
QUEUED_NS = 5000
#: ... and this many such ``recv`` in a row (one alone is common with a fast serial asker,
#: whose next request lands while the reply is still being sent). A burst whose first batched
#: round finds one frame after all doubles the streak asked for next time, up to ``MAX_STREAK``:
#: a fast serial asker then costs it once in ~16 requests (~2 us each time), and a flood,
#: whose queue of a window of 32 gives that many in a row, is still caught (a cap of 256
#: was not: measured, no round of a flood after a serial run was batched); a round that finds
#: several resets it.
QUEUED_STREAK = 2
MAX_STREAK = 16


def _bucket(count: int) -> str:
    low = 1 << (count.bit_length() - 1)
    return str(count) if low == 1 or count == mmsg.VLEN else f"{low}-{min(2 * low, mmsg.VLEN) - 1}"


#: The RECEIVES label of a call that returned n frames, by n (0 and 1 are never used).
RECEIVE_SIZES = ("0", *(_bucket(n) for n in range(1, mmsg.VLEN + 1)))

#: Told (from the I/O thread) of each such ARP: (ip, interface, other MAC, our MAC).
ConflictHook = Callable[[str, str, str, str], None]

EMPTY: Mapping[bytes, str] = MappingProxyType({})


class InterfaceDuty(msgspec.Struct, frozen=True):
    """What one interface answers for: its identity and the announced addresses (packed -> text)."""

    name: str
    index: int
    mac: bytes
    link_local: bytes | None = None
    ipv4: Mapping[bytes, str] = msgspec.field(default_factory=lambda: EMPTY)
    ipv6: Mapping[bytes, str] = msgspec.field(default_factory=lambda: EMPTY)


class Counters:
    """Counters by name and label. Written by the I/O thread and the actor; read as snapshots.

    Each key is incremented from one thread at a time in practice; a lost increment under a
    race would be harmless, and ``snapshot`` copies under the GIL, so readers never see a dict
    changing size.
    """

    def __init__(self) -> None:
        self._values: dict[str, dict[str, int]] = {
            REQUESTS_RECEIVED: {},
            RESPONSES_SENT: {},
            GRATUITOUS_SENT: {},
            FRAMES_DROPPED: {},
            CONFLICTS: {},
            RECEIVES: {},
        }
        #: Counts kept elsewhere (the kernel's answers), added in at each snapshot.
        self.sources: list[Callable[[], Mapping[str, Mapping[str, int]]]] = []

    def add(self, name: str, label: str, n: int = 1) -> None:
        values = self._values[name]
        values[label] = values.get(label, 0) + n

    def table(self, name: str) -> dict[str, int]:
        """The live dict behind one counter (the responder's hot path updates it directly)."""
        return self._values[name]

    def get(self, name: str, label: str) -> int:
        if self.sources:
            return self.snapshot()[name].get(label, 0)
        return self._values[name].get(label, 0)

    def snapshot(self) -> dict[str, dict[str, int]]:
        values = {name: dict(v) for name, v in self._values.items()}
        for source in self.sources:
            for name, counts in source().items():
                merged = values[name]
                for label, n in counts.items():
                    merged[label] = merged.get(label, 0) + n
        return values


# -- the per-frame decisions (pure) ---------------------------------------------------------


def answer_arp(
    frame: bytes, duty: InterfaceDuty, replier: arp.ArpReplier
) -> tuple[bytes | None, str]:
    """(reply, ip) for a request to answer, else (None, drop reason)."""
    return replier.answer(frame, duty.ipv4)


def answer_ndp(
    frame: bytes, duty: InterfaceDuty, replier: ndp.NdpReplier
) -> tuple[bytes | None, str]:
    """(reply, ip) for a solicitation to answer, else (None, drop reason).

    A duplicate address detection probe for an announced address is defended with an
    advertisement to all nodes (MetalLB does not answer it, so another host could take the
    address). A solicitation without a source link-layer option (a unicast reachability probe
    may omit it) is answered to its Ethernet source, where MetalLB drops it.
    """
    return replier.answer(frame, duty.ipv6)


def _still_announced(
    duty: InterfaceDuty, family: int, replies: list[bytes], ips: list[str]
) -> tuple[list[bytes], list[str]]:
    """The replies of a round whose address ``duty`` still announces (the duty was swapped
    while the round was being answered: a withdrawn address gets no more answers)."""
    announced = set((duty.ipv4 if family == 0 else duty.ipv6).values())
    kept = [(reply, ip) for reply, ip in zip(replies, ips, strict=True) if ip in announced]
    return [reply for reply, _ in kept], [ip for _, ip in kept]


class _Port(msgspec.Struct, eq=False):
    """One interface's sockets and state. ``duty`` is swapped whole by the actor thread;
    ``stopped`` is set when the port is retired (its readers then close their sockets)."""

    duty: InterfaceDuty
    arp_sock: socket.socket
    ndp_sock: socket.socket
    arp_replier: arp.ArpReplier
    ndp_replier: ndp.NdpReplier
    ipv4_program: bpf.Program = bpf.DROP_ALL
    ipv6_program: bpf.Program = bpf.DROP_ALL
    groups: set[bytes] = msgspec.field(default_factory=set)  # solicited-node groups joined
    mld_sock: socket.socket | None = None
    stopped: threading.Event = msgspec.field(default_factory=threading.Event)
    readers: list[threading.Thread] = msgspec.field(default_factory=list)


SocketOpener = Callable[[str, int], socket.socket]


class L2Responder:
    """Answers ARP and NDP for the duties it is given, one reader thread per socket."""

    def __init__(
        self,
        counters: Counters | None = None,
        *,
        open_socket: SocketOpener = open_packet_socket,
        batched: bool = True,
        in_kernel: bool = False,
    ) -> None:
        self.counters = counters or Counters()
        self._open = open_socket
        #: Split-brain alarm: set by the actor, called for every conflicting gratuitous ARP.
        self.on_conflict: ConflictHook | None = None
        self._ports: dict[str, _Port] = {}
        self._retired: list[_Port] = []  # ports whose readers may still be running
        self._closed = False
        #: Read with recvmmsg and answer with sendmmsg where the system has them (else one
        #: frame per call); benchmarks and tests turn it off to compare.
        self._batched = batched
        #: ARP and NDP answered in the kernel too (XDP), where it can be attached.
        self._kernel = xdp.KernelNeighbourSet() if in_kernel else None
        if self._kernel is not None:
            kernel = self._kernel
            self.counters.sources.append(
                lambda: dict.fromkeys((REQUESTS_RECEIVED, RESPONSES_SENT), kernel.replies())
            )

    # -- called from the actor's thread ------------------------------------------------------
    def update(self, duties: Mapping[str, InterfaceDuty]) -> list[str]:
        """Answer for exactly ``duties`` from now on. Returns the errors met (per interface)."""
        errors: list[str] = []
        for name in sorted(set(self._ports) - set(duties)):
            self._retire(name)
        for name, duty in sorted(duties.items()):
            port = self._ports.get(name)
            if port is not None and (port.duty.index, port.duty.mac) != (duty.index, duty.mac):
                self._retire(name)  # the interface was replaced or changed its MAC
                port = None
            if port is not None and port.duty.link_local != duty.link_local:
                port.ndp_replier = ndp.NdpReplier(duty.mac, duty.link_local)
            try:
                if port is None:
                    port = self._open_port(duty)
                    self._ports[name] = port
                    self._start_readers(port)
                else:
                    port.duty = duty  # first: withdrawn addresses are not answered any more
                if self._kernel is not None:
                    self._kernel.announce(
                        duty.name, duty.index, duty.mac, duty.ipv4, duty.ipv6, duty.link_local
                    )
                self._program(port, duty)
            except OSError as exc:
                errors.append(f"{name}: {exc.strerror or exc}")
        return errors

    def send(self, name: str, frames: tuple[bytes, ...], family: int) -> int:
        """Send ``frames`` on interface ``name`` (ARP socket for IPv4, else IPv6); count sent."""
        port = self._ports.get(name)
        if port is None:
            return 0
        sock = port.arp_sock if family == socket.AF_INET else port.ndp_sock
        sent = 0
        for frame in frames:
            try:
                sock.send(frame, socket.MSG_DONTWAIT)
                sent += 1
            except OSError as exc:
                log.debug("sending on %s failed: %r", name, exc)
                self.counters.add(FRAMES_DROPPED, "send failed")
        return sent

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until the kernel answers on every interface where it can (its programs are
        attached in the background: the readers answer meanwhile); False after ``timeout``."""
        return self._kernel.settle(timeout) if self._kernel is not None else True

    def duties(self) -> dict[str, InterfaceDuty]:
        return {name: port.duty for name, port in self._ports.items()}

    def repliers(self, name: str) -> tuple[arp.ArpReplier, ndp.NdpReplier] | None:
        port = self._ports.get(name)
        return (port.arp_replier, port.ndp_replier) if port else None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for name in list(self._ports):
            self._retire(name)
        if self._kernel is not None:
            self._kernel.close()
        for port in self._retired:
            for reader in port.readers:
                reader.join(timeout=2 * STOP_CHECK + 1)
        self._retired.clear()

    def _open_port(self, duty: InterfaceDuty) -> _Port:
        arp_sock = self._open(duty.name, arp.ETH_P_ARP)
        try:
            ndp_sock = self._open(duty.name, ndp.ETH_P_IPV6)
        except BaseException:
            arp_sock.close()
            raise
        return _Port(
            duty=duty,
            arp_sock=arp_sock,
            ndp_sock=ndp_sock,
            arp_replier=arp.ArpReplier(duty.mac),
            ndp_replier=ndp.NdpReplier(duty.mac, duty.link_local),
        )

    def _program(self, port: _Port, duty: InterfaceDuty) -> None:
        program4 = bpf.arp_program(duty.ipv4)
        if program4 != port.ipv4_program:
            port.ipv4_program = attach_filter(port.arp_sock, program4, bpf.arp_program, duty.ipv4)
        program6 = bpf.ndp_program(duty.ipv6)
        if program6 != port.ipv6_program:
            port.ipv6_program = attach_filter(port.ndp_sock, program6, bpf.ndp_program, duty.ipv6)
        groups = {ndp.solicited_node(ip) for ip in duty.ipv6}
        if groups and port.mld_sock is None:
            port.mld_sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        for group in sorted(groups - port.groups):
            link_membership(
                port.ndp_sock, PACKET_ADD_MEMBERSHIP, duty.index, ndp.multicast_mac(group)
            )
            if port.mld_sock is not None:
                ipv6_membership(port.mld_sock, socket.IPV6_JOIN_GROUP, duty.index, group)
            port.groups.add(group)
        for group in sorted(port.groups - groups):
            with contextlib.suppress(OSError):
                link_membership(
                    port.ndp_sock, PACKET_DROP_MEMBERSHIP, duty.index, ndp.multicast_mac(group)
                )
            if port.mld_sock is not None:
                ipv6_membership(port.mld_sock, socket.IPV6_LEAVE_GROUP, duty.index, group)
            port.groups.discard(group)

    def _retire(self, name: str) -> None:
        port = self._ports.pop(name)
        port.duty = InterfaceDuty(port.duty.name, port.duty.index, port.duty.mac)
        if self._kernel is not None:
            self._kernel.detach(name)  # the kernel answers nothing more here
        for sock in (port.arp_sock, port.ndp_sock):
            with contextlib.suppress(OSError):
                bpf.attach(sock, bpf.DROP_ALL)  # nothing more is queued for the readers
        port.stopped.set()  # each reader closes its socket within STOP_CHECK
        if port.mld_sock is not None:
            port.mld_sock.close()  # leaves its groups
        self._retired = [p for p in self._retired if any(r.is_alive() for r in p.readers)]
        self._retired.append(port)

    def _start_readers(self, port: _Port) -> None:
        for sock, family in ((port.arp_sock, 0), (port.ndp_sock, 1)):
            reader = threading.Thread(
                target=self._serve,
                args=(port, sock, family),
                name=f"l2-{'arp' if family == 0 else 'ndp'}-{port.duty.name}",
                daemon=True,
            )
            port.readers.append(reader)
            reader.start()

    # -- the reader threads ------------------------------------------------------------------
    def _serve(self, port: _Port, sock: socket.socket, family: int) -> None:
        """Read and answer frames until the port is retired, then close the socket.

        A lone request costs one blocking ``recv`` and one ``send``, as few system calls and
        as little Python as can be: the hot path keeps to local lookups (``recv``, not
        ``recvfrom``: the BPF filter already dropped our own outgoing frames). ``recv``
        returning at once (under ``QUEUED_NS``: its frame was waiting) ``streak`` times in a
        row means a burst (see ``QUEUED_STREAK``): the next rounds each take every frame
        already queued with one ``recvmmsg`` (at most ``mmsg.VLEN``, the bound of a round,
        between which the GIL is let go) and answer them with one ``sendmmsg``, until a round
        finds a single frame. Without those calls (see :mod:`actors.l2.mmsg`) every round is
        one frame. The duty and replier are read per frame, so a swap by the actor applies at
        once; a round's replies are checked again if it came while they were being built.
        """
        counters = self.counters
        responses = counters.table(RESPONSES_SENT)
        receives = counters.table(RECEIVES)
        recv, send, dontwait = sock.recv, sock.send, socket.MSG_DONTWAIT
        clock, queued_ns, streak = time.perf_counter_ns, QUEUED_NS, QUEUED_STREAK
        batcher = mmsg.batcher(sock) if self._batched else None
        burst = first = False  # first: the next batched round is the first of its burst
        queued = 0  # recvs in a row that found their frame waiting
        stopped = port.stopped
        try:
            while not stopped.is_set():
                frames: list[bytes] | None = None
                try:
                    if burst:
                        frames = batcher.receive()  # type: ignore[union-attr]
                    elif batcher is None:
                        frame = recv(RECV_SIZE)
                    else:
                        started = clock()
                        frame = recv(RECV_SIZE)
                        if clock() - started < queued_ns:
                            queued += 1
                            burst = first = queued >= streak
                        else:
                            queued = 0
                except (BlockingIOError, InterruptedError):  # the receive timeout
                    burst = False
                    continue
                except OSError as exc:
                    burst = False
                    if exc.errno in mmsg.UNSUPPORTED and batcher is not None:
                        mmsg.refused_once(exc)  # e.g. a seccomp profile without recvmmsg
                        batcher = None
                        continue
                    if stopped.is_set():
                        break
                    if exc.errno not in (errno.ENETDOWN, errno.ENXIO, errno.EBADF):
                        counters.add(FRAMES_DROPPED, "receive error")
                    # A link that went away is retired by the actor's re-read; until then
                    # do not spin on the error.
                    stopped.wait(ERROR_PAUSE)
                    continue
                if frames is not None:
                    if len(frames) > 1:
                        streak, first = QUEUED_STREAK, False
                        label = RECEIVE_SIZES[len(frames)]
                        receives[label] = receives.get(label, 0) + 1
                        duty = port.duty
                        replies, ips = self._answer(port, family, frames)
                        if port.duty is not duty:  # swapped meanwhile: send only what still is
                            replies, ips = _still_announced(port.duty, family, replies, ips)
                        if replies:
                            self._reply(sock, batcher, replies, ips)  # type: ignore[arg-type]
                        continue
                    burst, queued = False, 0  # one frame: the burst is over, back to recv
                    if first:  # ... or there was none: ask for a longer streak next time
                        streak = min(2 * streak, MAX_STREAK)
                    frame = frames[0]
                answered = self._answer_one(port, family, frame)
                if answered is None:
                    continue
                reply, ip = answered
                try:
                    send(reply, dontwait)
                except OSError:
                    counters.add(FRAMES_DROPPED, "send failed")
                    continue
                responses[ip] = responses.get(ip, 0) + 1
        finally:
            sock.close()

    def _answer(
        self, port: _Port, family: int, frames: list[bytes]
    ) -> tuple[list[bytes], list[str]]:
        """The replies to ``frames`` and the address each answers for; every frame counted
        (a request received, or dropped and why)."""
        replies: list[bytes] = []
        ips: list[str] = []
        for frame in frames:
            answered = self._answer_one(port, family, frame)
            if answered is not None:
                replies.append(answered[0])
                ips.append(answered[1])
        return replies, ips

    def _answer_one(self, port: _Port, family: int, frame: bytes) -> tuple[bytes, str] | None:
        """The reply to one frame and the address it answers for, or None; the frame counted
        (a request received, or dropped and why)."""
        counters = self.counters
        try:
            if family == 0:
                reply, ip = port.arp_replier.answer(frame, port.duty.ipv4)
            else:
                reply, ip = port.ndp_replier.answer(frame, port.duty.ipv6)
        except Exception:  # never let one frame take the responder down
            log.exception("unexpected error on a frame from %s", port.duty.name)
            counters.add(FRAMES_DROPPED, "error")
            return None
        if reply is None:
            counters.add(FRAMES_DROPPED, ip)
            if ip == "gratuitous" and family == 0:
                self._gratuitous_heard(port, frame)
            return None
        counters.add(REQUESTS_RECEIVED, ip)
        return reply, ip

    def _reply(
        self, sock: socket.socket, batcher: mmsg.Batcher, replies: list[bytes], ips: list[str]
    ) -> None:
        """Send ``replies`` without blocking (one ``send`` for one, one ``sendmmsg`` for
        several) and count each sent reply for its address, each refused one as dropped."""
        counters = self.counters
        if len(replies) == 1:
            try:
                sock.send(replies[0], socket.MSG_DONTWAIT)
                refused = []
            except OSError:
                refused = [0]
        else:
            refused = batcher.send(replies)
        if refused:
            counters.add(FRAMES_DROPPED, "send failed", len(refused))
            ips = [ip for i, ip in enumerate(ips) if i not in refused]
        responses = counters.table(RESPONSES_SENT)
        for ip in ips:
            responses[ip] = responses.get(ip, 0) + 1

    def _gratuitous_heard(self, port: _Port, frame: bytes) -> None:
        """Someone announced an address: if we answer for it and it is not us, two nodes
        announce one address (counted, and the hook told)."""
        ip = port.duty.ipv4.get(frame[38:42])
        sender = frame[22:28]
        if ip is None or sender == port.duty.mac:
            return
        self.counters.add(CONFLICTS, ip)
        hook = self.on_conflict
        if hook is not None:
            try:
                hook(ip, port.duty.name, sender.hex(":"), port.duty.mac.hex(":"))
            except Exception:  # the alarm must never take the responder down
                log.exception("split-brain hook failed")
