"""The batch builder: every subject's batch in one class, and the announcements they share.

:class:`Builder` is what :mod:`lbtui.state.reducer` runs a batch of events through. It adds
what spans the subjects: an announcement goes to layer 2 or to BGP by its protocol (and the
demo's "node killed" is a loss for membership), and a snapshot's announcements replace those
in force. Which event each subject reduces is its module's handler table. Pure, no textual.

    Batch (base.py: copy on write, log, pulses, runtime events, finish)
    ├── MembershipBatch (membership.py)
    └── ServicesBatch (services.py: cluster, allocations, service rows, who announces)
        ├── Layer2Batch (layer2.py)
        └── BgpBatch (bgp.py)
    Builder (here) = MembershipBatch + Layer2Batch + BgpBatch
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import ClassVar

from actors.events import AnnouncementStarted, AnnouncementStopped, Event
from lbtui.state.batch.base import RUNTIME_HANDLERS, Handler
from lbtui.state.batch.bgp import BGP_HANDLERS, BgpBatch
from lbtui.state.batch.layer2 import LAYER2_HANDLERS, Layer2Batch
from lbtui.state.batch.membership import MEMBERSHIP_HANDLERS, MembershipBatch
from lbtui.state.batch.services import SERVICE_HANDLERS


class Builder(MembershipBatch, Layer2Batch, BgpBatch):
    """A mutable working copy of a state that reduces any event; tables are copied the first
    time they are written."""

    def _started(self, e: AnnouncementStarted) -> None:
        if e.protocol == "layer2":
            self._l2_started(e)
        else:
            self._route_started(e)

    def _stopped(self, e: AnnouncementStopped) -> None:
        if e.reason == "node killed":
            # The demo's crash: the node is gone from now, whatever membership says later.
            self._lost(e.node, e.t)
        if e.protocol == "layer2":
            self._l2_stopped(e)
        else:
            self._route_stopped(e)

    def replace_announcements(self, announcements: Iterable[AnnouncementStarted]) -> None:
        """Set the announcements in force to exactly these (from a snapshot)."""
        current = list(announcements)
        for ip, entry in list(self.read("l2").items()):
            if entry.node is not None:
                self.write("l2")[ip] = replace(entry, node=None, announcers=frozenset())
                self.changed_l2.add(ip)
        for key in list(self.read("routes")):
            del self.write("routes")[key]
        for service in list(self.read("announcers")):
            del self.write("announcers")[service]
            self._refresh_service(service)
        self.snapshotting = True
        for a in current:
            old = self.read("l2").get(a.ip) if a.protocol == "layer2" else None
            self._started(a)
            if old is not None:
                # Replayed history already counted this address; keep its counters.
                entry = self.read("l2")[a.ip]
                self.write("l2")[a.ip] = replace(
                    entry,
                    takeovers=max(old.takeovers, 1),
                    gratuitous=old.gratuitous,
                    failover_seconds=old.failover_seconds,
                    failover_at=old.failover_at,
                )
        self.snapshotting = False

    HANDLERS: ClassVar[Mapping[type[Event], Handler]] = {
        **RUNTIME_HANDLERS,
        **SERVICE_HANDLERS,
        **MEMBERSHIP_HANDLERS,
        AnnouncementStarted: _started,
        AnnouncementStopped: _stopped,
        **LAYER2_HANDLERS,
        **BGP_HANDLERS,
    }
