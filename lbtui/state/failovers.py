"""The failover view's rows (pure): how long failovers took, as a histogram per protocol and
cause, and every takeover the console saw, newest first.

A failover's time is the speaker's own measurement when it sent one (FailoverMeasured, the
``lbtui_failover_seconds`` histogram's observations: from the first sign of the loss to the
first gratuitous packet or UPDATE), else the console's estimate from the events; the view says
which. The buckets are those that matter for layer 2 against MetalLB's multi-second failover.
No textual here: :mod:`lbtui.screens.views` shows these rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lbtui.state.model import ConsoleState, Failover
from lbtui.state.rows import PROTOCOL_TEXT, Age, Column, Row, Styled, seconds_text

# Upper bounds (seconds) of the buckets; the last bucket is everything slower.
BOUNDS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
BUCKET_TITLES = ("<.1s", "<.25s", "<.5s", "<1s", "<2s", "<5s", "≥5s")
BARS = " ▁▂▃▄▅▆▇█"

HISTOGRAM_COLUMNS = (
    Column("PROTO · CAUSE", 12, priority=0),
    *(Column(title, 5, right=True, priority=1) for title in BUCKET_TITLES),
    Column("N", 3, right=True, priority=2),
    Column("P50", 5, right=True, priority=0),
    Column("MAX", 5, right=True, priority=0),
)
TIMELINE_COLUMNS = (
    Column("AGE", 6, right=True, priority=1),
    Column("IP", 11, priority=0),
    Column("PROTO", 5, priority=2),
    Column("FROM → TO", 15, priority=0),
    Column("TOOK", 6, right=True, priority=0),
    Column("CAUSE", 8, priority=1),
    Column("TIMED BY", 9, priority=3),
)

_CAUSE = re.compile(r"\(([^()]*)\)\s*$")


def cause_of(failover: Failover) -> str:
    """The verdict that moved the address: the speaker's ("dead", "left", "not candidate"),
    or, for an estimate, what the takeover's reason says in brackets."""
    if failover.measured:
        return failover.cause or "unknown"
    found = _CAUSE.search(failover.cause)
    return found.group(1) if found else "unknown"


def bucket_of(seconds: float) -> int:
    for index, bound in enumerate(BOUNDS):
        if seconds < bound:
            return index
    return len(BOUNDS)


def histogram_rows(failovers: Iterable[Failover]) -> dict[str, Row]:
    """One row per protocol and cause: how many failovers fell in each bucket (a bar scaled
    to the row's fullest bucket, then the count), how many in all, the median and the worst.
    Failovers without a time (the loss was never seen) count in N only."""
    groups: dict[tuple[str, str], list[Failover]] = {}
    for f in failovers:
        groups.setdefault((f.protocol, cause_of(f)), []).append(f)
    rows: dict[str, Row] = {}
    for (protocol, cause), members in sorted(groups.items()):
        times = sorted(f.seconds for f in members if f.seconds is not None)
        counts = [0] * len(BUCKET_TITLES)
        for seconds in times:
            counts[bucket_of(seconds)] += 1
        fullest = max(counts) or 1
        cells: list[Styled | str] = []
        for index, count in enumerate(counts):
            if not count:
                cells.append(Styled("·", "muted"))
                continue
            bar = BARS[max(1, round(8 * count / fullest))]
            slow = BOUNDS[index - 1] >= 1.0 if index else False
            cells.append(Styled(f"{bar} {count}", "warning" if slow else "ok"))
        median = times[len(times) // 2] if times else None
        worst = times[-1] if times else None
        name = f"{PROTOCOL_TEXT.get(protocol, protocol)} · {cause}"
        rows[f"{protocol}/{cause}"] = (
            name,
            *cells,
            str(len(members)),
            seconds_text(median),
            seconds_text(worst),
        )
    return rows


def timeline_rows(state: ConsoleState) -> dict[str, Row]:
    """Every takeover the console remembers, keyed to sort oldest first (the view shows the
    newest on top): when, which address, from which node to which, how long, why, and whether
    the speaker timed it or the console estimated it."""
    rows: dict[str, Row] = {}
    for index, f in enumerate(state.failovers):
        took = seconds_text(f.seconds, f.measured)
        rows[f"{f.t:020.6f}-{index:05d}"] = (
            Age(f.t),
            f.ip,
            PROTOCOL_TEXT.get(f.protocol, f.protocol),
            f"{f.from_node} → {f.to_node}",
            Styled(took, "warning" if f.seconds is not None and f.seconds >= 1 else "ok"),
            cause_of(f),
            "speaker" if f.measured else "estimate",
        )
    return rows
