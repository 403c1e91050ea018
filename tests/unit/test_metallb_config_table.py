"""MetalLB's own configuration cases, restated: TestParse and TestServiceSelectors of
internal/config/config_test.go.

"BGP Peer with unavailable secret ref" is the README's documented difference (MetalLB: a
transient error, retried; lbtui offline: a warning, the session waits for the Secret): its own
test below. Not portable: TestParse's two ``FRRK8sSecretPassthrough`` cases (an option of MetalLB's
frr-k8s mode, which lbtui does not have); its "config using all features" and BFD cases are
restated as "accepted" plus the parsed values lbtui exposes, as its ``want`` compares
MetalLB's internal structures.

Each row names the Go case it comes from (``TestParse/<desc>``), gives its input as the YAML
objects a user would write, and says what MetalLB decides: accepted (``OK``) or refused (an
error, with a phrase of lbtui's message). The inputs are MetalLB's; where the Go case left a
name out (Go's zero value, which Kubernetes would never store), the object gets one, and the
case still turns on the field it was written for. Cases that only compare MetalLB's internal
parsed structures are restated as "accepted" plus the facts lbtui exposes (timers, ports).

Every case agrees with MetalLB. The one that did not (a CIDR with host bits set, refused by
lbtui, accepted and masked by MetalLB) was fixed in lbtui.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.unit.test_config_validation import (
    bfd,
    bgp_ad,
    build,
    community,
    l2_ad,
    node,
    peer,
    pool,
    secret,
)

OK = None


@dataclass(frozen=True)
class Case:
    go: str  # the Go case: TestParse/<desc>
    docs: tuple[dict[str, Any], ...]
    error: str | None  # None: MetalLB accepts it; else a phrase of lbtui's error


def bgp_peer(name: str = "peer1", **spec: Any) -> dict[str, Any]:
    """A BGPPeer as MetalLB's cases write it: myASN 42, peerASN 42, 1.2.3.4 unless told."""
    return peer(name, **{"myASN": 42, "peerASN": 42, "peerAddress": "1.2.3.4", **spec})


def selector(labels: dict[str, str] | None = None, *exprs: tuple[str, str, list[str]]) -> dict:
    out: dict[str, Any] = {}
    if labels:
        out["matchLabels"] = labels
    if exprs:
        out["matchExpressions"] = [
            {k: v for k, v in (("key", key), ("operator", op), ("values", vals)) if v}
            for key, op, vals in exprs
        ]
    return out


def namespace(name: str, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


TEST_POOL = pool("test-pool", "10.20.0.0/16")  # Go: "test-pool", not a Kubernetes name
BUGGY = {"avoidBuggyIPs": True, "autoAssign": False}

CASES = [
    Case("TestParse/empty config", (), OK),
    Case(
        "TestParse/config using all features",
        (
            bgp_peer(
                "peer1",
                myASN=42,
                peerASN=142,
                peerPort=1179,
                holdTime="180s",
                connectTime="1s",
                routerID="10.20.30.40",
                sourceAddress="10.20.30.40",
                enableGracefulRestart=True,
                ebgpMultiHop=True,
                vrf="foo",
            ),
            bgp_peer(
                "peer2",
                myASN=100,
                peerASN=200,
                peerAddress="2.3.4.5",
                connectTime="1s",
                nodeSelectors=[selector({"foo": "bar"}, ("bar", "In", ["quux"]))],
            ),
            pool("pool1", "10.20.0.0/16", "10.50.0.0/24", **BUGGY),
            pool("pool2", "30.0.0.0/8"),
            pool("pool3", "40.0.0.0/25", "40.0.0.150-40.0.0.200", "40.0.0.210 - 40.0.0.240"),
            pool("pool4", "2001:db8::/64"),
            bgp_ad(
                "adv1",
                ipAddressPools=["pool1"],
                aggregationLength=32,
                localPref=100,
                communities=["bar", "1234:2345"],
            ),
            bgp_ad("adv2", ipAddressPools=["pool1"], aggregationLength=24, localPref=100),
            l2_ad("l2adv1", ipAddressPools=["pool3"]),
            community("community", bar="64512:1234"),
        ),
        OK,
    ),
    Case(
        "TestParse/ip address pool with namespace selection",
        (
            pool(
                "pool1",
                "10.20.0.0/16",
                **BUGGY,
                serviceAllocation={
                    "priority": 1,
                    "namespaces": ["test-ns1"],
                    "namespaceSelectors": [selector({"foo": "bar"})],
                },
            ),
            namespace("test-ns1"),
            namespace("test-ns2", foo="bar"),
        ),
        OK,
    ),
    Case(
        "TestParse/ip address pool with duplicate namespace selection",
        (
            pool(
                "pool1",
                "10.20.0.0/16",
                "10.50.0.0/24",
                **BUGGY,
                serviceAllocation={"priority": 1, "namespaces": ["test-ns1", "test-ns1"]},
            ),
            namespace("test-ns1"),
        ),
        "duplicate",
    ),
    Case(
        "TestParse/ip address pool with duplicate namespace selectors",
        (
            pool(
                "pool1",
                "10.20.0.0/16",
                **BUGGY,
                serviceAllocation={
                    "priority": 1,
                    "namespaceSelectors": [selector({"foo": "bar"}), selector({"foo": "bar"})],
                },
            ),
            namespace("test-ns1", foo="bar"),
        ),
        "duplicate",
    ),
    Case(
        "TestParse/ip address pool with service selection",
        (
            pool(
                "pool1",
                "30.0.0.0/8",
                serviceAllocation={
                    "priority": 2,
                    "serviceSelectors": [selector(None, ("foo", "In", ["bar"]))],
                },
            ),
        ),
        OK,
    ),
    Case(
        "TestParse/ip address pool with duplicate service selection",
        (
            pool(
                "pool1",
                "30.0.0.0/8",
                serviceAllocation={
                    "priority": 2,
                    "serviceSelectors": [selector(None, ("foo", "In", ["bar", "bar"]))],
                },
            ),
        ),
        "duplicate",
    ),
    Case(
        "TestParse/ip address pool with namespace and service selection",
        (
            pool(
                "pool1",
                "30.0.0.0/8",
                serviceAllocation={
                    "priority": 2,
                    "namespaces": ["test-ns1"],
                    "serviceSelectors": [selector({"testsvc-1": "1"})],
                },
            ),
            pool(
                "pool2",
                "40.0.0.0/8",
                serviceAllocation={
                    "priority": 3,
                    "namespaceSelectors": [selector({"team": "metallb"})],
                    "serviceSelectors": [selector({"testsvc-2": "2"})],
                },
            ),
            namespace("test-ns1"),
            namespace("test-ns2", team="metallb"),
        ),
        OK,
    ),
    Case(
        "TestParse/ip address pool with only priority",
        (pool("pool1", "30.0.0.0/8", serviceAllocation={"priority": 2}),),
        OK,
    ),
    Case("TestParse/peer-only", (bgp_peer(),), OK),
    Case("TestParse/invalid peer-address", (bgp_peer(peerAddress="1.2.3.400"),), "peerAddress"),
    Case("TestParse/invalid my-asn", (bgp_peer(myASN=None),), "myASN"),
    Case("TestParse/invalid peer-asn", (bgp_peer(peerASN=None),), "peerASN"),
    Case("TestParse/invalid ebgp-multihop", (bgp_peer(ebgpMultiHop=True),), "ebgpMultiHop"),
    Case(
        "TestParse/invalid keepalivetime larger than holdtime",
        (bgp_peer(holdTime="30s", keepaliveTime="90s"),),
        "keepalive",
    ),
    Case("TestParse/invalid hold time (too short)", (bgp_peer(holdTime="1s"),), "hold"),
    Case("TestParse/peer with holdtime only", (bgp_peer(holdTime="180s"),), OK),
    Case("TestParse/peer with keepalive only", (bgp_peer(keepaliveTime="60s"),), OK),
    Case(
        "TestParse/peer with zero hold/keepalive timers",
        (bgp_peer(holdTime="0s", keepaliveTime="0s"),),
        OK,
    ),
    Case("TestParse/peer without hold/keepalive timers", (bgp_peer(),), OK),
    Case("TestParse/invalid RouterID", (bgp_peer(routerID="oh god how do I BGP"),), "routerID"),
    Case("TestParse/empty node selector (select everything)", (bgp_peer(nodeSelectors=[]),), OK),
    Case(
        "TestParse/invalid expression node selector (missing key)",
        (bgp_peer(nodeSelectors=[selector({"foo": "bar"}, ("", "In", ["quux"]))]),),
        "key",
    ),
    Case(
        "TestParse/invalid expression node selector (missing operator)",
        (bgp_peer(nodeSelectors=[selector({"foo": "bar"}, ("bar", "", ["quux"]))]),),
        "operator",
    ),
    Case(
        "TestParse/invalid expression node selector (invalid operator)",
        (bgp_peer(nodeSelectors=[selector({"foo": "bar"}, ("bar", "surrounds", ["quux"]))]),),
        "operator",
    ),
    Case(
        "TestParse/duplicate values node selector match expression",
        (
            bgp_peer(
                "peer",
                myASN=100,
                peerASN=200,
                peerAddress="2.3.4.5",
                nodeSelectors=[selector({"foo": "bar"}, ("bar", "In", ["quux", "quux"]))],
            ),
        ),
        "duplicate",
    ),
    # Go's two peers are both unnamed, so the same object twice: here, one name twice.
    Case("TestParse/duplicate peers", (bgp_peer("p"), bgp_peer("p")), "duplicate"),
    Case(
        "TestParse/no pool name",
        ({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {}},),
        "name",
    ),
    Case("TestParse/address pool with no address", (pool("pool1"),), "addresses"),
    Case(
        "TestParse/address pool with no protocol",
        (
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": "pool1"},
            },
        ),
        "spec: required field missing",
    ),
    Case("TestParse/invalid pool CIDR", (pool("pool1", "100.200.300.400/24"),), "address"),
    Case("TestParse/invalid pool CIDR prefix length", (pool("pool1", "1.2.3.0/33"),), "address"),
    Case(
        "TestParse/invalid pool CIDR, first address of the range is after the second",
        (pool("pool1", "1.2.3.10-1.2.3.1"),),
        "1.2.3.10",
    ),
    Case(
        "TestParse/simple advertisement",
        (pool("pool1", "1.2.3.0/24"), bgp_ad("adv3")),
        OK,
    ),
    # The same input as "simple advertisement" in the Go table.
    Case(
        "TestParse/advertisement with default BGP settings",
        (pool("pool1", "1.2.3.0/24"), bgp_ad("adv3")),
        OK,
    ),
    # Go's pool here is also invalid (a reversed range); restated with a valid one, the case
    # turns on the aggregation length alone.
    Case(
        "TestParse/bad aggregation length (too long)",
        (pool("pool1", "1.2.3.0/24"), bgp_ad("adv", aggregationLength=34)),
        "aggregationLength",
    ),
    Case(
        "TestParse/bad aggregation length (incompatible with CIDR)",
        (pool("pool1", "10.20.30.40/24", "1.2.3.0/28"), bgp_ad("adv", aggregationLength=26)),
        "aggregationLength",
    ),
    Case(
        "TestParse/different local pref - same peers and nodes",
        (
            node("node1"),
            node("node2"),
            pool("pool1", "10.20.30.40/24"),
            bgp_ad("adv1", localPref=100),
            bgp_ad("adv2", localPref=200),
        ),
        "localPref",
    ),
    Case(
        "TestParse/different local pref - different ipv4 aggregation length",
        (
            node("node1"),
            node("node2"),
            pool("pool1", "10.20.30.40/24"),
            bgp_ad("adv1", localPref=100, aggregationLength=24),
            bgp_ad("adv2", localPref=200, aggregationLength=32),
        ),
        OK,
    ),
    Case(
        "TestParse/different local pref - different aggregation lengths",
        (
            node("node1"),
            node("node2"),
            pool("pool1", "10.20.30.40/24"),
            bgp_ad("adv1", localPref=100, aggregationLength=24, aggregationLengthV6=120),
            bgp_ad("adv2", localPref=200, aggregationLength=32, aggregationLengthV6=128),
        ),
        OK,
    ),
    Case(
        "TestParse/different local pref - same peers & different nodes",
        (
            node("node1", node="node1"),
            node("node2", node="node2"),
            pool("pool1", "10.20.30.40/24"),
            bgp_ad("adv1", localPref=100, nodeSelectors=[selector({"node": "node1"})]),
            bgp_ad("adv2", localPref=200, nodeSelectors=[selector({"node": "node2"})]),
        ),
        OK,
    ),
    Case(
        "TestParse/different local pref - different peers & same nodes",
        (
            node("node1"),
            node("node2"),
            bgp_peer("peer1"),
            bgp_peer("peer2", peerAddress="1.2.3.5"),
            pool("pool1", "10.20.30.40/24"),
            bgp_ad("adv1", localPref=100, peers=["peer1"]),
            bgp_ad("adv2", localPref=200, peers=["peer2"]),
        ),
        OK,
    ),
    Case(
        "TestParse/aggregation length by range",
        (pool("pool1", "3.3.3.2-3.3.3.254"), bgp_ad("adv", aggregationLength=26)),
        OK,
    ),
    Case(
        "TestParse/aggregation length by range, too wide",
        (pool("pool1", "3.3.3.2-3.3.3.254"), bgp_ad("adv", aggregationLength=24)),
        "aggregationLength",
    ),
    Case(
        "TestParse/duplicate ip address pools - in L2 adv",
        (TEST_POOL, l2_ad("test-adv", ipAddressPools=["test-pool", "test-pool"])),
        "duplicate",
    ),
    Case(
        "TestParse/duplicate ip address pools - in BGP adv",
        (TEST_POOL, bgp_ad("test-adv", ipAddressPools=["test-pool", "test-pool"])),
        "duplicate",
    ),
    Case(
        "TestParse/duplicate peers - in BGP adv",
        (
            TEST_POOL,
            bgp_peer("peer1"),
            bgp_ad("test-adv", ipAddressPools=["test-pool"], peers=["peer1", "peer1"]),
        ),
        "duplicate",
    ),
    *(
        Case(
            f"TestParse/{desc} - in BGP adv",
            (TEST_POOL, bgp_ad("test-adv", ipAddressPools=["test-pool"], communities=values)),
            phrase,
        )
        for desc, values, phrase in [
            ("bad community literal (wrong format)", ["1234"], "1234"),
            ("bad community literal (asn part doesn't fit)", ["99999999:1"], "99999999"),
            ("bad community literal (community# part doesn't fit)", ["1:99999999"], "99999999"),
            ("bad community ref (unknown ref)", ["community"], "community"),
            ("duplicate community literal", ["1234:5678", "1234:5678"], "duplicate"),
        ]
    ),
    *(
        Case(
            f"TestParse/{desc} - in the community CR",
            (community("community", bar=value),),
            phrase,
        )
        for desc, value, phrase in [
            ("bad community literal (wrong format)", "1234", "1234"),
            ("bad community literal (asn part doesn't fit)", "99999999:1", "99999999"),
            ("bad community literal (community# part doesn't fit)", "1:99999999", "99999999"),
        ]
    ),
    Case(
        "TestParse/duplicate communities definition (in 2 different crs)",
        (community("community1", bar="1234:5678"), community("community2", bar="1234:5678")),
        "bar",
    ),
    Case(
        "TestParse/duplicate communities definition (in the same cr)",
        (
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "Community",
                "metadata": {"name": "community", "namespace": "metallb-system"},
                "spec": {
                    "communities": [
                        {"name": "bar", "value": "1234:5678"},
                        {"name": "bar", "value": "1234:5678"},
                    ]
                },
            },
        ),
        "bar",
    ),
    Case(
        "TestParse/duplicate pool definition",
        (pool("pool1", "10.0.0.0/24"), pool("pool2", "10.0.1.0/24"), pool("pool1", "10.0.2.0/24")),
        "duplicate",
    ),
    Case(
        "TestParse/duplicate CIDRs",
        (pool("pool1", " 10.0.0.0/8"), pool("pool2", " 10.0.0.0/8")),
        "overlap",
    ),
    Case(
        "TestParse/overlapping CIDRs",
        (pool("pool1", " 10.0.0.0/8"), pool("pool2", "10.0.0.0/16")),
        "overlap",
    ),
    Case(
        "TestParse/Session with default BFD Profile",
        (
            bgp_peer(bfdProfile="default"),
            pool("pool1", "1.2.3.0/24"),
            bfd("default"),
            bgp_ad("adv3"),
        ),
        OK,
    ),
    Case(
        "TestParse/BGP Peer with both password and secret ref set",
        (
            bgp_peer(
                password="nopass",
                passwordSecret={"name": "nosecret", "namespace": "metallb-system"},
            ),
        ),
        "password",
    ),
    Case(
        "TestParse/BGP Peer with invalid secret type",
        (
            bgp_peer(passwordSecret={"name": "bgpsecret", "namespace": "metallb-system"}),
            secret("bgpsecret", "Opaque", password="bm9wYXNz"),
        ),
        "basic-auth",
    ),
    Case(
        "TestParse/BGP Peer without password set in the secret",
        (
            bgp_peer(passwordSecret={"name": "bgpsecret", "namespace": "metallb-system"}),
            secret("bgpsecret"),
        ),
        "password",
    ),
    Case(
        "TestParse/BGP Peer with a valid secret",
        (
            bgp_peer(
                peerPort=179,
                passwordSecret={"name": "bgpsecret", "namespace": "metallb-system"},
            ),
            secret("bgpsecret", password="bm9wYXNz"),
        ),
        OK,
    ),
    Case(
        "TestParse/Peer with non existing BFD Profile",
        (bgp_peer(bfdProfile="default"), pool("pool1", "1.2.3.0/24"), bgp_ad("adv3")),
        "default",
    ),
    Case(
        "TestParse/Multiple BFD Profiles with the same name",
        (pool("pool1", "1.2.3.0/24"), bfd("default"), bfd("foo"), bfd("foo")),
        "duplicate",
    ),
    Case(
        "TestParse/Session with nondefault BFD Profile",
        (
            pool("pool1", "1.2.3.0/24"),
            bfd(
                "nondefault",
                receiveInterval=50,
                transmitInterval=51,
                detectMultiplier=52,
                echoInterval=54,
                echoMode=True,
                passiveMode=True,
                minimumTtl=55,
            ),
            bgp_ad("adv3"),
            bgp_peer(
                myASN=42,
                peerASN=142,
                peerPort=1179,
                holdTime="180s",
                routerID="10.20.30.40",
                sourceAddress="10.20.30.40",
                ebgpMultiHop=True,
                bfdProfile="nondefault",
            ),
        ),
        OK,
    ),
    Case(
        "TestParse/BFD Profile with too low receive interval",
        (bfd("default", receiveInterval=2),),
        "receiveInterval",
    ),
    Case(
        "TestParse/BFD Profile with too high receive interval",
        (bfd("default", receiveInterval=90000),),
        "receiveInterval",
    ),
    Case(
        "TestParse/Session with ipv6 and bfd echo mode",
        (
            pool("pool1", "fc00:f853:0ccd:e793::/64"),
            bfd("nondefault", echoMode=True),
            bgp_ad("adv3"),
            bgp_peer(myASN=42, peerASN=142, ebgpMultiHop=True, bfdProfile="nondefault"),
        ),
        "echo",
    ),
    Case(
        "TestParse/Session with ipv4 and bfd echo mode",
        (
            pool("pool1", "1.2.3.0/24"),
            bfd("with-echo", echoMode=True),
            bgp_ad("adv"),
            bgp_peer(myASN=42, peerASN=142, bfdProfile="with-echo"),
        ),
        OK,
    ),
    Case(
        "TestParse/config IPAddressPool with large communities CR",
        (
            bgp_peer(myASN=42, peerASN=142, peerPort=1179, ebgpMultiHop=True, vrf="foo"),
            pool("pool1", "10.20.0.0/16"),
            bgp_ad(
                "adv1",
                ipAddressPools=["pool1"],
                communities=["bar", "large:123:456:789"],
            ),
            community("community", bar="large:1:2:3"),
        ),
        OK,
    ),
    Case(
        "TestParse/use ip pool selectors",
        (
            pool("pool1", "10.20.0.0/16", labels={"test": "pool1"}),
            pool("pool2", "30.0.0.0/16", labels={"test": "pool2"}),
            l2_ad("l2adv1", ipAddressPoolSelectors=[selector({"test": "pool1"})]),
            bgp_ad("adv1", ipAddressPoolSelectors=[selector({"test": "pool2"})]),
        ),
        OK,
    ),
    Case(
        "TestParse/specify interfaces",
        (
            pool("pool1", "10.20.0.0/16", labels={"test": "pool1"}),
            l2_ad(
                "l2adv1",
                ipAddressPoolSelectors=[selector({"test": "pool1"})],
                interfaces=["eth0"],
            ),
        ),
        OK,
    ),
    Case(
        "TestParse/use duplicate match labels in ip pool selectors - in BGP adv",
        (
            pool("pool1", "10.20.0.0/16", labels={"test": "pool1"}),
            bgp_ad(
                "adv1",
                aggregationLength=32,
                localPref=100,
                ipAddressPoolSelectors=[selector({"test": "pool1"}), selector({"test": "pool1"})],
            ),
        ),
        "duplicate",
    ),
    Case(
        "TestParse/use duplicate match expression in ip pool selector - in BGP adv",
        (
            pool("pool1", "10.20.0.0/16", labels={"test": "pool1"}),
            bgp_ad(
                "adv1",
                ipAddressPoolSelectors=[selector(None, ("test", "In", ["pool1", "pool1"]))],
            ),
        ),
        "duplicate",
    ),
    Case(
        "TestParse/use duplicate ip pool selectors - in L2 adv",
        (
            pool("pool1", "10.20.0.0/16", labels={"test": "pool1"}),
            l2_ad(
                "adv1",
                ipAddressPoolSelectors=[selector({"test": "pool1"}), selector({"test": "pool1"})],
            ),
        ),
        "duplicate",
    ),
    Case(
        "TestParse/use non existent label for ip pool selectors",
        (
            pool("pool1", "10.20.0.0/16", labels={"test": "pool1"}),
            pool("pool2", "30.0.0.0/16", labels={"test": "pool2"}),
            l2_ad("l2adv1", ipAddressPoolSelectors=[selector({"test": "pool3"})]),
        ),
        OK,
    ),
    Case(
        "TestParse/use node selectors",
        (
            pool("pool1", "10.20.0.0/16"),
            pool("pool2", "30.0.0.0/16"),
            bgp_ad("adv1", ipAddressPools=["pool1"], nodeSelectors=[selector({"second": "true"})]),
            l2_ad("l2adv1", ipAddressPools=["pool1"], nodeSelectors=[selector({"first": "true"})]),
            node("first", first="true"),
            node("second", second="true"),
        ),
        OK,
    ),
    Case(
        "TestParse/use duplicate match labels in node selectors",
        (
            pool("pool1", "10.20.0.0/16"),
            bgp_ad(
                "adv1",
                ipAddressPools=["pool1"],
                nodeSelectors=[selector({"second": "true"}), selector({"second": "true"})],
            ),
            node("first", first="true"),
        ),
        "duplicate",
    ),
    Case(
        "TestParse/use duplicate match expression values in node selector",
        (
            pool("pool1", "10.20.0.0/16"),
            bgp_ad(
                "adv1",
                ipAddressPools=["pool1"],
                nodeSelectors=[
                    selector(
                        None,
                        ("kubernetes.io/hostname", "In", ["first", "second"]),
                        ("kubernetes.io/hostname", "In", ["second", "first"]),
                    )
                ],
            ),
        ),
        "duplicate",
    ),
    Case(
        "TestParse/no nodes means all nodes",
        (
            pool("pool1", "10.20.0.0/16"),
            bgp_ad("adv1"),
            l2_ad("l2adv1"),
            node("first", first="true"),
            node("second", second="true"),
        ),
        OK,
    ),
    Case(
        "TestParse/advertisement with peer selector",
        (
            pool("pool1", "1.2.3.0/24"),
            bgp_peer("peer1"),
            bgp_ad(
                "adv1",
                aggregationLength=32,
                localPref=100,
                ipAddressPools=["pool1"],
                peers=["peer1"],
            ),
        ),
        OK,
    ),
    Case("TestParse/peer with dynamic asn", (bgp_peer(peerASN=None, dynamicASN="internal"),), OK),
    Case(
        "TestParse/peer without asn or dynamic asn",
        (bgp_peer(peerASN=None, peerAddress=None),),
        "peerASN",
    ),
    Case(
        "TestParse/peer with both asn and dynamic asn",
        (bgp_peer(dynamicASN="internal"),),
        "dynamicASN",
    ),
    Case(
        "TestParse/unnumbered peer without address with interface ok",
        (bgp_peer(peerASN=None, peerAddress=None, dynamicASN="internal", interface="net0"),),
        OK,
    ),
    Case(
        "TestParse/unnumbered peer without address without interface nok",
        (bgp_peer("invalid", peerASN=None, peerAddress=None, dynamicASN="internal"),),
        "peerAddress",
    ),
    Case(
        "TestParse/unnumbered peer with address with interface nok",
        (bgp_peer("invalid", peerASN=None, dynamicASN="internal", interface="net0"),),
        "interface",
    ),
    Case("TestParse/peer with DisableMP field", (bgp_peer(peerASN=142, disableMP=True),), OK),
    Case(
        "TestParse/peer with localASN field",
        (bgp_peer(myASN=100, peerASN=200, localASN=65410),),
        OK,
    ),
]


NGINX = [selector({"app": "nginx"})]

#: TestServiceSelectors of the same file: advertisements that pick services by label.
SERVICE_SELECTOR_CASES = [
    Case(
        "TestServiceSelectors/BGP advertisement with service selectors",
        (pool("pool1", "1.2.3.0/24"), bgp_ad("adv1", serviceSelectors=NGINX)),
        OK,
    ),
    Case(
        "TestServiceSelectors/L2 advertisement with service selectors",
        (pool("pool1", "1.2.3.0/24"), l2_ad("adv1", serviceSelectors=NGINX)),
        OK,
    ),
    Case(
        "TestServiceSelectors/BGP advertisement with multiple service selectors (OR logic)",
        (
            pool("pool1", "1.2.3.0/24"),
            bgp_ad("adv1", serviceSelectors=[*NGINX, selector({"app": "apache"})]),
        ),
        OK,
    ),
    Case(
        "TestServiceSelectors/BGP advertisement - serviceSelectors with non-default "
        "aggregationLength is mutually exclusive",
        (pool("pool1", "1.2.3.0/24"), bgp_ad("adv1", aggregationLength=24, serviceSelectors=NGINX)),
        "serviceSelectors can only be used with the default aggregation lengths",
    ),
    Case(
        "TestServiceSelectors/BGP advertisement - serviceSelectors with non-default "
        "aggregationLengthV6 is mutually exclusive",
        (
            pool("pool1", "2001:db8::/64"),
            bgp_ad("adv1", aggregationLengthV6=64, serviceSelectors=NGINX),
        ),
        "serviceSelectors can only be used with the default aggregation lengths",
    ),
    Case(
        "TestServiceSelectors/BGP advertisement - serviceSelectors with default "
        "aggregationLengthV4 is allowed",
        (pool("pool1", "1.2.3.0/24"), bgp_ad("adv1", aggregationLength=32, serviceSelectors=NGINX)),
        OK,
    ),
    Case(
        "TestServiceSelectors/BGP advertisement - serviceSelectors with default "
        "aggregationLengthV6 is allowed",
        (
            pool("pool1", "2001:db8::/64"),
            bgp_ad("adv1", aggregationLengthV6=128, serviceSelectors=NGINX),
        ),
        OK,
    ),
    Case(
        "TestServiceSelectors/BGP advertisement - serviceSelectors with both default "
        "aggregationLength and aggregationLengthV6 is allowed",
        (
            pool("pool1", "1.2.3.0/24", "2001:db8::/64"),
            bgp_ad("adv1", aggregationLength=32, aggregationLengthV6=128, serviceSelectors=NGINX),
        ),
        OK,
    ),
    Case(
        "TestServiceSelectors/duplicate service selectors",
        (pool("pool1", "1.2.3.0/24"), bgp_ad("adv1", serviceSelectors=[*NGINX, *NGINX])),
        "duplicate",
    ),
]
CASES += SERVICE_SELECTOR_CASES


def _messages(result: Any) -> list[str]:
    return [f"{i.obj} {i.field}: {i.message}" for i in result.errors]


@pytest.mark.parametrize("case", CASES, ids=[c.go for c in CASES])
def test_metallb_parse_case(case: Case) -> None:
    result = build(*case.docs)
    if case.error is None:
        assert _messages(result) == [], case.go
        assert result.config is not None
        return
    assert result.config is None, f"{case.go}: accepted, MetalLB refuses it"
    text = "\n".join(_messages(result))
    assert case.error.lower() in text.lower(), f"{case.go}: {text}"


def test_the_all_features_case_keeps_metallbs_values() -> None:
    """TestParse/config using all features: the parsed peer as MetalLB's want has it."""
    result = build(*CASES[1].docs)
    assert result.config is not None
    first = {p.name: p for p in result.config.peers}["peer1"]
    assert (first.my_asn, first.peer_asn, first.peer_port) == (42, 142, 1179)
    assert (first.hold_time, first.keepalive_time, first.connect_time) == (180, 60, 1)
    assert str(first.router_id) == "10.20.30.40" and str(first.source_address) == "10.20.30.40"
    assert (first.ebgp_multihop, first.enable_graceful_restart, first.vrf) == (True, True, "foo")
    second = {p.name: p for p in result.config.peers}["peer2"]
    assert (second.hold_time, second.keepalive_time) == (90, 30)  # MetalLB's defaults


def test_every_parse_case_is_named_once() -> None:
    names = [c.go for c in CASES]
    assert len(names) == len(set(names))


def test_unavailable_secret_ref_is_the_documented_difference() -> None:
    """TestParse/BGP Peer with unavailable secret ref: MetalLB returns a transient error and
    retries; lbtui (offline) accepts the peer with a warning and its session waits for the
    Secret (README, "Where lbtui differs from MetalLB")."""
    result = build(bgp_peer(passwordSecret={"name": "nosecret", "namespace": "metallb-system"}))
    assert result.errors == [] and result.config is not None
    assert any("nosecret" in w.message for w in result.warnings), [str(w) for w in result.warnings]
