"""k9s habits: shift+letter sorts a table by the column of that letter (again: the other way
round; a third time: the view's own order), and the header says which (lbtui/widgets/table.py)."""

from __future__ import annotations

import ipaddress

import pytest

from lbtui.state.rows import Age, Bar, Styled
from lbtui.widgets.table import Descending, ResourceTable, sort_value
from tests.tui.conftest import ScriptedPort, console


def test_cells_sort_by_what_they_mean() -> None:
    assert sort_value("9") < sort_value("10")  # numbers, not text
    assert sort_value("~850ms") < sort_value("1.20s")  # durations
    assert sort_value("10.99.0.9") < sort_value("10.99.0.100")  # addresses
    assert sort_value("192.0.2.0/32") < sort_value("fd00::1")  # IPv4 before IPv6
    assert sort_value(Age(100.0)) < sort_value(Age(50.0))  # the newest first
    assert sort_value(Bar(1, 10)) < sort_value(Bar(9, 10))
    assert sort_value(Styled("alive", "ok")) < sort_value(Styled("dead", "dead"))
    assert sort_value("zebra") < sort_value("-")  # nothing sorts last
    assert Descending(sort_value("1")) > Descending(sort_value("2"))
    assert sorted([Descending(1), Descending(3), Descending(2)]) == [
        Descending(3),
        Descending(2),
        Descending(1),
    ]


def ip_order(keys: list[str], table: ResourceTable) -> list[ipaddress.IPv4Address]:
    return [ipaddress.ip_address(str(table.row(k)[2]).split(",")[0]) for k in keys]  # type: ignore[index]


@pytest.mark.asyncio
async def test_shift_letter_sorts_by_that_column(port: ScriptedPort) -> None:
    app = console(port, view="svc")
    async with app.run_test(size=(130, 40)) as pilot:
        table = app.screen.query_one("#table", ResourceTable)
        own = table.keys
        assert own == sorted(own)  # by namespace/name
        await pilot.press("I")  # IPS
        by_ip = ip_order(table.keys, table)
        assert by_ip == sorted(by_ip) and table.keys != own
        assert table.column_sort == (2, False)
        await pilot.press("I")
        assert ip_order(table.keys, table) == sorted(by_ip, reverse=True)
        await pilot.press("I")
        assert table.keys == own and table.column_sort is None
        # A letter of two columns: the first, then the other way round, then the next one.
        await pilot.press("N", "N", "N")
        assert table.column_sort == (1, False)  # NAMESPACE, NAMESPACE↓, then NAME
        names = [str(table.row(k)[1]) for k in table.keys]  # type: ignore[index]
        assert names == sorted(names)
        # A letter no column has changes nothing.
        await pilot.press("Z")
        assert table.column_sort == (1, False)


@pytest.mark.asyncio
async def test_a_sorted_table_keeps_its_order_as_rows_change(port: ScriptedPort) -> None:
    app = console(port, view="l2")
    async with app.run_test(size=(130, 40)) as pilot:
        table = app.screen.query_one("#table", ResourceTable)
        await pilot.press("O")  # OWNER
        owners = [str(table.row(k)[1]) for k in table.keys]  # type: ignore[index]
        assert owners == sorted(owners)
        await pilot.press("colon", *"kill node-3", "enter")
        await app.workers.wait_for_complete()
        port.demo.at(20.0)
        app.feed(port.demo.events[-200:])
        await pilot.pause()
        owners = [str(table.row(k)[1]) for k in table.keys]  # type: ignore[index]
        assert owners == sorted(owners), owners
        assert len(table.keys) == len(set(table.keys))  # no row twice


@pytest.mark.asyncio
async def test_ns_narrows_the_namespaced_views_as_k9s_does(port: ScriptedPort) -> None:
    app = console(port, view="svc")
    async with app.run_test(size=(130, 40)) as pilot:
        table = app.screen.query_one("#table", ResourceTable)
        everything = table.keys
        await pilot.press("colon", *"ns edge", "enter")
        await pilot.pause()
        assert table.keys == ["edge/edge-local", "edge/ingress"]
        assert "Services in edge" in str(app.screen.query_one("#view-title").render())
        await pilot.press("4")  # layer 2: only the addresses of edge's services
        l2 = app.screen.query_one("#table", ResourceTable)
        assert l2.keys == []  # edge's services are BGP-only in the demo
        await pilot.press("colon", *"ns default", "enter")
        await pilot.pause()
        assert l2.keys and all(
            any(s.startswith("default/") for s in app.state.l2[k].services) for k in l2.keys
        )
        await pilot.press("3")  # nodes are cluster-wide: all of them
        assert len(app.screen.query_one("#table", ResourceTable).keys) == 3
        await pilot.press("1", "colon", *"ns", "enter")
        await pilot.pause()
        assert app.screen.query_one("#table", ResourceTable).keys == everything
        # A namespace with nothing in it is said, not an error.
        await pilot.press("colon", *"ns nope", "enter")
        await pilot.pause()
        assert app.screen.query_one("#table", ResourceTable).keys == []
