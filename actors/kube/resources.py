"""The kinds lbtui lists and watches, and which of them each role reads.

:class:`Resource` names one kind (plural, group, version), whether it lives in every namespace
or only in the configuration namespace (``--namespace``), and which subscribers its changes
concern: "cluster" (Services, EndpointSlices, Nodes, Namespaces: the ClusterSource) or
"config" (the metallb.io objects, the legacy ConfigMap, the Secrets holding BGP passwords:
the ConfigActor's store). The ``*_RESOURCES`` tuples say what the controller, a speaker and
the console watch. Pure data: imports nothing of ours.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Role = Literal["cluster", "config"]
METALLB_GROUP = "metallb.io"
LEGACY_CONFIGMAP = "config"


class Resource(msgspec.Struct, frozen=True):
    """One kind lbtui lists and watches."""

    plural: str
    kind: str
    group: str
    version: str
    #: "all": every namespace (or cluster-scoped); "config": only the configuration namespace
    scope: Literal["all", "config"]
    roles: frozenset[Role]
    field_selector: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def _res(plural: str, kind: str, group: str, version: str, scope: Any, *roles: Role) -> Resource:
    return Resource(plural, kind, group, version, scope, frozenset(roles))


SERVICES = _res("services", "Service", "", "v1", "all", "cluster")
ENDPOINT_SLICES = _res(
    "endpointslices", "EndpointSlice", "discovery.k8s.io", "v1", "all", "cluster"
)
# Node labels also resolve node selectors while validating (the LOCAL_PREF rule).
NODES = _res("nodes", "Node", "", "v1", "all", "cluster", "config")
NAMESPACES = _res("namespaces", "Namespace", "", "v1", "all", "cluster")
SECRETS = _res("secrets", "Secret", "", "v1", "config", "config")
LEGACY_CONFIGMAPS = Resource(
    "configmaps",
    "ConfigMap",
    "",
    "v1",
    "config",
    frozenset({"config"}),
    field_selector=f"metadata.name={LEGACY_CONFIGMAP}",
)
POOLS = _res("ipaddresspools", "IPAddressPool", METALLB_GROUP, "v1beta1", "config", "config")
L2_ADVERTISEMENTS = _res(
    "l2advertisements", "L2Advertisement", METALLB_GROUP, "v1beta1", "config", "config"
)
BGP_ADVERTISEMENTS = _res(
    "bgpadvertisements", "BGPAdvertisement", METALLB_GROUP, "v1beta1", "config", "config"
)
COMMUNITIES = _res("communities", "Community", METALLB_GROUP, "v1beta1", "config", "config")
BFD_PROFILES = _res("bfdprofiles", "BFDProfile", METALLB_GROUP, "v1beta1", "config", "config")
BGP_PEERS = _res("bgppeers", "BGPPeer", METALLB_GROUP, "v1beta2", "config", "config")

CONFIG_RESOURCES = (
    POOLS,
    L2_ADVERTISEMENTS,
    BGP_ADVERTISEMENTS,
    COMMUNITIES,
    BFD_PROFILES,
    BGP_PEERS,
)
#: The controller allocates: it needs Services, Namespaces (pool namespace selectors), the
#: pools (and community aliases, which pools' validation may refer to), as MetalLB's does.
CONTROLLER_RESOURCES = (SERVICES, NAMESPACES, POOLS, COMMUNITIES, LEGACY_CONFIGMAPS)
#: A speaker (and the console) read everything.
SPEAKER_RESOURCES = (
    SERVICES,
    ENDPOINT_SLICES,
    NODES,
    NAMESPACES,
    SECRETS,
    LEGACY_CONFIGMAPS,
    *CONFIG_RESOURCES,
)
RESOURCE_BY_KIND = {r.kind: r for r in SPEAKER_RESOURCES}
#: The console on a cluster also watches who announces what (the speakers' status objects).
SERVICE_L2_STATUSES = _res(
    "servicel2statuses", "ServiceL2Status", METALLB_GROUP, "v1beta1", "config", "cluster"
)
SERVICE_BGP_STATUSES = _res(
    "servicebgpstatuses", "ServiceBGPStatus", METALLB_GROUP, "v1beta1", "config", "cluster"
)
CONSOLE_RESOURCES = (*SPEAKER_RESOURCES, SERVICE_L2_STATUSES, SERVICE_BGP_STATUSES)
