"""The L2 announcer: the layer 2 half of the Announcer protocol, on real sockets.

:class:`L2Announcer` is what the SpeakerActor is given (through CompositeAnnouncer): calling it
never blocks, it records the wanted addresses and tells the actor. It outlives actor restarts,
so a restarted :class:`L2AnnouncerActor` catches up from it, and it owns the counters, so they
stay monotonic for the metrics endpoint.

:class:`L2AnnouncerActor` is thin: it reads links, plans duties (``duties.plan_duties``), hands
them to the :class:`~actors.l2.responder.L2Responder`, and drives the pure gratuitous schedule
(``announce.GarpSchedule``) with its timers. A withdrawn address is dropped from the
responder's table before anything else happens. It also watches carrier for link awareness.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import msgspec
import pykka

from actors.base import RuntimeActor, Tick
from actors.clock import TimerHandle
from actors.events import (
    CandidacyChanged,
    GratuitousSent,
    L2AnswersChanged,
    L2InterfacesChanged,
    SplitBrainDetected,
)
from actors.l2.announce import GarpSchedule
from actors.l2.duties import DutyPlan, plan_duties
from actors.l2.interfaces import DEFAULT_EXCLUDE, InterfacePolicy, Link, LinkWatcher, read_links
from actors.l2.responder import GRATUITOUS_SENT, Counters, L2Responder
from actors.model.route import BGPRoute

log = logging.getLogger(__name__)

SCAN_INTERVAL = 10.0  # MetalLB's interface scan period; netlink wakes us sooner

Wanted = Mapping[str, tuple[str, ...]]


class WantedChanged(msgspec.Struct, frozen=True):
    wanted: Wanted


class ConflictHeard(msgspec.Struct, frozen=True):
    """From the responder's thread: a gratuitous ARP for ``ip`` from another MAC."""

    ip: str
    interface: str
    other_mac: str
    own_mac: str


#: At most one SplitBrainDetected per (address, other MAC) this often; every ARP is counted.
CONFLICT_REPORT_INTERVAL = 1.0


class L2Announcer:
    """The speaker's handle on layer 2 (Announcer protocol, L2 half). Never blocks."""

    def __init__(self, counters: Counters | None = None) -> None:
        self.counters = counters or Counters()
        self._lock = threading.Lock()
        self._wanted: Wanted = MappingProxyType({})
        self._ref: pykka.ActorRef[Any] | None = None

    def announce_l2(self, ip: str, interfaces: tuple[str, ...]) -> None:
        with self._lock:
            wanted = dict(self._wanted)
            wanted[ip] = tuple(interfaces)
            self._wanted = MappingProxyType(wanted)
        self._notify()

    def withdraw_l2(self, ip: str) -> None:
        with self._lock:
            if ip not in self._wanted:
                return
            wanted = dict(self._wanted)
            del wanted[ip]
            self._wanted = MappingProxyType(wanted)
        self._notify()

    def announce_bgp(self, route: BGPRoute) -> None:
        """Not layer 2: CompositeAnnouncer sends BGP elsewhere."""

    def withdraw_bgp(self, route: BGPRoute) -> None:
        """Not layer 2."""

    def wanted(self) -> Wanted:
        return self._wanted

    def attach(self, ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            self._ref = ref

    def detach(self, ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            if self._ref is ref:
                self._ref = None

    def _notify(self) -> None:
        with self._lock:
            ref, wanted = self._ref, self._wanted
        if ref is None:
            return  # the actor is (re)starting: it reads wanted() when it is up
        with contextlib.suppress(pykka.ActorDeadError):
            ref.tell(WantedChanged(wanted))


class L2AnnouncerActor(RuntimeActor):
    actor_name = "l2"

    def __init__(
        self,
        node: str,
        announcer: L2Announcer,
        *,
        exclude: Sequence[str] = DEFAULT_EXCLUDE,
        refresh: float | None = None,
        scan_interval: float = SCAN_INTERVAL,
        links: Callable[[], tuple[Link, ...]] = read_links,
        responder: Callable[[Counters], Any] = L2Responder,
        watch_links: bool = True,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.node = node
        self.announcer = announcer
        self.policy = InterfacePolicy(exclude)
        self.schedule = GarpSchedule(refresh=refresh)
        self.scan_interval = scan_interval
        self._read_links = links
        self._make_responder = responder
        self._watch_links = watch_links
        self.responder: Any = None
        self._watcher: LinkWatcher | None = None
        self.links: tuple[Link, ...] = ()
        self.wanted: Wanted = MappingProxyType({})
        self.plan = DutyPlan(MappingProxyType({}), MappingProxyType({}))
        self.rounds: dict[str, int] = {}
        self.candidate: bool | None = None
        self._garp_timer: TimerHandle | None = None
        self._interfaces_seen: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        self._conflicts_reported: dict[tuple[str, str], float] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    def on_start(self) -> None:
        self.responder = self._make_responder(self.announcer.counters)
        if hasattr(self.responder, "on_conflict"):
            ref = self.actor_ref
            self.responder.on_conflict = lambda *heard: _tell(ref, ConflictHeard(*heard))
        if self._watch_links:
            ref = self.actor_ref
            self._watcher = LinkWatcher(lambda: _tell(ref, Tick(self.links_changed)))
        self.links = self._read()
        self.announcer.attach(self.actor_ref)
        self.wanted = self.announcer.wanted()
        self._apply("start")
        self._check_links()
        self.after(self.scan_interval, self.scan)

    def on_stop(self) -> None:
        self._close()

    def on_failure(self, *exc_info: Any) -> None:
        # Pykka skips on_stop after a crash: without this the old responder's thread would go
        # on answering for addresses nobody tells it to withdraw any more.
        self._close()
        super().on_failure(*exc_info)

    def _close(self) -> None:
        self.announcer.detach(self.actor_ref)
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        if self.responder is not None:
            self.responder.close()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, WantedChanged):
            self.wanted = message.wanted
            self._apply("")
            return None
        if isinstance(message, ConflictHeard):
            self._conflict(message)
            return None
        return super().on_receive(message)

    def _conflict(self, heard: ConflictHeard) -> None:
        """Split-brain alarm: another node announces an address we answer for."""
        if heard.ip not in self.plan.answering:
            return  # withdrawn meanwhile: no longer ours
        now = self.clock.now()
        key = (heard.ip, heard.other_mac)
        last = self._conflicts_reported.get(key)
        if last is not None and now - last < CONFLICT_REPORT_INTERVAL:
            return
        if len(self._conflicts_reported) > 1024:  # a flood of forged MACs: start over
            self._conflicts_reported.clear()
        self._conflicts_reported[key] = now
        self.publish(
            SplitBrainDetected(
                now, self.node, heard.ip, heard.interface, heard.other_mac, heard.own_mac
            )
        )

    # -- asks --------------------------------------------------------------------------------
    def counters(self) -> dict[str, dict[str, int]]:
        return self.announcer.counters.snapshot()

    def answering(self) -> Mapping[str, tuple[str, ...]]:
        return self.plan.answering

    def republish(self) -> None:
        if self.candidate is not None:
            self.publish(CandidacyChanged(self.clock.now(), self.node, self.candidate, "current"))

    # -- timers and link changes -------------------------------------------------------------
    def scan(self) -> None:
        self.links_changed()
        self.after(self.scan_interval, self.scan)

    def links_changed(self) -> None:
        links = self._read()
        if links == self.links:
            return
        self.links = links
        self._apply("interfaces changed")
        self._check_links()

    def garp_tick(self) -> None:
        self._garp_timer = None
        for ip in self.schedule.due(self.clock.now()):
            self._round(ip)
        self._arm_timer()

    # -- internals ---------------------------------------------------------------------------
    def _read(self) -> tuple[Link, ...]:
        try:
            return self._read_links()
        except Exception as exc:  # keep the last known links; the next scan tries again
            log.warning("reading links failed: %r", exc)
            return self.links

    def _apply(self, reason: str) -> None:
        old = self.plan
        plan = plan_duties(self.wanted, self.links, self.policy)
        # The responder swaps its table before anything else: withdrawn means silent now.
        for error in self.responder.update(plan.interfaces):
            log.warning("layer 2 responder: %s", error)
        for text in plan.invalid:
            log.warning("not an IP address, not announced: %r", text)
        self.plan = plan
        now = self.clock.now()
        for ip in sorted(set(old.answering) - set(plan.answering)):
            self.schedule.cancel(ip)
            self.rounds.pop(ip, None)
            self.publish(L2AnswersChanged(now, self.node, ip, (), reason or "withdrawn"))
        for ip, names in plan.answering.items():
            before = old.answering.get(ip)
            if before == names:
                continue
            why = reason or ("announced" if before is None else "interfaces changed")
            if not names:
                why = f"announceFailed: no usable interface among {self.wanted.get(ip) or 'all'}"
            self.publish(L2AnswersChanged(now, self.node, ip, names, why))
            gained = set(names) - set(before or ())
            # A takeover, or an interface that came up: tell the segment now.
            if gained and self.schedule.arm(ip, now):
                self.rounds[ip] = 0
                self._round(ip)
        self._arm_timer()

    def _round(self, ip: str) -> None:
        names = self.plan.answering.get(ip, ())
        if not names:
            return  # announceFailed: nowhere to send; the schedule runs out by itself
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        packed = ipaddress.ip_address(ip).packed
        sent = 0
        for name in names:
            repliers = self.responder.repliers(name)
            if repliers is None:
                continue
            arp_replier, ndp_replier = repliers
            if family == socket.AF_INET:
                frames: tuple[bytes, ...] = arp_replier.gratuitous(packed)
            else:
                frames = (ndp_replier.unsolicited(packed),)
            sent += self.responder.send(name, frames, family)
        if sent:
            self.announcer.counters.add(GRATUITOUS_SENT, ip, sent)
        self.rounds[ip] = self.rounds.get(ip, 0) + 1
        self.publish(GratuitousSent(self.clock.now(), self.node, ip, names, sent, self.rounds[ip]))

    def _arm_timer(self) -> None:
        if self._garp_timer is not None:
            self._garp_timer.cancel()
            self._garp_timer = None
        due = self.schedule.next_due()
        if due is not None:
            self._garp_timer = self.after(max(0.0, due - self.clock.now()), self.garp_tick)

    def _check_links(self) -> None:
        default = self.policy.would_announce(self.links)
        names = tuple(li.name for li in default)
        dark = tuple(li.name for li in default if not li.carrier)
        now = self.clock.now()
        if (names, dark) != self._interfaces_seen:
            self._interfaces_seen = (names, dark)
            self.publish(L2InterfacesChanged(now, self.node, names, dark))
        candidate = self.policy.has_carrier(self.links)
        if candidate == self.candidate:
            return
        self.candidate = candidate
        if candidate:
            reason = f"carrier on {', '.join(n for n in names if n not in dark)}"
        elif names:
            reason = f"no carrier on any of {', '.join(names)}"
        else:
            reason = "no interface to announce on"
        self.publish(CandidacyChanged(now, self.node, candidate, reason))


def _tell(ref: pykka.ActorRef[Any], message: Any) -> None:
    with contextlib.suppress(pykka.ActorDeadError):
        ref.tell(message)
