"""Small terminals (pure): which columns fit a width (lbtui/widgets/columns.py), and the info
bar's parts fitted to it (lbtui/widgets/bars.py)."""

from __future__ import annotations

from lbtui.state.model import ConsoleState
from lbtui.state.rows import (
    FAILOVER_COLUMNS,
    L2_COLUMNS,
    SERVICE_COLUMNS,
    Column,
)
from lbtui.widgets.bars import fit_parts, info_parts, plain_length, plain_text
from lbtui.widgets.columns import GAP, MARK, fit_columns

COLUMNS = (
    Column("NAME", 4, priority=0),
    Column("WHERE", 5, priority=2),
    Column("NOTES", 5, flex=True, priority=1),
    Column("ANSWER", 6, priority=0),
)
NATURAL = [10, 12, 30, 6]


def titles(columns: tuple[Column, ...], shown: tuple[int, ...]) -> list[str]:
    return [columns[i].title for i in shown]


def used(widths: tuple[int, ...]) -> int:
    return sum(widths) + GAP * (len(widths) - 1)


def test_wide_enough_everything_shows_and_the_flexible_column_takes_the_rest() -> None:
    fit = fit_columns(COLUMNS, NATURAL, 100)
    assert titles(COLUMNS, fit.shown) == ["NAME", "WHERE", "NOTES", "ANSWER"]
    assert used(fit.widths) == 100 and fit.widths[2] == 100 - 10 - 12 - 6 - 3 * GAP
    assert not fit.left and not fit.right


def test_narrower_the_least_needed_is_narrowed_first() -> None:
    fit = fit_columns(COLUMNS, NATURAL, 60)
    assert titles(COLUMNS, fit.shown) == ["NAME", "WHERE", "NOTES", "ANSWER"]
    assert fit.widths == (10, 8, 30, 6)  # WHERE (priority 2) is narrowed first
    assert used(fit.widths) == 60


def test_narrower_still_the_least_needed_goes_and_the_answer_stays() -> None:
    fit = fit_columns(COLUMNS, NATURAL, 30)
    assert titles(COLUMNS, fit.shown) == ["NAME", "NOTES", "ANSWER"]
    assert fit.widths[0] == 10  # a column that must stay is not narrowed while others go
    assert fit.right and not fit.left
    assert used(fit.widths) <= 30 - MARK
    fit = fit_columns(COLUMNS, NATURAL, 20)
    assert titles(COLUMNS, fit.shown) == ["NAME", "ANSWER"]
    assert fit.widths == (10, 6)


def test_scrolled_sideways_the_others_follow_in_their_order() -> None:
    # At 30 cells the priority choice leaves WHERE out; scrolling shows it, then NOTES.
    first = fit_columns(COLUMNS, NATURAL, 30, offset=1)
    assert titles(COLUMNS, first.shown) == ["NAME", "WHERE", "ANSWER"]
    assert first.right and not first.left
    second = fit_columns(COLUMNS, NATURAL, 30, offset=2)
    assert titles(COLUMNS, second.shown) == ["NAME", "NOTES", "ANSWER"]
    assert second.left and not second.right


def test_too_narrow_for_anything_nothing_breaks() -> None:
    for width in range(0, 12):
        fit = fit_columns(COLUMNS, NATURAL, width)
        assert titles(COLUMNS, fit.shown) == ["NAME", "ANSWER"]
        assert all(w >= 1 for w in fit.widths)


def test_at_80_columns_the_answers_stay() -> None:
    """The columns the issue named: Services PROTO and STATUS, L2 SERVICES, Failovers TOOK
    (in a half-screen overview panel too)."""
    services = fit_columns(SERVICE_COLUMNS, [9, 12, 26, 6, 22, 6, 13], 80)
    assert {"NAME", "IPS", "PROTO", "STATUS"} <= set(titles(SERVICE_COLUMNS, services.shown))
    l2 = fit_columns(L2_COLUMNS, [14, 8, 20, 6, 9, 9, 13, 30], 80)
    assert {"IP", "OWNER", "SERVICES"} <= set(titles(L2_COLUMNS, l2.shown))
    failovers = fit_columns(FAILOVER_COLUMNS, [6, 11, 15, 6], 38)
    assert titles(FAILOVER_COLUMNS, failovers.shown) == ["IP", "FROM → TO", "TOOK"]
    assert failovers.widths == (11, 15, 6)  # nothing cut


def test_the_info_bar_fits_and_keeps_the_view() -> None:
    parts = info_parts(
        ConsoleState(),
        source="3 speakers: 10.99.90.11:7473, 10.99.90.12:7473, 10.99.90.13:7473",
        link="speakers: 2/3 streaming · 10.99.90.11:7473 lost: connection refused",
        link_ok=False,
        readonly=True,
        view="Layer 2 addresses",
        filter="web",
    )
    wide = fit_parts(parts, 400)
    assert plain_length(wide) > 160 and "lost: connection refused" in wide
    for width in (160, 120, 78):
        text = fit_parts(parts, width)
        assert plain_length(text) <= width, (width, text)
        assert "Layer 2 addresses" in text and "web" in text
    narrow = plain_text(fit_parts(parts, 78))
    assert "svc 0/0" in narrow and "0/0 nodes" in narrow
    # Too narrow for even what is needed most: it is still said (the terminal cuts it).
    assert "Layer 2 addresses" in fit_parts(parts, 10)
    # A link in trouble keeps its headline when its details do not fit (they are in the toast).
    middle = plain_text(fit_parts(parts, 100))
    assert "speakers: 2/3 streaming" in middle and "connection refused" not in middle
