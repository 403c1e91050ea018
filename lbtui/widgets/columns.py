"""Which columns of a table fit a width, and how wide each is (pure): :func:`fit_columns`.

A table's columns each carry a priority (:class:`~lbtui.state.rows.Column`): 0 for the
columns that identify a row or carry its answer (a service's STATUS, a failover's TOOK,
what-if's THEN), higher for what can wait. When the rows are wider than the terminal:

1. columns are narrowed toward their minimum (the widest first among the least important;
   of the priority-0 columns only a flexible one), a cut cell ending in "…";
2. still too wide, the least important column is left out (the rightmost of equals), and
   the rest get their room back; again until it fits or only priority-0 columns remain,
   which are then narrowed too;
3. what is left out is reachable by scrolling sideways (the header's right end says "◂"
   or "▸" where columns are out of view): scrolled ``offset`` columns, the priority-0
   columns stay and the others follow in their order from the offset-th on, as many as fit.

No textual here: the table (:mod:`lbtui.widgets.table`) draws what this decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len

from lbtui.state.rows import Column

GAP = 2  # cells between two columns
MARK = 2  # cells kept at the header's right end for "◂▸" when columns are out of view


@dataclass(frozen=True, slots=True)
class Fit:
    """The columns shown (their indices, left to right) and their widths; whether columns
    are out of view to the left (scrolled past) or elsewhere (left out for room)."""

    shown: tuple[int, ...]
    widths: tuple[int, ...]
    left: bool = False
    right: bool = False


def minimum(column: Column, natural: int, hard: bool = False) -> int:
    """How narrow a column may become: its declared width or its title (never wider than
    its cells need); ``hard``: a flexible column down to its title."""
    title = max(cell_len(column.title), 1)
    return min(natural, title if hard and column.flex else max(title, column.width))


def fit_columns(
    columns: Sequence[Column], natural: Sequence[int], width: int, offset: int = 0
) -> Fit:
    """The columns that fit ``width`` cells. ``offset`` 0: the most needed columns;
    ``offset`` k > 0 (scrolled sideways): the priority-0 columns and, in their order, the
    others from the k-th on, as many as fit."""
    movable = [i for i, c in enumerate(columns) if c.priority > 0]
    offset = max(0, min(offset, len(movable)))
    everything = list(range(len(columns)))
    widths = _squeeze(columns, natural, everything, width)
    if widths is not None:  # everything fits (whatever the scroll was, on a narrower one)
        return Fit(tuple(everything), tuple(_widen(columns, everything, widths, width)))
    room = width - MARK  # something is out of view: the header's end says where
    skipped = set(movable[: offset - 1]) if offset else set()
    shown = [i for i in everything if i not in skipped]
    widths = _squeeze(columns, natural, shown, room)
    while widths is None:
        droppable = [i for i in shown if columns[i].priority > 0]
        if not droppable:
            break
        # Scrolled: the window of columns ends where the room does; else the least needed
        # goes first (of equals, the rightmost).
        drop = droppable[-1] if offset else max(droppable, key=lambda i: (columns[i].priority, i))
        shown.remove(drop)
        widths = _squeeze(columns, natural, shown, room)
    if widths is None:  # only the columns that must stay: narrower, flexible ones to the title
        widths = _squeeze(columns, natural, shown, room, pinned=True) or _squeeze(
            columns, natural, shown, room, pinned=True, hard=True
        )
    if widths is None:  # and still too wide: as narrow as they go, the rest cut
        widths = [minimum(columns[i], natural[i], hard=True) for i in shown]
    hidden = [i for i in movable if i not in shown]
    left = any(i in skipped for i in hidden)
    right = any(i not in skipped for i in hidden)
    return Fit(tuple(shown), tuple(_widen(columns, shown, widths, room)), left, right)


def _squeeze(
    columns: Sequence[Column],
    natural: Sequence[int],
    shown: list[int],
    width: int,
    pinned: bool = False,
    hard: bool = False,
) -> list[int] | None:
    """Widths for ``shown`` within ``width``, narrowing the least needed first (the
    priority-0 columns only if flexible, or if ``pinned``); None if they cannot fit."""
    widths = [natural[i] for i in shown]
    need = sum(widths) + GAP * (len(widths) - 1) - width
    if need <= 0:
        return widths
    floors = [
        minimum(columns[i], natural[i], hard)
        if pinned or columns[i].priority > 0 or columns[i].flex
        else natural[i]
        for i in shown
    ]
    if sum(floors) + GAP * (len(floors) - 1) > width:
        return None
    order = sorted(range(len(shown)), key=lambda k: (-columns[shown[k]].priority, -widths[k]))
    for k in order:
        give = min(need, widths[k] - floors[k])
        widths[k] -= give
        need -= give
        if need <= 0:
            break
    return widths


def _widen(columns: Sequence[Column], shown: list[int], widths: list[int], width: int) -> list[int]:
    """What is left over goes to the first flexible column shown (none shown: it stays)."""
    used = sum(widths) + GAP * (len(widths) - 1)
    if used >= width or not shown:
        return widths
    flex = [k for k, i in enumerate(shown) if columns[i].flex]
    k = flex[0] if flex else None
    if k is not None:
        widths = list(widths)
        widths[k] += width - used
    return widths
