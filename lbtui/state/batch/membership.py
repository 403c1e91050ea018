"""The batch builder for membership: each node's state, the observers' views, and losses.

With gossip every node observes the others, so the console keeps each observer's last view and
combines them (:meth:`MembershipBatch._membership`); node events (joined, suspected, left)
say the same for one node. A node's loss is remembered from its first sign until it is back:
a failover's estimated time runs from there. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.events import Event, MembershipUpdated, NodeJoined, NodeLeft, NodeSuspected
from lbtui.state.batch.base import Batch, Handler
from lbtui.state.model import Member

# Member states in which a node answers for nothing (an owner in them is shown as gone).
_GONE = frozenset({"dead", "left"})


class MembershipBatch(Batch):
    """A batch that keeps the members, the observers' views, candidacy by carrier and losses."""

    def _membership(self, e: MembershipUpdated) -> None:
        """Each observer (with gossip, every node) has its own view; the console combines them:
        a node is dead if a live observer says so, suspect if one suspects it."""
        views = self.write("views")
        views[e.observer] = e
        dead = combined(views.values(), "dead")
        # A crashed observer's last view is stale: only trust observers still alive.
        trusted = [v for observer, v in views.items() if observer not in dead]
        dead = combined(trusted or views.values(), "dead")
        suspect = combined(trusted, "suspect") - dead
        left = combined(trusted, "left") & dead  # gone gracefully, not failed
        known = combined(views.values(), "alive") | dead
        self.alive = frozenset(known - dead)
        not_candidates = combined(trusted, "not_candidates")
        for node in not_candidates:
            if node not in self.read("not_candidate"):
                self.write("not_candidate")[node] = "not a candidate (no carrier)"
        for node in [n for n in self.read("not_candidate") if n not in not_candidates]:
            if node in self.alive:
                del self.write("not_candidate")[node]
        members = self.read("members")
        for node in sorted(known):
            state = (
                "left"
                if node in left
                else "dead"
                if node in dead
                else "suspect"
                if node in suspect
                else "alive"
            )
            old = members.get(node)
            if old is None or old.state != state:
                self.write("members")[node] = Member(
                    node, state, e.t, old.incarnation if old else None, old.reason if old else ""
                )
                self._owner_state_changed(node, old.state if old else None, state)
                if state == "alive" and old is not None and old.state != "alive":
                    self._recovered(node)
                elif state != "alive":
                    self._lost(node, e.t)

    def _node_joined(self, e: NodeJoined) -> None:
        self._member(e.node, "alive", e.t, getattr(e, "incarnation", None), "joined")
        self._recovered(e.node)

    def _node_suspected(self, e: NodeSuspected) -> None:
        by = f"suspected by {e.by}" if e.by else "suspected"
        self._member(e.node, "suspect", e.t, getattr(e, "incarnation", None), by)
        self._lost(e.node, e.t)

    def _node_left(self, e: NodeLeft) -> None:
        self._member(e.node, "dead", e.t, getattr(e, "incarnation", None), e.reason)
        self._lost(e.node, e.t)

    def _member(
        self, node: str, state: str, t: float, incarnation: int | None, reason: str
    ) -> None:
        old = self.read("members").get(node)
        if old is not None and old.state == "dead" and state == "suspect":
            return  # another observer suspecting what one already declared dead
        if incarnation is None and old is not None:
            incarnation = old.incarnation
        since = old.since if old is not None and old.state == state else t
        self.write("members")[node] = Member(node, state, since, incarnation, reason)
        self._owner_state_changed(node, old.state if old else None, state)

    def _owner_state_changed(self, node: str, before: str | None, after: str) -> None:
        """A layer 2 row shows whether its owner is gone: when that flips, the node's rows
        changed although their entries did not (marked at the end of the batch, so the
        layer 2 drafts are not committed halfway)."""
        if (before in _GONE) != (after in _GONE):
            self._owners_flipped.add(node)

    def _lost(self, node: str, t: float) -> None:
        if node not in self.read("losses"):
            self.write("losses")[node] = t

    def _recovered(self, node: str) -> None:
        if node in self.read("losses"):
            del self.write("losses")[node]


MEMBERSHIP_HANDLERS: dict[type[Event], Handler] = {
    MembershipUpdated: MembershipBatch._membership,
    NodeJoined: MembershipBatch._node_joined,
    NodeSuspected: MembershipBatch._node_suspected,
    NodeLeft: MembershipBatch._node_left,
}


def combined(views: Iterable[MembershipUpdated], field_name: str) -> frozenset[str]:
    """Every node that any of ``views`` lists under ``field_name`` (alive, dead, suspect, ...)."""
    out: set[str] = set()
    for view in views:
        out.update(getattr(view, field_name, ()) or ())
    return frozenset(out)
