"""What the L2 and BGP elections share: the nodes, their health, serving endpoints, pools.

Everything here is a pure function of a :class:`~actors.model.config.Config`, a
:class:`~actors.model.cluster.ClusterState` and, optionally, the set of nodes known to be alive
(from gossip, or from ``lbtui plan --node-down``).

Known nodes
    The Node objects of the cluster, plus every ``endpoint.nodeName`` that has no Node object
    (treated as a node without labels or conditions), so that cluster files written without
    Node objects still elect somebody.

Node health (MetalLB's reasons, checked in this order)
    ``nodeDown`` (not in ``alive``), ``nodeNetworkUnavailable`` (condition NetworkUnavailable=True),
    ``nodeLabeledExcludeBalancers`` (label node.kubernetes.io/exclude-from-external-load-balancers,
    any value). Node ``Ready`` and cordoning are not consulted, exactly like MetalLB.

Serving endpoints
    ``ready`` unset, ``ready`` true or ``serving`` true (:attr:`Endpoint.is_serving`). MetalLB's BGP
    side additionally ignores endpoints without addresses; its L2 side does not, and neither do
    we there (see :class:`ServingEndpoints`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

import msgspec

from actors.model.annotations import DEPRECATED_ALLOW_SHARED_IP
from actors.model.cluster import ClusterState, Node, Service
from actors.model.config import EMPTY_LABELS, Config, IPAddress, Pool, frozen_labels

ALLOW_SHARED_IP = "metallb.io/allow-shared-ip"

# Node rejection reasons, named as MetalLB's speaker names them where it has a name.
NODE_DOWN = "nodeDown"
NODE_NETWORK_UNAVAILABLE = "nodeNetworkUnavailable"
NODE_EXCLUDED = "nodeLabeledExcludeBalancers"
NOT_SELECTED = "notSelectedByAdvertisement"
NO_LOCAL_ENDPOINTS = "noLocalEndpoints"

NODE_REASON_TEXT: Mapping[str, str] = MappingProxyType(
    {
        NODE_DOWN: "the node's speaker is not alive",
        NODE_NETWORK_UNAVAILABLE: "the node has condition NetworkUnavailable=True",
        NODE_EXCLUDED: (
            "the node is labelled node.kubernetes.io/exclude-from-external-load-balancers"
        ),
        NOT_SELECTED: "no matching advertisement selects the node",
        NO_LOCAL_ENDPOINTS: (
            "externalTrafficPolicy is Local and no serving endpoint is on the node"
        ),
    }
)


class Assigned(Protocol):
    """What the election needs from an allocation: the service's addresses and its pool."""

    @property
    def ips(self) -> tuple[IPAddress, ...]: ...

    @property
    def pool(self) -> str | None: ...


class NodeFacts(msgspec.Struct, frozen=True):
    """The parts of a node the election looks at."""

    name: str
    labels: Mapping[str, str]
    network_unavailable: bool = False
    excluded: bool = False
    # False for nodes only known from an endpoint's nodeName.
    has_object: bool = True

    @classmethod
    def of(cls, node: Node) -> NodeFacts:
        return cls(
            name=node.name,
            labels=frozen_labels(node.metadata.labels),
            network_unavailable=node.network_unavailable,
            excluded=node.excluded_from_load_balancers,
        )


class NodeRejection(msgspec.Struct, frozen=True):
    """Why one node cannot announce a service (a reason code from this module)."""

    node: str
    reason: str

    @property
    def message(self) -> str:
        return NODE_REASON_TEXT.get(self.reason, self.reason)


class ServingEndpoints(msgspec.Struct, frozen=True):
    """The serving endpoints of one service, in the two flavours MetalLB uses.

    L2 counts every serving endpoint; BGP (``hasHealthyEndpoint``) only those with addresses.
    """

    anywhere: bool = False
    nodes: frozenset[str] = frozenset()
    anywhere_with_address: bool = False
    nodes_with_address: frozenset[str] = frozenset()


NO_ENDPOINTS = ServingEndpoints()


class ClusterView(msgspec.Struct, frozen=True):
    """The cluster indexed once per election run (endpoint lookups would otherwise rescan)."""

    nodes: Mapping[str, NodeFacts]
    serving: Mapping[str, ServingEndpoints]
    services: Mapping[str, Service]

    @classmethod
    def of(cls, cluster: ClusterState) -> ClusterView:
        nodes = {name: NodeFacts.of(node) for name, node in cluster.nodes.items()}
        on: dict[str, set[str]] = {}
        on_with_address: dict[str, set[str]] = {}
        with_address: set[str] = set()
        for eps in cluster.endpoint_slices:
            key = eps.service_key
            for ep in eps.endpoints:
                if ep.node_name and ep.node_name not in nodes:
                    nodes[ep.node_name] = NodeFacts(ep.node_name, EMPTY_LABELS, has_object=False)
                if key is None or not ep.is_serving:
                    continue
                # A serving endpoint without nodeName still counts as "somewhere".
                nodes_of = on.setdefault(key, set())
                addressed_nodes_of = on_with_address.setdefault(key, set())
                if ep.addresses:
                    with_address.add(key)
                if ep.node_name:
                    nodes_of.add(ep.node_name)
                    if ep.addresses:
                        addressed_nodes_of.add(ep.node_name)
        # Services mostly have endpoints on the same few sets of nodes: equal entries are one
        # object, and each service's working sets are dropped as its entry is made (of 100k
        # Services, ~1.5 KB each otherwise).
        shared: dict[ServingEndpoints, ServingEndpoints] = {}
        serving: dict[str, ServingEndpoints] = {}
        for key in list(on):
            entry = ServingEndpoints(
                anywhere=True,
                nodes=frozenset(on.pop(key)),
                anywhere_with_address=key in with_address,
                nodes_with_address=frozenset(on_with_address.pop(key)),
            )
            serving[key] = shared.setdefault(entry, entry)
        return cls(
            nodes=MappingProxyType(dict(sorted(nodes.items()))),
            serving=MappingProxyType(serving),
            services=cluster.services,
        )

    def endpoints(self, service_key: str) -> ServingEndpoints:
        return self.serving.get(service_key, NO_ENDPOINTS)


def health_rejection(
    node: NodeFacts, alive: frozenset[str] | None, ignore_exclude_lb: bool = False
) -> str | None:
    """The first health reason that rules ``node`` out, or None if it may announce."""
    if alive is not None and node.name not in alive:
        return NODE_DOWN
    if node.network_unavailable:
        return NODE_NETWORK_UNAVAILABLE
    if node.excluded and not ignore_exclude_lb:
        return NODE_EXCLUDED
    return None


def resolve_pool(config: Config, assigned: Assigned) -> Pool | None:
    """The pool the addresses came from: the allocation's word, else the pool holding them all.

    MetalLB's speaker looks the pool up by address; the allocation's pool name is preferred
    because it is what the allocator actually used.
    """
    if assigned.pool is not None and assigned.pool in config.pools:
        return config.pools[assigned.pool]
    if not assigned.ips:
        return None
    for pool in config.pools.values():
        if all(pool.contains(ip) for ip in assigned.ips):
            return pool
    return None


def wants_shared_ip(service: Service) -> bool:
    annotations = service.metadata.annotations
    return ALLOW_SHARED_IP in annotations or DEPRECATED_ALLOW_SHARED_IP in annotations


def go_ip_text(ip: IPAddress) -> str:
    """``net.IP.String()`` as Go writes it: IPv4-mapped IPv6 addresses print as IPv4.

    The L2 hash is taken over this text, so it must be byte-identical to MetalLB's.
    """
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def ip_sort_key(ip: IPAddress) -> tuple[int, int]:
    return (ip.version, int(ip))
