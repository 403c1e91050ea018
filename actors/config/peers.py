"""BGPPeers and the BFD profiles they name: from validated resources to :class:`Peer` s.

MetalLB's rules for a peer, each reported against the field it concerns: ASNs (``peerASN``
or ``dynamicASN``), addresses, the hold and keepalive timers (compared exactly, then rounded
down to seconds), ``connectTime``, the password or its Secret (which must exist, be of type
basic-auth and hold a password), the BFD profile, eBGP multi-hop, and no two peers alike. A
peer with an error is left out of the Config.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
from collections.abc import Callable, Mapping
from typing import Any

from actors.config import crds
from actors.config.loader import Sourced
from actors.config.parsing import parse_duration
from actors.config.report import Report, Resource
from actors.model.config import BFDProfile, Peer, SecretRef

DEFAULT_HOLD_TIME = 90
MAX_HOLD_TIME = 65535  # the OPEN message has 16 bits for it

# Secrets by (namespace, name).
Secrets = Mapping[tuple[str, str], Sourced[crds.Secret]]


def build_bfd_profiles(items: list[Resource]) -> dict[str, BFDProfile]:
    profiles: dict[str, BFDProfile] = {}
    for res in items:
        assert isinstance(res.obj, crds.BFDProfile)
        spec = res.obj.spec
        defaults = BFDProfile(name=res.obj.name)
        profiles[res.obj.name] = BFDProfile(
            name=res.obj.name,
            receive_interval=spec.receive_interval or defaults.receive_interval,
            transmit_interval=spec.transmit_interval or defaults.transmit_interval,
            detect_multiplier=spec.detect_multiplier or defaults.detect_multiplier,
            echo_interval=spec.echo_interval or defaults.echo_interval,
            echo_mode=bool(spec.echo_mode),
            passive_mode=bool(spec.passive_mode),
            minimum_ttl=spec.minimum_ttl or defaults.minimum_ttl,
        )
    return profiles


def build_peers(
    report: Report,
    items: list[Resource],
    bfd_profiles: Mapping[str, BFDProfile],
    secrets: Secrets,
    namespace: str,
) -> dict[str, Peer]:
    """The valid peers by name; ``namespace`` is where a ``passwordSecret`` without one lives."""
    peers: dict[str, Peer] = {}
    fingerprints: dict[str, str] = {}
    for res in items:
        peer = _peer(report, res, bfd_profiles, secrets, namespace)
        if peer is None:
            continue
        assert isinstance(res.obj, crds.BGPPeer)
        fingerprint = res.obj.spec.model_dump_json()
        if fingerprint in fingerprints:
            report.error(
                res, "spec", f"duplicate peer: identical to BGPPeer/{fingerprints[fingerprint]}"
            )
            continue
        fingerprints[fingerprint] = res.obj.name
        peers[peer.name] = peer
    return peers


def _peer(
    report: Report,
    res: Resource,
    bfd_profiles: Mapping[str, BFDProfile],
    secrets: Secrets,
    namespace: str,
) -> Peer | None:
    assert isinstance(res.obj, crds.BGPPeer)
    spec = res.obj.spec
    ok = True
    if res.obj.deprecated_version:
        report.warn(
            res, "apiVersion", "metallb.io/v1beta1 BGPPeer is deprecated, please use v1beta2"
        )
    if spec.my_asn == 0:
        report.error(res, "spec.myASN", "missing local ASN")
        ok = False
    if spec.peer_asn and spec.dynamic_asn:
        report.error(res, "spec.dynamicASN", "peerASN and dynamicASN are mutually exclusive")
        ok = False
    elif not spec.peer_asn and not spec.dynamic_asn:
        report.error(res, "spec.peerASN", "missing peer ASN (set peerASN or dynamicASN)")
        ok = False
    peer_asn = spec.peer_asn
    if spec.dynamic_asn == "internal":
        peer_asn = spec.my_asn
    if spec.peer_address and spec.interface:
        report.error(res, "spec.interface", "peerAddress and interface are mutually exclusive")
        ok = False
    peer_address = None
    if spec.interface and not spec.peer_address:
        problem = interface_name_problem(spec.interface)
        if problem:
            report.error(res, "spec.interface", problem)
            ok = False
    elif not spec.peer_address:
        report.error(res, "spec.peerAddress", "missing peer address or interface")
        ok = False
    else:
        peer_address = _address(
            report,
            res,
            "spec.peerAddress",
            spec.peer_address,
            ipaddress.ip_address,
            f"invalid BGPPeer address {spec.peer_address!r}",
        )
        ok = ok and peer_address is not None
    source_address = None
    if spec.source_address:
        source_address = _address(
            report,
            res,
            "spec.sourceAddress",
            spec.source_address,
            ipaddress.ip_address,
            f"invalid source address {spec.source_address!r}",
        )
        ok = ok and source_address is not None
    router_id = None
    if spec.router_id:
        router_id = _address(
            report,
            res,
            "spec.routerID",
            spec.router_id,
            ipaddress.IPv4Address,
            f"invalid router ID {spec.router_id!r}: must be an IPv4 address",
        )
        ok = ok and router_id is not None
    timers = _timers(report, res, spec)
    if timers is None:
        ok = False
    connect_time = None
    if spec.connect_time is not None:
        try:
            seconds = parse_duration(spec.connect_time)
            if seconds != int(seconds) or not 1 <= seconds <= 65535:
                raise ValueError("connectTime must be whole seconds between 1s and 65535s")
            connect_time = int(seconds)
        except ValueError as exc:
            report.error(res, "spec.connectTime", str(exc))
            ok = False
    # MetalLB's passwordSecret is a struct, not a pointer: one without a name is unset.
    secret_ref = spec.password_secret
    if secret_ref is not None and not secret_ref.name:
        secret_ref = None
    if spec.password and secret_ref is not None:
        report.error(
            res, "spec.passwordSecret", "password and passwordSecret are mutually exclusive"
        )
        ok = False
    password_secret = None
    if secret_ref is not None:
        password_secret = SecretRef(secret_ref.name, secret_ref.namespace or namespace)
        _check_secret(report, res, password_secret, secrets)
    if spec.bfd_profile and spec.bfd_profile not in bfd_profiles:
        report.error(res, "spec.bfdProfile", f"unknown BFD profile {spec.bfd_profile!r}")
        ok = False
    if spec.ebgp_multi_hop and spec.my_asn and peer_asn == spec.my_asn:
        report.error(
            res, "spec.ebgpMultiHop", "invalid ebgpMultiHop parameter set for an ibgp peer"
        )
        ok = False
    if spec.disable_mp:
        report.warn(res, "spec.disableMP", "disableMP is deprecated and has no effect")
    report.check_selectors(res, "spec.nodeSelectors", spec.node_selectors)
    if not ok or timers is None or (peer_address is None and not spec.interface):
        return None
    hold, keepalive = timers
    return Peer(
        name=res.obj.name,
        my_asn=spec.my_asn,
        peer_asn=peer_asn,
        peer_address=peer_address,
        peer_port=spec.peer_port,
        source_address=source_address,
        hold_time=hold,
        keepalive_time=keepalive,
        connect_time=connect_time,
        router_id=router_id,
        node_selectors=spec.node_selectors,
        password=spec.password,
        password_secret=password_secret,
        bfd_profile=spec.bfd_profile,
        ebgp_multihop=spec.ebgp_multi_hop,
        enable_graceful_restart=spec.enable_graceful_restart,
        vrf=spec.vrf,
        dynamic_asn=spec.dynamic_asn or "",
        local_asn=spec.local_asn,
        interface=spec.interface if peer_address is None else "",
    )


def interface_name_problem(name: str) -> str:
    """Why ``name`` cannot be a Linux interface name ("" if it can): 1 to 15 bytes, no
    ``/``, ``:`` or whitespace, not ``.`` or ``..`` (the kernel's dev_valid_name)."""
    if not name or len(name.encode()) > 15:
        return f"interface {name!r}: a Linux interface name is 1 to 15 bytes"
    if name in (".", "..") or any(c in "/:" or c.isspace() for c in name):
        return f"interface {name!r}: not a Linux interface name (no '/', ':' or spaces)"
    return ""


def _address(
    report: Report,
    res: Resource,
    path: str,
    text: str,
    parse: Callable[[str], Any],
    message: str,
) -> Any:
    """Parse one address field; report ``message`` at ``path`` and return None if bad."""
    try:
        return parse(text.strip())
    except ValueError:
        report.error(res, path, message)
        return None


def _timers(report: Report, res: Resource, spec: crds.BGPPeerSpec) -> tuple[int, int] | None:
    """MetalLB's hold/keepalive rules, compared exactly, then rounded down to seconds."""
    hold = keepalive = None
    try:
        if spec.hold_time is not None:
            hold = parse_duration(spec.hold_time)
    except ValueError as exc:
        report.error(res, "spec.holdTime", str(exc))
        return None
    try:
        if spec.keepalive_time is not None:
            keepalive = parse_duration(spec.keepalive_time)
    except ValueError as exc:
        report.error(res, "spec.keepaliveTime", str(exc))
        return None
    if hold is None and keepalive is None:
        hold, keepalive = float(DEFAULT_HOLD_TIME), float(DEFAULT_HOLD_TIME // 3)
    elif hold is None:
        assert keepalive is not None
        hold = 3 * keepalive
    elif keepalive is None:
        keepalive = hold / 3
    rounded_hold = math.floor(hold)
    if rounded_hold != 0 and rounded_hold < 3:
        shown = spec.hold_time if spec.hold_time is not None else f"{hold:g}s"
        report.error(res, "spec.holdTime", f"invalid hold time {shown!r}: must be 0 or >=3s")
        return None
    if rounded_hold > MAX_HOLD_TIME:
        report.error(
            res,
            "spec.holdTime",
            f"invalid hold time {spec.hold_time!r}: BGP carries at most {MAX_HOLD_TIME}s",
        )
        return None
    if keepalive > hold:
        report.error(
            res,
            "spec.keepaliveTime",
            f"invalid keepaliveTime {spec.keepalive_time!r}, must be lower than holdTime {hold:g}s",
        )
        return None
    return rounded_hold, math.floor(keepalive)


def _check_secret(report: Report, res: Resource, ref: SecretRef, secrets: Secrets) -> None:
    found = secrets.get((ref.namespace, ref.name))
    if found is None:
        # MetalLB treats this as transient: the Secret may be created later.
        report.warn(
            res,
            "spec.passwordSecret",
            f"Secret {ref.namespace}/{ref.name} not found; the session waits for it",
        )
        return
    secret = found.obj
    if secret.type != "kubernetes.io/basic-auth":
        report.error(
            res,
            "spec.passwordSecret",
            f"Secret {ref.namespace}/{ref.name} has type {secret.type!r}, "
            "expected kubernetes.io/basic-auth",
        )
    elif "password" in secret.data:
        try:
            base64.b64decode(secret.data["password"], validate=True)
        except (binascii.Error, ValueError):
            report.error(
                res,
                "spec.passwordSecret",
                f"Secret {ref.namespace}/{ref.name}: key 'password' is not valid base64",
            )
    elif "password" not in secret.string_data:
        report.error(
            res,
            "spec.passwordSecret",
            f"Secret {ref.namespace}/{ref.name} has no 'password' key",
        )
