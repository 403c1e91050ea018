"""Every table view is a small or a big table, and one missing a method cannot be made."""

from __future__ import annotations

import pytest

from lbtui.screens import views
from lbtui.screens.base import BigTableScreen, SmallTableScreen, TableScreen


def test_every_table_view_is_small_or_big_and_complete() -> None:
    screens = [
        c
        for c in vars(views).values()
        if isinstance(c, type) and issubclass(c, TableScreen) and c.__module__ == views.__name__
    ]
    assert {c.__name__ for c in screens} >= {"ServicesScreen", "L2Screen", "PoolsScreen"}
    for screen in screens:
        assert issubclass(screen, SmallTableScreen | BigTableScreen), screen.__name__
        assert not screen.__abstractmethods__, screen.__name__


def test_a_view_missing_a_method_cannot_be_made() -> None:
    class Unfinished(BigTableScreen):
        def row_keys(self, state: object) -> list[str]:
            return []

    with pytest.raises(TypeError, match="make_row"):
        Unfinished()
