"""Where the configuration checks report: :class:`Issue` s that name file, object and field.

One :class:`Report` collects the issues of one :func:`actors.config.build.build_config` run;
the modules that build pools, peers and advertisements write to it, and it also holds the
one check they all make (no selector twice in one list). Imports only the model, the CRD
models and the loader's :class:`Sourced`.
"""

from __future__ import annotations

from actors.config import crds
from actors.config.loader import Sourced
from actors.model.issues import Issue
from actors.model.selectors import LabelSelector

Resource = Sourced[crds.MetalLBResource]


def _where(res: Resource) -> str:
    origin = res.obj.metadata.annotations.get("lbtui.io/converted-from")
    name = f"{res.obj.kind}/{res.obj.name}"
    return f"{name} (from {origin})" if origin else name


class Report:
    """The issues found so far, in the order they were found."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def error(self, res: Resource, path: str, message: str) -> None:
        self.issues.append(Issue(res.file, _where(res), path, message, line=res.line))

    def warn(self, res: Resource, path: str, message: str) -> None:
        self.issues.append(
            Issue(res.file, _where(res), path, message, severity="warning", line=res.line)
        )

    def check_selectors(
        self, res: Resource, path: str, selectors: tuple[LabelSelector, ...]
    ) -> None:
        seen: set[str] = set()
        for i, sel in enumerate(selectors):
            key = sel.canonical()
            if key in seen:
                self.error(res, f"{path}[{i}]", "duplicate selector")
            seen.add(key)
