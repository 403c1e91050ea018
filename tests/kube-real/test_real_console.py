"""Proof 6: ``lbtui console --kubeconfig`` on the real API server (pilot test), as the console
ServiceAccount of examples/deploy with the ``console-edit`` Role bound: an edit that the CRD
schema refuses shows the API server's own words next to the field; a valid edit lands."""

from __future__ import annotations

from typing import Any

import pytest
from deployment import NS, Deployment, wait_for
from textual.pilot import Pilot
from textual.widgets import Input, Static

from actors.roles import console as role
from actors.roles.kube import KubeOptions
from actors.runtime import Runtime
from lbtui.app import ConsoleApp
from lbtui.ports.kube.port import KubePort
from lbtui.screens.edit import EditScreen
from lbtui.screens.views import PeersScreen
from lbtui.widgets.table import ResourceTable

pytestmark = pytest.mark.asyncio

PEER = f"""
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: console-peer, namespace: {NS}}}
spec: {{myASN: 64512, peerASN: 64700, peerAddress: 203.0.113.90}}
"""


async def settle(app: ConsoleApp, pilot: Pilot[Any]) -> None:
    for _ in range(5):
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)


async def eventually(pilot: Pilot[Any], check: Any, timeout: float = 30) -> Any:
    for _ in range(int(timeout / 0.1)):
        value = check()
        if value:
            return value
        await pilot.pause(0.1)
    raise AssertionError(f"not within {timeout} s: {check}")


def console_kubeconfig(deployed: Deployment) -> str:
    plane = deployed.plane
    if plane.kubectl("get", "rolebinding", "console-edit", "-n", NS, check=False).returncode:
        plane.kubectl(
            "create",
            "rolebinding",
            "console-edit",
            "-n",
            NS,
            "--role=console-edit",
            f"--serviceaccount={NS}:console",
        )
    token = deployed.token("console")
    return str(plane.write_kubeconfig("console", token))


async def test_the_console_shows_the_servers_refusal_at_the_field_and_lands_valid_edits(
    deployed: Deployment,
) -> None:
    deployed.plane.kubectl("apply", "-f", "-", stdin=PEER)
    options = role.KubeConsoleOptions(kube=KubeOptions(kubeconfig=console_kubeconfig(deployed)))
    built = role.build(options)
    runtime = Runtime("console", built.specs)
    port = KubePort(
        runtime,
        built.cluster.api,
        namespace=NS,
        follow_speakers=False,
        readonly=False,
        description="real cluster",
    )
    app = ConsoleApp(port, view="peers", cursor_blink=False)
    try:
        async with app.run_test(size=(140, 44)) as pilot:
            await eventually(
                pilot,
                lambda: (
                    app.state.config is not None
                    and any(p.name == "console-peer" for p in app.state.config.peers)
                ),
            )
            table = app.screen.query_one("#table", ResourceTable)
            key = await eventually(
                pilot, lambda: next((k for k in table._visible if k.endswith("console-peer")), None)
            )
            assert table.select_key(key)
            await pilot.press("e")
            await settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, EditScreen)
            port_input = screen.query_one("#in-peerPort", Input)
            port_input.value = "20000"  # valid for lbtui, above the CRD's maximum (16384)
            await pilot.press("ctrl+s")
            await settle(app, pilot)
            error = await eventually(
                pilot, lambda: str(screen.query_one("#error-peerPort", Static).render()).strip()
            )
            assert app.screen is screen
            assert "16384" in error and "less than or equal" in error, error
            got = deployed.get("bgppeers.metallb.io", "console-peer", "-n", NS)
            assert got["spec"].get("peerPort") in (None, 179)

            port_input.value = "1790"  # allowed: lands in the API
            await pilot.press("ctrl+s")
            await settle(app, pilot)
            await eventually(pilot, lambda: isinstance(app.screen, PeersScreen))
            wait_for(
                "the edit in the API",
                lambda: (
                    deployed.get("bgppeers.metallb.io", "console-peer", "-n", NS)["spec"].get(
                        "peerPort"
                    )
                    == 1790
                ),
            )
    finally:
        port.stop()
        runtime.stop("test done")
