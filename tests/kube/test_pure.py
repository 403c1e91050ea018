"""The Kubernetes adapter's pure parts, without a server."""

from __future__ import annotations

import ipaddress
from typing import Any

from actors.events import Announced
from actors.kube.cache import ObjectCache
from actors.kube.config_store import issues_from_api_error
from actors.kube.discovery import speaker_addresses
from actors.kube.pool_status import INT64_MAX, pool_status
from actors.kube.resources import NODES, SERVICES
from actors.kube.service_status import service_status_patch
from actors.kube.speaker_status import desired_status_objects
from actors.kube.status_readers import (
    allocations_from_status,
    announcements_from_status_objects,
    usage_from_pool_status,
)
from actors.model.allocation import Allocation, PoolUsage
from actors.model.annotations import ANNOTATION_IP_ALLOCATED_FROM_POOL
from actors.model.cluster import ClusterState, Service
from tests.kube.harness import node, service


def svc(name: str = "web", ips: tuple[str, ...] = (), **kw: Any) -> Service:
    doc = service(name, **kw)
    doc["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}
    return Service.model_validate(doc)


def allocation(key: str, *ips: str, pool: str | None = "lan") -> Allocation:
    return Allocation(key, tuple(ipaddress.ip_address(i) for i in ips), pool if ips else None)


def test_service_status_patch_writes_only_differences() -> None:
    fresh = svc()
    assert service_status_patch(fresh, allocation("default/web", "10.0.0.1")) == {
        "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}},
        "metadata": {"annotations": {ANNOTATION_IP_ALLOCATED_FROM_POOL: "lan"}},
    }
    done = svc(ips=("10.0.0.1",), annotations={ANNOTATION_IP_ALLOCATED_FROM_POOL: "lan"})
    assert service_status_patch(done, allocation("default/web", "10.0.0.1")) is None
    # Cleared (e.g. its pool was deleted): empty ingress, annotation removed (null).
    assert service_status_patch(done, allocation("default/web")) == {
        "status": {"loadBalancer": {"ingress": []}},
        "metadata": {"annotations": {ANNOTATION_IP_ALLOCATED_FROM_POOL: None}},
    }


def test_services_lbtui_does_not_handle_are_left_alone_unless_they_stopped_being_ours() -> None:
    other_class = svc(ips=("192.0.2.9",), loadBalancerClass="other")
    assert service_status_patch(other_class, None) is None
    was_ours = svc(
        type_="ClusterIP",
        ips=("10.0.0.1",),
        annotations={ANNOTATION_IP_ALLOCATED_FROM_POOL: "lan"},
    )
    assert service_status_patch(was_ours, None) == {
        "status": {"loadBalancer": {"ingress": []}},
        "metadata": {"annotations": {ANNOTATION_IP_ALLOCATED_FROM_POOL: None}},
    }


def test_allocations_from_status_follow_the_class_and_skip_garbage() -> None:
    cluster = ClusterState.of(
        services=[
            svc(
                "a",
                ips=("10.0.0.1", "fd00::1"),
                annotations={ANNOTATION_IP_ALLOCATED_FROM_POOL: "p"},
            ),
            svc("b", ips=("not-an-ip", "10.0.0.2")),
            svc("c", ips=("10.0.0.3",), loadBalancerClass="x"),
            svc("d", ips=("10.0.0.4",), type_="NodePort"),
            svc("e"),
        ]
    )
    found = allocations_from_status(cluster)
    assert {k: ([str(i) for i in a.ips], a.pool) for k, a in found.items()} == {
        "default/a": (["10.0.0.1", "fd00::1"], "p"),
        "default/b": (["10.0.0.2"], None),
    }
    assert list(allocations_from_status(cluster, "x")) == ["default/c"]


def test_the_cache_ignores_node_heartbeats_but_not_labels() -> None:
    cache = ObjectCache(NODES)
    raw = node("n1", "10.0.0.1")
    raw["metadata"]["resourceVersion"] = "1"
    raw["status"]["conditions"][0]["lastHeartbeatTime"] = "2026-01-01T00:00:00Z"
    assert cache.replace([raw], "1")
    beat = {**raw, "metadata": {**raw["metadata"], "resourceVersion": "2"}}
    beat["status"] = {**raw["status"], "conditions": [dict(raw["status"]["conditions"][0])]}
    beat["status"]["conditions"][0]["lastHeartbeatTime"] = "2026-01-01T00:00:10Z"
    assert not cache.apply("MODIFIED", beat)
    assert cache.resource_version == "2"
    relabelled = {**beat, "metadata": {**beat["metadata"], "labels": {"rack": "a"}}}
    assert cache.apply("MODIFIED", relabelled)
    assert cache.apply("DELETED", relabelled)
    assert not cache.apply("DELETED", relabelled)


def test_a_relist_is_a_diff() -> None:
    cache = ObjectCache(SERVICES)
    a, b = service("a"), service("b")
    for i, doc in enumerate((a, b)):
        doc["metadata"]["resourceVersion"] = str(i + 1)
    assert cache.replace([a, b], "2")
    assert not cache.replace([a, b], "3")  # nothing lbtui reads changed
    assert cache.replace([a], "4")  # b was deleted while we were away
    assert [o["metadata"]["name"] for o in cache.snapshot()] == ["a"]
    assert cache.snapshot()[0]["kind"] == "Service"  # lists omit kind; the cache puts it back


def test_our_own_write_is_taken_unless_the_cache_is_newer() -> None:
    cache = ObjectCache(SERVICES)
    a = service("a")
    a["metadata"]["resourceVersion"] = "5"
    cache.replace([a], "5")
    older = {**a, "metadata": {**a["metadata"], "resourceVersion": "4"}}
    assert not cache.upsert(older)
    newer = {**a, "metadata": {**a["metadata"], "resourceVersion": "6"}}
    assert cache.upsert(newer)


def test_pool_status_clamps_to_int64_and_reads_back() -> None:
    usage = PoolUsage(
        total=2**64 + 256, in_use=3, total_v4=256, total_v6=2**64, in_use_v4=2, in_use_v6=1
    )
    status = pool_status(usage)
    assert status == {
        "assignedIPv4": 2,
        "assignedIPv6": 1,
        "availableIPv4": 254,
        "availableIPv6": INT64_MAX,
    }
    pool_obj = {"kind": "IPAddressPool", "metadata": {"name": "lan"}, "status": status}
    back = usage_from_pool_status([pool_obj, {"kind": "IPAddressPool", "metadata": {"name": "x"}}])
    assert list(back) == ["lan"]
    assert (back["lan"].in_use_v4, back["lan"].total_v4) == (2, 256)


def test_status_objects_and_announcements_round_trip() -> None:
    announced = (
        Announced("shop/web", "layer2", ("10.0.0.1",), ("eth0",)),
        Announced("shop/web", "bgp", ("10.0.0.1",), (), ("r1", "r2")),
    )
    desired = desired_status_objects("n1", announced)
    assert desired[("servicel2statuses", "shop/web")] == {
        "node": "n1",
        "serviceName": "web",
        "serviceNamespace": "shop",
        "interfaces": [{"name": "eth0"}],
    }
    assert desired[("servicebgpstatuses", "shop/web")]["peers"] == ["r1", "r2"]
    objects = [
        {"kind": "ServiceL2Status", "status": desired[("servicel2statuses", "shop/web")]},
        {"kind": "ServiceBGPStatus", "status": desired[("servicebgpstatuses", "shop/web")]},
    ]
    cluster = ClusterState.of(services=[svc("web", ips=("10.0.0.1",), ns="shop")])
    assert announcements_from_status_objects(objects, cluster) == {
        ("n1", "10.0.0.1", "bgp"): ("", ("shop/web",), ("r1", "r2")),
        ("n1", "10.0.0.1", "layer2"): ("eth0", ("shop/web",), ()),
    }


def test_speaker_addresses_are_the_other_running_pods() -> None:
    pods = [
        {"spec": {"nodeName": "n1"}, "status": {"phase": "Running", "podIP": "10.0.0.1"}},
        {"spec": {"nodeName": "n2"}, "status": {"phase": "Running", "podIP": "10.0.0.2"}},
        {"spec": {"nodeName": "n3"}, "status": {"phase": "Pending", "podIP": "10.0.0.3"}},
        {"spec": {"nodeName": "n4"}, "status": {"phase": "Running", "podIP": "fd00::4"}},
        {"spec": {"nodeName": "n5"}, "status": {"phase": "Running"}},
    ]
    assert speaker_addresses(pods, "n1", 7946) == ("10.0.0.2:7946", "[fd00::4]:7946")


def test_api_refusals_become_issues_per_field() -> None:
    from kubernetes.client.exceptions import ApiException

    exc = ApiException(status=422, reason="Unprocessable Entity")
    exc.body = (
        '{"kind":"Status","code":422,"message":"BGPPeer \\"r\\" is invalid",'
        '"details":{"causes":[{"field":"spec.peerPort","message":"too big"}]}}'
    )
    (issue,) = issues_from_api_error(exc, "BGPPeer/r")
    assert (issue.obj, issue.field, issue.message) == ("BGPPeer/r", "spec.peerPort", "too big")
    conflict = ApiException(status=409, reason="Conflict")
    conflict.body = '{"kind":"Status","code":409,"message":"the object has been modified"}'
    (issue,) = issues_from_api_error(conflict, "IPAddressPool/p")
    assert issue.message == "API server refused (409): the object has been modified"
    (issue,) = issues_from_api_error(ConnectionRefusedError("refused"), "IPAddressPool/p")
    assert issue.message.startswith("API server unreachable: ")


def test_asked_counters_are_read_at_scrape_time_with_exact_names() -> None:
    import pykka
    from prometheus_client import CollectorRegistry, generate_latest

    from actors.observability.metrics import AskedCounters

    class FakeBgp(pykka.ThreadingActor):
        def counters(self) -> dict[str, dict[str, int]]:
            return {
                "metallb_bgp_session_up": {"10.0.0.1:179": 1},
                "metallb_bgp_updates_total": {"10.0.0.1:179": 7},
            }

    registry = CollectorRegistry(auto_describe=False)
    registry.register(AskedCounters(FakeBgp, FakeBgp.counters, label="peer"))
    assert "metallb_bgp" not in generate_latest(registry).decode()  # no actor: nothing
    ref = FakeBgp.start()
    try:
        text = generate_latest(registry).decode()
    finally:
        ref.stop()
    assert 'metallb_bgp_session_up{peer="10.0.0.1:179"} 1.0' in text
    assert 'metallb_bgp_updates_total{peer="10.0.0.1:179"} 7.0' in text


def test_a_speaker_that_cannot_answer_says_announce_failed() -> None:
    from actors.clock import ManualClock
    from actors.events import AnnouncementsUpdated, L2AnswersChanged
    from actors.kube.speaker_status import SpeakerStatusWriter

    class Api:
        def __init__(self) -> None:
            self.events: list[dict[str, Any]] = []

        def create_event(self, namespace: str, body: dict[str, Any]) -> None:
            self.events.append(body)

        def custom_list(self, *args: Any, **kw: Any) -> list[Any]:
            return []

        def custom_create(self, plural: str, ns: str, body: dict[str, Any]) -> dict[str, Any]:
            return {"metadata": {"name": "l2-x"}}

        def custom_patch_status(self, *args: Any) -> None:
            pass

    api = Api()
    clock = ManualClock()
    writer = SpeakerStatusWriter(api, "metallb-system", "n1", clock=clock, scheduler=clock)  # type: ignore[arg-type]
    writer.on_start()
    web = Announced("default/web", "layer2", ("10.0.0.1",), ("eth9",))
    writer.on_event(AnnouncementsUpdated(0.0, "n1", (web,)))
    assert [e["reason"] for e in api.events] == ["nodeAssigned"]
    writer.on_event(L2AnswersChanged(0.0, "n1", "10.0.0.1", ("eth0",), "announced"))
    why = "announceFailed: no usable interface among ('eth9',)"
    writer.on_event(L2AnswersChanged(0.0, "n2", "10.0.0.1", (), why))  # another node's
    writer.on_event(L2AnswersChanged(0.0, "n1", "10.0.0.1", (), why))
    assert [e["reason"] for e in api.events] == ["nodeAssigned", "announceFailed"]
    failed = api.events[-1]
    assert failed["type"] == "Warning"
    assert failed["message"] == (
        "cannot announce 10.0.0.1 from node \"n1\": no usable interface among ('eth9',)"
    )


def test_the_cache_journal_lists_what_changed_since_a_cursor() -> None:
    cache = ObjectCache(SERVICES)
    docs = [service(f"s{i}") for i in range(3)]
    for i, doc in enumerate(docs):
        doc["metadata"]["resourceVersion"] = str(i + 1)
    keys, cursor = cache.changes(None)
    assert keys is None  # a reader that never looked reads everything
    cache.replace(docs, "3")
    keys, cursor = cache.changes(cursor)
    assert keys == {"default/s0", "default/s1", "default/s2"}
    assert cache.changes(cursor) == (set(), cursor)
    moved = {**docs[1], "metadata": {**docs[1]["metadata"], "resourceVersion": "4"}}
    moved["spec"] = {**moved["spec"], "loadBalancerIP": "10.0.0.9"}
    cache.apply("MODIFIED", moved)
    cache.apply("DELETED", docs[2])
    cache.replace([docs[0], moved], "6")  # a relist that finds nothing new adds nothing
    keys, cursor = cache.changes(cursor)
    assert keys == {"default/s1", "default/s2"}
    # A reader left far behind the trimmed journal reads everything again.
    for n in range(2000):
        again = {**moved, "metadata": {**moved["metadata"], "resourceVersion": str(10 + n)}}
        again["spec"] = {**moved["spec"], "loadBalancerIP": f"10.0.{n // 250}.{n % 250}"}
        cache.apply("MODIFIED", again)
    assert cache.changes(cursor)[0] is None


def test_a_load_parses_and_compares_only_the_services_that_changed() -> None:
    """The cost of one watch event in the cluster source: one Service parsed, every other one
    the very object of the last load, one ServiceChanged."""
    from types import SimpleNamespace

    from actors.cluster.actor import service_changes
    from actors.kube.cluster import KubeCluster
    from actors.kube.cluster_source import KubeClusterSource
    from actors.kube.resources import CONTROLLER_RESOURCES
    from tests.kube.harness import namespace

    kube = KubeCluster(SimpleNamespace(host="test"), resources=CONTROLLER_RESOURCES)  # type: ignore[arg-type]
    docs = [service(f"s{i:04}") for i in range(500)]
    for i, doc in enumerate(docs):
        doc["metadata"]["resourceVersion"] = str(i + 1)
    for cache in kube.caches.values():
        cache.replace([namespace("default")] if cache.resource.kind == "Namespace" else [], "1")
    kube.caches["services"].replace(docs, "500")
    source = KubeClusterSource(kube)
    first = source.load()
    assert source.parsed == 501 and len(first.services) == 500
    assert source.load() is first  # nothing changed: nothing read
    moved = {**docs[7], "metadata": {**docs[7]["metadata"], "resourceVersion": "501"}}
    moved["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.7"}]}}
    kube.caches["services"].apply("MODIFIED", moved)
    kube.caches["services"].apply(
        "ADDED",
        {**service("new"), "metadata": {**service("new")["metadata"], "resourceVersion": "502"}},
    )
    kube.caches["services"].apply("DELETED", docs[9])
    second = source.load()
    assert source.parsed == 503
    assert second.namespaces is first.namespaces
    assert second.services["default/s0007"].ingress_ips == ("10.0.0.7",)
    assert "default/s0009" not in second.services
    assert list(second.services) == sorted(second.services)
    same = [k for k, s in second.services.items() if first.services.get(k) is s]
    assert len(same) == 498
    assert [(c.service, c.change) for c in service_changes(0.0, first, second)] == [
        ("default/new", "added"),
        ("default/s0009", "deleted"),
    ]  # a status write is not a change of the service
