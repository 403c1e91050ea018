"""Cluster objects are compact and keep the calls the code base makes on them.

A cluster file of 100k Services must fit in a few times its size (issue 19): the objects are
slotted frozen dataclasses validated by pydantic, equal strings of a file are one object, and
the ``BaseModel`` calls (``model_validate``, ``model_dump``, ``model_copy``) still work.
"""

from __future__ import annotations

import dataclasses
import gc
import tracemalloc

import pytest
from pydantic import ValidationError

from actors.config.loader import load_text
from actors.model import cluster
from actors.model.cluster import NO_STATUS, ObjectMeta, Service, ServicePort, ServiceSpec
from tests.bench.config_parse import SERVICE  # the Service the benchmark measures at 50 MB


def services_text(count: int) -> str:
    return "".join(SERVICE.format(i=i, ns=i % 5, b=i // 256 % 256, c=i % 256) for i in range(count))


def test_equal_strings_of_a_file_are_one_object() -> None:
    cluster._MAPS.clear()  # the table of shared maps starts afresh: none of it is cleared below
    services = [s.obj for s in load_text(services_text(10), "f").services]
    first, sixth = services[0], services[5]  # both in namespace ns-0
    assert first.metadata.namespace == sixth.metadata.namespace == "ns-0"
    assert first.metadata.namespace is sixth.metadata.namespace
    assert first.spec.type is sixth.spec.type
    (key_a,) = first.metadata.annotations
    (key_b,) = sixth.metadata.annotations
    assert key_a is key_b and first.metadata.annotations[key_a] is sixth.metadata.annotations[key_b]
    # within one Service: the label's value and the selector's are one string
    assert first.metadata.labels["app"] is first.spec.selector["app"]
    # immutable values nearly every Service has are held once
    assert first.spec.ip_families is services[1].spec.ip_families
    assert first.status is services[1].status is NO_STATUS
    assert first.metadata.annotations is sixth.metadata.annotations  # equal maps: one dict
    assert first.metadata.labels is not sixth.metadata.labels  # app-0, app-5


def test_the_table_of_shared_maps_is_bounded() -> None:
    for i in range(cluster._MAPS_HELD + 10):
        ObjectMeta.model_validate({"labels": {"app": f"app-{i}"}})
    assert len(cluster._MAPS) <= cluster._MAPS_HELD
    a = ObjectMeta.model_validate({"labels": {"app": "web"}})
    b = ObjectMeta.model_validate({"labels": {"app": "web"}})
    assert a.labels is b.labels and a.labels == {"app": "web"}


def test_a_service_with_an_address_keeps_its_own_status() -> None:
    doc = {"metadata": {"name": "a"}, "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}}
    assert Service.model_validate(doc).ingress_ips == ("10.0.0.1",)
    empty = {"metadata": {"name": "a"}, "status": {"loadBalancer": {"ingress": []}}}
    assert Service.model_validate(empty).status is NO_STATUS


def test_a_service_is_read_into_a_small_fraction_of_the_pydantic_model() -> None:
    text = services_text(2000)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        inputs = load_text(text, "f")
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(inputs.services) == 2000
    per_service = held / 2000
    # ~460 bytes of YAML each; a pydantic BaseModel Service of this shape held ~4.8 KB
    print(f"{per_service:.0f} bytes per Service")
    assert per_service < 1400, per_service


def test_objects_are_frozen_and_slotted() -> None:
    service = Service(metadata=ObjectMeta(name="web"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        service.metadata = ObjectMeta(name="other")  # type: ignore[misc]
    assert not hasattr(service, "__dict__") and not hasattr(service.spec, "__dict__")


def test_the_base_model_calls_keep_working() -> None:
    doc = {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "loadBalancerIP": "10.0.0.1"},
        "unknown": "ignored",
    }
    service = Service.model_validate(doc)
    assert service.key == "shop/web" and service.spec.ports == (ServicePort(port=80),)
    dumped = service.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    assert dumped == {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "loadBalancerIP": "10.0.0.1"},
    }
    assert Service.model_validate(dumped) == service
    copy = service.model_copy(update={"spec": ServiceSpec(type="ClusterIP")})
    assert copy.spec.type == "ClusterIP" and copy.metadata is service.metadata
    assert service.spec.type == "LoadBalancer"
    with pytest.raises(ValidationError) as caught:
        Service.model_validate({"metadata": {"name": "x"}, "spec": {"ports": [{"port": 0}]}})
    assert [e["loc"] for e in caught.value.errors()] == [("spec", "ports", 0, "port")]
    # by_name=False: only the YAML names count, a Python name is an unknown field (ignored)
    by_yaml = Service.model_validate(
        {"metadata": {}, "spec": {"load_balancer_ip": "10.0.0.1"}}, by_name=False
    )
    assert by_yaml.spec.load_balancer_ip == ""
