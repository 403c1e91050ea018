"""Network tests need root: on CI (root) a missing prerequisite fails, it never skips."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="session", autouse=True)
def _network_prerequisites() -> None:
    if os.geteuid() != 0:
        pytest.fail("tests/net needs root (network namespaces, raw sockets)")
    missing = [tool for tool in ("ip", "ping", "arping") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"tests/net needs {', '.join(missing)} (see .ci/run's apt-get line)")
