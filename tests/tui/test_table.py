"""ResourceTable: a lazily loaded table measures a changed row when it is in view or drawn."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from lbtui.state.rows import Column, Row
from lbtui.widgets.table import ResourceTable

pytestmark = pytest.mark.asyncio

COLUMNS = (Column("KEY", 4), Column("VALUE", 5))


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ResourceTable(COLUMNS, id="table")


def row(key: str, value: str = "v") -> Row:
    return (key, value)


async def test_changed_rows_widen_columns_when_in_view_or_drawn() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(ResourceTable)
        keys = [f"k{i:04d}" for i in range(1000)]
        table.load(keys, row)
        await pilot.pause()
        width = table._widths[1]
        table.update_rows({"k0999": row("k0999", "x" * 30)})  # far below the screen
        assert table._widths[1] == width
        table.update_rows({"k0002": row("k0002", "y" * 20)})  # on screen
        assert table._widths[1] == 20
        assert table.row("k0999") == ("k0999", "x" * 30)  # drawn or filtered: measured
        assert table._widths[1] == 30
        table.update_rows({"k0500": row("k0500", "wide " * 9)})
        table.update_rows({"k0500": None})  # gone before it was drawn
        assert table._widths[1] == 30 and "k0500" not in table.keys


async def test_a_table_set_whole_measures_every_row() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(ResourceTable)
        table.set_rows({f"k{i:04d}": row(f"k{i:04d}") for i in range(500)})
        await pilot.pause()
        table.update_rows({"k0499": row("k0499", "z" * 25)})
        assert table._widths[1] == 25
