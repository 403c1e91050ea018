from __future__ import annotations

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
