"""The pure webhook core: MetalLB's admission rules per kind, and BGPPeer conversion."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.kube.webhooks import (
    DISABLE_MP_WARNING,
    V1BETA1,
    V1BETA2,
    V1BETA2_FIELDS_ANNOTATION,
    admission_response,
    conversion_response,
    convert_bgppeer,
)

NS = "metallb-system"
POOL_PATH = "/validate-metallb-io-v1beta1-ipaddresspool"
PEER_PATH = "/validate-metallb-io-v1beta2-bgppeer"
BFD_PATH = "/validate-metallb-io-v1beta1-bfdprofile"
BGP_ADV_PATH = "/validate-metallb-io-v1beta1-bgpadvertisement"
L2_ADV_PATH = "/validate-metallb-io-v1beta1-l2advertisement"
COMMUNITY_PATH = "/validate-metallb-io-v1beta1-community"


def obj(kind: str, name: str, spec: dict[str, Any], ns: str = NS, version: str = "v1beta1"):
    return {
        "apiVersion": f"metallb.io/{version}",
        "kind": kind,
        "metadata": {"name": name, "namespace": ns, "resourceVersion": "7", "uid": "x"},
        "spec": spec,
    }


def pool(name: str, *addresses: str, ns: str = NS) -> dict[str, Any]:
    out = obj("IPAddressPool", name, {"addresses": list(addresses)}, ns)
    out["status"] = {"assignedIPv4": 0}  # as the API holds it: status is ignored
    return out


def peer(name: str, address: str = "192.0.2.1", **spec: Any) -> dict[str, Any]:
    return obj(
        "BGPPeer",
        name,
        {"myASN": 64500, "peerASN": 64501, "peerAddress": address, **spec},
        version="v1beta2",
    )


def review(operation: str, new: dict | None, old: dict | None = None) -> dict[str, Any]:
    target = new or old or {}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "abc-123",
            "operation": operation,
            "namespace": target.get("metadata", {}).get("namespace", ""),
            "name": target.get("metadata", {}).get("name", ""),
            "object": new,
            "oldObject": old,
        },
    }


def answer(path: str, operation: str, new: dict | None, existing: dict, old: dict | None = None):
    out = admission_response(path, review(operation, new, old), existing, NS)
    assert out["apiVersion"] == "admission.k8s.io/v1" and out["kind"] == "AdmissionReview"
    assert out["response"]["uid"] == "abc-123"
    return out["response"]


EXISTING = {"IPAddressPool": [pool("lan", "10.0.0.0/24")]}


def test_a_valid_pool_is_allowed() -> None:
    response = answer(POOL_PATH, "CREATE", pool("dmz", "10.0.1.0/24"), EXISTING)
    assert response["allowed"] is True
    assert "warnings" not in response


def test_an_overlapping_pool_is_denied_with_the_reason() -> None:
    response = answer(POOL_PATH, "CREATE", pool("dmz", "10.0.0.128/25"), EXISTING)
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert response["status"]["reason"] == "Forbidden"
    message = response["status"]["message"]
    assert "overlaps" in message and "10.0.0.128/25" in message and "'lan'" in message


def test_an_update_replaces_the_object_of_that_name() -> None:
    # Growing "lan" does not overlap with the old "lan": the update replaces it.
    response = answer(
        POOL_PATH, "UPDATE", pool("lan", "10.0.0.0/23"), EXISTING, pool("lan", "10.0.0.0/24")
    )
    assert response["allowed"] is True
    existing = {"IPAddressPool": [*EXISTING["IPAddressPool"], pool("dmz", "10.0.1.0/24")]}
    response = answer(POOL_PATH, "UPDATE", pool("lan", "10.0.0.0/23"), existing, pool("lan"))
    assert response["allowed"] is False and "overlaps" in response["status"]["message"]


def test_the_wrong_namespace_is_denied_on_create() -> None:
    response = answer(POOL_PATH, "CREATE", pool("dmz", "10.0.1.0/24", ns="default"), EXISTING)
    assert response["allowed"] is False
    assert response["status"]["message"] == "resource must be created in metallb-system namespace"


def test_an_invalid_field_is_denied_with_its_path() -> None:
    response = answer(POOL_PATH, "CREATE", pool("bad", "10.0.0.300/24"), EXISTING)
    assert response["allowed"] is False
    assert "IPAddressPool/bad: spec.addresses[0]" in response["status"]["message"]


def test_deleting_a_pool_is_allowed_even_in_use() -> None:
    existing = {
        **EXISTING,
        "L2Advertisement": [obj("L2Advertisement", "l2", {"ipAddressPools": ["lan"]})],
    }
    response = answer(POOL_PATH, "DELETE", None, existing, old=pool("lan", "10.0.0.0/24"))
    assert response["allowed"] is True


def test_deleting_a_bfd_profile_a_peer_uses_is_denied() -> None:
    profile = obj("BFDProfile", "fast", {"receiveInterval": 100})
    existing = {"BGPPeer": [peer("router", bfdProfile="fast")], "BFDProfile": [profile]}
    response = answer(BFD_PATH, "DELETE", None, existing, old=profile)
    assert response["allowed"] is False
    assert (
        response["status"]["message"] == "failed to delete BFDProfile fast, used by BGPPeer router"
    )
    unused = obj("BFDProfile", "slow", {})
    assert answer(BFD_PATH, "DELETE", None, existing, old=unused)["allowed"] is True


def test_peer_create_with_disable_mp_only_warns_and_skips_every_check() -> None:
    # MetalLB's quirk: even the wrong namespace and a missing ASN pass, with a warning.
    bad = peer("router", disableMP=True)
    bad["metadata"]["namespace"] = "default"
    del bad["spec"]["myASN"]
    response = answer(PEER_PATH, "CREATE", bad, {})
    assert response["allowed"] is True
    assert response["warnings"] == [DISABLE_MP_WARNING]
    # An update with disableMP is validated, and the warning is the validator's own.
    update = answer(PEER_PATH, "UPDATE", peer("router", disableMP=True), {}, peer("router"))
    assert update["allowed"] is True
    assert any("disableMP" in w for w in update["warnings"])


def test_transient_references_do_not_matter_but_other_peer_errors_do() -> None:
    # The BFD profile and the Secret may be created later: not an error at admission time.
    candidate = peer("router", bfdProfile="later", passwordSecret={"name": "pw"})
    assert answer(PEER_PATH, "CREATE", candidate, {})["allowed"] is True
    ad = obj("BGPAdvertisement", "ad", {"communities": ["my-alias", "64500:1"]})
    assert answer(BGP_ADV_PATH, "CREATE", ad, EXISTING)["allowed"] is True
    duplicate = peer("copy")
    response = answer(PEER_PATH, "CREATE", duplicate, {"BGPPeer": [peer("router")]})
    assert response["allowed"] is False and "duplicate peer" in response["status"]["message"]


def test_advertisements_are_checked_against_the_pools() -> None:
    missing = obj("L2Advertisement", "l2", {"ipAddressPools": ["nowhere"]})
    response = answer(L2_ADV_PATH, "CREATE", missing, EXISTING)
    assert response["allowed"] is False and "nowhere" in response["status"]["message"]
    too_long = obj("BGPAdvertisement", "agg", {"aggregationLength": 16})
    response = answer(BGP_ADV_PATH, "CREATE", too_long, EXISTING)
    assert response["allowed"] is False and "aggregation length" in response["status"]["message"]
    # A pool webhook does not look at advertisements (MetalLB passes it the pools only).
    existing = {**EXISTING, "L2Advertisement": [missing]}
    assert answer(POOL_PATH, "CREATE", pool("dmz", "10.0.1.0/24"), existing)["allowed"] is True


def test_communities_are_checked_among_themselves() -> None:
    first = obj("Community", "a", {"communities": [{"name": "gold", "value": "64500:1"}]})
    second = obj("Community", "b", {"communities": [{"name": "gold", "value": "64500:2"}]})
    response = answer(COMMUNITY_PATH, "CREATE", second, {"Community": [first]})
    assert response["allowed"] is False
    assert "duplicate definition of community 'gold'" in response["status"]["message"]


def test_a_v1beta1_peer_is_validated_as_v1beta2() -> None:
    old_style = convert_bgppeer(peer("router", holdTime="1s"), V1BETA1)
    response = answer(PEER_PATH, "CREATE", old_style, {})
    assert response["allowed"] is False and "hold time" in response["status"]["message"]


def test_malformed_reviews_are_refused_not_raised() -> None:
    assert admission_response(POOL_PATH, {}, {}, NS)["response"]["allowed"] is False
    assert admission_response(POOL_PATH, [], {}, NS)["response"]["status"]["code"] == 400
    wrong_kind = answer(POOL_PATH, "CREATE", peer("router"), {})
    assert wrong_kind["allowed"] is False and wrong_kind["status"]["code"] == 400
    assert (
        admission_response("/nowhere", review("CREATE", pool("a")), {}, NS)["response"]["status"][
            "code"
        ]
        == 404
    )
    not_object = review("CREATE", None)
    not_object["request"]["object"] = "text"
    assert admission_response(POOL_PATH, not_object, {}, NS)["response"]["allowed"] is False


# -- conversion ------------------------------------------------------------------------------


def test_conversion_review_converts_every_object() -> None:
    v2 = peer(
        "router",
        vrf="red",
        connectTime="5s",
        nodeSelectors=[{"matchExpressions": [{"key": "rack", "operator": "Exists"}]}],
    )
    out = conversion_response(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "ConversionReview",
            "request": {"uid": "u", "desiredAPIVersion": V1BETA1, "objects": [v2]},
        }
    )
    response = out["response"]
    assert out["kind"] == "ConversionReview" and response["uid"] == "u"
    assert response["result"] == {"status": "Success"}
    (v1,) = response["convertedObjects"]
    assert v1["apiVersion"] == V1BETA1
    assert "vrf" not in v1["spec"] and "connectTime" not in v1["spec"]
    assert json.loads(v1["metadata"]["annotations"][V1BETA2_FIELDS_ANNOTATION]) == {
        "connectTime": "5s",
        "vrf": "red",
    }
    assert v1["spec"]["nodeSelectors"] == [
        {"matchExpressions": [{"key": "rack", "operator": "Exists", "values": []}]}
    ]
    assert v1["metadata"]["uid"] == v2["metadata"]["uid"]
    assert convert_bgppeer(v1, V1BETA2) == v2


def test_conversion_failures_are_results_not_exceptions() -> None:
    for request in (
        {"desiredAPIVersion": V1BETA1, "objects": [pool("lan")]},
        {"desiredAPIVersion": "metallb.io/v2", "objects": [peer("r")]},
        {"desiredAPIVersion": V1BETA1, "objects": "no"},
        None,
    ):
        out = conversion_response({"apiVersion": "apiextensions.k8s.io/v1", "request": request})
        assert out["response"]["result"]["status"] == "Failure"
        assert out["response"]["result"]["message"]
        assert "convertedObjects" not in out["response"]


def test_a_hand_edited_annotation_is_ignored() -> None:
    v1 = convert_bgppeer(peer("r"), V1BETA1)
    v1["metadata"]["annotations"] = {V1BETA2_FIELDS_ANNOTATION: "{not json", "keep": "me"}
    v2 = convert_bgppeer(v1, V1BETA2)
    assert v2["metadata"]["annotations"] == {"keep": "me"}
    assert v2["spec"] == peer("r")["spec"]


labels = st.dictionaries(
    st.sampled_from(["rack", "zone", "kubernetes.io/hostname"]),
    st.text("abc123", min_size=1, max_size=4),
    max_size=2,
)
expression = st.one_of(
    st.fixed_dictionaries(
        {
            "key": st.sampled_from(["rack", "zone"]),
            "operator": st.sampled_from(["In", "NotIn"]),
            "values": st.lists(st.text("xyz", min_size=1, max_size=3), min_size=1, max_size=3),
        }
    ),
    st.fixed_dictionaries(
        {
            "key": st.sampled_from(["rack", "zone"]),
            "operator": st.sampled_from(["Exists", "DoesNotExist"]),
        }
    ),
)


@st.composite
def selectors(draw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    matched = draw(labels)
    if matched:
        out["matchLabels"] = matched
    expressions = draw(st.lists(expression, max_size=2))
    if expressions:
        out["matchExpressions"] = expressions
    return out


common_fields = {
    "sourceAddress": st.just("192.0.2.10"),
    "peerPort": st.integers(1, 16384),
    "holdTime": st.sampled_from(["0s", "3s", "90s", "1m30s"]),
    "keepaliveTime": st.sampled_from(["1s", "30s"]),
    "routerID": st.just("10.0.0.1"),
    "nodeSelectors": st.lists(selectors(), max_size=2),
    "password": st.text("pw", min_size=1, max_size=3),
    "bfdProfile": st.sampled_from(["fast", "slow"]),
    "ebgpMultiHop": st.booleans(),
}
v1beta2_only = {
    "dynamicASN": st.sampled_from(["internal", "external"]),
    "localASN": st.integers(1, 2**32 - 1),
    "interface": st.just("eth0"),
    "connectTime": st.sampled_from(["5s", "10s"]),
    "passwordSecret": st.fixed_dictionaries({"name": st.just("pw")}),
    "enableGracefulRestart": st.booleans(),
    "vrf": st.just("red"),
    "disableMP": st.booleans(),
    "dualStackAddressFamily": st.booleans(),
}


@st.composite
def v1beta1_peers(draw: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"myASN": draw(st.integers(0, 2**32 - 1))}
    spec["peerASN"] = draw(st.integers(0, 2**32 - 1))
    spec["peerAddress"] = draw(st.sampled_from(["192.0.2.1", "2001:db8::1"]))
    for name, strategy in {**common_fields, **(extra or {})}.items():
        if draw(st.booleans()):
            spec[name] = draw(strategy)
    version = "v1beta2" if extra else "v1beta1"
    if version == "v1beta1":  # v1beta1's legacy selector always spells out its values
        for selector in spec.get("nodeSelectors", []):
            for e in selector.get("matchExpressions", []):
                e.setdefault("values", [])
    out = obj("BGPPeer", draw(st.sampled_from(["a", "b"])), spec, version=version)
    if draw(st.booleans()):
        out["metadata"]["annotations"] = {"owner": "net-team"}
    if draw(st.booleans()):
        out["metadata"]["labels"] = {"site": "x"}
    return out


@settings(max_examples=150, deadline=None)
@given(v1beta1_peers())
def test_v1beta1_to_v1beta2_and_back_is_the_identity(original: dict[str, Any]) -> None:
    before = copy.deepcopy(original)
    up = convert_bgppeer(original, V1BETA2)
    assert original == before  # the input is not modified
    assert up["apiVersion"] == V1BETA2 and up["metadata"] == original["metadata"]
    assert convert_bgppeer(up, V1BETA1) == original


@settings(max_examples=150, deadline=None)
@given(v1beta1_peers(extra=v1beta2_only))
def test_v1beta2_to_v1beta1_and_back_loses_nothing(original: dict[str, Any]) -> None:
    down = convert_bgppeer(original, V1BETA1)
    assert set(down["spec"]) <= set(common_fields) | {"myASN", "peerASN", "peerAddress"}
    assert convert_bgppeer(down, V1BETA2) == original


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
kinds = st.sampled_from(
    ["IPAddressPool", "BGPPeer", "BFDProfile", "BGPAdvertisement", "L2Advertisement", "Community"]
)


@st.composite
def hostile_objects(draw: Any) -> Any:
    if draw(st.booleans()):
        return draw(json_values)
    kind = draw(kinds)
    version = draw(st.sampled_from(["metallb.io/v1beta1", "metallb.io/v1beta2", "v1", 7]))
    metadata = draw(
        st.one_of(
            json_values,
            st.fixed_dictionaries(
                {"name": st.text(max_size=5), "namespace": st.sampled_from([NS, "", "other"])}
            ),
        )
    )
    spec = draw(
        st.one_of(
            json_values,
            st.dictionaries(
                st.sampled_from(
                    [
                        "disableMP",
                        "nodeSelectors",
                        "addresses",
                        "bfdProfile",
                        "communities",
                        "myASN",
                    ]
                ),
                json_values,
                max_size=3,
            ),
        )
    )
    return {"apiVersion": version, "kind": kind, "metadata": metadata, "spec": spec}


PATHS = {
    "IPAddressPool": POOL_PATH,
    "BGPPeer": PEER_PATH,
    "BFDProfile": BFD_PATH,
    "BGPAdvertisement": BGP_ADV_PATH,
    "L2Advertisement": L2_ADV_PATH,
    "Community": COMMUNITY_PATH,
}


@settings(max_examples=400, deadline=None)
@given(
    operation=st.sampled_from(["CREATE", "UPDATE", "DELETE", "CONNECT", 3, None]),
    new=hostile_objects(),
    old=hostile_objects(),
    elsewhere=st.booleans(),
)
def test_any_review_gets_an_answer_never_an_exception(
    operation: Any, new: Any, old: Any, elsewhere: bool
) -> None:
    target = old if operation == "DELETE" else new
    kind = target.get("kind") if isinstance(target, dict) else None
    path = "/x" if elsewhere else PATHS.get(str(kind), POOL_PATH)
    review = {"request": {"uid": "u", "operation": operation, "object": new, "oldObject": old}}
    existing = {"IPAddressPool": [pool("lan", "10.0.0.0/24")], "BGPPeer": [peer("router")]}
    response = admission_response(path, review, existing, NS)["response"]
    assert isinstance(response["allowed"], bool)
    if not response["allowed"]:
        assert response["status"]["message"]
    json.dumps(response)  # it goes back on the wire


@settings(max_examples=200, deadline=None)
@given(
    objects=st.lists(hostile_objects(), max_size=3),
    desired=st.sampled_from([V1BETA1, V1BETA2, "x"]),
)
def test_any_conversion_review_gets_an_answer(objects: list[Any], desired: str) -> None:
    out = conversion_response(
        {"request": {"uid": "u", "desiredAPIVersion": desired, "objects": objects}}
    )
    result = out["response"]["result"]
    assert result["status"] in ("Success", "Failure")
    if result["status"] == "Success":
        assert len(out["response"]["convertedObjects"]) == len(objects)
    json.dumps(out)
