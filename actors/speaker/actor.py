"""The speaker: a thin shell around the election's ``desired_announcements``.

It keeps the configuration, the cluster, the allocations and who is alive (from membership:
alive minus not-candidates, as our own node sees it), asks ``actors.election.desired`` what
its node must announce, keeps the last answer, and on every change tells its Announcer only
the difference, publishing AnnouncementStarted/AnnouncementStopped with the reason (e.g. a
failover from a dead node). The Announcer (L2, BGP, FRR, or several through
CompositeAnnouncer) does the announcing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec

from actors.base import RuntimeActor
from actors.election.desired import (
    Announcements,
    announced_services,
    desired_announcements,
    lost_reason,
    won_reason,
)
from actors.events import (
    AllocationsUpdated,
    AnnouncementStarted,
    AnnouncementStopped,
    AnnouncementsUpdated,
    ClusterUpdated,
    ConfigApplied,
    Event,
    MembershipUpdated,
)
from actors.listener import Listener
from actors.model.allocation import Allocation
from actors.model.cluster import ClusterState
from actors.model.config import Config
from actors.speaker.announcer import Announcer, call_optional

log = logging.getLogger(__name__)


class SpeakerActor(Listener, RuntimeActor):
    """Announces for one node. Thin: state in, ``desired_announcements`` out, diff applied."""

    listens_to = (ConfigApplied, ClusterUpdated, AllocationsUpdated, MembershipUpdated)

    def __init__(
        self,
        node: str,
        announcer: Announcer,
        *,
        membership_observer: str | None = None,
        awaits_membership: bool = False,
        ignore_exclude_lb: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=kwargs.pop("name", f"speaker/{node}"), **kwargs)
        self.node = node
        self.announcer = announcer
        # Whose view of membership to trust: our own node's (None: any, e.g. the demo's).
        self.membership_observer = membership_observer
        # Gossip runs beside us: until its first view, who holds a layer 2 address is unknown.
        self.awaits_membership = awaits_membership
        # MetalLB's --ignore-exclude-lb: announce even from exclude-labelled nodes.
        self.ignore_exclude_lb = ignore_exclude_lb
        self.config: Config | None = None
        self.cluster: ClusterState | None = None
        self.allocations: Mapping[str, Allocation] | None = None
        self.alive: frozenset[str] | None = None
        self.dead: frozenset[str] = frozenset()
        self.left: frozenset[str] = frozenset()  # of dead, those that left gracefully
        self.current = Announcements()
        self.running = True
        self._synced = False

    # -- events ------------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if isinstance(event, ConfigApplied):
            self.config = event.config
        elif isinstance(event, ClusterUpdated):
            self.cluster = event.cluster
        elif isinstance(event, AllocationsUpdated):
            self.allocations = event.allocations
        elif isinstance(event, MembershipUpdated):
            if self.membership_observer not in (None, event.observer):
                return
            # A node without carrier on any announce interface is alive but not a candidate.
            self.alive, self.dead = event.alive - event.not_candidates, event.dead
            self.left = event.left
        self.reconcile()

    # -- asks --------------------------------------------------------------------------------
    def announcements(self) -> Announcements:
        return self.current

    def republish(self) -> None:
        self.publish(
            AnnouncementsUpdated(self.clock.now(), self.node, announced_services(self.current))
        )

    def withdraw_all(self, reason: str = "shutdown") -> int:
        """Stop every announcement (graceful stop). Returns how many were withdrawn."""
        count = self._apply(Announcements(l2_owners=self.current.l2_owners), reason)
        self.running = False
        return count

    def crash(self) -> None:
        """Simulation only: the node dies; it sends nothing, the network just loses it."""
        now = self.clock.now()
        for ip in self.current.l2:
            self.announcer.withdraw_l2(ip)
            self.publish(AnnouncementStopped(now, self.node, ip, "layer2", "node killed"))
        for route in self.current.bgp.values():
            self.announcer.withdraw_bgp(route)
            self.publish(
                AnnouncementStopped(
                    now, self.node, route.prefix, "bgp", "node killed", peers=route.peers
                )
            )
        self.current = Announcements(l2_owners=self.current.l2_owners)
        call_optional(self.announcer, "flush")
        self.running = False

    def revive(self) -> None:
        self.running = True
        self.reconcile()

    # -- internals ---------------------------------------------------------------------------
    def reconcile(self) -> None:
        if not self.running or self.config is None or self.cluster is None:
            return
        if self.allocations is None:
            return
        alive = self.alive
        admitted = alive is None or self.node in alive
        if not admitted:
            # Membership has not (re)admitted us yet: a node the others think dead must not
            # answer, or two nodes would answer for one address.
            desired = Announcements()
        else:
            desired = desired_announcements(
                self.node,
                self.config,
                self.cluster,
                self.allocations,
                alive,
                ignore_exclude_lb=self.ignore_exclude_lb,
            )
            if alive is None and self.awaits_membership:
                # Not joined yet (a restarted speaker, its link perhaps cut meanwhile):
                # electing among every known node would take an address another node holds
                # while the others still count us dead. Layer 2 waits for the first view (a
                # merged push-pull, or the join grace); BGP's routes are ours alone and go.
                desired = msgspec.structs.replace(desired, l2={}, l2_owners={})
        self._apply(desired, reason="")
        if admitted:
            self._tell_synced()

    def _tell_synced(self) -> None:
        """Once: the announcer has everything (graceful restart's End-of-RIB waits for it)."""
        if self._synced:
            return
        self._synced = True
        call_optional(self.announcer, "synced")

    def _apply(self, desired: Announcements, reason: str) -> int:
        now = self.clock.now()
        old = self.current
        changes = 0
        for ip in sorted(set(old.l2) - set(desired.l2)):
            self.announcer.withdraw_l2(ip)
            why = reason or lost_reason(ip, desired.l2_owners)
            self.publish(AnnouncementStopped(now, self.node, ip, "layer2", why))
            changes += 1
        for key in sorted(set(old.bgp) - set(desired.bgp)):
            self.announcer.withdraw_bgp(old.bgp[key])
            why = reason or "withdrawn"
            self.publish(AnnouncementStopped(now, self.node, key[0], "bgp", why, peers=key[1]))
            changes += 1
        for ip, duty in sorted(desired.l2.items()):
            if old.l2.get(ip) == duty:
                continue
            self.announcer.announce_l2(ip, duty.interfaces)
            if ip not in old.l2:
                why = won_reason(ip, old.l2_owners, self.dead, self.node, self.left) or duty.message
                self.publish(
                    AnnouncementStarted(
                        now,
                        self.node,
                        ip,
                        "layer2",
                        why,
                        ",".join(duty.interfaces),
                        duty.services,
                    )
                )
                changes += 1
        for key, route in sorted(desired.bgp.items()):
            if old.bgp.get(key) == route:
                continue
            self.announcer.announce_bgp(route)
            if key not in old.bgp:
                self.publish(
                    AnnouncementStarted(
                        now,
                        self.node,
                        route.prefix,
                        "bgp",
                        f"advertised to {', '.join(route.peers) or 'no peer'}",
                        "",
                        route.services,
                        route.peers,
                    )
                )
                changes += 1
        self.current = desired
        call_optional(self.announcer, "flush")
        if announced_services(old) != announced_services(desired):
            self.publish(AnnouncementsUpdated(now, self.node, announced_services(desired)))
        return changes
