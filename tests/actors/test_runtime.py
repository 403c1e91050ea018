"""The real runtime, threads and all, on the demo source with a manual clock.

Time only moves when the test says so, so the scenario and the membership timers fire
deterministically; the assertions wait on the event stream, never on wall-clock time.
"""

from __future__ import annotations

from collections.abc import Iterator

import pykka
import pytest

from actors.base import Tick
from actors.clock import ManualClock
from actors.events import (
    ActorFailed,
    ActorStarted,
    AllocationsUpdated,
    AnnouncementStarted,
    AnnouncementStopped,
    ConfigApplied,
    IpAssigned,
    IpReleased,
    NodeLeft,
    NodeSuspected,
    RuntimeReady,
)
from actors.roles.demo import DemoOptions, build
from actors.runtime import ActorSpec, Runtime
from tests.recorder import EventJournal, Recorder

SCENARIO = """\
steps:
  - {at: 1, add-service: {name: checkout, namespace: shop, endpoints: [node-1, node-2, node-3]}}
  - {at: 3, kill: OWNER}
  - {at: 6, revive: OWNER}
  - {at: 8, edit-pool: {name: lan, addresses: [10.99.5.0/28]}}
"""


def owner_of(journal: EventJournal, ip: str) -> str | None:
    """The node currently announcing ``ip`` in layer 2, from the event stream."""
    owner = None
    for e in journal.events:
        if isinstance(e, AnnouncementStarted) and e.ip == ip and e.protocol == "layer2":
            owner = e.node
        elif isinstance(e, AnnouncementStopped) and e.ip == ip and e.node == owner:
            owner = None
    return owner


def start_demo(scenario: str) -> tuple[Runtime, ManualClock, EventJournal]:
    clock = ManualClock()
    journal = EventJournal()
    runtime, _, network = build(
        DemoOptions(nodes=3, scenario_text=scenario),
        clock=clock,
        scheduler=clock,
        extra=[ActorSpec("recorder", Recorder, {"journal": journal})],
    )
    runtime.start()
    journal.wait_for(lambda ev: any(isinstance(e, RuntimeReady) for e in ev))
    runtime.network = network  # type: ignore[attr-defined]
    return runtime, clock, journal


@pytest.fixture
def stop_all() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all()


def checkout_ip(journal: EventJournal) -> str:
    return journal.wait_for(
        lambda ev: next(
            (e.ips[0] for e in ev if isinstance(e, IpAssigned) and e.service == "shop/checkout"),
            None,
        )
    )


def test_service_gets_ip_and_announcement_then_fails_over(stop_all: None) -> None:
    # Learn who will own the checkout address first, then kill exactly that node.
    probe, clock, journal = start_demo(SCENARIO.replace("OWNER", "node-1"))
    clock.advance(1.0)
    ip = checkout_ip(journal)
    owner = journal.wait_for(lambda ev: owner_of(journal, ip))
    probe.stop()

    runtime, clock, journal = start_demo(SCENARIO.replace("OWNER", owner))
    clock.advance(1.0)
    assert checkout_ip(journal) == ip  # deterministic: same objects, same address
    assert journal.wait_for(lambda ev: owner_of(journal, ip)) == owner

    clock.advance(2.0)  # t=3: the owner is killed
    journal.wait_for(lambda ev: any(isinstance(e, NodeSuspected) and e.node == owner for e in ev))
    journal.wait_for(lambda ev: owner_of(journal, ip) is None)
    clock.advance(0.6)  # the simulated membership's detection delay
    journal.wait_for(lambda ev: any(isinstance(e, NodeLeft) and e.node == owner for e in ev))
    new_owner = journal.wait_for(lambda ev: owner_of(journal, ip))
    assert new_owner != owner
    started = [e for e in journal.of(AnnouncementStarted) if e.ip == ip and e.node == new_owner]
    assert started[-1].reason == f"failover from {owner} (dead)"
    assert runtime.network.view().l2[ip] == (new_owner,)  # type: ignore[attr-defined]
    runtime.stop()


def test_editing_a_pool_reallocates(stop_all: None) -> None:
    runtime, clock, journal = start_demo(SCENARIO.replace("OWNER", "node-2"))
    clock.advance(8.0)
    journal.wait_for(
        lambda ev: any(isinstance(e, ConfigApplied) and e.source == "edit" for e in ev)
    )
    released = journal.wait_for(
        lambda ev: [e for e in ev if isinstance(e, IpReleased) and e.service == "default/web"]
    )
    assert released[-1].ips == ("10.99.0.100",)
    assigned = journal.wait_for(
        lambda ev: [
            e
            for e in ev
            if isinstance(e, IpAssigned)
            and e.service == "default/web"
            and e.ips[0].startswith("10.99.5.")
        ]
    )
    assert assigned[-1].pool == "lan"
    runtime.stop()


def _no_such_method() -> None:
    raise AttributeError("no_such_method")


def test_a_crashed_actor_is_restarted_and_the_runtime_keeps_serving(stop_all: None) -> None:
    runtime, clock, journal = start_demo(SCENARIO.replace("OWNER", "node-2"))
    before = len(journal.of(ActorStarted))
    runtime.ref("allocator").tell(Tick(_no_such_method))  # its exception kills the actor
    failed = journal.wait_for(lambda ev: [e for e in ev if isinstance(e, ActorFailed)])
    assert failed[0].actor == "allocator" and failed[0].restarts == 1
    assert "no_such_method" in failed[0].error
    clock.advance(failed[0].next_restart_in)
    journal.wait_for(lambda ev: len([e for e in ev if isinstance(e, ActorStarted)]) == before + 1)
    assert runtime.restarts("allocator") == 1
    # The new allocator caught up (republished state) and still serves new services.
    journal.wait_for(
        lambda ev: any(isinstance(e, AllocationsUpdated) for e in ev[ev.index(failed[0]) :])
    )
    clock.advance(1.0)
    assert checkout_ip(journal)
    runtime.stop()


def test_stop_withdraws_every_announcement(stop_all: None) -> None:
    runtime, _, journal = start_demo(SCENARIO.replace("OWNER", "node-2"))
    journal.wait_for(lambda ev: len([e for e in ev if isinstance(e, AnnouncementStarted)]) >= 5)
    runtime.stop("test")
    assert runtime.network.view().l2 == {}  # type: ignore[attr-defined]
    assert runtime.network.view().routes == {}  # type: ignore[attr-defined]
    live: set[tuple[str, str, str]] = set()
    for e in journal.events:
        if isinstance(e, AnnouncementStarted):
            live.add((e.node, e.ip, e.protocol))
        elif isinstance(e, AnnouncementStopped):
            live.discard((e.node, e.ip, e.protocol))
    assert live == set()
    assert not any(ref.is_alive() for ref in pykka.ActorRegistry.get_all())


def test_an_actor_spec_refuses_a_misspelt_or_missing_keyword_when_it_is_made() -> None:
    from actors.demo.membership import SimulatedMembership
    from actors.observability.status import StatusActor

    ActorSpec("membership", SimulatedMembership, {"nodes": ("n1",), "detection_delay": 0.1})
    with pytest.raises(TypeError, match=r"actor 'membership': .* no keyword 'detection_dealy'"):
        ActorSpec("membership", SimulatedMembership, {"nodes": ("n1",), "detection_dealy": 0.1})
    with pytest.raises(TypeError, match="actor 'membership': SimulatedMembership needs 'nodes'"):
        ActorSpec("membership", SimulatedMembership, {})
    # Keywords handed on through **kwargs are looked up further along the MRO (here
    # Listener, then RuntimeActor), whose own keywords a spec may set too.
    ActorSpec("status", StatusActor, {"address": ("127.0.0.1", 0), "clock": ManualClock()})
    with pytest.raises(TypeError, match="actor 'status': StatusActor takes no keyword 'tokn'"):
        ActorSpec("status", StatusActor, {"address": ("127.0.0.1", 0), "tokn": "secret"})


def test_supervised_restarts_back_off_doubling_up_to_the_cap() -> None:
    from actors.demo.membership import SimulatedMembership

    published: list[object] = []
    clock = ManualClock()
    spec = ActorSpec("membership", SimulatedMembership, {"nodes": ("n1",)})
    runtime = Runtime(
        "test", [spec], clock=clock, scheduler=clock, publish=published.append, backoff_max=0.5
    )
    for _ in range(5):
        runtime._crashed("membership", RuntimeError("boom"))
    delays = [e.next_restart_in for e in published if isinstance(e, ActorFailed)]
    assert delays == [0.1, 0.2, 0.4, 0.5, 0.5]
