"""The batch builder for layer 2: who answers for each address, its failovers and the wire.

An address's entry (:class:`~lbtui.state.model.L2Entry`) changes as layer 2 announcements start
and stop (a node kill moves thousands in one batch, so they change a mutable draft, see
:class:`~lbtui.state.batch.base.L2Draft`), and as the speaker reports its gratuitous packets,
split brains, the interfaces it answers on and whether it may announce. A takeover "failover
from <node>" is a failover, estimated from the loss of that node until the speaker's own
measurement (FailoverMeasured, layer 2 or BGP) replaces the estimate. Pure.
"""

from __future__ import annotations

from dataclasses import replace

from actors.events import (
    AnnouncementStarted,
    AnnouncementStopped,
    CandidacyChanged,
    Event,
    FailoverMeasured,
    GratuitousSent,
    L2AnswersChanged,
    L2InterfacesChanged,
    SplitBrainDetected,
)
from lbtui.state.batch.base import Handler
from lbtui.state.batch.interned import EMPTY_SET, ip_text, node_protocol, one_set
from lbtui.state.batch.services import ServicesBatch
from lbtui.state.eventlog import FAILOVER
from lbtui.state.model import Failover


class Layer2Batch(ServicesBatch):
    """A batch that keeps the layer 2 addresses, the failovers and the nodes' interfaces."""

    # announcements
    def _l2_started(self, e: AnnouncementStarted) -> None:
        draft = self._l2_draft(e.ip, create=True)
        assert draft is not None
        interfaces = tuple(i for i in e.interface.split(",") if i) if e.interface else ()
        moved = (
            FAILOVER.match(e.reason)
            if not self.snapshotting and e.reason.startswith("failover from ")
            else None
        )
        if moved:
            from_node = moved.group(1)
            lost_at = self.read("losses").get(from_node)
            seconds = e.t - lost_at if lost_at is not None else None
            self._new_failovers.append((e.t, e.ip, from_node, e.node, seconds, e.reason, False))
            draft.failover_seconds, draft.failover_at = seconds, e.t
            draft.failover_measured = False
        draft.node = e.node
        draft.since = e.t
        draft.reason = e.reason
        draft.interfaces = interfaces
        draft.services = e.services
        draft.announcers = draft.announcers | {e.node} if draft.announcers else one_set(e.node)
        draft.takeovers += 1
        draft.conflict = ""
        self.changed_l2.add(e.ip)
        for service in e.services:
            self._announcer(service, node_protocol(e.node, "layer2"), add=True)

    def _l2_stopped(self, e: AnnouncementStopped) -> None:
        draft = self._l2_draft(e.ip)
        if draft is None or e.node not in draft.announcers:
            return
        announcers = draft.announcers
        draft.announcers = announcers = announcers - {e.node} if len(announcers) > 1 else EMPTY_SET
        if draft.node == e.node:
            draft.node = min(announcers) if announcers else None
            draft.since = e.t
            if draft.node is None:
                draft.reason = e.reason
        draft.conflict = ""
        self.changed_l2.add(e.ip)
        for service in draft.services:
            self._announcer(service, node_protocol(e.node, "layer2"), add=False)
        if draft.node is None and not self._is_held(e.ip, draft.services):
            # The last announcer stopped for an address no service holds any more (the
            # allocator released it first): the row goes now, not at the next allocation.
            del self.write("l2")[e.ip]

    def _is_held(self, ip: str, services: tuple[str, ...]) -> bool:
        """Whether some service holds ``ip``: first the services it was announced for (a
        node kill stops thousands of addresses their services still hold: no need to look
        at every allocation), then, only if none of them does, every service."""
        allocations = self.allocations
        for key in services:
            allocation = allocations.get(key)
            if allocation is not None and any(ip_text(a) == ip for a in allocation.ips):
                return True
        return ip in self._held_ips()

    def _held_ips(self) -> set[str]:
        """Every address some service holds, worked out once per allocation table."""
        cached = self._held
        if cached is None or cached[0] is not self.allocations:
            ips = {ip_text(ip) for a in self.allocations.values() for ip in a.ips}
            self._held = cached = (self.allocations, ips)
        return cached[1]

    # the wire
    def _failover_measured(self, e: FailoverMeasured) -> None:
        """The speaker's own timing replaces the estimate made from the events."""
        measured = Failover(
            e.t, e.ip, e.from_node, e.node, e.seconds, e.cause, measured=True, protocol=e.protocol
        )
        fresh = self._new_failovers  # field tuples: (t, ip, from_node, to_node, ..., measured)
        for index in range(len(fresh) - 1, -1, -1):
            t, ip, _, to_node, _, _, was_measured = fresh[index][:7]
            if (ip, to_node, was_measured) == (e.ip, e.node, False):
                fresh[index] = (t, e.ip, e.from_node, e.node, e.seconds, e.cause, True, e.protocol)
                break
        else:
            old = list(self.failovers)
            for index in range(len(old) - 1, -1, -1):
                f = old[index]
                if (f.ip, f.to_node, f.measured) == (e.ip, e.node, False):
                    old[index] = replace(measured, t=f.t)
                    self.failovers = tuple(old)
                    break
            else:
                fresh.append((e.t, e.ip, e.from_node, e.node, e.seconds, e.cause, True, e.protocol))
        entry = self.read("l2").get(e.ip)
        if entry is not None and e.protocol == "layer2" and entry.node == e.node:
            self.write("l2")[e.ip] = replace(
                entry, failover_seconds=e.seconds, failover_at=e.t, failover_measured=True
            )
            self.changed_l2.add(e.ip)

    def _split_brain(self, e: SplitBrainDetected) -> None:
        entry = self.read("l2").get(e.ip)
        if entry is not None:
            conflict = f"{e.node} hears {e.other_mac} on {e.interface}"
            self.write("l2")[e.ip] = replace(entry, conflict=conflict)
            self.changed_l2.add(e.ip)

    def _gratuitous(self, e: GratuitousSent) -> None:
        entry = self.read("l2").get(e.ip)
        if entry is not None:
            packets = max(0, e.packets)
            self.write("l2")[e.ip] = replace(entry, gratuitous=entry.gratuitous + packets)
            self.changed_l2.add(e.ip)

    def _answers(self, e: L2AnswersChanged) -> None:
        entry = self.read("l2").get(e.ip)
        if entry is not None and entry.node == e.node:
            self.write("l2")[e.ip] = replace(entry, interfaces=e.interfaces)
            self.changed_l2.add(e.ip)

    def _interfaces(self, e: L2InterfacesChanged) -> None:
        self.write("interfaces")[e.node] = (e.interfaces, e.without_carrier)

    def _candidacy(self, e: CandidacyChanged) -> None:
        if e.candidate:
            if e.node in self.read("not_candidate"):
                del self.write("not_candidate")[e.node]
        else:
            self.write("not_candidate")[e.node] = e.reason or "not a candidate"


LAYER2_HANDLERS: dict[type[Event], Handler] = {
    GratuitousSent: Layer2Batch._gratuitous,
    FailoverMeasured: Layer2Batch._failover_measured,
    SplitBrainDetected: Layer2Batch._split_brain,
    L2AnswersChanged: Layer2Batch._answers,
    L2InterfacesChanged: Layer2Batch._interfaces,
    CandidacyChanged: Layer2Batch._candidacy,
}
