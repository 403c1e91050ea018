"""The demo's simulated cluster: N nodes, sample services and endpoints, all in memory.

It plays the API server for ``lbtui demo``: Services get their status written back by the
allocator (through the ClusterActor), and scenario steps add or delete services and move
endpoints. Nothing here touches a socket.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import msgspec

from actors.model.cluster import (
    SERVICE_NAME_LABEL,
    ClusterState,
    EndpointSlice,
    LoadBalancerIngress,
    LoadBalancerStatus,
    Namespace,
    Node,
    Service,
    ServiceStatus,
)

if TYPE_CHECKING:
    from actors.model.allocation import Allocation

DEMO_CONFIG = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec:
  addresses: [10.99.0.100-10.99.0.199, "fd00:99::100/120"]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: routed, namespace: metallb-system}
spec:
  addresses: [192.0.2.0/26]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
spec:
  ipAddressPools: [lan]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: routed, namespace: metallb-system}
spec:
  ipAddressPools: [routed]
  localPref: 100
  communities: ["64512:100", "large:64512:1:1"]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: collector, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64512
  peerAddress: 127.0.0.1
  holdTime: 9s
"""

DEFAULT_SCENARIO = """\
# The built-in demo: a service arrives, a node dies and comes back, a pool grows.
steps:
  - {at: 1, add-service: {name: checkout, namespace: shop, endpoints: [node-2, node-3]}}
  - {at: 3, kill: node-1}
  - {at: 6, revive: node-1}
  - {at: 8, move-endpoints: {service: default/local-web, nodes: [node-3]}}
  - at: 10
    edit-pool: {name: lan, addresses: [10.99.0.100-10.99.0.199, 10.99.1.0/28, "fd00:99::100/120"]}
  - {at: 12, delete-service: shop/checkout}
"""

_START = datetime(2026, 1, 1, tzinfo=UTC)


class ServiceSpec(msgspec.Struct, frozen=True):
    """A sample service, as the demo and the scenario describe one."""

    name: str
    namespace: str = "default"
    ports: tuple[tuple[int, str], ...] = ((80, "TCP"),)
    endpoints: tuple[str, ...] = ()  # node names hosting a ready endpoint
    policy: Literal["Cluster", "Local"] = "Cluster"
    dual_stack: bool = False
    annotations: tuple[tuple[str, str], ...] = ()
    selector: str = ""


def demo_services(nodes: Sequence[str]) -> list[ServiceSpec]:
    """A spread of services of every kind over the given nodes."""
    n = list(nodes)

    def pick(*idx: int) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n[i % len(n)] for i in idx))

    return [
        ServiceSpec("web", endpoints=pick(0, 1, 2)),
        ServiceSpec("api", ports=((443, "TCP"),), endpoints=pick(1, 2)),
        ServiceSpec(
            "dns-tcp",
            ports=((53, "TCP"),),
            endpoints=pick(0, 2),
            annotations=(("metallb.io/allow-shared-ip", "dns"),),
            selector="dns",
        ),
        ServiceSpec(
            "dns-udp",
            ports=((53, "UDP"),),
            endpoints=pick(0, 2),
            annotations=(("metallb.io/allow-shared-ip", "dns"),),
            selector="dns",
        ),
        ServiceSpec("local-web", policy="Local", endpoints=pick(1)),
        ServiceSpec("dual", dual_stack=True, endpoints=pick(0, 1, 2)),
        ServiceSpec(
            "ingress",
            namespace="edge",
            endpoints=pick(0, 1, 2),
            annotations=(("metallb.io/address-pool", "routed"),),
        ),
        ServiceSpec(
            "edge-local",
            namespace="edge",
            policy="Local",
            endpoints=pick(0, 2),
            annotations=(("metallb.io/address-pool", "routed"),),
        ),
    ]


class DemoCluster:
    """An in-memory cluster: the ClusterSource of ``lbtui demo``."""

    name = "demo"

    def __init__(self, node_count: int = 3, services: Sequence[ServiceSpec] | None = None) -> None:
        if node_count < 1:
            raise ValueError("the demo needs at least one node")
        self.node_names = tuple(f"node-{i}" for i in range(1, node_count + 1))
        self._nodes = [self._node(i, name) for i, name in enumerate(self.node_names)]
        self._services: dict[str, Service] = {}
        self._slices: dict[str, EndpointSlice] = {}
        self._namespaces: dict[str, Namespace] = {}
        self._created = 0
        self._version = 0
        for spec in services if services is not None else demo_services(self.node_names):
            self.add_service(spec)

    # -- ClusterSource -----------------------------------------------------------------------
    def load(self) -> ClusterState:
        return ClusterState.of(
            services=list(self._services.values()),
            endpoint_slices=list(self._slices.values()),
            nodes=self._nodes,
            namespaces=list(self._namespaces.values()),
        )

    def changed(self) -> bool:
        return False

    def write_status(self, allocations: Mapping[str, Allocation]) -> bool:
        changed = False
        for key, svc in list(self._services.items()):
            alloc = allocations.get(key)
            ips = tuple(str(ip) for ip in alloc.ips) if alloc else ()
            if svc.ingress_ips == ips:
                continue
            status = ServiceStatus(
                loadBalancer=LoadBalancerStatus(
                    ingress=tuple(LoadBalancerIngress(ip=i) for i in ips)
                )
            )
            self._services[key] = svc.model_copy(update={"status": status})
            changed = True
        return changed

    # -- scenario edits ----------------------------------------------------------------------
    def add_service(self, spec: ServiceSpec) -> None:
        unknown = [n for n in spec.endpoints if n not in self.node_names]
        if unknown:
            raise ValueError(f"service {spec.namespace}/{spec.name}: unknown node(s) {unknown}")
        self._created += 1
        created = _START + timedelta(seconds=self._created)
        self._namespaces.setdefault(
            spec.namespace,
            Namespace.model_validate(
                {
                    "metadata": {
                        "name": spec.namespace,
                        "labels": {"kubernetes.io/metadata.name": spec.namespace},
                    }
                }
            ),
        )
        index = self._created
        cluster_ips = [f"10.96.{index // 250}.{index % 250 + 1}"]
        families = ["IPv4"]
        if spec.dual_stack:
            cluster_ips.append(f"fd00:96::{index:x}")
            families.append("IPv6")
        selector = {"app": spec.selector or spec.name}
        service = Service.model_validate(
            {
                "metadata": {
                    "name": spec.name,
                    "namespace": spec.namespace,
                    "annotations": dict(spec.annotations),
                    "creationTimestamp": created.isoformat(),
                    "uid": f"demo-{index}",
                },
                "spec": {
                    "type": "LoadBalancer",
                    "ports": [
                        {"name": f"p{p}", "port": p, "protocol": proto} for p, proto in spec.ports
                    ],
                    "selector": selector,
                    "clusterIPs": cluster_ips,
                    "ipFamilies": families,
                    "ipFamilyPolicy": "PreferDualStack" if spec.dual_stack else "SingleStack",
                    "externalTrafficPolicy": spec.policy,
                },
            }
        )
        key = service.key
        if key in self._services:
            raise ValueError(f"service {key} already exists")
        self._services[key] = service
        self._set_endpoints(key, spec.endpoints)

    def delete_service(self, key: str) -> None:
        if key not in self._services:
            raise ValueError(f"service {key} does not exist")
        del self._services[key]
        self._slices.pop(key, None)

    def move_endpoints(self, key: str, nodes: Sequence[str]) -> None:
        if key not in self._services:
            raise ValueError(f"service {key} does not exist")
        unknown = [n for n in nodes if n not in self.node_names]
        if unknown:
            raise ValueError(f"unknown node(s) {unknown}")
        self._set_endpoints(key, tuple(nodes))

    def _set_endpoints(self, key: str, nodes: Sequence[str]) -> None:
        namespace, name = key.split("/", 1)
        self._version += 1
        self._slices[key] = EndpointSlice.model_validate(
            {
                "metadata": {
                    "name": f"{name}-demo",
                    "namespace": namespace,
                    "labels": {SERVICE_NAME_LABEL: name},
                    "resourceVersion": str(self._version),
                },
                "addressType": "IPv4",
                "endpoints": [
                    {
                        "addresses": [str(ipaddress.IPv4Address(0x0AF40000 + 256 * i + 10))],
                        "nodeName": node,
                        "conditions": {"ready": True},
                    }
                    for i, node in enumerate(nodes)
                ],
            }
        )

    def _node(self, index: int, name: str) -> Node:
        return Node.model_validate(
            {
                "metadata": {
                    "name": name,
                    "labels": {"kubernetes.io/hostname": name, "rack": "ab"[index % 2]},
                },
                "status": {
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "addresses": [{"type": "InternalIP", "address": f"127.0.1.{index + 1}"}],
                },
            }
        )
