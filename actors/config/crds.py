"""Pydantic models of MetalLB's ``metallb.io`` custom resources, with MetalLB's field names.

These mirror the CRD schemas (``api/v1beta1``, ``api/v1beta2`` upstream) so that existing YAML
parses unchanged. Unknown fields are rejected (a typo is reported, not silently dropped),
booleans must be booleans (``autoAssign: 1`` is refused, as the CRD schema refuses it), and
names must be Kubernetes names (DNS-1123 subdomains).
Cross-object rules (overlaps, references, LOCAL_PREF conflicts) live in ``build.py``.
Validators are built on first use (``defer_build``): a process builds only the kinds it reads
(a nested spec lives inside its resource's validator and is never built on its own).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from actors.config.names import subdomain_problem
from actors.model.selectors import LabelSelector

METALLB_GROUP = "metallb.io"
UINT32_MAX = 2**32 - 1


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)


class Metadata(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)

    name: str = Field(min_length=1)
    namespace: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _kubernetes_name(cls, name: str) -> str:
        problem = subdomain_problem(name)
        if problem:
            raise ValueError(problem)
        return name


class ServiceAllocationSpec(_Spec):
    priority: int = 0
    namespaces: tuple[str, ...] = ()
    namespace_selectors: tuple[LabelSelector, ...] = Field(default=(), alias="namespaceSelectors")
    service_selectors: tuple[LabelSelector, ...] = Field(default=(), alias="serviceSelectors")


class IPAddressPoolSpec(_Spec):
    addresses: tuple[str, ...] = Field(min_length=1)
    auto_assign: StrictBool = Field(default=True, alias="autoAssign")
    avoid_buggy_ips: StrictBool = Field(default=False, alias="avoidBuggyIPs")
    service_allocation: ServiceAllocationSpec | None = Field(
        default=None, alias="serviceAllocation"
    )


class PreferredNodeSelector(_Spec):
    weight: Annotated[int, Field(ge=1, le=100)]
    preference: LabelSelector


class L2AdvertisementSpec(_Spec):
    ip_address_pools: tuple[str, ...] = Field(default=(), alias="ipAddressPools")
    ip_address_pool_selectors: tuple[LabelSelector, ...] = Field(
        default=(), alias="ipAddressPoolSelectors"
    )
    node_selectors: tuple[LabelSelector, ...] = Field(default=(), alias="nodeSelectors")
    service_selectors: tuple[LabelSelector, ...] = Field(default=(), alias="serviceSelectors")
    interfaces: tuple[str, ...] = ()
    preferred_node_selectors: tuple[PreferredNodeSelector, ...] = Field(
        default=(), alias="preferredNodeSelectors"
    )


class BGPAdvertisementSpec(_Spec):
    # Bounds (1..32, 1..128) are checked in build.py so the message can name the family.
    aggregation_length: int | None = Field(default=None, alias="aggregationLength")
    aggregation_length_v6: int | None = Field(default=None, alias="aggregationLengthV6")
    local_pref: Annotated[int, Field(ge=0, le=UINT32_MAX)] = Field(default=0, alias="localPref")
    communities: tuple[str, ...] = ()
    ip_address_pools: tuple[str, ...] = Field(default=(), alias="ipAddressPools")
    ip_address_pool_selectors: tuple[LabelSelector, ...] = Field(
        default=(), alias="ipAddressPoolSelectors"
    )
    node_selectors: tuple[LabelSelector, ...] = Field(default=(), alias="nodeSelectors")
    peers: tuple[str, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = Field(default=(), alias="serviceSelectors")


class CommunityAlias(_Spec):
    name: str = Field(min_length=1)
    value: str = Field(min_length=1)


class CommunitySpec(_Spec):
    communities: tuple[CommunityAlias, ...] = ()


class BFDProfileSpec(_Spec):
    receive_interval: Annotated[int, Field(ge=10, le=60000)] | None = Field(
        default=None, alias="receiveInterval"
    )
    transmit_interval: Annotated[int, Field(ge=10, le=60000)] | None = Field(
        default=None, alias="transmitInterval"
    )
    detect_multiplier: Annotated[int, Field(ge=2, le=255)] | None = Field(
        default=None, alias="detectMultiplier"
    )
    echo_interval: Annotated[int, Field(ge=10, le=60000)] | None = Field(
        default=None, alias="echoInterval"
    )
    echo_mode: StrictBool | None = Field(default=None, alias="echoMode")
    passive_mode: StrictBool | None = Field(default=None, alias="passiveMode")
    minimum_ttl: Annotated[int, Field(ge=1, le=254)] | None = Field(
        default=None, alias="minimumTtl"
    )


class SecretReference(_Spec):
    name: str = ""
    namespace: str = ""


class BGPPeerSpec(_Spec):
    """v1beta2 BGPPeer spec (v1beta1 has the same fields apart from ASN/address names)."""

    my_asn: Annotated[int, Field(ge=0, le=UINT32_MAX)] = Field(default=0, alias="myASN")
    peer_asn: Annotated[int, Field(ge=0, le=UINT32_MAX)] = Field(default=0, alias="peerASN")
    dynamic_asn: Literal["internal", "external"] | None = Field(default=None, alias="dynamicASN")
    local_asn: Annotated[int, Field(ge=1, le=UINT32_MAX)] | None = Field(
        default=None, alias="localASN"
    )
    peer_address: str = Field(default="", alias="peerAddress")
    interface: str = ""
    source_address: str = Field(default="", alias="sourceAddress")
    peer_port: Annotated[int, Field(ge=1, le=65535)] = Field(default=179, alias="peerPort")
    hold_time: str | None = Field(default=None, alias="holdTime")
    keepalive_time: str | None = Field(default=None, alias="keepaliveTime")
    connect_time: str | None = Field(default=None, alias="connectTime")
    router_id: str = Field(default="", alias="routerID")
    node_selectors: tuple[LabelSelector, ...] = Field(default=(), alias="nodeSelectors")
    password: str = Field(default="", repr=False)
    password_secret: SecretReference | None = Field(default=None, alias="passwordSecret")
    bfd_profile: str = Field(default="", alias="bfdProfile")
    enable_graceful_restart: StrictBool = Field(default=False, alias="enableGracefulRestart")
    ebgp_multi_hop: StrictBool = Field(default=False, alias="ebgpMultiHop")
    vrf: str = ""
    disable_mp: StrictBool = Field(default=False, alias="disableMP")
    dual_stack_address_family: StrictBool = Field(default=False, alias="dualStackAddressFamily")


class _Resource(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: Metadata
    # Written by the API server (IPAddressPool) or as ``status: {}`` by MetalLB's ConfigMap
    # converter (every kind); never read.
    status: dict[str, object] | None = None

    @property
    def name(self) -> str:
        return self.metadata.name


class IPAddressPool(_Resource):
    kind: Literal["IPAddressPool"] = "IPAddressPool"
    spec: IPAddressPoolSpec


class L2Advertisement(_Resource):
    kind: Literal["L2Advertisement"] = "L2Advertisement"
    spec: L2AdvertisementSpec = Field(default_factory=L2AdvertisementSpec)


class BGPAdvertisement(_Resource):
    kind: Literal["BGPAdvertisement"] = "BGPAdvertisement"
    spec: BGPAdvertisementSpec = Field(default_factory=BGPAdvertisementSpec)


class Community(_Resource):
    kind: Literal["Community"] = "Community"
    spec: CommunitySpec = Field(default_factory=CommunitySpec)


class BFDProfile(_Resource):
    kind: Literal["BFDProfile"] = "BFDProfile"
    spec: BFDProfileSpec = Field(default_factory=BFDProfileSpec)


class BGPPeer(_Resource):
    kind: Literal["BGPPeer"] = "BGPPeer"
    spec: BGPPeerSpec

    @property
    def deprecated_version(self) -> bool:
        return self.api_version == f"{METALLB_GROUP}/v1beta1"


class Secret(BaseModel):
    """A Kubernetes Secret, read only for BGP ``passwordSecret`` references."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)

    api_version: str = Field(default="v1", alias="apiVersion")
    kind: Literal["Secret"] = "Secret"
    metadata: Metadata
    type: str = "Opaque"
    data: dict[str, str] = Field(default_factory=dict, repr=False)
    string_data: dict[str, str] = Field(default_factory=dict, alias="stringData", repr=False)


MetalLBResource = (
    IPAddressPool | L2Advertisement | BGPAdvertisement | Community | BFDProfile | BGPPeer
)

# kind -> (model, accepted apiVersions)
RESOURCE_KINDS: dict[str, tuple[type[_Resource], tuple[str, ...]]] = {
    "IPAddressPool": (IPAddressPool, ("metallb.io/v1beta1",)),
    "L2Advertisement": (L2Advertisement, ("metallb.io/v1beta1",)),
    "BGPAdvertisement": (BGPAdvertisement, ("metallb.io/v1beta1",)),
    "Community": (Community, ("metallb.io/v1beta1",)),
    "BFDProfile": (BFDProfile, ("metallb.io/v1beta1",)),
    "BGPPeer": (BGPPeer, ("metallb.io/v1beta2", "metallb.io/v1beta1")),
}
