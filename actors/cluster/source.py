"""Where cluster objects come from: the ClusterSource protocol shared by file, demo and kube."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from actors.model.cluster import ClusterState

if TYPE_CHECKING:
    from actors.model.allocation import Allocation


class SourceError(Exception):
    """The source's current content cannot be used; ``errors`` name file, line and object."""

    def __init__(self, errors: tuple[str, ...]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class ClusterSource(Protocol):
    name: str

    def load(self) -> ClusterState:
        """The current objects. Raises SourceError if they cannot be used."""
        ...

    def changed(self) -> bool:
        """Cheap check whether ``load`` would return something new (polling sources)."""
        ...

    def write_status(self, allocations: Mapping[str, Allocation]) -> bool:
        """Record allocations as Service status; True if the cluster objects changed."""
        ...
