"""MetalLB parity of configuration validation: the rules issue 16 found lbtui missing.

Each test feeds YAML through the real loader and ``build_config`` (the helpers of
test_config_validation.py) and checks the object, field and message of the issue, or that
there is none (reference: ../shared/reference/metallb-semantics.md, section 1).
"""

from __future__ import annotations

import pytest

from actors.config.names import converter_name, subdomain_problem
from tests.unit.test_config_legacy import build as build_legacy
from tests.unit.test_config_validation import (
    assert_issue,
    bfd,
    bgp_ad,
    build,
    community,
    l2_ad,
    ok,
    peer,
    pool,
    secret,
    the_error,
)


def test_bgp_advertisement_naming_a_peer_twice_is_refused() -> None:
    result = build(
        pool("p", "10.0.0.0/24"),
        peer("a"),
        peer("b", peerAddress="10.0.0.2"),
        bgp_ad("ad", ipAddressPools=["p"], peers=["a", "b", "a"]),
    )
    assert_issue(the_error(result), "BGPAdvertisement/ad", "spec.peers[2]", "duplicate peer 'a'")


def test_distinct_peers_are_accepted() -> None:
    cfg = ok(
        pool("p", "10.0.0.0/24"),
        peer("a"),
        peer("b", peerAddress="10.0.0.2"),
        bgp_ad("ad", ipAddressPools=["p"], peers=["a", "b"]),
    )
    assert cfg.bgp_advertisements[0].peers == ("a", "b")


def _expr(*values: str) -> dict:
    return {"key": "zone", "operator": "In", "values": list(values)}


@pytest.mark.parametrize(
    "second", [_expr("x", "y"), _expr("y", "x")], ids=["same-order", "values-reordered"]
)
def test_selector_repeating_a_match_expression_is_refused(second: dict) -> None:
    selector = {"matchExpressions": [_expr("x", "y"), second]}
    result = build(
        pool("p", "10.0.0.0/24"), l2_ad("l2", ipAddressPools=["p"], nodeSelectors=[selector])
    )
    issue = the_error(result)
    assert issue.obj == "L2Advertisement/l2"
    assert issue.field == "spec.nodeSelectors[0]"
    assert "duplicate matchExpressions" in issue.message


def test_selector_with_different_match_expressions_is_accepted() -> None:
    selector = {"matchExpressions": [_expr("x", "y"), _expr("x")]}
    ok(pool("p", "10.0.0.0/24"), l2_ad("l2", ipAddressPools=["p"], nodeSelectors=[selector]))


def test_empty_status_is_accepted_on_every_kind() -> None:
    """MetalLB's ConfigMap converter writes ``status: {}`` on every object it makes."""
    docs = [
        pool("p", "10.0.0.0/24"),
        peer("a"),
        bgp_ad("ad", ipAddressPools=["p"]),
        l2_ad("l2", ipAddressPools=["p"]),
        community("c", gold="64512:1"),
        bfd("b"),
    ]
    cfg = ok(*({**doc, "status": {}} for doc in docs))
    assert len(cfg.peers) == len(cfg.bfd_profiles) == len(cfg.communities) == 1


def test_unnamed_password_secret_next_to_a_password_is_unset() -> None:
    result = build(peer("a", password="s3cret", passwordSecret={}))
    assert result.issues == [], [str(i) for i in result.issues]
    assert result.config is not None
    only = result.config.peers[0]
    assert only.password == "s3cret" and only.password_secret is None


def test_named_password_secret_next_to_a_password_is_still_refused() -> None:
    result = build(
        peer("a", password="s3cret", passwordSecret={"name": "bgp"}),
        secret("bgp", password="czNjcmV0"),
    )
    assert_issue(the_error(result), "BGPPeer/a", "spec.passwordSecret", "mutually exclusive")


def test_misspelt_metallb_kind_is_an_error() -> None:
    typo = {**pool("p", "10.0.0.0/24"), "kind": "IPAdressPool"}
    issue = the_error(build(typo))
    assert_issue(issue, "IPAdressPool/p", "kind", "unknown metallb.io kind 'IPAdressPool'")
    assert "did you mean IPAddressPool?" in issue.message


def test_metallb_status_kinds_and_other_groups_only_warn() -> None:
    status = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ServiceL2Status",
        "metadata": {"name": "l2-abc", "namespace": "metallb-system"},
    }
    other = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}
    result = build(pool("p", "10.0.0.0/24"), status, other)
    assert result.errors == [] and len(result.warnings) == 2


@pytest.mark.parametrize(
    "name", ["Bad_Name", "a/b", "a\x00b", "evil\u202egnp", "-lead", "trail-", "UPPER", "a" * 254]
)
def test_names_that_are_not_kubernetes_names_are_refused(name: str) -> None:
    issue = the_error(build(pool(name, "10.0.0.0/24")))
    assert issue.field == "metadata.name"
    assert "Kubernetes name" in issue.message or "at most 253" in issue.message


@pytest.mark.parametrize("name", ["pool", "pool-1", "10-0-0-0", "a.b.c", "a" * 253])
def test_kubernetes_names_are_accepted(name: str) -> None:
    assert subdomain_problem(name) is None
    ok(pool(name, "10.0.0.0/24"))


def test_name_with_a_lone_surrogate_is_a_clean_printable_error() -> None:
    issue = the_error(build(pool("\ud800", "10.0.0.0/24")))
    text = str(issue)
    text.encode("utf-8")  # never a UnicodeEncodeError where the report is printed
    assert "\\ud800" in text and "metadata.name" in text


@pytest.mark.parametrize(
    ("field", "value"),
    [("autoAssign", 1), ("autoAssign", "true"), ("avoidBuggyIPs", 0)],
)
def test_pool_booleans_must_be_booleans(field: str, value: object) -> None:
    issue = the_error(build(pool("p", "10.0.0.0/24", **{field: value})))
    assert_issue(issue, "IPAddressPool/p", f"spec.{field}", "valid boolean")


def test_peer_booleans_must_be_booleans() -> None:
    issue = the_error(build(peer("a", ebgpMultiHop=1)))
    assert_issue(issue, "BGPPeer/a", "spec.ebgpMultiHop", "valid boolean")


# -- legacy ConfigMap names, as MetalLB's configmaptocrs (formatToK8S) makes them -----------


@pytest.mark.parametrize(
    ("legacy", "converted"),
    [
        ("default", "default"),
        ("01-numbered-addresspool", "numbered-addresspool"),
        ("Capitalized-AddressPool", "capitalized-addresspool"),
        ("under_score", "under-score"),
        ("_9lead", "lead"),
        ("x" * 70, "x" * 63),
        ("0123", None),
    ],
)
def test_converter_name_is_metallbs_rule(legacy: str, converted: str | None) -> None:
    assert converter_name(legacy) == converted


def test_legacy_pool_names_are_renamed_as_the_converter_does() -> None:
    result = build_legacy(
        """
        address-pools:
        - name: Capitalized-AddressPool
          protocol: layer2
          addresses: [10.0.0.0/28]
        - name: 01-numbered-addresspool
          protocol: bgp
          addresses: [10.0.1.0/28]
        peers:
        - {my-asn: 64500, peer-asn: 64501, peer-address: 10.0.0.1, bfd-profile: Fast_BFD}
        bfd-profiles:
        - name: Fast_BFD
        """
    )
    assert result.errors == [], [str(i) for i in result.errors]
    assert result.config is not None
    assert sorted(result.config.pools) == ["capitalized-addresspool", "numbered-addresspool"]
    assert result.config.l2_advertisements[0].pools == {"capitalized-addresspool"}
    assert result.config.bgp_advertisements[0].pools == {"numbered-addresspool"}
    assert list(result.config.bfd_profiles) == ["fast-bfd"]
    assert result.config.peers[0].bfd_profile == "fast-bfd"
    renamed = [w for w in result.warnings if "as MetalLB's converter names it" in w.message]
    assert [w.field for w in renamed] == [
        "data.config.address-pools[0].name",
        "data.config.address-pools[1].name",
        "data.config.bfd-profiles[0].name",
    ]


def test_legacy_pool_name_without_a_letter_is_an_error() -> None:
    result = build_legacy(
        """
        address-pools:
        - {name: "0123", protocol: layer2, addresses: [10.0.0.0/28]}
        """
    )
    assert any(
        e.field == "data.config.address-pools[0].name" and "no letter" in e.message
        for e in result.errors
    ), [str(i) for i in result.issues]
