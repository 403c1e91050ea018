"""The real control plane, started once per session for every ``realkube`` test.

Needs root (network namespaces) and the binaries of ``build.sh`` (``./scripts/test`` builds
them); like the network tests, a missing prerequisite fails, it never skips.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from controlplane import ControlPlane
from deployment import Deployment

HERE = Path(__file__).parent
# Teardowns of the running control plane: run after the last test here, not at the end of the
# whole session, so the API server, etcd and the controllers do not load the machine while
# the rest of the suite runs (tests run in file order: pytest-randomly is not installed).
_TEARDOWNS: list[Callable[[], None]] = []


def _here(item: pytest.Item | None) -> bool:
    return item is not None and HERE in Path(str(item.fspath)).parents


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _here(item):
            item.add_marker(pytest.mark.realkube)


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if _here(item) and not _here(nextitem):
        while _TEARDOWNS:
            _TEARDOWNS.pop()()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    if os.geteuid() != 0:
        pytest.fail("tests/kube-real needs root (the control plane runs in a network namespace)")
    # Its logs and etcd (~60 MB) are kept for a failed run's post-mortem, and go with pytest's
    # own temporary directories (the last three sessions are kept), not left in /tmp forever.
    work = tmp_path_factory.mktemp("realkube")
    plane = ControlPlane(work=work).up()
    _TEARDOWNS.append(plane.down)
    try:
        yield plane
    finally:
        plane.down()


@pytest.fixture(scope="session")
def deployed(cluster: ControlPlane) -> Iterator[Deployment]:
    """examples/deploy applied, kwok Nodes n1..n3, and lbtui's controller running as the
    controller Pod (its ServiceAccount, its IP) with the webhooks served and registered."""
    deployment = Deployment(cluster).apply()
    _TEARDOWNS.append(deployment.stop_all)
    try:
        deployment.wait_for_webhooks(deployment.start_controller())
        yield deployment
    finally:
        deployment.stop_all()
