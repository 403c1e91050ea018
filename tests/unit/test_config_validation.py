"""Configuration validation, rule by rule, against MetalLB's documented behaviour.

Each test feeds YAML through the real loader (``load_text``) and ``build_config`` and checks the
exact object and field an Issue names, plus a key phrase of its message
(reference: ../shared/reference/metallb-semantics.md, section 1).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
import yaml
from rich.pretty import pretty_repr

from actors.config.build import BuildResult, build_config
from actors.config.loader import load_text
from actors.config.parsing import lowest_prefix_length, parse_address_range
from actors.model.cluster import Node
from actors.model.config import Community
from actors.model.issues import Issue

FILE = "test.yaml"
NS = "metallb-system"


# -- helpers -------------------------------------------------------------------------------


def _meta(name: str, labels: dict[str, str] | None = None, namespace: str = NS) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    return meta


def pool(name: str, *addresses: str, labels: dict[str, str] | None = None, **spec: Any) -> dict:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": _meta(name, labels),
        "spec": {"addresses": list(addresses), **spec},
    }


def l2_ad(name: str, **spec: Any) -> dict:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": _meta(name),
        "spec": spec,
    }


def bgp_ad(name: str, **spec: Any) -> dict:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPAdvertisement",
        "metadata": _meta(name),
        "spec": spec,
    }


def peer(name: str, version: str = "v1beta2", **spec: Any) -> dict:
    full = {"myASN": 64500, "peerASN": 64501, "peerAddress": "10.0.0.1", **spec}
    return {
        "apiVersion": f"metallb.io/{version}",
        "kind": "BGPPeer",
        "metadata": _meta(name),
        "spec": {k: v for k, v in full.items() if v is not None},
    }


def community(name: str, **aliases: str) -> dict:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "Community",
        "metadata": _meta(name),
        "spec": {"communities": [{"name": k, "value": v} for k, v in aliases.items()]},
    }


def bfd(name: str, **spec: Any) -> dict:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BFDProfile",
        "metadata": _meta(name),
        "spec": spec,
    }


def secret(name: str, type_: str = "kubernetes.io/basic-auth", **data: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(name),
        "type": type_,
        "data": data,
    }


def node(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def node_obj(name: str, **labels: str) -> Node:
    return Node.model_validate(node(name, **labels))


def build(*docs: dict, nodes: list[Node] | None = None, namespace: str = NS) -> BuildResult:
    inputs = load_text(yaml.safe_dump_all(docs, sort_keys=False), FILE)
    result = build_config(inputs, namespace=namespace, nodes=nodes)
    # Loader issues (schema errors, ignored kinds) travel with the build issues in these tests.
    result.issues[:0] = inputs.issues
    if any(i.severity == "error" for i in inputs.issues):
        result.config = None
    return result


def ok(*docs: dict, nodes: list[Node] | None = None):
    result = build(*docs, nodes=nodes)
    assert result.errors == [], [str(i) for i in result.errors]
    assert result.config is not None
    return result.config


def the_error(result: BuildResult) -> Issue:
    assert result.config is None
    assert len(result.errors) == 1, [str(i) for i in result.errors]
    return result.errors[0]


def the_warning(result: BuildResult) -> Issue:
    assert len(result.warnings) == 1, [str(i) for i in result.warnings]
    return result.warnings[0]


def assert_issue(issue: Issue, obj: str, field: str, phrase: str) -> None:
    assert (issue.file, issue.obj, issue.field) == (FILE, obj, field), str(issue)
    assert phrase.lower() in issue.message.lower(), str(issue)


# -- issue format ----------------------------------------------------------------------------


def test_issue_str_names_file_object_field_and_message():
    issue = Issue("a.yaml", "IPAddressPool/p", "spec.addresses[0]", "bad")
    assert str(issue) == "a.yaml: IPAddressPool/p: spec.addresses[0]: bad"
    warning = Issue("a.yaml", "BGPPeer/p", "apiVersion", "old", severity="warning")
    assert str(warning) == "a.yaml: BGPPeer/p: apiVersion: warning: old"
    assert str(Issue("", "", "", "empty")) == "<input>: empty"


def test_issue_carries_the_line_of_its_document():
    result = build(pool("a", "10.0.0.0/24"), pool("b", "10.0.1.0/33"))
    issue = the_error(result)
    text = yaml.safe_dump_all([pool("a", "10.0.0.0/24")], sort_keys=False)
    assert issue.line == len(text.splitlines()) + 2  # after the first document and its "---"


# -- address parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("10.0.0.0/24", "10.0.0.0", "10.0.0.255"),
        ("10.0.0.7/32", "10.0.0.7", "10.0.0.7"),
        ("0.0.0.0/0", "0.0.0.0", "255.255.255.255"),
        ("fd00::/120", "fd00::", "fd00::ff"),
        ("fd00::1/128", "fd00::1", "fd00::1"),
        ("10.0.0.10-10.0.0.20", "10.0.0.10", "10.0.0.20"),
        ("10.0.0.10 - 10.0.0.20", "10.0.0.10", "10.0.0.20"),
        ("10.0.0.10-10.0.0.10", "10.0.0.10", "10.0.0.10"),
        ("fd00::1-fd00::ff", "fd00::1", "fd00::ff"),
    ],
)
def test_valid_addresses(text, first, last):
    rng = parse_address_range(text)
    assert (rng.first, rng.last) == (ipaddress.ip_address(first), ipaddress.ip_address(last))
    config = ok(pool("p", text))
    assert config.pools["p"].ranges == (rng,)


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ("10.0.0.20-10.0.0.10", ["start is after end"]),
        ("fd00::9-fd00::1", ["start is after end"]),
        ("10.0.0.1-fd00::1", ["mixes IPv4 and IPv6"]),
        ("10.0.0.1", ["single address", "10.0.0.1/32"]),
        ("fd00::1", ["single address", "fd00::1/128"]),
        ("10.0.0.0/33", ["invalid CIDR"]),
        ("10.0.0.0/255.255.255.0", ["invalid CIDR"]),
        ("300.0.0.0/8", ["invalid CIDR"]),
        ("10.0.0.1-", ["invalid IP range"]),
        ("10.0.0.1-10.0.0.x", ["invalid IP range"]),
        ("fe80::1%eth0-fe80::2", ["zone"]),
        ("pool-a", ["invalid"]),
        ("", ["empty"]),
    ],
)
def test_invalid_addresses(text, phrases):
    with pytest.raises(ValueError):
        parse_address_range(text)
    issue = the_error(build(pool("p", "10.1.0.0/24", text)))
    assert_issue(issue, "IPAddressPool/p", "spec.addresses[1]", phrases[0])
    for phrase in phrases[1:]:
        assert phrase in issue.message


@pytest.mark.parametrize(
    ("text", "network"), [("10.0.0.5/24", "10.0.0.0/24"), ("fd00::5/120", "fd00::/120")]
)
def test_host_bits_are_masked_as_metallb_does_with_a_warning(text, network):
    # MetalLB's TestParse accepts 10.20.30.40/24 as 10.20.30.0/24 (Go's net.ParseCIDR).
    result = build(pool("p", "10.1.0.0/24", text))
    assert result.errors == [] and result.config is not None
    rng = result.config.pools["p"].ranges[1]
    assert (rng.first, rng.last) == (
        ipaddress.ip_network(network)[0],
        ipaddress.ip_network(network)[-1],
    )
    warning = the_warning(result)
    assert (warning.obj, warning.field) == ("IPAddressPool/p", "spec.addresses[1]")
    assert "host bits set" in warning.message and f"did you mean {network}" in warning.message


def test_pool_without_addresses_is_a_schema_error_in_plain_words():
    issue = the_error(build(pool("p")))
    assert_issue(issue, "IPAddressPool/p", "spec.addresses", "empty: give at least one address")
    assert "Tuple" not in issue.message and "validation" not in issue.message


def test_pool_may_mix_families():
    config = ok(pool("p", "10.0.0.0/24", "fd00::/120"))
    assert config.pools["p"].families == {4, 6}


# -- overlaps --------------------------------------------------------------------------------


def test_pools_overlapping_is_an_error():
    result = build(pool("a", "10.0.0.0/24"), pool("b", "10.0.0.128-10.0.0.200"))
    issue = the_error(result)
    assert_issue(issue, "IPAddressPool/b", "spec.addresses[0]", "overlaps with '10.0.0.0/24'")
    assert "pool 'a'" in issue.message


def test_overlap_within_one_pool_is_an_error():
    issue = the_error(build(pool("a", "10.0.0.0/24", "10.0.0.5-10.0.0.6")))
    assert_issue(issue, "IPAddressPool/a", "spec.addresses[1]", "overlaps")
    assert "the same pool" in issue.message


def test_identical_ranges_overlap():
    issue = the_error(build(pool("a", "fd00::/120"), pool("b", "fd00::/120")))
    assert issue.obj in ("IPAddressPool/a", "IPAddressPool/b")
    assert "overlaps" in issue.message


def test_every_overlap_is_reported():
    result = build(pool("a", "10.0.0.0/24"), pool("b", "10.0.0.10/32"), pool("c", "10.0.0.30/32"))
    assert result.config is None
    assert sorted(i.obj for i in result.errors) == ["IPAddressPool/b", "IPAddressPool/c"]


@pytest.mark.parametrize(
    "addresses",
    [
        [["10.0.0.0/25"], ["10.0.0.128/25"]],
        [["10.0.0.0-10.0.0.9"], ["10.0.0.10-10.0.0.19"]],
        [["10.0.0.0/24"], ["fd00::/120"]],
        [["10.0.0.0/24", "10.0.1.0/24"], ["10.0.2.0/24"]],
    ],
)
def test_adjacent_or_other_family_ranges_do_not_overlap(addresses):
    ok(pool("a", *addresses[0]), pool("b", *addresses[1]))


# -- duplicate names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (pool("x", "10.0.0.0/24"), pool("x", "10.0.1.0/24")),
        (l2_ad("x"), l2_ad("x", interfaces=["eth0"])),
        (bgp_ad("x"), bgp_ad("x", localPref=5)),
        (peer("x"), peer("x", peerAddress="10.0.0.2")),
        (community("x", a="1:1"), community("x", b="1:2")),
        (bfd("x"), bfd("x", detectMultiplier=5)),
    ],
    ids=lambda d: d["kind"],
)
def test_duplicate_names_per_kind(first, second):
    issue = the_error(build(first, second))
    kind = first["kind"]
    assert_issue(issue, f"{kind}/x", "metadata.name", f"duplicate {kind} name 'x'")


def test_same_name_in_different_kinds_is_fine():
    ok(pool("x", "10.0.0.0/24"), l2_ad("x"), bgp_ad("x"), peer("x"), bfd("x"), community("x"))


def test_identical_peers_under_two_names_are_rejected():
    issue = the_error(build(peer("p1"), peer("p2")))
    assert_issue(issue, "BGPPeer/p2", "spec", "duplicate peer")
    assert "BGPPeer/p1" in issue.message


# -- aggregation length ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "valid"),
    [
        ("aggregationLength", 0, False),
        ("aggregationLength", -1, False),
        ("aggregationLength", 1, True),
        ("aggregationLength", 32, True),
        ("aggregationLength", 33, False),
        ("aggregationLengthV6", 0, False),
        ("aggregationLengthV6", 1, True),
        ("aggregationLengthV6", 128, True),
        ("aggregationLengthV6", 129, False),
    ],
)
def test_aggregation_length_bounds(field, value, valid):
    # No pools: only the bounds rule can fire.
    result = build(bgp_ad("ad", **{field: value}))
    if valid:
        assert result.errors == []
        return
    family, bounds = ("IPv4", "1..32") if field == "aggregationLength" else ("IPv6", "1..128")
    issue = the_error(result)
    assert_issue(issue, "BGPAdvertisement/ad", f"spec.{field}", f"for {family}: must be {bounds}")


@pytest.mark.parametrize(
    ("addresses", "field", "value", "lowest"),
    [
        # pool /28 aggregated to /26 would announce addresses outside the pool
        (["1.2.3.0/28"], "aggregationLength", 26, 28),
        (["1.2.3.0/28"], "aggregationLength", 27, 28),
        # 1.2.3.0-1.2.3.5 summarizes to 1.2.3.0/30 + 1.2.3.4/31: lowest mask 30
        (["1.2.3.0-1.2.3.5"], "aggregationLength", 29, 30),
        (["fd00::/120"], "aggregationLengthV6", 112, 120),
        (["10.0.0.0/24", "fd00::/120"], "aggregationLengthV6", 119, 120),
    ],
)
def test_aggregation_more_specific_than_pool_prefix_is_rejected(addresses, field, value, lowest):
    issue = the_error(build(pool("p", *addresses), bgp_ad("ad", **{field: value})))
    assert_issue(
        issue, "BGPAdvertisement/ad", f"spec.{field}", "more specific than the aggregation"
    )
    assert f"prefix {lowest}" in issue.message
    assert "'p'" in issue.message


@pytest.mark.parametrize(
    ("addresses", "spec"),
    [
        (["1.2.3.0/28"], {"aggregationLength": 28}),
        (["1.2.3.0/28"], {"aggregationLength": 30}),
        (["1.2.3.0-1.2.3.5"], {"aggregationLength": 30}),
        (["1.2.3.0-1.2.3.5"], {"aggregationLength": 31}),
        (["fd00::/120"], {"aggregationLengthV6": 120}),
        (["10.0.0.0/24", "fd00::/120"], {"aggregationLength": 24, "aggregationLengthV6": 124}),
        # the v4 length does not constrain a v6-only pool and vice versa
        (["fd00::/120"], {"aggregationLength": 1}),
        (["10.0.0.0/24"], {"aggregationLengthV6": 1}),
    ],
)
def test_aggregation_not_more_specific_is_accepted(addresses, spec):
    config = ok(pool("p", *addresses), bgp_ad("ad", **spec))
    ad = config.bgp_advertisements[0]
    assert ad.aggregation_length == spec.get("aggregationLength", 32)
    assert ad.aggregation_length_v6 == spec.get("aggregationLengthV6", 128)


def test_lowest_prefix_length_of_a_range():
    assert lowest_prefix_length(parse_address_range("1.2.3.0-1.2.3.5")) == 30
    assert lowest_prefix_length(parse_address_range("1.2.3.1-1.2.3.4")) == 31
    assert lowest_prefix_length(parse_address_range("1.2.3.0/24")) == 24


def test_aggregation_rule_applies_only_to_selected_pools():
    ok(
        pool("small", "1.2.3.0/28"),
        pool("big", "10.0.0.0/16"),
        bgp_ad("ad", ipAddressPools=["big"], aggregationLength=16),
    )


# -- serviceSelectors vs aggregation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "valid"),
    [
        ({}, True),
        ({"aggregationLength": 32, "aggregationLengthV6": 128}, True),
        ({"aggregationLength": 24}, False),
        ({"aggregationLengthV6": 64}, False),
    ],
)
def test_service_selectors_only_with_host_routes(spec, valid):
    docs = (
        pool("p", "10.0.0.0/16", "fd00::/48"),
        bgp_ad("ad", serviceSelectors=[{"matchLabels": {"app": "web"}}], **spec),
    )
    if valid:
        config = ok(*docs)
        assert config.bgp_advertisements[0].service_selectors[0].matches({"app": "web"})
    else:
        issue = the_error(build(*docs))
        assert_issue(issue, "BGPAdvertisement/ad", "spec.serviceSelectors", "aggregation length")


# -- communities -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("65535:65282", "65535:65282"),
        ("0:0", "0:0"),
        ("064512:01", "64512:1"),
        ("large:1:2:3", "large:1:2:3"),
        ("large:4294967295:0:4294967295", "large:4294967295:0:4294967295"),
    ],
)
def test_valid_community_literals(text, canonical):
    config = ok(pool("p", "10.0.0.0/24"), bgp_ad("ad", communities=[text]))
    assert config.bgp_advertisements[0].communities == (Community(canonical),)


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("65536:1", "does not fit"),
        ("1:65536", "does not fit"),
        ("-1:2", "not a number"),
        ("1:2:3", "expected A:B"),
        ("a:b", "not a number"),
        ("large:1:2", "large:A:B:C"),
        ("large:4294967296:1:1", "does not fit"),
        ("large:1:2:x", "not a number"),
    ],
)
def test_invalid_community_literals(text, phrase):
    issue = the_error(build(pool("p", "10.0.0.0/24"), bgp_ad("ad", communities=[text])))
    assert_issue(issue, "BGPAdvertisement/ad", "spec.communities[0]", phrase)


def test_unquoted_community_is_a_string():
    # YAML 1.1 reads 64512:30 as a base-60 integer; Go's YAML (kubectl, MetalLB) does not.
    text = yaml.safe_dump_all([pool("p", "10.0.0.0/24")]) + (
        "---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\n"
        "metadata: {name: ad, namespace: metallb-system}\nspec: {communities: [64512:30]}\n"
    )
    result = build_config(load_text(text, FILE))
    assert result.config is not None, [str(i) for i in result.issues]
    assert result.config.bgp_advertisements[0].communities == (Community("64512:30"),)


def test_community_alias_resolves():
    config = ok(
        pool("p", "10.0.0.0/24"),
        community("aliases", **{"no-advertise": "65535:65282", "big": "large:1:2:3"}),
        bgp_ad("ad", communities=["no-advertise", "big", "1:1"]),
    )
    assert config.communities["no-advertise"] == Community("65535:65282")
    assert set(config.bgp_advertisements[0].communities) == {
        Community("65535:65282"),
        Community("large:1:2:3"),
        Community("1:1"),
    }


def test_invalid_alias_value_is_reported_on_the_community():
    issue = the_error(build(community("c", bad="70000:1")))
    assert_issue(issue, "Community/c", "spec.communities[0].value", "does not fit")


def test_duplicate_alias_definition_across_community_resources():
    issue = the_error(build(community("c1", x="1:1"), community("c2", y="1:3", x="1:2")))
    assert_issue(issue, "Community/c2", "spec.communities[1].name", "duplicate definition")


def test_unknown_alias():
    issue = the_error(build(pool("p", "10.0.0.0/24"), bgp_ad("ad", communities=["1:1", "nope"])))
    assert_issue(issue, "BGPAdvertisement/ad", "spec.communities[1]", "unknown community alias")


@pytest.mark.parametrize("communities", [["1:2", "1:2"], ["one-two", "1:2"], ["1:2", "01:2"]])
def test_duplicate_community_in_one_advertisement(communities):
    issue = the_error(
        build(
            pool("p", "10.0.0.0/24"),
            community("c", **{"one-two": "1:2"}),
            bgp_ad("ad", communities=communities),
        )
    )
    assert_issue(issue, "BGPAdvertisement/ad", "spec.communities[1]", "duplicate community")


# -- BGP peers: ASNs -----------------------------------------------------------------------------


def test_missing_my_asn():
    issue = the_error(build(peer("p", myASN=None)))
    assert_issue(issue, "BGPPeer/p", "spec.myASN", "missing local ASN")


def test_missing_peer_asn():
    issue = the_error(build(peer("p", peerASN=None)))
    assert_issue(issue, "BGPPeer/p", "spec.peerASN", "missing peer ASN")


def test_peer_asn_and_dynamic_asn_are_exclusive():
    issue = the_error(build(peer("p", dynamicASN="external")))
    assert_issue(issue, "BGPPeer/p", "spec.dynamicASN", "mutually exclusive")


@pytest.mark.parametrize(("mode", "ibgp"), [("internal", True), ("external", False)])
def test_dynamic_asn(mode, ibgp):
    config = ok(peer("p", peerASN=None, dynamicASN=mode))
    assert config.peers[0].dynamic_asn == mode
    assert config.peers[0].is_ibgp is ibgp


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("myASN", 2**32),
        ("peerASN", 2**32),
        ("peerASN", -1),
        ("localASN", 0),
        ("dynamicASN", "sometimes"),
        ("peerPort", 0),
        ("peerPort", 65536),
    ],
)
def test_peer_schema_ranges(field, value):
    issue = the_error(build(peer("p", **{field: value})))
    assert (issue.obj, issue.field) == ("BGPPeer/p", f"spec.{field}")


def test_four_byte_asns_are_fine():
    config = ok(peer("p", myASN=4200000000, peerASN=2**32 - 1))
    assert (config.peers[0].my_asn, config.peers[0].peer_asn) == (4200000000, 2**32 - 1)


@pytest.mark.parametrize(
    ("field", "value", "phrase"),
    [
        ("peerAddress", "", "missing peer address"),
        ("peerAddress", "10.0.0.300", "invalid BGPPeer address"),
        ("sourceAddress", "nope", "invalid source address"),
        ("routerID", "fd00::1", "IPv4"),
    ],
)
def test_peer_addresses(field, value, phrase):
    issue = the_error(build(peer("p", **{field: value})))
    assert_issue(issue, "BGPPeer/p", f"spec.{field}", phrase)


# -- BGP peers: timers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hold", "keepalive", "expected"),
    [
        (None, None, (90, 30)),
        ("9s", None, (9, 3)),
        ("10s", None, (10, 3)),
        (None, "10s", (30, 10)),
        ("0s", None, (0, 0)),
        ("0", None, (0, 0)),
        ("3s", None, (3, 1)),
        ("3.9s", None, (3, 1)),
        ("30s", "30s", (30, 30)),
        ("1m30s", None, (90, 30)),
        ("1.5m", None, (90, 30)),
        ("90000ms", None, (90, 30)),
        ("1h", "20m", (3600, 1200)),
    ],
)
def test_hold_and_keepalive(hold, keepalive, expected):
    config = ok(peer("p", holdTime=hold, keepaliveTime=keepalive))
    assert (config.peers[0].hold_time, config.peers[0].keepalive_time) == expected


@pytest.mark.parametrize(
    ("hold", "keepalive", "field", "phrase"),
    [
        ("2s", None, "spec.holdTime", "must be 0 or >=3s"),
        ("2.9s", None, "spec.holdTime", "must be 0 or >=3s"),  # rounded down to 2s
        ("1s", None, "spec.holdTime", "must be 0 or >=3s"),
        ("30s", "40s", "spec.keepaliveTime", "must be lower than holdTime"),
        ("0s", "1s", "spec.keepaliveTime", "must be lower than holdTime"),
        ("90", None, "spec.holdTime", "invalid duration"),
        ("soon", None, "spec.holdTime", "invalid duration"),
        ("-90s", None, "spec.holdTime", "negative"),
        ("3.5s", "3.7s", "spec.keepaliveTime", "must be lower than holdTime"),  # exact compare
        (None, "0.9s", "spec.holdTime", "must be 0 or >=3s"),  # hold = 3 x 0.9s = 2.7s
        ("65536s", None, "spec.holdTime", "at most 65535s"),
        (None, "30 s", "spec.keepaliveTime", "invalid duration"),
    ],
)
def test_invalid_timers(hold, keepalive, field, phrase):
    issue = the_error(build(peer("p", holdTime=hold, keepaliveTime=keepalive)))
    assert_issue(issue, "BGPPeer/p", field, phrase)


# -- BGP peers: passwords ------------------------------------------------------------------------


def test_password_and_password_secret_are_exclusive():
    result = build(
        peer("p", password="x", passwordSecret={"name": "s"}),
        secret("s", password="eA=="),
    )
    assert_issue(the_error(result), "BGPPeer/p", "spec.passwordSecret", "mutually exclusive")


def test_password_secret_missing_is_only_a_warning():
    result = build(peer("p", passwordSecret={"name": "s"}))
    assert result.config is not None
    assert_issue(the_warning(result), "BGPPeer/p", "spec.passwordSecret", "not found")
    assert the_warning(result).severity == "warning"


@pytest.mark.parametrize(
    ("doc", "phrase"),
    [
        (secret("s", "Opaque", password="eA=="), "expected kubernetes.io/basic-auth"),
        (secret("s", username="eA=="), "no 'password' key"),
        (secret("s", password="%%%not base64"), "not valid base64"),
    ],
)
def test_bad_password_secret(doc, phrase):
    issue = the_error(build(peer("p", passwordSecret={"name": "s"}), doc))
    assert_issue(issue, "BGPPeer/p", "spec.passwordSecret", phrase)


def test_good_password_secret():
    config = ok(peer("p", passwordSecret={"name": "s"}), secret("s", password="czNjcjN0"))
    ref = config.peers[0].password_secret
    assert ref is not None
    assert (ref.name, ref.namespace) == ("s", NS)


def test_password_never_appears_in_reprs():
    password = "Sup3r-S3cret-Pa55"
    result = build(pool("p", "10.0.0.0/24"), peer("p", password=password))
    config = result.config
    assert config is not None
    assert config.peers[0].password == password
    assert password not in repr(config.peers[0])
    assert password not in str(config)
    assert password not in repr(config)
    assert password not in pretty_repr(config)  # rich's printer asks __rich_repr__, not repr()
    inputs = load_text(yaml.safe_dump(peer("p", password=password)), FILE)
    assert password not in repr(inputs.resources)


def test_password_not_in_issues_of_a_bad_peer():
    password = "Sup3r-S3cret-Pa55"
    result = build(peer("p", password=password, holdTime="1s", bogusField=1))
    assert result.errors
    assert all(password not in str(i) for i in result.issues)


# -- BGP peers: other rules ----------------------------------------------------------------------


def test_ebgp_multihop_with_ibgp_peer():
    issue = the_error(build(peer("p", peerASN=64500, ebgpMultiHop=True)))
    assert_issue(issue, "BGPPeer/p", "spec.ebgpMultiHop", "ibgp")


def test_ebgp_multihop_with_ebgp_peer():
    assert ok(peer("p", ebgpMultiHop=True)).peers[0].ebgp_multihop


def test_unknown_bfd_profile():
    issue = the_error(build(peer("p", bfdProfile="fast")))
    assert_issue(issue, "BGPPeer/p", "spec.bfdProfile", "unknown BFD profile 'fast'")


def test_known_bfd_profile_and_its_defaults():
    config = ok(peer("p", bfdProfile="fast"), bfd("fast", receiveInterval=100))
    profile = config.bfd_profiles["fast"]
    assert config.peers[0].bfd_profile == "fast"
    assert (profile.receive_interval, profile.transmit_interval) == (100, 300)
    assert (profile.detect_multiplier, profile.echo_mode) == (3, False)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("receiveInterval", 9),
        ("transmitInterval", 60001),
        ("echoInterval", 5),
        ("detectMultiplier", 1),
        ("detectMultiplier", 256),
        ("minimumTtl", 0),
        ("minimumTtl", 255),
    ],
)
def test_bfd_profile_ranges(field, value):
    issue = the_error(build(bfd("b", **{field: value})))
    assert (issue.obj, issue.field) == ("BFDProfile/b", f"spec.{field}")


def test_bfd_echo_with_ipv6_pool_is_rejected():
    result = build(
        bfd("echo", echoMode=True),
        peer("p", bfdProfile="echo"),
        pool("v6", "fd00::/120"),
        bgp_ad("ad"),
    )
    issue = the_error(result)
    assert_issue(issue, "BGPPeer/p", "spec.bfdProfile", "echo mode")
    assert "BGPAdvertisement/ad" in issue.message


@pytest.mark.parametrize(
    "docs",
    [
        # IPv4 only
        [pool("v4", "10.0.0.0/24"), bgp_ad("ad")],
        # the IPv6 pool goes to another peer only
        [
            pool("v6", "fd00::/120"),
            peer("other", peerAddress="10.0.0.9"),
            bgp_ad("ad", peers=["other"]),
        ],
        # the IPv6 pool is not advertised over BGP
        [pool("v6", "fd00::/120"), pool("v4", "10.0.0.0/24"), bgp_ad("ad", ipAddressPools=["v4"])],
    ],
)
def test_bfd_echo_without_ipv6_advertised_to_that_peer(docs):
    ok(bfd("echo", echoMode=True), peer("p", bfdProfile="echo"), *docs)


def test_bfd_without_echo_and_ipv6_is_fine():
    ok(
        bfd("plain", echoMode=False),
        peer("p", bfdProfile="plain"),
        pool("v6", "fd00::/120"),
        bgp_ad("ad"),
    )


def test_disable_mp_is_a_deprecation_warning():
    result = build(peer("p", disableMP=True))
    assert result.config is not None
    assert_issue(the_warning(result), "BGPPeer/p", "spec.disableMP", "deprecated")


# -- LOCAL_PREF conflicts ------------------------------------------------------------------------


def _lp_docs(a: dict, b: dict, addresses=("10.0.0.0/24",)) -> list[dict]:
    return [
        pool("p", *addresses),
        peer("p1"),
        peer("p2", peerAddress="10.0.0.2"),
        bgp_ad("a", ipAddressPools=["p"], localPref=100, **a),
        bgp_ad("b", ipAddressPools=["p"], localPref=200, **b),
    ]


def test_local_pref_conflict_on_the_same_pool():
    issue = the_error(build(*_lp_docs({}, {})))
    assert_issue(issue, "BGPAdvertisement/b", "spec.localPref", "invalid local preference 200")
    assert "BGPAdvertisement/a" in issue.message
    assert "'p'" in issue.message


def test_same_local_pref_twice_is_fine():
    ok(
        pool("p", "10.0.0.0/24"),
        bgp_ad("a", localPref=100),
        bgp_ad("b", localPref=100, communities=["1:1"]),
    )


@pytest.mark.parametrize(
    ("a", "b", "addresses"),
    [
        ({"aggregationLength": 24}, {}, ["10.0.0.0/24"]),
        ({"aggregationLengthV6": 120}, {}, ["fd00::/120"]),
        ({"aggregationLength": 24, "aggregationLengthV6": 120}, {}, ["10.0.0.0/24", "fd00::/120"]),
        ({"peers": ["p1"]}, {"peers": ["p2"]}, ["10.0.0.0/24"]),
        ({"serviceSelectors": [{"matchLabels": {"a": "b"}}]}, {}, ["10.0.0.0/24"]),
        ({}, {"serviceSelectors": [{"matchLabels": {"a": "b"}}]}, ["10.0.0.0/24"]),
    ],
    ids=["agg-v4", "agg-v6", "agg-both-families", "disjoint-peers", "svc-sel-a", "svc-sel-b"],
)
def test_local_pref_difference_allowed(a, b, addresses):
    ok(*_lp_docs(a, b, addresses))


@pytest.mark.parametrize(
    ("a", "b", "addresses"),
    [
        # a dual-stack pool conflicts unless both families' lengths differ
        ({"aggregationLength": 24}, {}, ["10.0.0.0/24", "fd00::/120"]),
        # the v6 length is irrelevant for a v4-only pool
        ({"aggregationLengthV6": 120}, {}, ["10.0.0.0/24"]),
        # peers that overlap, or one ad sending to all peers
        ({"peers": ["p1"]}, {"peers": ["p1", "p2"]}, ["10.0.0.0/24"]),
        ({"peers": ["p1"]}, {}, ["10.0.0.0/24"]),
    ],
    ids=["agg-one-family-only", "agg-other-family", "shared-peer", "all-peers"],
)
def test_local_pref_conflict_remains(a, b, addresses):
    issue = the_error(build(*_lp_docs(a, b, addresses)))
    assert_issue(issue, "BGPAdvertisement/b", "spec.localPref", "local preference")


def test_local_pref_on_different_pools_is_fine():
    ok(
        pool("p", "10.0.0.0/24"),
        pool("q", "10.0.1.0/24"),
        bgp_ad("a", ipAddressPools=["p"], localPref=100),
        bgp_ad("b", ipAddressPools=["q"], localPref=200),
    )


RACK_A = {"matchLabels": {"rack": "a"}}
RACK_B = {"matchLabels": {"rack": "b"}}
ZONE_Z = {"matchLabels": {"zone": "z"}}


def test_local_pref_disjoint_node_sets_given_nodes():
    nodes = [node_obj("n1", rack="a"), node_obj("n2", rack="b")]
    ok(*_lp_docs({"nodeSelectors": [RACK_A]}, {"nodeSelectors": [RACK_B]}), nodes=nodes)


def test_local_pref_overlapping_node_sets_given_nodes():
    nodes = [node_obj("n1", rack="a", zone="z"), node_obj("n2", rack="b")]
    result = build(*_lp_docs({"nodeSelectors": [RACK_A]}, {"nodeSelectors": [ZONE_Z]}), nodes=nodes)
    assert_issue(the_error(result), "BGPAdvertisement/b", "spec.localPref", "local preference")


def test_local_pref_node_sets_from_nodes_in_the_input():
    docs = _lp_docs({"nodeSelectors": [RACK_A]}, {"nodeSelectors": [ZONE_Z]})
    ok(*docs, node("n1", rack="a"), node("n2", zone="z"))
    result = build(*docs, node("n1", rack="a", zone="z"))
    assert_issue(the_error(result), "BGPAdvertisement/b", "spec.localPref", "local preference")


def test_local_pref_without_nodes_only_identical_selections_conflict():
    ok(*_lp_docs({"nodeSelectors": [RACK_A]}, {"nodeSelectors": [RACK_B]}))
    result = build(*_lp_docs({"nodeSelectors": [RACK_A]}, {"nodeSelectors": [RACK_A]}))
    assert_issue(the_error(result), "BGPAdvertisement/b", "spec.localPref", "local preference")


# -- references and pool selection ---------------------------------------------------------------


@pytest.mark.parametrize("make", [l2_ad, bgp_ad], ids=["L2Advertisement", "BGPAdvertisement"])
def test_unknown_pool_reference(make):
    ad = make("ad", ipAddressPools=["p", "nope"])
    issue = the_error(build(pool("p", "10.0.0.0/24"), ad))
    assert_issue(
        issue, f"{ad['kind']}/ad", "spec.ipAddressPools[1]", "unknown IPAddressPool 'nope'"
    )


def test_unknown_peer_reference():
    issue = the_error(build(pool("p", "10.0.0.0/24"), peer("p1"), bgp_ad("ad", peers=["p1", "p9"])))
    assert_issue(issue, "BGPAdvertisement/ad", "spec.peers[1]", "unknown BGPPeer 'p9'")


def test_duplicate_pool_in_an_advertisement():
    issue = the_error(build(pool("p", "10.0.0.0/24"), l2_ad("ad", ipAddressPools=["p", "p"])))
    assert_issue(issue, "L2Advertisement/ad", "spec.ipAddressPools", "duplicate")


def _three_pools() -> list[dict]:
    return [
        pool("gold", "10.0.0.0/24", labels={"tier": "gold"}),
        pool("silver", "10.0.1.0/24", labels={"tier": "silver"}),
        pool("plain", "10.0.2.0/24"),
    ]


@pytest.mark.parametrize("make", [l2_ad, bgp_ad], ids=["L2Advertisement", "BGPAdvertisement"])
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, {"gold", "silver", "plain"}),
        ({"ipAddressPools": ["plain"]}, {"plain"}),
        ({"ipAddressPoolSelectors": [{"matchLabels": {"tier": "gold"}}]}, {"gold"}),
        (
            {
                "ipAddressPoolSelectors": [
                    {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}
                ]
            },
            {"gold", "silver"},
        ),
        (
            {
                "ipAddressPoolSelectors": [
                    {"matchLabels": {"tier": "gold"}},
                    {"matchLabels": {"tier": "silver"}},
                ]
            },
            {"gold", "silver"},
        ),
        (
            {
                "ipAddressPools": ["plain"],
                "ipAddressPoolSelectors": [{"matchLabels": {"tier": "gold"}}],
            },
            {"gold", "plain"},
        ),
        ({"ipAddressPoolSelectors": [{"matchLabels": {"tier": "bronze"}}]}, set()),
    ],
    ids=["none=all", "by-name", "by-label", "by-expression", "selectors-ored", "union", "no-match"],
)
def test_pool_selection(make, spec, expected):
    config = ok(*_three_pools(), make("ad", **spec))
    ads = config.l2_advertisements if make is l2_ad else config.bgp_advertisements
    assert ads[0].pools == frozenset(expected)
    for name in expected:
        assert [
            a.name for a in config.l2_advertisements_for(name) + config.bgp_advertisements_for(name)
        ] == ["ad"]


def test_duplicate_selector():
    issue = the_error(build(l2_ad("ad", nodeSelectors=[RACK_A, RACK_A])))
    assert_issue(issue, "L2Advertisement/ad", "spec.nodeSelectors[1]", "duplicate selector")


def test_duplicate_namespace_in_service_allocation():
    issue = the_error(build(pool("p", "10.0.0.0/24", serviceAllocation={"namespaces": ["a", "a"]})))
    assert_issue(issue, "IPAddressPool/p", "spec.serviceAllocation.namespaces", "duplicate")


def test_invalid_selector_operator_is_a_schema_error():
    sel = {"matchExpressions": [{"key": "rack", "operator": "Near", "values": ["a"]}]}
    issue = the_error(build(l2_ad("ad", nodeSelectors=[sel])))
    assert issue.obj == "L2Advertisement/ad"
    assert issue.field.startswith("spec.nodeSelectors[0].matchExpressions[0]")


# -- schema: unknown fields, namespaces, versions, kinds -----------------------------------------


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (pool("p", "10.0.0.0/24", autoAsign=False), "spec.autoAsign"),
        # the Python attribute name is not a YAML name either
        (pool("p", "10.0.0.0/24", auto_assign=False), "spec.auto_assign"),
        (peer("p", hold_time="9s"), "spec.hold_time"),
        (peer("p", peerAdress="10.0.0.9"), "spec.peerAdress"),
        (bgp_ad("ad", aggregationLenght=24), "spec.aggregationLenght"),
        (l2_ad("ad", interface=["eth0"]), "spec.interface"),
        (bfd("b", echoMod=True), "spec.echoMod"),
        ({**l2_ad("ad"), "sepc": {}}, "sepc"),
    ],
)
def test_unknown_field_typo(doc, field):
    issue = the_error(build(doc))
    assert_issue(issue, f"{doc['kind']}/{doc['metadata']['name']}", field, "unknown field")


def test_missing_spec_is_a_schema_error():
    doc = pool("p", "10.0.0.0/24")
    del doc["spec"]
    assert_issue(the_error(build(doc)), "IPAddressPool/p", "spec", "required")


def test_resource_in_another_namespace_is_ignored_with_a_warning():
    other = pool("elsewhere", "10.0.1.0/24")
    other["metadata"]["namespace"] = "default"
    result = build(pool("p", "10.0.0.0/24"), other)
    assert result.config is not None
    assert set(result.config.pools) == {"p"}
    issue = the_warning(result)
    assert_issue(issue, "IPAddressPool/elsewhere", "metadata.namespace", "'default'")
    assert "ignore" in issue.message


def test_resource_without_namespace_is_taken_as_metallbs():
    doc = pool("p", "10.0.0.0/24")
    del doc["metadata"]["namespace"]
    assert set(ok(doc).pools) == {"p"}


def test_namespace_is_configurable():
    doc = pool("p", "10.0.0.0/24")
    doc["metadata"]["namespace"] = "lb"
    result = build(doc, namespace="lb")
    assert result.config is not None and set(result.config.pools) == {"p"}
    result = build(doc)
    assert result.config is not None and set(result.config.pools) == set()


def test_bgppeer_v1beta1_is_deprecated_but_works():
    result = build(peer("p", version="v1beta1"))
    assert result.config is not None
    assert [p.name for p in result.config.peers] == ["p"]
    assert_issue(the_warning(result), "BGPPeer/p", "apiVersion", "deprecated")


def test_unsupported_api_version():
    doc = pool("p", "10.0.0.0/24")
    doc["apiVersion"] = "metallb.io/v1alpha1"
    issue = the_error(build(doc))
    assert_issue(issue, "IPAddressPool/p", "apiVersion", "unsupported apiVersion")


def test_unknown_kind_is_a_warning_naming_the_kind():
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2},
    }
    result = build(pool("p", "10.0.0.0/24"), deployment)
    assert result.config is not None
    issue = the_warning(result)
    assert_issue(issue, "Deployment/web", "kind", "Deployment")
    assert "ignored" in issue.message


def test_non_mapping_document_is_an_error():
    inputs = load_text("- just\n- a list\n", FILE)
    assert [(i.obj, i.severity) for i in inputs.issues] == [("", "error")]
    assert "not a mapping" in inputs.issues[0].message


@pytest.mark.parametrize("kind", ["List", "IPAddressPoolList"])
def test_list_kind_with_items(kind):
    doc = {
        "apiVersion": "v1",
        "kind": kind,
        "items": [pool("a", "10.0.0.0/24"), pool("b", "10.0.1.0/24"), l2_ad("ad")],
    }
    config = ok(doc)
    assert set(config.pools) == {"a", "b"}
    assert config.l2_advertisements[0].pools == {"a", "b"}


def test_list_items_must_be_a_list():
    inputs = load_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": 5}), FILE)
    assert [(i.field, i.severity) for i in inputs.issues] == [("items", "error")]


# -- defaults ------------------------------------------------------------------------------------


def test_defaults():
    config = ok(pool("p", "10.0.0.0/24"), l2_ad("l2"), bgp_ad("bgp"), peer("peer"))
    p = config.pools["p"]
    assert (p.auto_assign, p.avoid_buggy_ips, p.allocation) == (True, False, None)
    ad = config.bgp_advertisements[0]
    assert (ad.aggregation_length, ad.aggregation_length_v6, ad.local_pref) == (32, 128, 0)
    assert (ad.communities, ad.peers, ad.node_selectors) == ((), (), ())
    l2 = config.l2_advertisements[0]
    assert (l2.interfaces, l2.node_selectors, l2.service_selectors) == ((), (), ())
    pe = config.peers[0]
    assert (pe.hold_time, pe.keepalive_time, pe.peer_port) == (90, 30, 179)
    assert (pe.password, pe.password_secret, pe.bfd_profile, pe.ebgp_multihop) == (
        "",
        None,
        "",
        False,
    )
    assert (pe.source_address, pe.router_id, pe.node_selectors) == (None, None, ())


def test_explicit_pool_options():
    config = ok(
        pool(
            "p",
            "10.0.0.0/24",
            autoAssign=False,
            avoidBuggyIPs=True,
            serviceAllocation={"priority": 5, "namespaces": ["a", "b"]},
        )
    )
    p = config.pools["p"]
    assert (p.auto_assign, p.avoid_buggy_ips) == (False, True)
    assert p.allocation is not None
    assert (p.allocation.priority, p.allocation.namespaces) == (5, {"a", "b"})
    assert not p.contains(ipaddress.ip_address("10.0.0.0"))
    assert not p.contains(ipaddress.ip_address("10.0.0.255"))
    assert p.contains(ipaddress.ip_address("10.0.0.1"))


def test_empty_input_builds_an_empty_config():
    result = build_config(load_text("", FILE))
    assert result.issues == []
    assert result.config is not None
    assert (dict(result.config.pools), result.config.peers) == ({}, ())


def test_warnings_alone_still_give_a_config_and_errors_come_first():
    other = pool("x", "10.0.1.0/24")
    other["metadata"]["namespace"] = "default"
    result = build(pool("p", "10.0.0.0/24"), other, peer("v1", version="v1beta1"))
    assert result.config is not None
    assert len(result.warnings) == 2
    bad = build(other, pool("p", "10.0.0.0/33"))
    assert bad.config is None
    assert [i.severity for i in bad.issues] == ["error", "warning"]


def test_an_empty_list_elsewhere_says_how_many_items_it_needs():
    from actors.config.loader import _pydantic_message

    err = {"type": "too_short", "msg": "List should have at least 2 items after validation"}
    err["ctx"] = {"min_length": 2, "actual_length": 1}
    assert _pydantic_message(err, "spec.thing") == "too short: give at least 2 items"


def test_an_unnumbered_peer_is_accepted_without_a_warning():
    result = build(
        peer("leaf", peerAddress=None, peerASN=None, dynamicASN="external", interface="eth1")
    )
    assert result.errors == [] and result.config is not None
    assert result.warnings == []  # both BGP backends make the session
    [leaf] = result.config.peers
    assert (leaf.peer_address, leaf.interface, leaf.target) == (None, "eth1", "eth1 (unnumbered)")


def test_bfd_on_an_unnumbered_peer_is_accepted_without_a_warning():
    result = build(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BFDProfile",
            "metadata": {"name": "fast", "namespace": "metallb-system"},
            "spec": {},
        },
        peer(
            "leaf",
            peerAddress=None,
            peerASN=None,
            dynamicASN="external",
            interface="eth1",
            bfdProfile="fast",
        ),
    )
    assert result.errors == [] and result.warnings == [] and result.config is not None
    assert result.config.peers[0].bfd_profile == "fast"  # both backends run it (link-local)


@pytest.mark.parametrize("name", ["", "a-name-longer-than-15", "eth/0", "eth 0", "..", "eth0:1"])
def test_an_unnumbered_peer_names_a_linux_interface(name):
    docs = [peer("leaf", peerAddress=None, interface=name)]
    result = build(*docs)
    field = "spec.peerAddress" if not name else "spec.interface"
    assert_issue(the_error(result), "BGPPeer/leaf", field, "interface")
