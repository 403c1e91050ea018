"""MetalLB's pre-0.13 ConfigMap (key ``config``): strict parsing and conversion to CRDs.

Reference: ../shared/reference/metallb-semantics.md section 1a (and configmaptocrs for names).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from rich.pretty import pretty_repr

from actors.config.build import BuildResult, build_config
from actors.config.loader import load_files, load_text
from actors.model.config import Community
from actors.model.issues import Issue

FILE = "cm.yaml"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def configmap(config: str, name: str = "config") -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "metallb-system"},
        "data": {"config": textwrap.dedent(config)},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def build(config: str, extra: str = "") -> BuildResult:
    text = configmap(config) + ("---\n" + extra if extra else "")
    inputs = load_text(text, FILE)
    result = build_config(inputs)
    result.issues[:0] = inputs.issues
    return result


def ok(config: str):
    result = build(config)
    assert result.issues == [], [str(i) for i in result.issues]
    assert result.config is not None
    return result.config


def the_error(result: BuildResult) -> Issue:
    assert result.config is None
    assert len(result.errors) == 1, [str(i) for i in result.errors]
    return result.errors[0]


def assert_cm_issue(issue: Issue, field: str, phrase: str) -> None:
    """A problem in the legacy schema itself points at the ConfigMap and a data.config path."""
    assert (issue.file, issue.obj, issue.field) == (FILE, "ConfigMap/config", field), str(issue)
    assert phrase.lower() in issue.message.lower(), str(issue)
    assert str(issue).startswith(f"{FILE}: ConfigMap/config: {field}: ")


L2_POOL = """
address-pools:
- name: a
  protocol: layer2
  addresses: [10.0.0.0/24]
"""


# -- strict parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (L2_POOL + "peer: []\n", "data.config.peer"),
        (L2_POOL + "  auto_assign: false\n", "data.config.address-pools[0].auto_assign"),
        (
            "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 10.0.0.1, bfdProfile: x}\n",
            "data.config.peers[0].bfdProfile",
        ),
        (
            "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 10.0.0.1,"
            " node-selectors: [{matchLabels: {a: b}}]}\n",
            "data.config.peers[0].node-selectors[0].matchLabels",
        ),
        (
            "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [10.0.0.0/24]\n"
            "  bgp-advertisements: [{aggregationLength: 24}]\n",
            "data.config.address-pools[0].bgp-advertisements[0].aggregationLength",
        ),
    ],
    ids=["top-level", "pool", "peer-bfdProfile", "selector", "advertisement"],
)
def test_unknown_keys_are_rejected(config, field):
    assert_cm_issue(the_error(build(config)), field, "unknown field")


def test_protocol_is_required():
    config = "address-pools:\n- name: a\n  addresses: [10.0.0.0/24]\n"
    assert_cm_issue(the_error(build(config)), "data.config.address-pools[0].protocol", "required")


@pytest.mark.parametrize("protocol", ["ospf", "BGP", "l2", ""])
def test_protocol_is_bgp_or_layer2(protocol):
    config = f"address-pools:\n- name: a\n  protocol: '{protocol}'\n  addresses: [10.0.0.0/24]\n"
    issue = the_error(build(config))
    assert_cm_issue(issue, "data.config.address-pools[0].protocol", "unknown protocol")
    assert "bgp or layer2" in issue.message


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (
            "address-pools:\n- protocol: layer2\n  addresses: [10.0.0.0/24]\n",
            "address-pools[0].name",
        ),
        ("address-pools:\n- name: a\n  protocol: layer2\n", "address-pools[0].addresses"),
        (
            "address-pools:\n- name: a\n  protocol: layer2\n  addresses: []\n",
            "address-pools[0].addresses",
        ),
    ],
)
def test_pool_name_and_addresses_are_required(config, field):
    issue = the_error(build(config))
    assert issue.obj == "ConfigMap/config"
    assert issue.field == "data.config." + field


def test_config_that_is_not_a_mapping():
    issue = the_error(build("- a\n- b\n"))
    assert_cm_issue(issue, "data.config", "")


def test_yaml_error_inside_the_config_key_is_an_issue_not_a_crash():
    issue = the_error(build("address-pools: [\n"))
    assert_cm_issue(issue, "data.config", "YAML")


def test_empty_config_is_an_empty_configuration():
    config = ok("")
    assert (dict(config.pools), config.peers, config.bgp_advertisements) == ({}, (), ())


def test_configmap_without_config_key_is_ignored_with_a_warning():
    text = yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "v"}}
    )
    inputs = load_text(text, FILE)
    assert [(i.obj, i.field, i.severity) for i in inputs.issues] == [
        ("ConfigMap/x", "data", "warning")
    ]
    assert inputs.legacy == []


# -- pools and advertisements -------------------------------------------------------------------


def test_bgp_advertisements_are_forbidden_in_layer2_pools():
    config = L2_POOL + "  bgp-advertisements: [{aggregation-length: 24}]\n"
    issue = the_error(build(config))
    assert_cm_issue(issue, "data.config.address-pools[0].bgp-advertisements", "layer2")


def test_layer2_pool_gets_an_l2_advertisement():
    config = ok(
        L2_POOL + "- name: b\n  protocol: layer2\n  auto-assign: false\n"
        "  avoid-buggy-ips: true\n  addresses: [10.0.1.0/24]\n"
    )
    assert [(ad.name, ad.pools) for ad in config.l2_advertisements] == [
        ("l2advertisement1", {"a"}),
        ("l2advertisement2", {"b"}),
    ]
    assert config.bgp_advertisements == ()
    assert (config.pools["a"].auto_assign, config.pools["a"].avoid_buggy_ips) == (True, False)
    assert (config.pools["b"].auto_assign, config.pools["b"].avoid_buggy_ips) == (False, True)


@pytest.mark.parametrize("ads", ["", "  bgp-advertisements: []\n"], ids=["absent", "empty"])
def test_default_bgp_advertisement_is_synthesized(ads):
    config = ok("address-pools:\n- name: a\n  protocol: bgp\n  addresses: [10.0.0.0/24]\n" + ads)
    assert config.l2_advertisements == ()
    [ad] = config.bgp_advertisements
    assert (ad.name, ad.pools) == ("bgpadvertisement1", {"a"})
    assert (ad.aggregation_length, ad.aggregation_length_v6, ad.local_pref) == (32, 128, 0)
    assert (ad.communities, ad.peers, ad.node_selectors) == ((), (), ())


def test_bgp_advertisements_are_converted_and_numbered():
    config = ok(
        """
        bgp-communities:
          no-advertise: 65535:65282
        address-pools:
        - name: a
          protocol: bgp
          addresses: [10.0.0.0/24, fd00::/120]
          bgp-advertisements:
          - aggregation-length: 24
            aggregation-length-v6: 120
            localpref: 50
            communities: [no-advertise, "64512:1"]
        - name: b
          protocol: bgp
          addresses: [10.0.1.0/24]
        """
    )
    assert config.communities == {"no-advertise": Community("65535:65282")}
    first, second = config.bgp_advertisements
    assert (first.name, first.pools) == ("bgpadvertisement1", {"a"})
    assert (first.aggregation_length, first.aggregation_length_v6, first.local_pref) == (
        24,
        120,
        50,
    )
    assert set(first.communities) == {Community("65535:65282"), Community("64512:1")}
    assert (second.name, second.pools, second.local_pref) == ("bgpadvertisement2", {"b"}, 0)


def test_bad_community_alias_value():
    result = build("bgp-communities:\n  bad: 65536:1\n")
    issue = the_error(result)
    assert "ConfigMap/config" in issue.obj and "bgp-communities" in issue.obj
    assert issue.field == "spec.communities[0].value"
    assert "does not fit" in issue.message


def test_unknown_community_alias():
    issue = the_error(
        build(
            "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [10.0.0.0/24]\n"
            "  bgp-advertisements: [{communities: [nope]}]\n"
        )
    )
    assert "ConfigMap/config" in issue.obj
    assert "address-pools[0].bgp-advertisements[0]" in issue.obj
    assert issue.field == "spec.communities[0]"
    assert "unknown community alias 'nope'" in issue.message


def test_build_errors_name_the_configmap_entry():
    issue = the_error(
        build("address-pools:\n- name: a\n  protocol: layer2\n  addresses: [10.0.0.0/33]\n")
    )
    assert issue.file == FILE
    assert "ConfigMap/config" in issue.obj and "address-pools[0]" in issue.obj
    assert issue.field == "spec.addresses[0]"
    assert "invalid CIDR '10.0.0.0/33'" in issue.message


def test_aggregation_more_specific_than_pool():
    issue = the_error(
        build(
            "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [10.0.0.0/28]\n"
            "  bgp-advertisements: [{aggregation-length: 26}]\n"
        )
    )
    assert "address-pools[0].bgp-advertisements[0]" in issue.obj
    assert "more specific than the aggregation length" in issue.message


def test_overlapping_legacy_pools():
    issue = the_error(
        build(L2_POOL + "- name: b\n  protocol: bgp\n  addresses: [10.0.0.128-10.0.0.130]\n")
    )
    assert "address-pools[1]" in issue.obj
    assert "overlaps" in issue.message


def test_duplicate_legacy_pool_names():
    issue = the_error(build(L2_POOL + "- name: a\n  protocol: bgp\n  addresses: [10.0.1.0/24]\n"))
    assert "address-pools[1]" in issue.obj
    assert "duplicate IPAddressPool name 'a'" in issue.message


# -- peers ----------------------------------------------------------------------------------------


PEER = "peers:\n- my-asn: 64500\n  peer-asn: 64501\n  peer-address: 10.0.0.1\n"


def test_peer_is_converted():
    config = ok(
        PEER
        + "  peer-port: 1179\n  source-address: 10.0.0.9\n  router-id: 10.0.0.9\n"
        + "  password: hunter2\n  ebgp-multihop: true\n"
    )
    [peer] = config.peers
    assert (peer.name, peer.my_asn, peer.peer_asn, str(peer.peer_address)) == (
        "peer1",
        64500,
        64501,
        "10.0.0.1",
    )
    assert (peer.peer_port, str(peer.source_address), str(peer.router_id)) == (
        1179,
        "10.0.0.9",
        "10.0.0.9",
    )
    assert (peer.password, peer.ebgp_multihop, peer.hold_time, peer.keepalive_time) == (
        "hunter2",
        True,
        90,
        30,
    )
    assert "hunter2" not in repr(peer)


def test_peer_node_selectors():
    config = ok(
        PEER
        + """  node-selectors:
          - match-labels:
              rack: a
            match-expressions:
            - key: zone
              operator: In
              values: [z1, z2]
          - match-labels:
              rack: b
        """.replace("        ", "  ")
    )
    selectors = config.peers[0].node_selectors
    assert len(selectors) == 2
    assert selectors[0].matches({"rack": "a", "zone": "z1"})
    assert not selectors[0].matches({"rack": "a", "zone": "z3"})
    assert not selectors[0].matches({"rack": "a"})
    assert selectors[1].matches({"rack": "b"})


def test_peer_node_selector_with_bad_operator():
    issue = the_error(
        build(PEER + "  node-selectors:\n  - match-expressions: [{key: a, operator: Near}]\n")
    )
    assert issue.obj == "ConfigMap/config"
    assert issue.field.startswith("data.config.peers[0].")
    assert "operator" in issue.field


@pytest.mark.parametrize(
    ("hold", "expected"),
    [("120s", (120, 40)), ("1m", (60, 20)), ("0s", (0, 0)), ("3s", (3, 1))],
)
def test_hold_time(hold, expected):
    config = ok(PEER + f"  hold-time: {hold}\n")
    assert (config.peers[0].hold_time, config.peers[0].keepalive_time) == expected


@pytest.mark.parametrize("hold", ["2s", "2.9s", "1s"])
def test_hold_time_too_short(hold):
    issue = the_error(build(PEER + f"  hold-time: {hold}\n"))
    assert "ConfigMap/config" in issue.obj and "peers[0]" in issue.obj
    assert issue.field == "spec.holdTime"
    assert "must be 0 or >=3s" in issue.message


def test_keepalive_longer_than_hold():
    issue = the_error(build(PEER + "  hold-time: 30s\n  keepalive-time: 40s\n"))
    assert issue.field == "spec.keepaliveTime"


@pytest.mark.parametrize(
    ("peer", "field", "phrase"),
    [
        ("peers:\n- {peer-asn: 1, peer-address: 10.0.0.1}\n", "spec.myASN", "missing local ASN"),
        ("peers:\n- {my-asn: 1, peer-address: 10.0.0.1}\n", "spec.peerASN", "missing peer ASN"),
        ("peers:\n- {my-asn: 1, peer-asn: 2}\n", "spec.peerAddress", "missing peer address"),
        ("peers:\n- {my-asn: 1, peer-asn: 2, peer-address: x}\n", "spec.peerAddress", "invalid"),
        (
            "peers:\n- {my-asn: 1, peer-asn: 1, peer-address: 10.0.0.1, ebgp-multihop: true}\n",
            "spec.ebgpMultiHop",
            "ibgp",
        ),
        (
            "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 10.0.0.1, bfd-profile: nope}\n",
            "spec.bfdProfile",
            "unknown BFD profile",
        ),
    ],
)
def test_peer_rules(peer, field, phrase):
    issue = the_error(build(peer))
    assert "ConfigMap/config" in issue.obj and "peers[0]" in issue.obj
    assert issue.field == field
    assert phrase in issue.message


def test_identical_peers_are_rejected():
    issue = the_error(build(PEER + PEER.removeprefix("peers:\n")))
    assert "peers[1]" in issue.obj
    assert "duplicate peer" in issue.message


def test_bfd_profiles_are_converted():
    config = ok(
        PEER
        + "  bfd-profile: fast\n"
        + "bfd-profiles:\n- name: fast\n  receive-interval: 100\n  echo-mode: true\n"
    )
    profile = config.bfd_profiles["fast"]
    assert (profile.receive_interval, profile.transmit_interval, profile.echo_mode) == (
        100,
        300,
        True,
    )
    assert config.peers[0].bfd_profile == "fast"


def test_bfd_profile_out_of_range_points_at_the_legacy_entry():
    issue = the_error(build("bfd-profiles:\n- name: slow\n  detect-multiplier: 1\n"))
    assert issue.obj == "ConfigMap/config"
    assert issue.field.startswith("data.config.bfd-profiles[0].")


def test_legacy_and_crd_pool_names_collide():
    crd = yaml.safe_dump(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "a", "namespace": "metallb-system"},
            "spec": {"addresses": ["10.9.0.0/24"]},
        }
    )
    result = build(L2_POOL, extra=crd)
    assert result.config is None
    assert any("duplicate IPAddressPool name 'a'" in i.message for i in result.errors)


# -- the two examples are the same configuration ------------------------------------------------


def _example(name: str):
    result = build_config(load_files([EXAMPLES / name]))
    assert result.issues == [], [str(i) for i in result.issues]
    assert result.config is not None
    return result.config


def test_examples_are_equivalent():
    crds = _example("crds/config.yaml")
    legacy = _example("legacy/config.yaml")
    assert dict(crds.pools) == dict(legacy.pools)
    assert crds.l2_advertisements == legacy.l2_advertisements
    assert crds.bgp_advertisements == legacy.bgp_advertisements
    assert crds.peers == legacy.peers
    assert dict(crds.communities) == dict(legacy.communities)
    assert dict(crds.bfd_profiles) == dict(legacy.bfd_profiles)
    assert crds == legacy


def test_example_content():
    config = _example("legacy/config.yaml")
    assert set(config.pools) == {"l2-pool", "bgp-pool", "reserved"}
    assert config.pools["reserved"].auto_assign is False
    assert config.pools["bgp-pool"].avoid_buggy_ips is True
    assert config.pools["l2-pool"].families == {4, 6}
    peer1, peer2 = config.peers
    assert (peer1.hold_time, peer1.keepalive_time, peer1.is_ibgp) == (9, 3, False)
    assert peer2.is_ibgp and peer2.node_selectors[0].matches({"rack": "a"})
    assert {ad.aggregation_length for ad in config.bgp_advertisements} == {32, 24}
    assert all(ad.local_pref == 100 for ad in config.bgp_advertisements)


def test_unquoted_communities_are_strings_as_in_go_yaml():
    # YAML 1.1 would read 64512:30 as a base-60 integer; Go's YAML (and MetalLB) does not.
    config = ok(
        """
        bgp-communities:
          low: 64512:30
        address-pools:
        - name: a
          protocol: bgp
          addresses: [10.0.0.0/24]
          bgp-advertisements:
          - communities: [low, 1:2]
        """
    )
    assert set(config.bgp_advertisements[0].communities) == {
        Community("64512:30"),
        Community("1:2"),
    }


def test_legacy_password_never_appears_in_reprs():
    result_inputs = load_text(configmap(PEER + "  password: T0p-S3cret\n"), FILE)
    assert "T0p-S3cret" not in repr(result_inputs)
    assert "T0p-S3cret" not in pretty_repr(result_inputs)  # rich's printer: __rich_repr__
    config = build_config(result_inputs).config
    assert config is not None and config.peers[0].password == "T0p-S3cret"
    assert "T0p-S3cret" not in str(config)
