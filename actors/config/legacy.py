"""MetalLB's pre-0.13 ConfigMap (``metallb-system/config``, key ``config``).

The legacy YAML is parsed strictly (MetalLB used ``yaml.UnmarshalStrict``) and converted into
the same ``metallb.io`` resources MetalLB's own ``configmaptocrs`` tool produces, so both
formats go through one validation path (``build.py``). Pool and BFD profile names are
renamed as the converter renames them (``names.converter_name``: ``01_Pool`` -> ``pool``), so
a ConfigMap and its converted resources allocate alike. Converted objects carry a
``lbtui.io/converted-from`` annotation so errors point back at the ConfigMap entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from actors.config import crds
from actors.config.loader import LegacyConfigMap, Sourced, format_loc, yaml_documents
from actors.config.names import converter_name
from actors.model.issues import Issue, UnreadableInput

ORIGIN = "lbtui.io/converted-from"
TARGET_NAMESPACE = "metallb-system"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)


class LegacyExpression(_Strict):
    key: str
    operator: str
    values: tuple[str, ...] = ()


class LegacySelector(_Strict):
    match_labels: dict[str, str] = Field(default_factory=dict, alias="match-labels")
    match_expressions: tuple[LegacyExpression, ...] = Field(default=(), alias="match-expressions")


class LegacyPeer(_Strict):
    my_asn: int = Field(default=0, alias="my-asn")
    peer_asn: int = Field(default=0, alias="peer-asn")
    peer_address: str = Field(default="", alias="peer-address")
    source_address: str = Field(default="", alias="source-address")
    peer_port: int = Field(default=179, alias="peer-port")
    hold_time: str | None = Field(default=None, alias="hold-time")
    keepalive_time: str | None = Field(default=None, alias="keepalive-time")
    router_id: str = Field(default="", alias="router-id")
    node_selectors: tuple[LegacySelector, ...] = Field(default=(), alias="node-selectors")
    password: str = Field(default="", repr=False)
    bfd_profile: str = Field(default="", alias="bfd-profile")
    ebgp_multihop: StrictBool = Field(default=False, alias="ebgp-multihop")


class LegacyAdvertisement(_Strict):
    aggregation_length: int | None = Field(default=None, alias="aggregation-length")
    aggregation_length_v6: int | None = Field(default=None, alias="aggregation-length-v6")
    localpref: int | None = None
    communities: tuple[str, ...] = ()


class LegacyPool(_Strict):
    name: str = Field(min_length=1)
    protocol: Literal["bgp", "layer2"]
    addresses: tuple[str, ...] = Field(min_length=1)
    auto_assign: StrictBool = Field(default=True, alias="auto-assign")
    avoid_buggy_ips: StrictBool = Field(default=False, alias="avoid-buggy-ips")
    bgp_advertisements: tuple[LegacyAdvertisement, ...] = Field(
        default=(), alias="bgp-advertisements"
    )


class LegacyBFDProfile(_Strict):
    name: str = Field(min_length=1)
    receive_interval: int | None = Field(default=None, alias="receive-interval")
    transmit_interval: int | None = Field(default=None, alias="transmit-interval")
    detect_multiplier: int | None = Field(default=None, alias="detect-multiplier")
    echo_interval: int | None = Field(default=None, alias="echo-interval")
    echo_mode: StrictBool | None = Field(default=None, alias="echo-mode")
    passive_mode: StrictBool | None = Field(default=None, alias="passive-mode")
    minimum_ttl: int | None = Field(default=None, alias="minimum-ttl")


class LegacyConfig(_Strict):
    peers: tuple[LegacyPeer, ...] = ()
    address_pools: tuple[LegacyPool, ...] = Field(default=(), alias="address-pools")
    bgp_communities: dict[str, str] = Field(default_factory=dict, alias="bgp-communities")
    bfd_profiles: tuple[LegacyBFDProfile, ...] = Field(default=(), alias="bfd-profiles")


def convert_legacy(
    source: Sourced[LegacyConfigMap],
) -> tuple[list[Sourced[crds.MetalLBResource]], list[Issue]]:
    cm = source.obj
    where = f"ConfigMap/{cm.name}"
    issues: list[Issue] = []
    try:
        docs = [doc for doc, _ in yaml_documents(cm.text, source.file)]
    except UnreadableInput as exc:
        return [], [Issue(source.file, where, "data.config", str(exc), line=source.line)]
    raw: Any = docs[0] if docs else {}
    if raw is None:
        raw = {}
    try:
        legacy = LegacyConfig.model_validate(raw, by_name=False)
    except ValidationError as exc:
        for err in exc.errors():
            message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            if err["type"] == "literal_error":
                message = f"unknown protocol {err.get('input')!r} (expected bgp or layer2)"
            path = ("data.config." + format_loc(err["loc"])).rstrip(".")
            issues.append(Issue(source.file, where, path, message, line=source.line))
        return [], issues
    legacy = _rename_as_converter(legacy, source, where, issues)

    out: list[crds.MetalLBResource] = []

    def add(origin: str, build: Callable[[], crds.MetalLBResource]) -> None:
        # Values that pass the legacy schema can still break a CRD rule (a BFD interval out
        # of range, a bad selector operator): report them at the legacy path.
        try:
            out.append(build())
        except ValidationError as exc:
            for err in exc.errors():
                path = f"data.config.{origin}.{format_loc(err['loc'])}".rstrip(".")
                issues.append(Issue(source.file, where, path, err["msg"], line=source.line))

    def meta(name: str, origin: str) -> dict[str, Any]:
        return {
            "name": name,
            "namespace": TARGET_NAMESPACE,
            "annotations": {ORIGIN: f"{where} {origin}"},
        }

    for i, pool in enumerate(legacy.address_pools):
        origin = f"address-pools[{i}]"
        add(
            origin,
            lambda pool=pool, origin=origin: crds.IPAddressPool(
                apiVersion="metallb.io/v1beta1",
                metadata=meta(pool.name, origin),
                spec=crds.IPAddressPoolSpec(
                    addresses=pool.addresses,
                    autoAssign=pool.auto_assign,
                    avoidBuggyIPs=pool.avoid_buggy_ips,
                ),
            ),
        )
    l2_count = bgp_count = 0
    for i, pool in enumerate(legacy.address_pools):
        origin = f"address-pools[{i}]"
        if pool.protocol == "layer2":
            if pool.bgp_advertisements:
                issues.append(
                    Issue(
                        source.file,
                        where,
                        f"data.config.{origin}.bgp-advertisements",
                        "bgp-advertisements are not allowed in a layer2 pool",
                        line=source.line,
                    )
                )
            l2_count += 1
            out.append(
                crds.L2Advertisement(
                    apiVersion="metallb.io/v1beta1",
                    metadata=meta(f"l2advertisement{l2_count}", origin),
                    spec=crds.L2AdvertisementSpec(ipAddressPools=(pool.name,)),
                )
            )
            continue
        for j, ad in enumerate(pool.bgp_advertisements or (LegacyAdvertisement(),)):
            bgp_count += 1
            ad_origin = f"{origin}.bgp-advertisements[{j}]"
            add(
                ad_origin,
                lambda ad=ad, pool=pool, n=bgp_count, o=ad_origin: crds.BGPAdvertisement(
                    apiVersion="metallb.io/v1beta1",
                    metadata=meta(f"bgpadvertisement{n}", o),
                    spec=crds.BGPAdvertisementSpec(
                        aggregationLength=ad.aggregation_length,
                        aggregationLengthV6=ad.aggregation_length_v6,
                        localPref=ad.localpref or 0,
                        communities=ad.communities,
                        ipAddressPools=(pool.name,),
                    ),
                ),
            )
    for i, peer in enumerate(legacy.peers):
        add(
            f"peers[{i}]",
            lambda i=i, peer=peer: crds.BGPPeer(
                apiVersion="metallb.io/v1beta2",
                metadata=meta(f"peer{i + 1}", f"peers[{i}]"),
                spec=crds.BGPPeerSpec(
                    myASN=peer.my_asn,
                    peerASN=peer.peer_asn,
                    peerAddress=peer.peer_address,
                    sourceAddress=peer.source_address,
                    peerPort=peer.peer_port,
                    holdTime=peer.hold_time,
                    keepaliveTime=peer.keepalive_time,
                    routerID=peer.router_id,
                    nodeSelectors=tuple(
                        {
                            "matchLabels": sel.match_labels,
                            "matchExpressions": [e.model_dump() for e in sel.match_expressions],
                        }
                        for sel in peer.node_selectors
                    ),
                    password=peer.password,
                    bfdProfile=peer.bfd_profile,
                    ebgpMultiHop=peer.ebgp_multihop,
                ),
            ),
        )
    if legacy.bgp_communities:
        add(
            "bgp-communities",
            lambda: crds.Community(
                apiVersion="metallb.io/v1beta1",
                metadata=meta("communities", "bgp-communities"),
                spec=crds.CommunitySpec(
                    communities=tuple(
                        crds.CommunityAlias(name=k, value=v)
                        for k, v in legacy.bgp_communities.items()
                    )
                ),
            ),
        )
    for i, profile in enumerate(legacy.bfd_profiles):
        add(
            f"bfd-profiles[{i}]",
            lambda i=i, profile=profile: crds.BFDProfile(
                apiVersion="metallb.io/v1beta1",
                metadata=meta(profile.name, f"bfd-profiles[{i}]"),
                spec=crds.BFDProfileSpec.model_validate(
                    profile.model_dump(by_alias=False, exclude_none=True, exclude={"name"})
                ),
            ),
        )
    return [Sourced(obj, source.file, source.line) for obj in out], issues


def _rename_as_converter(
    legacy: LegacyConfig, source: Sourced[LegacyConfigMap], where: str, issues: list[Issue]
) -> LegacyConfig:
    """``legacy`` with pools and BFD profiles (and peers' references to them) named as MetalLB's
    converter names them; a rename is a warning (annotations naming the old pool no longer
    match), a name the converter cannot rename an error."""

    def rename(name: str, path: str, kind: str) -> str:
        new = converter_name(name)
        if new is None:
            issues.append(
                Issue(
                    source.file,
                    where,
                    path,
                    f"cannot make {kind} name {name!r} a Kubernetes name (it has no letter)",
                    line=source.line,
                )
            )
            return name
        if new != name:
            issues.append(
                Issue(
                    source.file,
                    where,
                    path,
                    f"{kind} {name!r} becomes {new!r}, as MetalLB's converter names it; "
                    f"Services asking for {name!r} by annotation must ask for {new!r}",
                    severity="warning",
                    line=source.line,
                )
            )
        return new

    pools = tuple(
        pool.model_copy(
            update={"name": rename(pool.name, f"data.config.address-pools[{i}].name", "pool")}
        )
        for i, pool in enumerate(legacy.address_pools)
    )
    profiles = tuple(
        profile.model_copy(
            update={
                "name": rename(profile.name, f"data.config.bfd-profiles[{i}].name", "BFD profile")
            }
        )
        for i, profile in enumerate(legacy.bfd_profiles)
    )
    peers = tuple(
        peer.model_copy(
            update={"bfd_profile": converter_name(peer.bfd_profile) or peer.bfd_profile}
        )
        if peer.bfd_profile
        else peer
        for peer in legacy.peers
    )
    return legacy.model_copy(
        update={"address_pools": pools, "bfd_profiles": profiles, "peers": peers}
    )
