"""Cluster and configuration files for the L2 network tests (read by `lbtui speaker --cluster`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml

POOL4 = "10.99.0.100-10.99.0.149"
POOL6 = "fd00:99::100/124"


@dataclass(frozen=True)
class Svc:
    name: str
    ip: str
    endpoints: tuple[str, ...]  # nodes with a ready endpoint
    local: bool = False  # externalTrafficPolicy Local


def cluster_documents(nodes: Sequence[str], services: Sequence[Svc]) -> list[dict]:
    docs: list[dict] = [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "lan", "namespace": "metallb-system"},
            "spec": {"addresses": [POOL4, POOL6]},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": "lan", "namespace": "metallb-system"},
            "spec": {"ipAddressPools": ["lan"]},
        },
    ]
    for i, node in enumerate(nodes):
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node}},
                "status": {"addresses": [{"type": "InternalIP", "address": f"10.99.0.{11 + i}"}]},
            }
        )
    for n, svc in enumerate(services):
        v6 = ":" in svc.ip
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": svc.name,
                    "namespace": "default",
                    "annotations": {"metallb.io/loadBalancerIPs": svc.ip},
                    "creationTimestamp": f"2026-01-01T00:{n:02d}:00Z",
                },
                "spec": {
                    "type": "LoadBalancer",
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                    "ipFamilies": ["IPv6" if v6 else "IPv4"],
                    "clusterIPs": [f"fd00:96::{n + 1:x}" if v6 else f"10.96.0.{n + 1}"],
                    "externalTrafficPolicy": "Local" if svc.local else "Cluster",
                },
            }
        )
        docs.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "addressType": "IPv6" if v6 else "IPv4",
                "metadata": {
                    "name": f"{svc.name}-1",
                    "namespace": "default",
                    "labels": {"kubernetes.io/service-name": svc.name},
                },
                "endpoints": [
                    {
                        "addresses": [f"fd00:244::{i + 1:x}" if v6 else f"10.244.{i}.1"],
                        "nodeName": node,
                        "conditions": {"ready": True},
                    }
                    for i, node in enumerate(nodes)
                    if node in svc.endpoints
                ],
            }
        )
    return docs


def cluster_yaml(nodes: Sequence[str], services: Sequence[Svc]) -> str:
    return yaml.safe_dump_all(cluster_documents(nodes, services), sort_keys=False)


def predicted_owners(
    nodes: Sequence[str], services: Sequence[Svc], down: frozenset[str] = frozenset()
) -> dict[str, str | None]:
    """Who the election core says answers for each address (what every speaker computes)."""
    from actors.cluster.files import cluster_from_inputs
    from actors.config.build import build_config
    from actors.config.loader import load_text
    from actors.election.plan import compute_plan

    inputs = load_text(cluster_yaml(nodes, services), "cluster.yaml")
    config = build_config(inputs).config
    assert config is not None
    plan = compute_plan(config, cluster_from_inputs(inputs), down=down)
    return {ip: owner.node for ip, owner in plan.l2.items()}
