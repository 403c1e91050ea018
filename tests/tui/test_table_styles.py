"""ResourceTable keeps the style it draws lines with between frames, and looks it up again
when styles change: a theme switch or a focus change draws with the new colours."""

from __future__ import annotations

import pytest

from lbtui.widgets.table import ResourceTable
from tests.tui.conftest import ScriptedPort, console

pytestmark = pytest.mark.asyncio
SIZE = (120, 30)


async def test_the_drawn_style_follows_a_theme_switch(port: ScriptedPort) -> None:
    app = console(port, view="svc")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#table", ResourceTable)
        await pilot.pause()
        dark = table._base()
        assert dark == table.rich_style
        app.theme = "light"
        await pilot.pause()
        light = table._base()
        assert light == table.rich_style and light != dark
        row = list(table.render_line(2))  # a row below the cursor
        assert row[0].style is not None and row[0].style.bgcolor == light.bgcolor
