"""``lbtui console --kubeconfig``: the console on the API (pilot test, fake API server)."""

from __future__ import annotations

from typing import Any

import pytest

from actors.kube.resources import CONSOLE_RESOURCES
from actors.roles.console import kube_console_specs
from actors.runtime import Runtime
from lbtui.app import ConsoleApp
from lbtui.ports.local import LocalPort
from lbtui.widgets.table import ResourceTable
from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import NS, endpoint_slice, eventually, kube_cluster, service
from tests.kube.test_speakers import seed

pytestmark = pytest.mark.asyncio


async def test_the_console_shows_the_cluster_and_who_announces(fake: FakeKubeApi) -> None:
    seed(fake)
    fake.create(service("web", annotations={"metallb.io/address-pool": "lan"}))
    fake.create(endpoint_slice("web", ["node-2"]))
    fake.merge(
        "Service",
        "web",
        {
            "metadata": {"annotations": {"metallb.io/ip-allocated-from-pool": "lan"}},
            "status": {"loadBalancer": {"ingress": [{"ip": "10.99.0.100"}]}},
        },
        "default",
        subresource="status",
    )
    fake.merge(
        "IPAddressPool",
        "lan",
        {"status": {"assignedIPv4": 1, "availableIPv4": 10, "assignedIPv6": 0, "availableIPv6": 0}},
        NS,
        subresource="status",
    )
    made = fake.create(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "ServiceL2Status",
            "metadata": {"generateName": "l2-", "namespace": NS},
        }
    )
    fake.merge(
        "ServiceL2Status",
        made["metadata"]["name"],
        {"status": {"node": "node-2", "serviceName": "web", "serviceNamespace": "default"}},
        NS,
        subresource="status",
    )
    kube = kube_cluster(fake, CONSOLE_RESOURCES)
    runtime = Runtime("console", kube_console_specs(kube))
    port = LocalPort(runtime, description="fake cluster")
    app = ConsoleApp(port, view="svc", cursor_blink=False)
    try:
        async with app.run_test(size=(130, 40)) as pilot:

            def web_row() -> Any:
                table = app.screen.query_one("#table", ResourceTable)
                row = table.row("default/web")
                return row if row is not None and row[4] == "node-2" else None

            row = await eventually(pilot, web_row)
            assert row[2] == "10.99.0.100"
            usage = await eventually(pilot, lambda: app.state.usage.get("lan"))
            assert (usage.total, usage.in_use) == (11, 1)
            # An edit from the console is a write to the API.
            doc = port.document("IPAddressPool", "lan")
            doc["spec"]["addresses"] = ["10.99.0.100-10.99.0.120"]
            assert port.apply_edit(doc).applied
            assert fake.get("IPAddressPool", "lan", NS)["spec"]["addresses"] == [
                "10.99.0.100-10.99.0.120"
            ]
    finally:
        runtime.stop("test done")
