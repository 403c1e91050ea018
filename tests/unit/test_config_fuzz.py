"""Bad input never crashes the configuration layer (house rule 6).

The value parsers raise only ValueError; ``load_text`` raises only UnreadableInput; and
``build_config`` never raises, whatever the loader let through.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.config.build import build_config
from actors.config.loader import Inputs, load_text
from actors.config.parsing import (
    host_bits_hint,
    parse_address_range,
    parse_community,
    parse_duration,
)
from actors.model.config import Config
from actors.model.issues import UnreadableInput

FAST = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# Whole documents through load + build cost more; fewer examples keep the suite quick.
FEWER = settings(FAST, max_examples=60)


def _value_error_or_result(func, text: str) -> Any:
    try:
        return func(text)
    except ValueError:
        return None


# -- value parsers ---------------------------------------------------------------------------

ADDRESS_ALPHABET = "0123456789abcdefABCDEF.:/-% \t١²"
COMMUNITY_ALPHABET = "0123456789:large-+ _١"
DURATION_ALPHABET = "0123456789.+-nsuµμmh e_١"

texts = st.text(max_size=60)


@FAST
@given(st.one_of(texts, st.text(ADDRESS_ALPHABET, max_size=45)))
def test_parse_address_range_only_raises_value_error(text):
    rng = _value_error_or_result(parse_address_range, text)
    if rng is not None:
        assert rng.first.version == rng.last.version
        assert rng.first <= rng.last
        assert rng.size >= 1


@FAST
@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)), st.integers(0, 128))
def test_parse_address_range_cidrs_round_trip(ip, prefix):
    prefix = min(prefix, ip.max_prefixlen)
    net = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    rng = parse_address_range(net.with_prefixlen)
    assert (rng.first, rng.last) == (net.network_address, net.broadcast_address)
    assert list(rng.cidrs()) == [net]
    if int(ip) != int(net.network_address):
        # As Go's net.ParseCIDR: host bits are masked, and validation says so.
        text = f"{ip}/{prefix}"
        masked = parse_address_range(text)
        assert (masked.first, masked.last) == (net.network_address, net.broadcast_address)
        assert f"did you mean {net.with_prefixlen}" in (host_bits_hint(text) or "")
    else:
        assert host_bits_hint(net.with_prefixlen) is None


@FAST
@given(st.ip_addresses(v=4), st.ip_addresses(v=4))
def test_parse_address_range_ranges_round_trip(a, b):
    low, high = sorted((a, b))
    rng = parse_address_range(f"{low}-{high}")
    assert (rng.first, rng.last) == (low, high)
    assert sum(net.num_addresses for net in rng.cidrs()) == rng.size
    if low != high:
        try:
            parse_address_range(f"{high}-{low}")
        except ValueError as exc:
            assert "start is after end" in str(exc)
        else:
            raise AssertionError("a reversed range was accepted")


@FAST
@given(st.one_of(texts, st.text(COMMUNITY_ALPHABET, max_size=40)))
def test_parse_community_only_raises_value_error(text):
    value = _value_error_or_result(parse_community, text)
    if value is not None:
        limit = 2**32 - 1 if value.is_large else 2**16 - 1
        assert all(0 <= v <= limit for v in value.values())
        assert parse_community(value.text) == value


@FAST
@given(st.integers(0, 2**16 - 1), st.integers(0, 2**16 - 1), st.integers(0, 2**32 - 1))
def test_parse_community_round_trip(a, b, c):
    assert parse_community(f"{a}:{b}").values() == (a, b)
    assert parse_community(f"large:{c}:{a}:{b}").values() == (c, a, b)


@FAST
@given(st.one_of(texts, st.text(DURATION_ALPHABET, max_size=40)))
def test_parse_duration_only_raises_value_error(text):
    seconds = _value_error_or_result(parse_duration, text)
    if seconds is not None:
        assert math.isfinite(seconds)
        assert seconds >= 0
        math.floor(seconds)  # what build.py does with it


@FAST
@given(st.integers(0, 10**6), st.integers(0, 59), st.integers(0, 59))
def test_parse_duration_go_syntax(h, m, s):
    assert parse_duration(f"{h}h{m}m{s}s") == h * 3600 + m * 60 + s
    assert parse_duration(f"{s}s") == s
    assert math.isclose(parse_duration(f"{s}500ms"), s + 0.5)


# -- loading and building ----------------------------------------------------------------------


def _load_and_build(text: str) -> None:
    try:
        inputs = load_text(text, "fuzz.yaml")
    except UnreadableInput:
        return
    assert isinstance(inputs, Inputs)
    result = build_config(inputs)
    if result.config is None:
        assert result.errors
    else:
        assert isinstance(result.config, Config)
        assert not result.errors
    for issue in inputs.issues + result.issues:
        str(issue)


YAML_ALPHABET = "abkindLst:-[]{},&*!|>'\"#?%@ \n\t0123456789./"


@FAST
@given(st.one_of(st.text(max_size=200), st.text(YAML_ALPHABET, max_size=200)))
def test_load_text_on_arbitrary_text(text):
    _load_and_build(text)


KINDS = [
    "IPAddressPool",
    "L2Advertisement",
    "BGPAdvertisement",
    "BGPPeer",
    "Community",
    "BFDProfile",
    "ConfigMap",
    "Secret",
    "Node",
    "Namespace",
    "Service",
    "EndpointSlice",
    "List",
    "Deployment",
]
API_VERSIONS = ["metallb.io/v1beta1", "metallb.io/v1beta2", "v1", "discovery.k8s.io/v1", "x"]
FIELDS = [
    "addresses",
    "autoAssign",
    "avoidBuggyIPs",
    "serviceAllocation",
    "priority",
    "namespaces",
    "namespaceSelectors",
    "serviceSelectors",
    "ipAddressPools",
    "ipAddressPoolSelectors",
    "nodeSelectors",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "interfaces",
    "preferredNodeSelectors",
    "weight",
    "preference",
    "aggregationLength",
    "aggregationLengthV6",
    "localPref",
    "communities",
    "name",
    "value",
    "peers",
    "myASN",
    "peerASN",
    "dynamicASN",
    "peerAddress",
    "sourceAddress",
    "peerPort",
    "holdTime",
    "keepaliveTime",
    "connectTime",
    "routerID",
    "password",
    "passwordSecret",
    "bfdProfile",
    "ebgpMultiHop",
    "echoMode",
    "detectMultiplier",
    "receiveInterval",
    "type",
    "data",
    "config",
    "items",
]
VALUES = [
    "10.0.0.0/24",
    "10.0.0.5/24",
    "10.0.0.1-10.0.0.9",
    "fd00::/120",
    "fd00::1",
    "10.0.0.1",
    "1:2",
    "large:1:2:3",
    "no-advertise",
    "90s",
    "2.9s",
    "1m30s",
    "internal",
    "external",
    "In",
    "Exists",
    "kubernetes.io/basic-auth",
    "metallb-system",
    "default",
    "",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.sampled_from(VALUES),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=20,
)


@st.composite
def documents(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(KINDS))
    doc: dict[str, Any] = {
        "apiVersion": draw(st.sampled_from(API_VERSIONS)),
        "kind": kind,
        "metadata": draw(
            st.one_of(
                st.fixed_dictionaries(
                    {"name": st.sampled_from(["a", "b", "config", ""])},
                    optional={
                        "namespace": st.sampled_from(["metallb-system", "default"]),
                        "labels": st.dictionaries(
                            st.sampled_from(["tier", "rack"]), st.text(max_size=3)
                        ),
                    },
                ),
                values,
            )
        ),
    }
    if draw(st.booleans()):
        doc["spec"] = draw(st.dictionaries(keys, values, max_size=6))
    if kind in ("ConfigMap", "Secret") or draw(st.booleans()):
        inner = draw(
            st.one_of(values, st.dictionaries(st.sampled_from(FIELDS), values, max_size=4))
        )
        doc["data"] = {"config": yaml.safe_dump(inner)} if draw(st.booleans()) else inner
    if kind == "List":
        doc["items"] = draw(
            st.one_of(st.lists(st.deferred(lambda: documents()), max_size=3), values)
        )
    if draw(st.integers(0, 9)) == 0:
        return draw(values)
    return doc


@FEWER
@given(st.lists(documents(), max_size=4))
def test_load_and_build_random_metallb_documents(docs):
    _load_and_build(yaml.safe_dump_all(docs))


POOL = {
    "apiVersion": "metallb.io/v1beta1",
    "kind": "IPAddressPool",
    "metadata": {"name": "p", "namespace": "metallb-system"},
    "spec": {"addresses": ["10.0.0.0/24"]},
}


@FEWER
@given(
    st.dictionaries(
        st.sampled_from(FIELDS),
        st.one_of(scalars, st.lists(st.one_of(st.sampled_from(VALUES), st.text(max_size=20)))),
        max_size=8,
    ),
    st.sampled_from(
        ["BGPPeer", "BGPAdvertisement", "L2Advertisement", "IPAddressPool", "Community"]
    ),
)
def test_build_with_plausible_specs(spec, kind):
    """Well-formed resources whose spec values are random: every value reaches build.py."""
    version = "metallb.io/v1beta2" if kind == "BGPPeer" else "metallb.io/v1beta1"
    doc = {
        "apiVersion": version,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "metallb-system"},
        "spec": spec,
    }
    _load_and_build(yaml.safe_dump_all([POOL, doc]))


@FEWER
@given(
    st.dictionaries(
        st.sampled_from(["peers", "address-pools", "bgp-communities", "bfd-profiles"]), values
    )
)
def test_build_random_legacy_configmaps(config):
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "config", "namespace": "metallb-system"},
        "data": {"config": yaml.safe_dump(config)},
    }
    _load_and_build(yaml.safe_dump(doc))


def test_known_nasty_inputs():
    for text in [
        "[" * 3000,
        "a: 2001-02-30\n",
        "&a {kind: List, apiVersion: v1, items: [*a]}",
        "apiVersion: v1\nkind: List\nitems: 5\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: [1]\ndata: {config: 'x'}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\n"
        "data: {config: 'a: 2001-02-30'}\n",
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\n"
        f"spec: {{myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, holdTime: '{'9' * 400}s'}}\n",
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\n"
        f"spec: {{myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, connectTime: '{'9' * 400}s'}}\n",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/basic-auth\n"
        "data: {password: 'é'}\n---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\n"
        "metadata: {name: p}\nspec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1,"
        " passwordSecret: {name: s}}\n",
        "!!python/object:os.system {}\n",
        "\x00",
    ]:
        _load_and_build(text)
