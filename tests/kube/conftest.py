from __future__ import annotations

import logging
from collections.abc import Iterator

import pykka
import pytest

from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import RUNNING


@pytest.fixture
def fake() -> Iterator[FakeKubeApi]:
    api = FakeKubeApi(bookmark_interval=0.3).start()
    yield api
    while RUNNING:  # stop the roles before the server, or they log an outage
        RUNNING.pop().stop()
    api.down()


@pytest.fixture(autouse=True)
def stop_actors() -> Iterator[None]:
    yield
    while RUNNING:
        RUNNING.pop().stop()
    pykka.ActorRegistry.stop_all()


@pytest.fixture(autouse=True)
def root_logging_restored() -> Iterator[None]:
    """A test that runs a command in-process (``lbtui.cli.main``) installs lbtui's log handler
    on the root logger; taken away after it, so a later test's deliberate API outage is not
    written to the terminal past pytest's capture."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers and h.get_name() == "lbtui"]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
