"""The controller's allocator: the stateful allocator, working only while this replica leads."""

from __future__ import annotations

from typing import Any

from actors.allocator.actor import AllocatorActor
from actors.events import Event, LeadershipChanged


class ControllerAllocator(AllocatorActor):
    """The stateful allocator, working only while this replica leads. Taking over starts
    from a fresh allocator, so every address is re-learned from the status first."""

    listens_to = (*AllocatorActor.listens_to, LeadershipChanged)  # type: ignore[assignment]

    def __init__(self, *, leader: bool = True, **kw: Any) -> None:
        super().__init__(**kw)
        self.leader = leader

    def on_event(self, event: Event) -> None:
        if isinstance(event, LeadershipChanged):
            if event.leader == self.leader:
                return
            self.leader = event.leader
            # Whoever led before may have allocated since we last looked: forget our own view.
            self.allocator = None
            self.allocations = {}  # type: ignore[assignment]
            self.usage = {}  # type: ignore[assignment]
            self._published = False
            self.reconcile()
            return
        super().on_event(event)

    def reconcile(self) -> None:
        if self.leader:
            super().reconcile()
