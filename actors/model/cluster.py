"""The Kubernetes objects lbtui reads, as Kubernetes writes them in YAML.

Only the fields the load balancer uses are modelled; everything else is ignored, so real
``kubectl get -o yaml`` output parses. Objects are frozen (they cross actor boundaries) and
compact: pydantic dataclasses with slots, validated by pydantic once, then plain objects with
no per-instance ``__dict__`` or field set (a Service is ~1 KB, not the ~5 KB of a
``BaseModel``), so a cluster file of 100k Services fits in memory a few times its size.
Validators are built on first use (``defer_build``), as in ``actors/config/crds.py``.
:class:`_K8s` gives them the ``BaseModel`` calls the code base uses (``model_validate``,
``model_dump``, ``model_copy``), so there is one type per kind, whichever way it is read.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Any, Literal, Self, TypeVar, dataclass_transform

import msgspec
from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter
from pydantic import dataclasses as pydantic_dataclasses

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_CONFIG = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)
_T = TypeVar("_T")


# Each kind's validator and serialiser, built the first time the kind is read or written
# (a few milliseconds each): a role builds only those of the kinds it meets.
ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(cls: type[_T]) -> TypeAdapter[_T]:
    adapter = ADAPTERS.get(cls)
    if adapter is None:
        adapter = ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


class _K8s:
    """What every cluster object can do, in ``BaseModel``'s words."""

    __slots__ = ()

    @classmethod
    def model_validate(cls, obj: Any, *, by_name: bool | None = None) -> Self:
        """Validate a mapping (YAML or JSON names; raises pydantic's ValidationError)."""
        return _adapter(cls).validate_python(obj, by_name=by_name)

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """The object as a mapping (``mode``, ``by_alias``, ``exclude_defaults``, ...)."""
        return _adapter(type(self)).dump_python(self, **kwargs)  # type: ignore[no-any-return]

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Self:
        """A copy with some fields (by their Python names) replaced, not validated again."""
        return dataclasses.replace(self, **(update or {}))  # type: ignore[type-var]


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(Field,))
def _k8s(cls: type[_T]) -> type[_T]:
    return pydantic_dataclasses.dataclass(frozen=True, slots=True, kw_only=True, config=_CONFIG)(
        cls
    )


# Equal label, annotation and selector maps read are one dict (an annotation naming the pool,
# the labels of one app's Services): never changed after reading, like everything here.
# At most this many are kept; then the table starts again (what it shared stays shared).
_MAPS: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
_MAPS_HELD = 4096


def _shared_map(mapping: dict[str, str]) -> dict[str, str]:
    items = tuple(mapping.items())
    found = _MAPS.get(items)
    if found is not None:
        return found
    if len(_MAPS) >= _MAPS_HELD:
        _MAPS.clear()
    _MAPS[items] = mapping
    return mapping


StringMap = Annotated[dict[str, str], AfterValidator(_shared_map)]


@_k8s
class ObjectMeta(_K8s):
    name: str = ""
    namespace: str = ""
    labels: StringMap = Field(default_factory=dict)
    annotations: StringMap = Field(default_factory=dict)
    creation_timestamp: datetime | None = Field(default=None, alias="creationTimestamp")
    resource_version: str = Field(default="", alias="resourceVersion")
    uid: str = ""


@_k8s
class ServicePort(_K8s):
    name: str = ""
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    port: int = Field(ge=1, le=65535)


# The few values of a Service that nearly all Services share, held once (they are immutable).
_FAMILIES: dict[tuple[str, ...], tuple[str, ...]] = {
    f: f for f in [(), ("IPv4",), ("IPv6",), ("IPv4", "IPv6"), ("IPv6", "IPv4")]
}


def _one_of_each(families: tuple[str, ...]) -> tuple[str, ...]:
    return _FAMILIES.get(families, families)


@_k8s
class ServiceSpec(_K8s):
    type: str = "ClusterIP"
    ports: tuple[ServicePort, ...] = ()
    selector: StringMap = Field(default_factory=dict)
    cluster_ip: str = Field(default="", alias="clusterIP")
    cluster_ips: tuple[str, ...] = Field(default=(), alias="clusterIPs")
    ip_families: Annotated[tuple[Literal["IPv4", "IPv6"], ...], AfterValidator(_one_of_each)] = (
        Field(default=(), alias="ipFamilies")
    )
    ip_family_policy: Literal["SingleStack", "PreferDualStack", "RequireDualStack"] | None = Field(
        default=None, alias="ipFamilyPolicy"
    )
    external_traffic_policy: Literal["Cluster", "Local"] = Field(
        default="Cluster", alias="externalTrafficPolicy"
    )
    load_balancer_ip: str = Field(default="", alias="loadBalancerIP")
    load_balancer_class: str | None = Field(default=None, alias="loadBalancerClass")


@_k8s
class LoadBalancerIngress(_K8s):
    ip: str = ""
    hostname: str = ""


@_k8s
class LoadBalancerStatus(_K8s):
    ingress: tuple[LoadBalancerIngress, ...] = ()


@_k8s
class ServiceStatus(_K8s):
    load_balancer: LoadBalancerStatus = Field(
        default_factory=LoadBalancerStatus, alias="loadBalancer"
    )


def _unvalidated(cls: type[_T], **fields: Any) -> _T:
    """An object of a kind from fields already valid, without its validator (building one
    costs milliseconds: a value made at import would charge every start with it)."""
    obj = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(obj, name, value)
    return obj


# A Service without an address yet: most of a cluster file's, all sharing this one.
NO_STATUS = _unvalidated(ServiceStatus, load_balancer=_unvalidated(LoadBalancerStatus, ingress=()))


def _shared_if_empty(status: ServiceStatus) -> ServiceStatus:
    return NO_STATUS if status == NO_STATUS else status


@_k8s
class Service(_K8s):
    api_version: str = Field(default="v1", alias="apiVersion")
    kind: Literal["Service"] = "Service"
    metadata: ObjectMeta
    spec: ServiceSpec = Field(default_factory=ServiceSpec)
    status: Annotated[ServiceStatus, AfterValidator(_shared_if_empty)] = Field(
        default_factory=lambda: NO_STATUS
    )

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace or 'default'}/{self.metadata.name}"

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    @property
    def is_load_balancer(self) -> bool:
        return self.spec.type == "LoadBalancer"

    @property
    def created(self) -> datetime:
        return self.metadata.creation_timestamp or EPOCH

    @property
    def ingress_ips(self) -> tuple[str, ...]:
        return tuple(i.ip for i in self.status.load_balancer.ingress if i.ip)

    def cluster_ip_families(self) -> tuple[int, ...]:
        """IP versions of spec.clusterIPs (or clusterIP), in order; MetalLB's family source."""
        ips = self.spec.cluster_ips or ((self.spec.cluster_ip,) if self.spec.cluster_ip else ())
        families: list[int] = []
        for text in ips:
            if not text or text == "None":
                continue
            try:
                version = ipaddress.ip_address(text).version
            except ValueError:
                continue
            if version not in families:
                families.append(version)
        return tuple(families)


@_k8s
class EndpointConditions(_K8s):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


@_k8s
class Endpoint(_K8s):
    addresses: tuple[str, ...] = ()
    node_name: str | None = Field(default=None, alias="nodeName")
    conditions: EndpointConditions = Field(default_factory=EndpointConditions)

    @property
    def is_serving(self) -> bool:
        """MetalLB's rule: ready unset, ready true, or serving true."""
        c = self.conditions
        return c.ready is None or c.ready is True or c.serving is True


@_k8s
class EndpointSlice(_K8s):
    api_version: str = Field(default="discovery.k8s.io/v1", alias="apiVersion")
    kind: Literal["EndpointSlice"] = "EndpointSlice"
    metadata: ObjectMeta
    address_type: str = Field(default="IPv4", alias="addressType")
    endpoints: tuple[Endpoint, ...] = ()

    @property
    def service_key(self) -> str | None:
        name = self.metadata.labels.get(SERVICE_NAME_LABEL)
        if not name:
            return None
        return f"{self.metadata.namespace or 'default'}/{name}"


@_k8s
class NodeCondition(_K8s):
    type: str
    status: str


@_k8s
class NodeAddress(_K8s):
    type: str
    address: str


@_k8s
class NodeStatus(_K8s):
    conditions: tuple[NodeCondition, ...] = ()
    addresses: tuple[NodeAddress, ...] = ()


@_k8s
class Node(_K8s):
    api_version: str = Field(default="v1", alias="apiVersion")
    kind: Literal["Node"] = "Node"
    metadata: ObjectMeta
    status: NodeStatus = Field(default_factory=NodeStatus)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def network_unavailable(self) -> bool:
        return any(
            c.type == "NetworkUnavailable" and c.status == "True" for c in self.status.conditions
        )

    @property
    def excluded_from_load_balancers(self) -> bool:
        return EXCLUDE_LB_LABEL in self.metadata.labels


@_k8s
class Namespace(_K8s):
    api_version: str = Field(default="v1", alias="apiVersion")
    kind: Literal["Namespace"] = "Namespace"
    metadata: ObjectMeta


class ClusterState(msgspec.Struct, frozen=True):
    """One consistent view of the cluster objects, keyed for the cores."""

    services: Mapping[str, Service] = msgspec.field(default_factory=lambda: MappingProxyType({}))
    endpoint_slices: tuple[EndpointSlice, ...] = ()
    nodes: Mapping[str, Node] = msgspec.field(default_factory=lambda: MappingProxyType({}))
    namespaces: Mapping[str, Namespace] = msgspec.field(
        default_factory=lambda: MappingProxyType({})
    )

    @classmethod
    def of(
        cls,
        services: list[Service] | tuple[Service, ...] = (),
        endpoint_slices: list[EndpointSlice] | tuple[EndpointSlice, ...] = (),
        nodes: list[Node] | tuple[Node, ...] = (),
        namespaces: list[Namespace] | tuple[Namespace, ...] = (),
    ) -> ClusterState:
        return cls(
            services=MappingProxyType({s.key: s for s in services}),
            endpoint_slices=tuple(endpoint_slices),
            nodes=MappingProxyType({n.name: n for n in nodes}),
            namespaces=MappingProxyType({n.metadata.name: n for n in namespaces}),
        )

    def namespace_labels(self, namespace: str) -> Mapping[str, str]:
        ns = self.namespaces.get(namespace)
        return ns.metadata.labels if ns else {}

    def endpoints_of(self, service_key: str) -> tuple[Endpoint, ...]:
        return tuple(
            ep
            for sl in self.endpoint_slices
            if sl.service_key == service_key
            for ep in sl.endpoints
        )
