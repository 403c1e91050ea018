"""ResourceTable.update_keys: a lazily loaded table told which keys changed, came or went
shows exactly what loading the new data from scratch shows (order, filter, rows), and makes
rows only when they are asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lbtui.state.rows import Column, Row
from lbtui.widgets.table import ResourceTable

COLUMNS = (Column("KEY", 4), Column("VALUE", 5))
KEYS = [f"k{i:03d}" for i in range(200)]
SORTS: dict[str, Callable[[str], Any]] = {
    "by key": lambda key: key,
    "newest first": lambda key: -int(key[1:]),
    "by parity": lambda key: (int(key[1:]) % 2, key),
}


class Source:
    """The view's data, and the table's fetch function counting the rows it makes."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data
        self.made = 0

    def fetch(self, key: str) -> Row | None:
        self.made += 1
        value = self.data.get(key)
        return None if value is None else (key, value)


def table_of(source: Source, sort: str, pattern: str | None) -> ResourceTable:
    table = ResourceTable(COLUMNS, sort_key=SORTS[sort])
    table.load(source.data, source.fetch)
    table.set_filter(pattern)
    return table


edits = st.lists(
    st.tuples(st.sampled_from(KEYS), st.sampled_from((None, "red", "green", "blue"))),
    max_size=120,
)


@settings(max_examples=120, deadline=None)
@given(
    initial=st.dictionaries(st.sampled_from(KEYS), st.sampled_from(("red", "green")), max_size=150),
    batches=st.lists(edits, min_size=1, max_size=3),
    sort=st.sampled_from(sorted(SORTS)),
    pattern=st.sampled_from((None, "red", "k0[0-4]|blue", "zzz")),
)
def test_updated_keys_show_what_a_fresh_load_shows(
    initial: dict[str, str],
    batches: list[list[tuple[str, str | None]]],
    sort: str,
    pattern: str | None,
) -> None:
    source = Source(dict(initial))
    table = table_of(source, sort, pattern)
    for batch in batches:
        before = dict(source.data)
        for key, value in batch:
            if value is None:
                source.data.pop(key, None)
            else:
                source.data[key] = value
        table.update_keys([k for k, _ in batch], lambda k: k in source.data)
        fresh = table_of(Source(dict(source.data)), sort, pattern)
        assert table.keys == fresh.keys
        assert table.all_keys == fresh.all_keys
        assert [table.row(k) for k in table.keys] == [fresh.row(k) for k in fresh.keys]
        for key, _ in batch:
            kept = key in before and key in source.data
            assert table.is_highlighted(key) == kept  # changed in place: highlighted


def test_rows_are_made_again_only_when_asked_for() -> None:
    source = Source({key: "red" for key in KEYS})
    table = table_of(source, "by key", None)
    made = source.made
    changed = KEYS[100:180]
    for key in changed:
        source.data[key] = "blue"
    table.update_keys(changed, lambda k: k in source.data)
    assert source.made == made  # not drawn, not filtered: nothing made yet
    assert table.row("k150") == ("k150", "blue")
    assert source.made == made + 1


def test_the_cursor_stays_on_its_row_when_rows_come_and_go_above_it() -> None:
    source = Source({key: "red" for key in KEYS[50:]})
    table = table_of(source, "by key", None)
    table.cursor = 10
    table._cursor_key = table.selected_key
    assert table.selected_key == "k060"
    for key in KEYS[:5]:
        source.data[key] = "green"
    del source.data["k051"]
    table.update_keys([*KEYS[:5], "k051"], lambda k: k in source.data)
    assert table.selected_key == "k060"
