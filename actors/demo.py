"""``lbtui demo``: the whole simulated cluster in one process, with the real actors.

Roles: a ConfigActor on the built-in configuration, a ClusterActor on the in-memory
DemoCluster, the AllocatorActor, one SpeakerActor per node on a SimulatedNetwork, membership
and a ScenarioActor that plays the scenario so the demo shows failover by itself.

Membership is real gossip: one MembershipActor per node on its own 127.0.x.y address, over
real UDP and TCP, encrypted with a key made for the run; each speaker trusts its own node's
view. A kill silences that node's membership abruptly (a crash, detected by the others); a
revive restarts it with a new incarnation. Under virtual time (a ManualClock scheduler, as in
tests) real sockets cannot keep pace, so SimulatedMembership stands in: a kill is declared
dead after a fixed delay. BGP is real: each node's
BgpSpeakerActor peers over loopback TCP with the built-in route collector ("the router"),
whose table becomes the network's routes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import pykka

from actors.allocator.actor import AllocatorActor
from actors.announcer import CompositeAnnouncer, SimulatedAnnouncer, SimulatedNetwork
from actors.base import RuntimeActor
from actors.bgp.actor import BgpAnnouncer, BgpSpeakerActor
from actors.bgp.collector import RouteCollectorActor, bind_listener
from actors.clock import ManualClock
from actors.cluster.actor import ClusterActor
from actors.cluster.demo import DEFAULT_SCENARIO, DEMO_CONFIG, DemoCluster
from actors.cluster.scenario import Scenario, Step, parse_scenario
from actors.config.actor import ConfigActor
from actors.config.store import ConfigStore
from actors.events import MembershipUpdated, NodeJoined, NodeLeft, NodeSuspected, SourceRejected
from actors.membership.actor import MembershipActor, MuteEvents
from actors.membership.keyring import Keyring
from actors.membership.profile import FAST
from actors.membership.transport import free_port
from actors.runtime import ActorSpec, Runtime
from actors.speaker import SpeakerActor

log = logging.getLogger(__name__)

DETECTION_DELAY = 0.6  # seconds from a kill to NodeLeft, roughly the `fast` gossip profile


class SimulatedMembership(RuntimeActor):
    """Liveness for the demo: all nodes alive until the scenario kills one."""

    actor_name = "membership"

    def __init__(
        self, nodes: tuple[str, ...], *, detection_delay: float = DETECTION_DELAY, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.nodes = nodes
        self.detection_delay = detection_delay
        self.dead: set[str] = set()

    def on_start(self) -> None:
        self.republish()

    def republish(self) -> None:
        alive = frozenset(self.nodes) - self.dead
        self.publish(MembershipUpdated(self.clock.now(), "demo", alive, frozenset(self.dead)))

    def kill(self, node: str) -> None:
        """The node crashed: suspected at once, declared dead after the detection delay."""
        self.publish(NodeSuspected(self.clock.now(), node, "demo"))
        self.after(self.detection_delay, "declare_dead", node)

    def declare_dead(self, node: str) -> None:
        if node in self.dead:
            return
        self.dead.add(node)
        self.publish(NodeLeft(self.clock.now(), node, "dead"))
        self.republish()

    def revive(self, node: str) -> None:
        if node not in self.dead:
            return
        self.dead.discard(node)
        self.publish(NodeJoined(self.clock.now(), node))
        self.republish()


class DemoGossip(RuntimeActor):
    """The demo's handle on real gossip: kill and revive one node's MembershipActor.

    Calls go down fire-and-forget (tell), so the scenario never waits on a sibling.
    """

    actor_name = "membership"

    def __init__(self, nodes: tuple[str, ...], resolve: Callable[[str], Any], **kw: Any) -> None:
        super().__init__(**kw)
        self.nodes = nodes
        self.resolve = resolve

    def _member(self, node: str) -> Any:
        if node not in self.nodes:
            raise KeyError(f"no node {node!r}")
        return self.resolve(f"membership/{node}").proxy()

    def kill(self, node: str) -> None:
        """The node's gossip stops answering, without a word: the others must notice."""
        self._member(node).crash()

    def revive(self, node: str) -> None:
        """It comes back as a new process: a new incarnation, joining through the others."""
        self._member(node).revive()

    def on_stop(self) -> None:
        # The whole demo is stopping (we stop before the members): the members' goodbyes to
        # each other are no news, so nothing follows RuntimeStopped. Told, so it is in every
        # member's inbox before the first goodbye datagram.
        for node in self.nodes:
            with contextlib.suppress(pykka.ActorDeadError, KeyError):
                self.resolve(f"membership/{node}").tell(MuteEvents())


class ScenarioActor(RuntimeActor):
    """Plays a scenario: each step at its time, as fire-and-forget calls to the actors below."""

    actor_name = "scenario"

    def __init__(self, scenario: Scenario, resolve: Callable[[str], Any], **kw: Any) -> None:
        super().__init__(**kw)
        self.scenario = scenario
        self.resolve = resolve
        self.done = 0

    def on_start(self) -> None:
        for index, step in enumerate(self.scenario.steps):
            self.after(step.at, "run_step", index)

    def run_step(self, index: int) -> None:
        step = self.scenario.steps[index]
        try:
            self._run(step)
        except (ValueError, KeyError, pykka.ActorDeadError) as exc:
            # A step that does not fit the cluster (say, deleting a service twice) is
            # reported and skipped; the demo goes on.
            self.publish(
                SourceRejected(
                    self.clock.now(),
                    self.scenario.source,
                    (f"step {index} ({step.action} at {step.at}s): {exc}",),
                )
            )
        self.done += 1

    def _run(self, step: Step) -> None:
        if step.kill is not None:
            self.resolve(f"speaker/{step.kill}").proxy().crash()
            self.resolve("membership").proxy().kill(step.kill)
        elif step.revive is not None:
            self.resolve("membership").proxy().revive(step.revive)
            self.resolve(f"speaker/{step.revive}").proxy().revive()
        elif step.add_service is not None:
            spec = step.add_service.to_spec()
            self.resolve("cluster").proxy().change(lambda src: src.add_service(spec))
        elif step.delete_service is not None:
            key = step.delete_service
            self.resolve("cluster").proxy().change(lambda src: src.delete_service(key))
        elif step.move_endpoints is not None:
            move = step.move_endpoints
            self.resolve("cluster").proxy().change(
                lambda src: src.move_endpoints(move.service, move.nodes)
            )
        elif step.edit_pool is not None:
            self.resolve("config").proxy().apply_edit(step.edit_pool.to_document())


def kill_node(runtime: Runtime, node: str, timeout: float = 5.0) -> None:
    """Crash one simulated node for real, as the scenario's ``kill`` step does.

    For callers outside the actors (the console's worker threads): it waits for both asks.
    Whatever stands in for gossip, the console only calls this. Raises KeyError for an
    unknown node.
    """
    speaker = runtime.proxy(f"speaker/{node}")
    membership = runtime.proxy("membership")
    speaker.crash().get(timeout=timeout)
    membership.kill(node).get(timeout=timeout)


def revive_node(runtime: Runtime, node: str, timeout: float = 5.0) -> None:
    """Bring a killed node back (the scenario's ``revive``); see :func:`kill_node`."""
    speaker = runtime.proxy(f"speaker/{node}")
    membership = runtime.proxy("membership")
    membership.revive(node).get(timeout=timeout)
    speaker.revive().get(timeout=timeout)


def build_demo(
    *,
    nodes: int = 3,
    scenario_text: str | None = None,
    scenario_file: str = "<built-in scenario>",
    network: SimulatedNetwork | None = None,
    detection_delay: float = DETECTION_DELAY,
    extra: list[ActorSpec] | None = None,
    membership: str = "auto",
    **runtime_kwargs: Any,
) -> tuple[Runtime, DemoCluster, SimulatedNetwork]:
    """The demo runtime, not started. Raises ScenarioError/UnreadableInput for a bad scenario.

    ``membership``: "gossip" (real UDP on loopback), "simulated", or "auto": gossip unless
    the scheduler is a ManualClock (virtual time).
    """
    if membership == "auto":
        virtual = isinstance(runtime_kwargs.get("scheduler"), ManualClock)
        membership = "simulated" if virtual else "gossip"
    if membership not in ("gossip", "simulated"):
        raise ValueError(f"membership must be gossip, simulated or auto, not {membership!r}")
    cluster = DemoCluster(nodes)
    network = network or SimulatedNetwork()
    scenario = parse_scenario(
        DEFAULT_SCENARIO if scenario_text is None else scenario_text,
        scenario_file,
        cluster.node_names,
    )
    runtime: Runtime | None = None

    def resolve(name: str) -> Any:
        assert runtime is not None
        return runtime.ref(name)

    # BGP for real: every node peers over loopback TCP, from its own 127.0.x.y address, with
    # the built-in route collector (DEMO_CONFIG's peer "collector"), which mirrors what it
    # receives into the network's routes. Its port is picked now, so the nodes know it.
    collector_socket = bind_listener("127.0.0.1", 0)
    collector_port = collector_socket.getsockname()[1]
    addresses = {
        node: f"127.0.{1 + i // 250}.{1 + i % 250}" for i, node in enumerate(cluster.node_names)
    }
    bgp_announcers = {node: BgpAnnouncer() for node in cluster.node_names}
    if membership == "gossip":
        membership_specs = _gossip_specs(cluster.node_names, addresses, resolve)
    else:
        membership_specs = [
            ActorSpec(
                "membership",
                SimulatedMembership,
                {"nodes": cluster.node_names, "detection_delay": detection_delay},
            )
        ]
    specs = [
        *(extra or []),
        ActorSpec("config", ConfigActor, {"store": ConfigStore.from_text(DEMO_CONFIG)}),
        ActorSpec("cluster", ClusterActor, {"source": cluster}),
        ActorSpec("allocator", AllocatorActor),
        *membership_specs,
        ActorSpec(
            "collector",
            RouteCollectorActor,
            {
                "listener": collector_socket,
                "names": {address: node for node, address in addresses.items()},
                "network": network,
            },
        ),
        *(
            ActorSpec(
                f"bgp/{node}",
                BgpSpeakerActor,
                {
                    "node": node,
                    "announcer": bgp_announcers[node],
                    "peer_ports": {"collector": collector_port},
                    "source_address": addresses[node],
                },
                withdraws_on_stop=True,
            )
            for node in cluster.node_names
        ),
        *(
            ActorSpec(
                f"speaker/{node}",
                SpeakerActor,
                {
                    "node": node,
                    "announcer": CompositeAnnouncer(
                        l2=SimulatedAnnouncer(node, network), bgp=bgp_announcers[node]
                    ),
                    # With gossip, each node believes its own membership (None: the one view).
                    "membership_observer": node if membership == "gossip" else None,
                },
                withdraws_on_stop=True,
            )
            for node in cluster.node_names
        ),
        ActorSpec("scenario", ScenarioActor, {"scenario": scenario, "resolve": resolve}),
    ]
    runtime = Runtime("demo", specs, **runtime_kwargs)
    return runtime, cluster, network


def _gossip_specs(
    nodes: tuple[str, ...], addresses: dict[str, str], resolve: Callable[[str], Any]
) -> list[ActorSpec]:
    """One MembershipActor per node, on its own loopback address and a free port, every
    other node a seed (so a revived node rejoins whoever is up), one key for the run."""
    binds = {node: (addresses[node], free_port(addresses[node])) for node in nodes}
    sealer = Keyring.generate()
    specs = [
        ActorSpec(
            f"membership/{node}",
            MembershipActor,
            {
                "node": node,
                "bind": binds[node],
                "join": [binds[other] for other in nodes if other != node],
                "profile": FAST,
                "sealer": sealer,
            },
        )
        for node in nodes
    ]
    specs.append(ActorSpec("membership", DemoGossip, {"nodes": nodes, "resolve": resolve}))
    return specs
