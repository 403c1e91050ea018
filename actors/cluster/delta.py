"""Which Services may have changed since a consumer of ClusterUpdated last did its work.

A cluster actor numbers each state it publishes and says which Services' keys may differ from
the state it published before (``ClusterUpdated.serial``, ``since``, ``changed``). A consumer
keeps one :class:`ServiceDelta`: it notes every ClusterUpdated it receives and, when it works
on the cluster, takes the keys changed since it last worked, or None when that is not known
(its first look, an unnumbered event, an event it did not see, a source that does not say):
then it looks at every Service, as it would without this. So a watch event that changed one
Service of 10,000 costs each consumer one Service, not 10,000 identity checks.
"""

from __future__ import annotations

from actors.events import ClusterUpdated


class ServiceDelta:
    """The Service keys changed since the last :meth:`take` (None: unknown, look at all)."""

    __slots__ = ("keys", "serial")

    def __init__(self) -> None:
        self.serial = 0  # the state last noted (0: none, or an unnumbered one)
        self.keys: set[str] | None = None

    def note(self, event: ClusterUpdated) -> None:
        """One ClusterUpdated, received in order."""
        if event.serial and event.serial == self.serial:
            return  # the very state again (republished)
        if (
            self.keys is not None
            and self.serial
            and event.since == self.serial
            and event.changed is not None
        ):
            self.keys |= event.changed
        else:
            self.keys = None
        self.serial = event.serial

    def take(self) -> set[str] | None:
        """The keys changed since the last take, and start counting afresh from here."""
        keys, self.keys = self.keys, set()
        return keys

    def forget(self) -> None:
        """The next take answers None (whatever the consumer remembered is gone)."""
        self.keys = None
