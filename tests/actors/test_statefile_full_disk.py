"""``--state-file`` on a full disk (actors/observability/statefile.py): one clear warning, no
traceback and no restart; quiet retries in virtual time; the newest state written once space
returns.
"""

from __future__ import annotations

import errno
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.clock import ManualClock
from actors.events import AnnouncementStarted
from actors.observability import statefile
from actors.observability.statefile import RETRY, StateFileWriter


class Disk:
    """write_atomically on a disk that can be full."""

    def __init__(self) -> None:
        self.full = False
        self.attempts = 0

    def write(self, path: str, data: str, mode: int | None = None) -> None:
        self.attempts += 1
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        Path(path).write_text(data)


def started(event: str, ip: str) -> AnnouncementStarted:
    return AnnouncementStarted(
        t=1.0, node="node-a", ip=ip, protocol="layer2", reason=event, services=("default/web",)
    )


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    disk = Disk()
    monkeypatch.setattr(statefile, "write_atomically", disk.write)
    return disk


def test_a_full_disk_warns_once_retries_quietly_and_recovers(
    tmp_path: Path, disk: Disk, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    path = tmp_path / "state.json"
    ref = StateFileWriter.start(str(path), "node-a", clock=clock, scheduler=clock)
    writer: Any = ref.proxy()
    caplog.set_level(logging.DEBUG, logger=statefile.__name__)

    writer.on_event(started("first", "10.0.0.1")).get(timeout=5)
    assert json.loads(path.read_text())["announcing"]["layer2"] == {"10.0.0.1": ["default/web"]}

    disk.full = True
    writer.on_event(started("second", "10.0.0.2")).get(timeout=5)
    writer.on_event(started("third", "10.0.0.3")).get(timeout=5)  # waits for the retry
    for _ in range(3):
        clock.advance(RETRY)
        assert writer.failing.get(timeout=5)
    assert disk.attempts == 1 + 1 + 3  # one write each retry, none for the queued event
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "No space left on device" in warnings[0].getMessage()
    assert str(path) in warnings[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)  # no traceback anywhere
    # the last good file stays
    assert json.loads(path.read_text())["announcing"]["layer2"] == {"10.0.0.1": ["default/web"]}

    disk.full = False
    clock.advance(RETRY)
    assert not writer.failing.get(timeout=5)
    assert set(json.loads(path.read_text())["announcing"]["layer2"]) == {
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
    }
    assert any("written again" in r.getMessage() for r in caplog.records)
    assert clock.pending() == 0  # no retry left behind
    assert ref.is_alive()  # never crashed, never restarted


@pytest.fixture(autouse=True)
def _stop_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all()
