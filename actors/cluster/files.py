"""The file cluster source: Services, EndpointSlices, Nodes and Namespaces from YAML files.

Several speakers on several nodes may read the same files, so they are never written; the
computed status goes to a separate state file (see statefile.py) when asked for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from actors.cluster.source import SourceError
from actors.config.loader import CLUSTER_KINDS, Inputs, load_files
from actors.model.cluster import ClusterState
from actors.model.issues import Issue, UnreadableInput

if TYPE_CHECKING:
    from actors.model.allocation import Allocation


def located(issue: Issue) -> str:
    """An issue with its line: ``FILE:LINE: Kind/name: field: message``."""
    text = str(issue)
    if issue.line and text.startswith(issue.file):
        return f"{issue.file}:{issue.line}{text[len(issue.file) :]}"
    return text


def cluster_from_inputs(inputs: Inputs) -> ClusterState:
    return ClusterState.of(
        services=[s.obj for s in inputs.services],
        endpoint_slices=[s.obj for s in inputs.endpoint_slices],
        nodes=[n.obj for n in inputs.nodes],
        namespaces=[n.obj for n in inputs.namespaces],
    )


class FileClusterSource:
    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = tuple(paths)
        self.name = "files:" + ",".join(self.paths)
        self._mtimes = self._stat()

    def _stat(self) -> dict[str, tuple[float, int]]:
        out = {}
        for path in self.paths:
            try:
                st = os.stat(path)
                out[path] = (st.st_mtime, st.st_size)
            except OSError:
                out[path] = (-1.0, -1)
        return out

    def changed(self) -> bool:
        return self._stat() != self._mtimes

    def load(self) -> ClusterState:
        self._mtimes = self._stat()
        try:
            inputs = load_files(self.paths)
        except UnreadableInput as exc:
            raise SourceError((str(exc),)) from exc
        # Configuration objects in the same files are the ConfigActor's business.
        errors = tuple(
            located(i)
            for i in inputs.issues
            if i.severity == "error" and (not i.obj or i.obj.split("/")[0] in CLUSTER_KINDS)
        )
        if errors:
            raise SourceError(errors)
        return cluster_from_inputs(inputs)

    def write_status(self, allocations: Mapping[str, Allocation]) -> bool:
        return False  # input files are never written
