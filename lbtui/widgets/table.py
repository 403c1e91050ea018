"""ResourceTable: a keyed, filterable, virtual table that updates rows in place.

Textual's DataTable needs about 1.8 s to first paint 10k rows on this machine (it measures
every row); this table only ever draws the rows on screen (Line API), so first paint and an
update cost the same with 100 rows or 100k. A big table can be loaded lazily (``load``: the
keys and a function making one row), so a row is only built when it is drawn or filtered;
``update_keys`` then says which keys changed, came or went, and their rows are made again
only when drawn, with sorting and filtering redone for those keys alone. Rows are keyed;
``update_rows`` changes, adds or removes single rows, and a changed row is highlighted for a
moment. ``/`` filtering is a regex over the row's text. Colours come from the theme, never
from literals: the header, cursor and highlight from component classes styled in app.tcss, a
cell's semantic style ("dead", "ok", ...) from the theme's variables (``$lb-dead``,
``$success``), looked up once per theme.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from lbtui.state.rows import Age, Bar, Cell, Column, Row, Styled, age_text, cell_text
from lbtui.widgets.columns import GAP, MARK, Fit, fit_columns

# Semantic cell style -> the theme variable giving its colour.
SEMANTIC = {
    "ok": "success",
    "alive": "lb-alive",
    "suspect": "lb-suspect",
    "dead": "lb-dead",
    "error": "error",
    "warning": "warning",
    "muted": "lb-muted",
    "unknown": "lb-muted",
    "l2": "lb-l2",
    "bgp": "lb-bgp",
    "bar-used": "lb-bar-used",
    "bar-free": "lb-bar-free",
}
BAR_WIDTH = 10
MAX_WIDTH = 48
SORT_LETTERS = "ABCDEFHIJLMNOPQSTUVWXYZ"
# More rows coming or going than this: sort every key again rather than insert one by one.
_INCREMENTAL_LIMIT = 64


class ResourceTable(ScrollView, can_focus=True):
    # Few on purpose: every component class costs a style pass per table on each CSS change.
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "resource-table--header",
        "resource-table--cursor",
        "resource-table--cursor-blur",
        "resource-table--changed",
        "resource-table--empty",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "edge(0)", "First", show=False),
        Binding("end,G", "edge(1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
        Binding("right", "scroll_columns(1)", "Columns right", show=False),
        Binding("left", "scroll_columns(-1)", "Columns left", show=False),
        Binding("shift+right", "scroll_columns(1000)", "Last columns", show=False),
        Binding("shift+left", "scroll_columns(-1000)", "First columns", show=False),
        # k9s: shift+letter sorts by the column of that letter (again: the other way round,
        # a third time: back to the view's own order). K, R and G are kill, revive and end.
        *(
            Binding(letter, f"sort_by('{letter}')", f"Sort {letter}", show=False)
            for letter in SORT_LETTERS
        ),
    ]

    class Selected(Message):
        """Enter (or a double click) on a row."""

        def __init__(self, table: ResourceTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> ResourceTable:
            return self.table

    def __init__(
        self,
        columns: tuple[Column, ...],
        *,
        now: Callable[[], float] = lambda: 0.0,
        clock: Callable[[], float] = lambda: 0.0,
        sort_key: Callable[[str], Any] | None = None,
        highlight_seconds: float = 1.5,
        empty_text: str = "nothing here",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = columns
        self.now = now
        self.clock = clock
        self.sort_key = sort_key or (lambda key: key)
        self._view_sort = self.sort_key
        # (column index, descending) while sorted by a column (shift+letter), else None.
        self.column_sort: tuple[int, bool] | None = None
        self.highlight_seconds = highlight_seconds
        self.empty_text = empty_text
        self._keys: set[str] = set()
        self._rows: dict[str, Row] = {}  # rows built so far (all of them unless loaded lazily)
        self._fetch: Callable[[str], Row | None] | None = None
        # Rows of a lazily loaded table changed but not yet measured: like rows not yet
        # fetched, they widen their columns when first drawn or filtered.
        self._unmeasured: set[str] = set()
        self._texts: dict[str, str] = {}
        self._order: list[str] = []
        self._visible: list[str] = []
        self._filter: re.Pattern[str] | None = None
        self._widths = [max(c.width, cell_len(c.title)) for c in columns]
        # Sideways scroll: how many of the first columns that may go are out of view.
        self.column_offset = 0
        self._fit: tuple[tuple[Any, ...], Fit] | None = None
        self._changed: dict[str, float] = {}
        self._styles: dict[str, Style] = {}
        self._variables: dict[str, str] | None = None
        self._base_style: Style | None = None
        self.cursor = 0
        self._cursor_key: str | None = None
        self._expiry_timer: Any = None
        self._width = 0
        self._height = 0

    # -- data --------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._visible)

    @property
    def keys(self) -> list[str]:
        """Visible keys in display order."""
        return list(self._visible)

    @property
    def all_keys(self) -> list[str]:
        """Every key in display order, filtered out or not (do not modify)."""
        return self._order

    def row(self, key: str) -> Row | None:
        row = self._rows.get(key)
        if row is None:
            if self._fetch is not None and key in self._keys:
                row = self._fetch(key)
                if row is not None:
                    self._rows[key] = row
                    self._measure(row)
        elif self._unmeasured and key in self._unmeasured:
            self._unmeasured.discard(key)
            self._measure(row)
        return row

    def _text(self, key: str) -> str:
        text = self._texts.get(key)
        if text is None:
            row = self.row(key)
            text = self._texts[key] = "  ".join(cell_text(c) for c in row) if row else ""
        return text

    def load(self, keys: Iterable[str], fetch: Callable[[str], Row | None]) -> None:
        """Replace every row with rows made on demand by ``fetch`` (no highlighting)."""
        self._keys = set(keys)
        self._rows = {}
        self._unmeasured = set()
        self._texts = {}
        self._changed.clear()
        self._fetch = fetch
        self._reorder()
        # Measure what the first screens show, so columns do not jump right away.
        for key in self._visible[:200]:
            self.row(key)
        self._sync()

    @property
    def selected_key(self) -> str | None:
        if 0 <= self.cursor < len(self._visible):
            return self._visible[self.cursor]
        return None

    def set_rows(self, rows: Mapping[str, Row], *, highlight: bool = False) -> None:
        """Replace every row; unchanged rows stay as they are (and unhighlighted)."""
        updates: dict[str, Row | None] = dict(rows)
        for key in self._keys - rows.keys():
            updates[key] = None
        self._fetch = None
        self.update_rows(updates, highlight=highlight)

    def update_rows(self, rows: Mapping[str, Row | None], *, highlight: bool = True) -> None:
        """Add, change (None: remove) some rows; the cursor stays on its row."""
        if not rows:
            return
        structural = False
        now = self.clock()
        lazy = self._fetch is not None
        for key, row in rows.items():
            present = key in self._keys
            old = self._rows.get(key)
            if row is None:
                if present:
                    self._keys.discard(key)
                    self._rows.pop(key, None)
                    self._unmeasured.discard(key)
                    self._texts.pop(key, None)
                    self._changed.pop(key, None)
                    structural = True
                continue
            if old == row:
                continue
            self._rows[key] = row
            self._texts.pop(key, None)
            if lazy:
                self._unmeasured.add(key)  # measured when drawn, as a fetched row is
            else:
                self._measure(row)
            if not present:
                self._keys.add(key)
                structural = True
            else:
                structural = structural or self.column_sort is not None  # it may move
                if highlight:
                    self._changed[key] = now
        if structural:
            self._reorder()
        if self._unmeasured:
            self._measure_on_screen()
        self._sync()
        if self._changed and self._expiry_timer is None and self.is_mounted:
            self._expiry_timer = self.set_interval(0.5, self._expire)

    def update_keys(
        self, keys: Iterable[str], exists: Callable[[str], bool], *, highlight: bool = True
    ) -> None:
        """A lazily loaded table's rows for ``keys`` changed (or came, or went: ``exists``
        says which): their rows are made again when drawn, not now. Sorting and filtering
        follow only the rows that changed."""
        if self._fetch is None:
            raise RuntimeError("update_keys() is for tables filled by load()")
        now = self.clock()
        added: list[str] = []
        removed: list[str] = []
        changed: list[str] = []
        for key in keys:
            present = key in self._keys
            if not exists(key):
                if present:
                    removed.append(key)
                continue
            self._rows.pop(key, None)
            self._texts.pop(key, None)
            self._unmeasured.discard(key)  # measured when fetched again
            if present:
                changed.append(key)
                if highlight:
                    self._changed[key] = now
            else:
                added.append(key)
        if not (added or removed or changed):
            return
        for key in removed:
            self._keys.discard(key)
            self._rows.pop(key, None)
            self._texts.pop(key, None)
            self._unmeasured.discard(key)
            self._changed.pop(key, None)
        self._keys.update(added)
        # Sorted by a column, a changed row may move: the whole order is made again.
        many = len(added) + len(removed) > _INCREMENTAL_LIMIT or self.column_sort is not None
        if many:
            self._order = sorted(self._keys, key=self.sort_key)
        else:
            for key in removed:
                self._place(self._order, key, False)
            for key in added:
                self._place(self._order, key, True)
        if self._filter is None:
            self._visible = self._order
        elif many or len(changed) > _INCREMENTAL_LIMIT:
            self._refilter()
        else:
            search = self._filter.search
            for key in removed:
                self._place(self._visible, key, False)
            for key in (*added, *changed):
                self._place(self._visible, key, bool(search(self._text(key))))
        self._fetch_on_screen()
        self._sync()
        if self._changed and self._expiry_timer is None and self.is_mounted:
            self._expiry_timer = self.set_interval(0.5, self._expire)

    def _place(self, keys: list[str], key: str, present: bool) -> None:
        """Insert ``key`` into (or remove it from) ``keys``, kept in sort order."""
        sort = self.sort_key
        wanted = sort(key)
        index = bisect.bisect_left(keys, wanted, key=sort)
        at = index
        while at < len(keys) and keys[at] != key and sort(keys[at]) == wanted:
            at += 1  # equal sort keys: look among them
        there = at < len(keys) and keys[at] == key
        if present and not there:
            keys.insert(index, key)
        elif not present and there:
            del keys[at]

    def _fetch_on_screen(self) -> None:
        """Make the rows in view now, so the frame drawing them is laid out for them."""
        top = int(self.scroll_y)
        for key in self._visible[top : top + (self._height or 100)]:
            self.row(key)

    def set_filter(self, pattern: str | None) -> str | None:
        """Filter rows by a case-insensitive regex; returns an error message if invalid."""
        if not pattern:
            self._filter = None
        else:
            try:
                self._filter = re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                return regex_error_text(pattern, exc)
        self._reorder()
        self._sync()
        return None

    @property
    def filter_pattern(self) -> str:
        return self._filter.pattern if self._filter else ""

    def _measure(self, row: Row) -> None:
        widths = self._widths
        for i, cell in enumerate(row[: len(widths)]):
            if widths[i] >= MAX_WIDTH:
                continue  # as wide as a column gets
            width = _cell_width(cell)
            if width > widths[i]:
                widths[i] = min(MAX_WIDTH, width)

    def _measure_on_screen(self) -> None:
        """Measure the changed rows in view now, so the frame drawing them is laid out for
        them (the others wait until they are drawn)."""
        top = int(self.scroll_y)
        for key in self._visible[top : top + (self._height or 100)]:
            if key in self._unmeasured:
                self._unmeasured.discard(key)
                row = self._rows.get(key)
                if row is not None:
                    self._measure(row)

    def _reorder(self) -> None:
        self._order = sorted(self._keys, key=self.sort_key)
        self._refilter()

    def _refilter(self) -> None:
        if self._filter is None:
            self._visible = self._order
        else:
            search = self._filter.search
            self._visible = [k for k in self._order if search(self._text(k))]

    def _sync(self) -> None:
        key = self._cursor_key
        if key is not None and self.selected_key != key and key in self._keys:
            # Rows came or went above the cursor: follow its row, not its index.
            sort = self.sort_key
            index = bisect.bisect_left(self._visible, sort(key), key=sort)
            if index < len(self._visible) and self._visible[index] == key:
                self.cursor = index
        self.cursor = max(0, min(self.cursor, len(self._visible) - 1))
        self._cursor_key = self.selected_key
        # No horizontal scrolling (overflow-x is hidden), so the virtual width does not matter;
        # asking for self.size here would make the compositor rebuild its map mid-update.
        self.virtual_size = Size(0, len(self._visible) + 1)
        self.refresh()

    def _expire(self) -> None:
        now = self.clock()
        gone = [k for k, t in self._changed.items() if now - t >= self.highlight_seconds]
        for key in gone:
            del self._changed[key]
        if gone:
            self.refresh()
        if not self._changed and self._expiry_timer is not None:
            self._expiry_timer.stop()
            self._expiry_timer = None

    def is_highlighted(self, key: str) -> bool:
        return key in self._changed

    # -- cursor ------------------------------------------------------------------------------
    def move_cursor(self, index: int) -> None:
        if not self._visible:
            return
        self.cursor = max(0, min(index, len(self._visible) - 1))
        self._cursor_key = self.selected_key
        self._scroll_to_cursor()
        self.refresh()

    def select_key(self, key: str) -> bool:
        if key not in self._visible:
            return False
        self.move_cursor(self._visible.index(key))
        return True

    def _scroll_to_cursor(self) -> None:
        body = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + body:
            self.scroll_to(y=self.cursor - body + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor + direction * max(1, self.size.height - 2))

    def action_edge(self, end: int) -> None:
        self.move_cursor(len(self._visible) - 1 if end else 0)

    def action_select(self) -> None:
        key = self.selected_key
        if key is not None:
            self.post_message(self.Selected(self, key))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0:
            return
        self.move_cursor(int(self.scroll_y) + offset.y - 1)
        if event.chain >= 2:
            self.action_select()

    def on_resize(self, event: events.Resize) -> None:
        # Remembered: asking self.size while drawing each line can make the compositor
        # recompute its whole map, which costs milliseconds per line mid-update.
        self._width = event.size.width
        self._height = event.size.height
        self._sync()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- drawing -----------------------------------------------------------------------------
    def notify_style_update(self) -> None:
        # Called for this table whenever its styles, or an ancestor's, are applied again
        # (theme, focus, CSS): what was looked up from them is looked up again.
        super().notify_style_update()
        self._styles.clear()
        self._variables = None
        self._base_style = None

    def _base(self) -> Style:
        """The table's own text style; Widget.rich_style walks every ancestor's styles each
        time it is asked, which drawing 50 lines would do 50 times a frame."""
        if self._base_style is None:
            self._base_style = self.rich_style
        return self._base_style

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            variable = SEMANTIC.get(name)
            if variable is None:
                # Not partial: the component's background is blended onto the table's.
                style = self.get_component_rich_style(f"resource-table--{name}", default=Style())
            else:
                if self._variables is None:
                    self._variables = self.app.get_css_variables()
                value = self._variables.get(variable)
                style = Style(color=Color.parse(value).rich_color) if value else Style()
            if name == "dead":
                style += Style(bold=True)
            self._styles[name] = style
        return style

    def _layout(self, width: int) -> Fit:
        """The columns that fit (lbtui/widgets/columns.py), worked out once per change of
        the widths, the table's width or the sideways scroll."""
        key = (tuple(self._widths), width, self.column_offset)
        if self._fit is None or self._fit[0] != key:
            self._fit = (key, fit_columns(self.columns, self._widths, width, self.column_offset))
        return self._fit[1]

    @property
    def shown_columns(self) -> list[str]:
        """The titles of the columns on screen now."""
        fit = self._layout(self._width or self.size.width)
        return [self.columns[i].title for i in fit.shown]

    def action_scroll_columns(self, delta: int) -> None:
        """Sideways, one column (or to either end): what a narrow terminal leaves out."""
        movable = sum(1 for c in self.columns if c.priority > 0)
        if delta <= -movable:
            offset = 0
        elif delta >= movable:
            offset = next(
                (k for k in range(1, movable + 1) if not self._scrolled(k).right), movable
            )
        elif delta > 0 and not self._layout(self._width or self.size.width).right:
            return  # everything to the right is in view already
        else:
            offset = self.column_offset + delta
        self.column_offset = max(0, min(offset, movable))
        self._fit = None
        self.refresh()

    def action_sort_by(self, letter: str) -> None:
        """Sort by the column whose title starts with ``letter``: ascending, then
        descending, then the view's own order again."""
        matching = [i for i, c in enumerate(self.columns) if c.title[:1].upper() == letter]
        if not matching:
            return
        current = self.column_sort
        if current is None or current[0] not in matching:
            self.sort_by_column(matching[0])
        elif not current[1]:
            self.sort_by_column(current[0], descending=True)
        else:
            later = [i for i in matching if i > current[0]]
            self.sort_by_column(later[0] if later else None)

    def sort_by_column(self, index: int | None, descending: bool = False) -> None:
        """Order the rows by one column's cells (None: the view's own order)."""
        if index is None:
            self.column_sort = None
            self.sort_key = self._view_sort
        else:
            self.column_sort = (index, descending)
            view_sort = self._view_sort

            def by_column(key: str) -> Any:
                row = self.row(key)
                value = sort_value(row[index]) if row is not None and index < len(row) else LAST
                return (Descending(value) if descending else value, view_sort(key))

            self.sort_key = by_column
        self._reorder()
        self._sync()

    def _scrolled(self, offset: int) -> Fit:
        return fit_columns(self.columns, self._widths, self._width or self.size.width, offset)

    def render_line(self, y: int) -> Strip:
        width = self._width or self.size.width
        base = self._base()
        fit = self._layout(width)
        columns = [self.columns[i] for i in fit.shown]
        widths = fit.widths
        if y == 0:
            header = self._style("header")
            sorted_by = self.column_sort
            arrow = {False: "↑", True: "↓"}
            titles = [
                [
                    Segment(
                        _fit(
                            c.title + arrow[sorted_by[1]]
                            if sorted_by is not None and sorted_by[0] == i
                            else c.title,
                            w,
                            c.right,
                        ),
                        base + header,
                    )
                ]
                for i, c, w in zip(fit.shown, columns, widths, strict=True)
            ]
            if fit.left or fit.right:  # columns out of view: the header's end says where
                marks = ("◂" if fit.left else " ") + ("▸" if fit.right else " ")
                strip = self._strip(titles, base + header, max(0, width - MARK))
                return Strip.join([strip, Strip([Segment(marks, base + header)])])
            return self._strip(titles, base + header, width)
        index = int(self.scroll_y) + y - 1
        if index >= len(self._visible):
            if index == 0 and not self._visible:
                text = self.empty_text if self._filter is None else "no row matches the filter"
                return self._strip([[Segment(text, base + self._style("empty"))]], base, width)
            return Strip.blank(width, base)
        key = self._visible[index]
        row = self.row(key)
        if row is None:
            return Strip.blank(width, base)
        line_style = base
        if index == self.cursor:
            line_style = base + self._style("cursor" if self.has_focus else "cursor-blur")
        elif key in self._changed:
            line_style = base + self._style("changed")
        now = self.now()
        cells = [
            self._cell(row[i], w, column.right, line_style, now)
            for i, column, w in zip(fit.shown, columns, widths, strict=True)
            if i < len(row)
        ]
        return self._strip(cells, line_style, width)

    def _strip(self, cells: Iterable[list[Segment]], style: Style, width: int) -> Strip:
        segments: list[Segment] = []
        gap = Segment(" " * GAP, style)
        for i, cell in enumerate(cells):
            if i:
                segments.append(gap)
            segments.extend(cell)
        return Strip(segments).crop_extend(0, width, style)

    def _cell(self, cell: Cell, width: int, right: bool, style: Style, now: float) -> list[Segment]:
        if isinstance(cell, str):
            return [Segment(_fit(cell, width, right), style)]
        if isinstance(cell, Styled):
            return [Segment(_fit(cell.text, width, right), style + self._style(cell.style))]
        if isinstance(cell, Age):
            text = "-" if cell.t is None else age_text(now - cell.t)
            return [Segment(_fit(text, width, right), style)]
        # A usage bar: the filled part, the empty part, then the numbers.
        filled = (
            0 if cell.total <= 0 else round(BAR_WIDTH * min(cell.used, cell.total) / cell.total)
        )
        if cell.used and not filled:
            filled = 1
        numbers = _fit(f" {cell.used}/{cell.total}", max(0, width - BAR_WIDTH), False)
        return [
            Segment("█" * filled, style + self._style("bar-used")),
            Segment("░" * (BAR_WIDTH - filled), style + self._style("bar-free")),
            Segment(numbers, style),
        ]


LAST = (3, 0.0, "")  # a row or cell that is not there sorts last
_NUMBER = re.compile(r"^~?(-?\d+(?:\.\d+)?)(ms|s)?$")


def sort_value(cell: Cell) -> tuple[int, float, str]:
    """How a cell sorts: numbers and durations by value, ages newest first, addresses in
    address order, text alphabetically; "-" (nothing) last."""
    if isinstance(cell, Age):
        return LAST if cell.t is None else (0, -cell.t, "")
    if isinstance(cell, Bar):
        return (0, cell.used / cell.total if cell.total else 0.0, "")
    text = cell_text(cell).strip()
    if not text or text == "-":
        return (2, 0.0, "")
    number = _NUMBER.match(text)
    if number:
        value = float(number.group(1))
        return (0, value / 1000 if number.group(2) == "ms" else value, "")
    first = text.split(",", 1)[0].split("/", 1)[0].strip()
    try:
        address = ipaddress.ip_address(first)
    except ValueError:
        return (1, 0.0, text.lower())
    # A Python int: compared with the floats above exactly (a float would round IPv6).
    return (0, address.version << 128 | int(address), text)


class Descending:
    """A sort value the other way round."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: Descending) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Descending) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


def _cell_width(cell: Cell) -> int:
    if isinstance(cell, str):
        # ASCII is one cell per character; rich's cell_len is for the rest.
        return len(cell) if cell.isascii() else cell_len(cell)
    if isinstance(cell, Bar):
        return BAR_WIDTH + 1 + len(f"{cell.used}/{cell.total}")
    if isinstance(cell, Age):
        return 6
    return cell_len(cell_text(cell))


def _fit(text: str, width: int, right: bool) -> str:
    if width <= 0:
        return ""
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…"
    pad = " " * (width - length)
    return pad + text if right else text + pad


def regex_error_text(pattern: str, exc: re.error) -> str:
    """Why ``pattern`` is not a regular expression, in words a user can act on."""
    where = f" at character {exc.pos + 1}" if exc.pos is not None else ""
    near = f" ({pattern[exc.pos : exc.pos + 10]!r})" if exc.pos is not None else ""
    return (
        f"not a valid filter: {exc.msg}{where}{near}; a filter is a regular expression, "
        "put \\ before ( ) [ ] * + ? to match them as they are (the last good filter stays)"
    )
