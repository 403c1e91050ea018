"""Each actor on its own, without threads: construct, inject fakes, call, look at events.

An actor object can be used without ``start()``; its methods run in the test's thread, and
``publish`` is a list's append, so nothing here waits or sleeps.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from actors.allocator.actor import AllocatorActor, allocation_events
from actors.clock import ManualClock
from actors.cluster.actor import ClusterActor, service_changes
from actors.cluster.files import FileClusterSource
from actors.config.actor import ConfigActor
from actors.config.store import ConfigStore
from actors.demo.cluster import DEMO_CONFIG, DemoCluster, ServiceSpec
from actors.events import (
    AllocationFailed,
    AllocationsUpdated,
    AnnouncementStarted,
    AnnouncementStopped,
    ClusterUpdated,
    ConfigApplied,
    ConfigPersisted,
    ConfigRejected,
    Event,
    IpAssigned,
    IpReleased,
    MembershipUpdated,
    ServiceChanged,
    SourceRejected,
)
from actors.model.allocation import Allocation
from actors.roles.membership import MembershipOptions, membership_spec
from actors.roles.speaker import speaker_spec
from actors.speaker.actor import SpeakerActor
from actors.speaker.announcer import RecordingAnnouncer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def demo_config():
    store = ConfigStore.from_text(DEMO_CONFIG)
    _, result = store.build()
    assert result.config is not None
    return result.config


def allocated(cluster: DemoCluster):
    events: list[Event] = []
    actor = AllocatorActor(clock=ManualClock(), publish=events.append)
    actor.on_event(ConfigApplied(0.0, demo_config(), "test"))
    actor.on_event(ClusterUpdated(0.0, cluster.load(), "demo"))
    return actor, events


def test_allocator_actor_assigns_and_reports() -> None:
    _actor, events = allocated(DemoCluster(3))
    assigned = {e.service: e.ips for e in events if isinstance(e, IpAssigned)}
    assert assigned["default/web"] == ("10.99.0.100",)
    assert assigned["default/dns-tcp"] == assigned["default/dns-udp"]  # shared key "dns"
    assert isinstance(events[-1], AllocationsUpdated)
    assert events[-1].usage["lan"].in_use == 6


def test_allocator_actor_publishes_nothing_when_nothing_changed() -> None:
    actor, events = allocated(DemoCluster(3))
    count = len(events)
    actor.reconcile()
    assert len(events) == count


def test_allocator_actor_releases_deleted_services() -> None:
    cluster = DemoCluster(3)
    actor, events = allocated(cluster)
    cluster.delete_service("default/web")
    actor.on_event(ClusterUpdated(1.0, cluster.load(), "demo"))
    released = [e for e in events if isinstance(e, IpReleased)]
    assert released == [IpReleased(0.0, "default/web", ("10.99.0.100",), "service deleted")]


def test_allocation_events_reports_failures_once() -> None:
    failing = Allocation("ns/a", (), None, "no available IPs")
    first = allocation_events(0.0, {}, {"ns/a": failing})
    assert first == [AllocationFailed(0.0, "ns/a", "no available IPs")]
    assert allocation_events(1.0, {"ns/a": failing}, {"ns/a": failing}) == []


def test_stateless_allocator_ignores_history() -> None:
    # Two speakers, one that saw "web" come and go and one that did not, agree.
    cluster = DemoCluster(3)
    first = AllocatorActor(stateless=True, publish=lambda e: None)
    first.on_event(ConfigApplied(0.0, demo_config(), "t"))
    first.on_event(ClusterUpdated(0.0, cluster.load(), "t"))
    cluster.delete_service("default/web")
    first.on_event(ClusterUpdated(1.0, cluster.load(), "t"))
    fresh = AllocatorActor(stateless=True, publish=lambda e: None)
    fresh.on_event(ConfigApplied(0.0, demo_config(), "t"))
    fresh.on_event(ClusterUpdated(0.0, cluster.load(), "t"))
    assert dict(first.allocations) == dict(fresh.allocations)


def speaker_for(
    node: str, cluster: DemoCluster
) -> tuple[SpeakerActor, RecordingAnnouncer, list[Event]]:
    alloc, _ = allocated(cluster)
    events: list[Event] = []
    announcer = RecordingAnnouncer()
    speaker = SpeakerActor(node, announcer, clock=ManualClock(), publish=events.append)
    speaker.on_event(ConfigApplied(0.0, demo_config(), "t"))
    speaker.on_event(ClusterUpdated(0.0, cluster.load(), "t"))
    speaker.on_event(AllocationsUpdated(0.0, alloc.allocations, alloc.usage))
    return speaker, announcer, events


def test_speakers_split_the_work_exactly_once() -> None:
    cluster = DemoCluster(3)
    owners: dict[str, list[str]] = {}
    for node in cluster.node_names:
        _, announcer, _ = speaker_for(node, cluster)
        for ip in announcer.l2:
            owners.setdefault(ip, []).append(node)
    assert owners and all(len(nodes) == 1 for nodes in owners.values())
    # local-web has its only endpoint on node-2: only node-2 may answer for it.
    local_ip = next(ip for ip, n in owners.items() if ip == "10.99.0.103")
    assert owners[local_ip] == ["node-2"]


def test_speaker_takes_over_when_the_owner_dies_and_says_why() -> None:
    cluster = DemoCluster(3)
    speakers = {n: speaker_for(n, cluster) for n in cluster.node_names}
    owner = next(n for n, (_, a, _) in speakers.items() if "10.99.0.100" in a.l2)
    everyone = frozenset(cluster.node_names)
    for _node, (speaker, _, _) in speakers.items():
        speaker.on_event(MembershipUpdated(1.0, "demo", everyone - {owner}, frozenset({owner})))
    new_owner = next(n for n, (_, a, _) in speakers.items() if "10.99.0.100" in a.l2)
    assert new_owner != owner
    started = [
        e
        for e in speakers[new_owner][2]
        if isinstance(e, AnnouncementStarted) and e.ip == "10.99.0.100"
    ]
    assert started[-1].reason == f"failover from {owner} (dead)"
    # The node the others think dead answers for nothing.
    assert speakers[owner][1].l2 == {}
    stopped = [e for e in speakers[owner][2] if isinstance(e, AnnouncementStopped)]
    assert {e.ip for e in stopped} >= {"10.99.0.100"}


def test_speaker_withdraw_all_and_crash() -> None:
    speaker, announcer, events = speaker_for("node-1", DemoCluster(3))
    assert announcer.l2 or announcer.bgp
    count = speaker.withdraw_all("shutdown")
    assert count > 0 and announcer.l2 == {} and announcer.bgp == {}
    assert all(e.reason == "shutdown" for e in events if isinstance(e, AnnouncementStopped))
    speaker.reconcile()  # stopped speakers stay silent
    assert announcer.l2 == {}


def test_config_actor_keeps_last_good_config_and_persists_valid_edits(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text((EXAMPLES / "crds" / "config.yaml").read_text())
    original = path.read_text()
    events: list[Event] = []
    actor = ConfigActor(ConfigStore.from_paths([str(path)]), publish=events.append)
    actor.on_start()
    assert isinstance(events[-1], ConfigApplied)
    good = actor.current()

    bad = actor.document("IPAddressPool", "l2-pool")
    bad["spec"]["addresses"] = ["192.0.2.0/24"]  # overlaps bgp-pool
    outcome = actor.apply_edit(bad)
    assert not outcome.applied
    assert any("overlaps" in i.message for i in outcome.issues)
    assert isinstance(events[-1], ConfigRejected)
    assert actor.current() is good
    assert path.read_text() == original

    edit = actor.document("IPAddressPool", "l2-pool")
    edit["spec"]["addresses"] = ["10.99.7.0/24"]
    outcome = actor.apply_edit(edit)
    assert outcome.applied, outcome.issues
    assert [type(e) for e in events[-2:]] == [ConfigPersisted, ConfigApplied]
    assert (tmp_path / "config.yaml.bak").read_text() == original
    reread = ConfigStore.from_paths([str(path)])
    _, result = reread.build()
    assert result.config is not None
    pool = result.config.pools["l2-pool"]
    assert pool.ranges[0].first == ipaddress.ip_address("10.99.7.0")


def test_config_actor_refuses_to_delete_what_does_not_exist() -> None:
    events: list[Event] = []
    actor = ConfigActor(ConfigStore.from_text(DEMO_CONFIG), publish=events.append)
    actor.on_start()
    outcome = actor.delete("IPAddressPool", "nope")
    assert not outcome.applied
    assert isinstance(events[-1], ConfigRejected)


def test_config_actor_rejects_a_broken_file_on_reload(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(DEMO_CONFIG)
    events: list[Event] = []
    actor = ConfigActor(ConfigStore.from_paths([str(path)]), publish=events.append)
    actor.on_start()
    good = actor.current()
    path.write_text("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: [\n")
    assert actor.reload() is False
    assert isinstance(events[-1], ConfigRejected)
    assert "config.yaml:" in events[-1].errors[0]
    assert actor.current() is good


def test_cluster_file_with_bad_input_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text((EXAMPLES / "cluster.yaml").read_text())
    events: list[Event] = []
    actor = ClusterActor(FileClusterSource([str(path)]), publish=events.append)
    actor.on_start()
    good = actor.snapshot()
    assert good is not None and "default/web" in good.services

    path.write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n  - port: 99999\n"
    )
    actor._load()
    rejected = events[-1]
    assert isinstance(rejected, SourceRejected)
    assert rejected.errors[0].startswith(f"{path}:1: Service/x: spec.ports[0].port:")
    assert actor.snapshot() is good

    path.write_text("kind: [\n")
    actor._load()
    assert isinstance(events[-1], SourceRejected)
    assert events[-1].errors[0].startswith(f"{path}:2: YAML syntax error")
    assert actor.snapshot() is good


def test_service_changes_are_computed_from_snapshots() -> None:
    cluster = DemoCluster(2)
    before = cluster.load()
    cluster.add_service(ServiceSpec("new", endpoints=("node-1",)))
    cluster.delete_service("default/web")
    changes = service_changes(2.0, before, cluster.load())
    assert ServiceChanged(2.0, "default/new", "added") in changes
    assert ServiceChanged(2.0, "default/web", "deleted") in changes


def test_demo_cluster_writes_status_back() -> None:
    cluster = DemoCluster(2)
    alloc, _ = allocated(cluster)
    assert cluster.write_status(alloc.allocations) is True
    assert cluster.load().services["default/web"].ingress_ips == ("10.99.0.100",)
    assert cluster.write_status(alloc.allocations) is False  # idempotent: no loop


def test_manual_clock_runs_callbacks_in_time_order() -> None:
    clock = ManualClock()
    fired: list[str] = []
    clock.call_later(2.0, lambda: fired.append("b"))
    clock.call_later(1.0, lambda: fired.append("a"))
    cancelled = clock.call_later(1.5, lambda: fired.append("x"))
    cancelled.cancel()
    assert clock.advance(1.0) == 1 and fired == ["a"]
    clock.advance(5.0)
    assert fired == ["a", "b"] and clock.now() == 6.0


def test_events_have_a_json_form() -> None:
    event = IpAssigned(1.5, "ns/a", ("10.0.0.1",), "pool")
    assert event.to_json() == {
        "t": 1.5,
        "event": "IpAssigned",
        "service": "ns/a",
        "ips": ["10.0.0.1"],
        "pool": "pool",
    }
    with pytest.raises(AttributeError):
        event.pool = "other"  # type: ignore[misc]


def test_a_pushing_source_is_subscribed_to_before_the_first_load() -> None:
    """A change arriving during the first load must trigger another one, not wait for the next."""
    calls: list[str] = []

    class PushingSource(DemoCluster):
        def subscribe(self, callback: object) -> object:
            calls.append("subscribe")
            return lambda: None

        def load(self):  # type: ignore[no-untyped-def]
            calls.append("load")
            return super().load()

    actor = ClusterActor(PushingSource(2), publish=lambda event: None)
    actor.on_start()
    assert calls == ["subscribe", "load"]


def test_the_same_configuration_again_converges_nothing() -> None:
    """On Kubernetes every pool status write reloads the configuration; an equal one must not
    make the allocator check every service again (it did: once per allocation)."""
    actor, events = allocated(DemoCluster(3))
    assert actor.allocator is not None
    before = actor.allocator.converged
    count = len(events)
    actor.on_event(ConfigApplied(1.0, demo_config(), "reload"))  # equal, not the same object
    assert actor.allocator.converged == before
    assert len(events) == count
    changed = ConfigStore.from_text(DEMO_CONFIG.replace("10.99.0.100", "10.99.0.101"))
    config = changed.build()[1].config
    assert config is not None and config != demo_config()
    actor.on_event(ConfigApplied(2.0, config, "reload"))
    assert actor.allocator.converged > before


def test_a_speaker_beside_gossip_claims_no_layer2_address_before_gossips_first_view() -> None:
    """A restarted speaker (its link perhaps cut while it starts) has no view of who holds
    what: electing among every known node would take an address the others still give to
    another (the chaos test's 0.4-0.9 s double answer). Its BGP routes are its own and go."""
    cluster = DemoCluster(3)
    alloc, _ = allocated(cluster)
    everyone = frozenset(cluster.node_names)
    for node in cluster.node_names:
        _, without_gossip, _ = speaker_for(node, cluster)
        announcer = RecordingAnnouncer()
        speaker = SpeakerActor(
            node,
            announcer,
            membership_observer=node,
            awaits_membership=True,
            clock=ManualClock(),
            publish=lambda _e: None,
        )
        speaker.on_event(ConfigApplied(0.0, demo_config(), "t"))
        speaker.on_event(ClusterUpdated(0.0, cluster.load(), "t"))
        speaker.on_event(AllocationsUpdated(0.0, alloc.allocations, alloc.usage))
        assert announcer.l2 == {}
        assert announcer.bgp == without_gossip.bgp
        speaker.on_event(MembershipUpdated(1.0, "another-node", everyone, frozenset()))
        assert announcer.l2 == {}  # only its own node's view counts
        speaker.on_event(MembershipUpdated(1.0, node, everyone, frozenset()))
        assert announcer.l2 == without_gossip.l2
    assert any(speaker_for(n, cluster)[1].l2 for n in cluster.node_names)  # some L2 to elect


def test_the_speaker_awaits_gossip_only_where_gossip_runs() -> None:
    membership = membership_spec(
        "node-1", MembershipOptions(bind="127.0.0.1:0", join="127.0.0.1:7946"), on_kube=False
    )
    assert membership is not None
    for subsystems, awaits in (([membership], True), ([], False)):
        spec = speaker_spec("node-1", RecordingAnnouncer(), subsystems)
        assert spec.kwargs["awaits_membership"] is awaits
