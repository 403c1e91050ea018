"""Turning a resolved :class:`Config` back into metallb.io documents (what ``kubectl get -o yaml``
would show): the status endpoint's ``/state`` and the console's YAML view and edits use them.

Passwords are never written out: a BGPPeer that has one carries the annotation
:data:`PASSWORD_NOTE` instead. Pure; imports only the config model and the default namespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.config.build import DEFAULT_NAMESPACE
from actors.model.config import Config
from actors.model.selectors import LabelSelector

PASSWORD_NOTE = "lbtui.io/password"  # annotation saying a password is set (never its value)
API_V1BETA1 = "metallb.io/v1beta1"
API_V1BETA2 = "metallb.io/v1beta2"


def _selectors(selectors: tuple[LabelSelector, ...]) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json", by_alias=True, exclude_defaults=True) for s in selectors]


def _meta(name: str, namespace: str, annotations: Mapping[str, str] | None = None) -> dict:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def config_documents(config: Config, namespace: str = DEFAULT_NAMESPACE) -> list[dict[str, Any]]:
    """The configuration as metallb.io objects (what ``kubectl get -o yaml`` would show).

    Passwords are never included: a peer with one carries the annotation ``lbtui.io/password``.
    """
    docs: list[dict[str, Any]] = []
    for pool in sorted(config.pools.values(), key=lambda p: p.name):
        spec: dict[str, Any] = {"addresses": [r.text for r in pool.ranges]}
        if not pool.auto_assign:
            spec["autoAssign"] = False
        if pool.avoid_buggy_ips:
            spec["avoidBuggyIPs"] = True
        if pool.allocation is not None:
            sa: dict[str, Any] = {}
            if pool.allocation.priority:
                sa["priority"] = pool.allocation.priority
            if pool.allocation.namespaces:
                sa["namespaces"] = sorted(pool.allocation.namespaces)
            if pool.allocation.namespace_selectors:
                sa["namespaceSelectors"] = _selectors(pool.allocation.namespace_selectors)
            if pool.allocation.service_selectors:
                sa["serviceSelectors"] = _selectors(pool.allocation.service_selectors)
            spec["serviceAllocation"] = sa
        docs.append(_doc(API_V1BETA1, "IPAddressPool", pool.name, namespace, spec))
    for l2 in config.l2_advertisements:
        spec = {"ipAddressPools": sorted(l2.pools)}
        if l2.node_selectors:
            spec["nodeSelectors"] = _selectors(l2.node_selectors)
        if l2.service_selectors:
            spec["serviceSelectors"] = _selectors(l2.service_selectors)
        if l2.interfaces:
            spec["interfaces"] = list(l2.interfaces)
        if l2.preferred_nodes:
            spec["preferredNodeSelectors"] = [
                {"weight": p.weight, "preference": _selectors((p.preference,))[0]}
                for p in l2.preferred_nodes
            ]
        docs.append(_doc(API_V1BETA1, "L2Advertisement", l2.name, namespace, spec))
    for bgp in config.bgp_advertisements:
        spec = {"ipAddressPools": sorted(bgp.pools)}
        if bgp.aggregation_length != 32:
            spec["aggregationLength"] = bgp.aggregation_length
        if bgp.aggregation_length_v6 != 128:
            spec["aggregationLengthV6"] = bgp.aggregation_length_v6
        if bgp.local_pref:
            spec["localPref"] = bgp.local_pref
        if bgp.communities:
            spec["communities"] = [c.text for c in bgp.communities]
        if bgp.node_selectors:
            spec["nodeSelectors"] = _selectors(bgp.node_selectors)
        if bgp.peers:
            spec["peers"] = list(bgp.peers)
        if bgp.service_selectors:
            spec["serviceSelectors"] = _selectors(bgp.service_selectors)
        docs.append(_doc(API_V1BETA1, "BGPAdvertisement", bgp.name, namespace, spec))
    for profile in sorted(config.bfd_profiles.values(), key=lambda p: p.name):
        spec = {
            "receiveInterval": profile.receive_interval,
            "transmitInterval": profile.transmit_interval,
            "detectMultiplier": profile.detect_multiplier,
            "echoInterval": profile.echo_interval,
            "echoMode": profile.echo_mode,
            "passiveMode": profile.passive_mode,
            "minimumTtl": profile.minimum_ttl,
        }
        docs.append(_doc(API_V1BETA1, "BFDProfile", profile.name, namespace, spec))
    if config.communities:
        spec = {
            "communities": [
                {"name": name, "value": c.text} for name, c in sorted(config.communities.items())
            ]
        }
        docs.append(_doc(API_V1BETA1, "Community", "communities", namespace, spec))
    for peer in config.peers:
        spec = {"myASN": peer.my_asn}
        if peer.dynamic_asn:
            spec["dynamicASN"] = peer.dynamic_asn
        else:
            spec["peerASN"] = peer.peer_asn
        if peer.peer_address is None:
            spec["interface"] = peer.interface
        else:
            spec["peerAddress"] = str(peer.peer_address)
        if peer.peer_port != 179:
            spec["peerPort"] = peer.peer_port
        if peer.source_address is not None:
            spec["sourceAddress"] = str(peer.source_address)
        spec["holdTime"] = f"{peer.hold_time}s"
        spec["keepaliveTime"] = f"{peer.keepalive_time}s"
        if peer.connect_time is not None:
            spec["connectTime"] = f"{peer.connect_time}s"
        if peer.router_id is not None:
            spec["routerID"] = str(peer.router_id)
        if peer.node_selectors:
            spec["nodeSelectors"] = _selectors(peer.node_selectors)
        if peer.password_secret is not None:
            spec["passwordSecret"] = {
                "name": peer.password_secret.name,
                "namespace": peer.password_secret.namespace,
            }
        if peer.bfd_profile:
            spec["bfdProfile"] = peer.bfd_profile
        if peer.ebgp_multihop:
            spec["ebgpMultiHop"] = True
        if peer.enable_graceful_restart:
            spec["enableGracefulRestart"] = True
        if peer.vrf:
            spec["vrf"] = peer.vrf
        notes = {PASSWORD_NOTE: "set"} if peer.password else None
        docs.append(_doc(API_V1BETA2, "BGPPeer", peer.name, namespace, spec, notes))
    return docs


def _doc(
    api: str,
    kind: str,
    name: str,
    namespace: str,
    spec: dict[str, Any],
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": _meta(name, namespace, annotations),
        "spec": spec,
    }
