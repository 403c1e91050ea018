"""Proofs 2 and 3: the controller allocates on a real API server with its least-privilege
ServiceAccount, keeps every address across a restart, and two replicas share a real Lease.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import yaml
from deployment import NS, Deployment, wait_for

POOL = "real-alloc"
POOL_YAML = f"""
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: {POOL}, namespace: {NS}}}
spec: {{addresses: [198.18.0.0/26], autoAssign: false}}
"""


def services_yaml(namespace: str, names: list[str], pool: str = POOL) -> str:
    docs = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": n,
                "namespace": namespace,
                "annotations": {"metallb.io/address-pool": pool},
            },
            "spec": {
                "type": "LoadBalancer",
                "ports": [{"port": 80, "protocol": "TCP"}],
                "selector": {"app": n},
            },
        }
        for n in names
    ]
    return "\n---\n".join(yaml.safe_dump(d) for d in docs)


def ingress(deployed: Deployment, namespace: str) -> dict[str, str]:
    """Service name -> its first ingress IP (only Services that have one)."""
    out: dict[str, str] = {}
    for svc in deployed.get("services", "-n", namespace)["items"]:
        points = (svc.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
        if points:
            out[svc["metadata"]["name"]] = points[0]["ip"]
    return out


def setup_namespace(deployed: Deployment, namespace: str) -> None:
    plane = deployed.plane
    plane.kubectl("apply", "-f", "-", stdin=POOL_YAML)
    if plane.kubectl("get", "namespace", namespace, check=False).returncode != 0:
        plane.kubectl("create", "namespace", namespace)


def test_controller_assigns_writes_status_annotation_and_events(deployed: Deployment) -> None:
    namespace = "alloc-a"
    setup_namespace(deployed, namespace)
    names = [f"web-{i}" for i in range(5)]
    deployed.plane.kubectl("apply", "-f", "-", stdin=services_yaml(namespace, names))
    got = wait_for(
        "five addresses", lambda: (g := ingress(deployed, namespace)) and len(g) == 5 and g
    )
    assert len(set(got.values())) == 5
    assert all(ip.startswith("198.18.0.") for ip in got.values())
    svc = deployed.get("service", "web-0", "-n", namespace)
    assert svc["metadata"]["annotations"]["metallb.io/ip-allocated-from-pool"] == POOL

    def allocated_event() -> list[dict[str, Any]]:
        events = deployed.get(
            "events", "-n", namespace, "--field-selector", "involvedObject.name=web-0"
        )["items"]
        return [e for e in events if e["reason"] == "IPAllocated"]

    event = wait_for("an IPAllocated event", allocated_event)[0]
    assert got["web-0"] in event["message"]
    assert event["source"].get("component") or event.get("reportingComponent")


def test_a_restart_keeps_every_address_and_misses_no_change(deployed: Deployment) -> None:
    namespace = "alloc-b"
    setup_namespace(deployed, namespace)
    first = [f"keep-{i}" for i in range(8)]
    deployed.plane.kubectl("apply", "-f", "-", stdin=services_yaml(namespace, first))
    before = wait_for(
        "eight addresses", lambda: (g := ingress(deployed, namespace)) and len(g) == 8 and g
    )

    controller = next(p for p in deployed.processes if p.name == "controller")
    controller.stop(signal.SIGTERM)
    # While it is down: one Service deleted (its address must not go to anyone but a newcomer),
    # two created.
    deployed.plane.kubectl("delete", "service", "keep-0", "-n", namespace)
    later = ["late-1", "late-2"]
    deployed.plane.kubectl("apply", "-f", "-", stdin=services_yaml(namespace, later))
    deployed.restart_controller()

    after = wait_for(
        "addresses for the late Services",
        lambda: (g := ingress(deployed, namespace)) and all(n in g for n in later) and g,
    )
    for name in first[1:]:
        assert after[name] == before[name], name
    assert len(set(after.values())) == len(after)


def test_watch_gone_410_relists_and_misses_nothing(deployed: Deployment) -> None:
    """The API server runs with its watch cache off for Services and compacts etcd often
    (controlplane.py): a watch that resumes after a pause gets 410 Gone from the real server.
    The controller, frozen meanwhile, must relist and catch every change made."""
    namespace = "alloc-c"
    setup_namespace(deployed, namespace)
    deployed.plane.kubectl("apply", "-f", "-", stdin=services_yaml(namespace, ["gone-0"]))
    wait_for("the first address", lambda: "gone-0" in ingress(deployed, namespace))
    listing = deployed.plane.kubectl("get", "--raw", f"/api/v1/namespaces/{namespace}/services")
    seen = json.loads(listing.stdout)["metadata"]["resourceVersion"]
    controller = next(p for p in deployed.processes if p.name == "controller")
    assert controller.proc is not None
    controller.proc.send_signal(signal.SIGSTOP)
    try:
        names = [f"gone-{i}" for i in range(1, 6)]
        deployed.plane.kubectl("apply", "-f", "-", stdin=services_yaml(namespace, names))
        deployed.wait_for_compaction(f"/api/v1/namespaces/{namespace}/services", seen)
        # The frozen controller's watch connections are cut by an API server restart, so it
        # must resume from its (now compacted) resourceVersion.
        deployed.plane.stop_apiserver()
        deployed.plane.start_apiserver()
        deployed.plane.wait_ready()
    finally:
        controller.proc.send_signal(signal.SIGCONT)
    got = wait_for(
        "addresses for every Service made while the watch was gone",
        lambda: (g := ingress(deployed, namespace)) and len(g) == 6 and g,
        timeout=90,
    )
    assert len(set(got.values())) == 6
    log = controller.output()
    assert "expired (410 Gone): listing again" in log, log[-2000:]


def lease_holder(deployed: Deployment) -> str:
    lease = json.loads(
        deployed.plane.kubectl("get", "lease", "lbtui-controller", "-n", NS, "-o", "json").stdout
    )
    return lease["spec"].get("holderIdentity") or ""


def test_two_controllers_share_a_lease_and_never_give_two_addresses(deployed: Deployment) -> None:
    namespace = "alloc-lease"
    setup_namespace(deployed, namespace)
    plane = deployed.plane
    main = next(p for p in deployed.processes if p.name == "controller")
    wait_for(
        "the main controller to hold the Lease",
        lambda: lease_holder(deployed).startswith(main.env["POD_NAME"]),
    )

    plane.kubectl("scale", "deployment", "controller", "-n", NS, "--replicas=2")

    def running_pods() -> list[dict[str, Any]]:
        pods = deployed.get("pods", "-n", NS, "-l", "app=metallb,component=controller")["items"]
        return [
            p for p in pods if p["status"].get("phase") == "Running" and p["status"].get("podIP")
        ]

    pods = wait_for("two controller pods", lambda: len(running_pods()) == 2 and running_pods())
    second = next(p for p in pods if p["metadata"]["name"] != main.env["POD_NAME"])
    standby = deployed.start_controller("controller-b", webhooks=False, pod=second)

    seen: dict[str, set[str]] = {}

    def record() -> None:
        for name, ip in ingress(deployed, namespace).items():
            seen.setdefault(name, set()).add(ip)

    plane.kubectl("apply", "-f", "-", stdin=services_yaml(namespace, [f"ha-{i}" for i in range(4)]))
    wait_for("four addresses", lambda: record() or len(seen) == 4)
    assert lease_holder(deployed).startswith(main.env["POD_NAME"])  # the standby only waits

    main.stop(signal.SIGKILL)  # no release of the Lease: the standby must wait it out
    plane.kubectl(
        "apply", "-f", "-", stdin=services_yaml(namespace, [f"ha-{i}" for i in range(4, 8)])
    )
    holder = wait_for(
        "the standby to take the Lease",
        lambda: (
            (record() or True) and lease_holder(deployed).startswith(second["metadata"]["name"])
        ),
        timeout=40,
    )
    assert holder
    wait_for("addresses from the new leader", lambda: record() or len(seen) == 8, timeout=40)
    record()
    assert all(len(ips) == 1 for ips in seen.values()), seen
    assert len({next(iter(ips)) for ips in seen.values()}) == 8
    assert standby.alive()

    # Back to one replica and the main controller (the standby leaves and releases the Lease).
    standby.stop()
    deployed.processes.remove(standby)
    plane.kubectl("scale", "deployment", "controller", "-n", NS, "--replicas=1")
    deployed.restart_controller()
