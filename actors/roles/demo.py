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

import logging
from collections.abc import Callable
from typing import Any

from actors.allocator.actor import AllocatorActor
from actors.bgp.actor import BgpSpeakerActor
from actors.bgp.announcer import BgpAnnouncer
from actors.clock import ManualClock
from actors.cluster.actor import ClusterActor
from actors.config.actor import ConfigActor
from actors.config.store import ConfigStore
from actors.demo.cluster import DEFAULT_SCENARIO, DEMO_CONFIG, DemoCluster
from actors.demo.collector import RouteCollectorActor, bind_listener
from actors.demo.membership import DETECTION_DELAY, DemoGossip, SimulatedMembership
from actors.demo.scenario import parse_scenario
from actors.demo.scenario_actor import ScenarioActor
from actors.membership.actor import MembershipActor
from actors.membership.keyring import Keyring
from actors.membership.profile import FAST
from actors.membership.transport import free_port
from actors.model import names
from actors.runtime import ActorSpec, Runtime
from actors.speaker.actor import SpeakerActor
from actors.speaker.announcer import CompositeAnnouncer, SimulatedAnnouncer, SimulatedNetwork

log = logging.getLogger(__name__)


def kill_node(runtime: Runtime, node: str, timeout: float = 5.0) -> None:
    """Crash one simulated node for real, as the scenario's ``kill`` step does.

    For callers outside the actors (the console's worker threads): it waits for both asks.
    Whatever stands in for gossip, the console only calls this. Raises KeyError for an
    unknown node.
    """
    runtime.ref(names.speaker(node)), runtime.ref(names.MEMBERSHIP)  # KeyError before any change
    runtime.ask(names.speaker(node), SpeakerActor.crash, timeout=timeout)
    runtime.ask(names.MEMBERSHIP, SimulatedMembership.kill, node, timeout=timeout)


def revive_node(runtime: Runtime, node: str, timeout: float = 5.0) -> None:
    """Bring a killed node back (the scenario's ``revive``); see :func:`kill_node`."""
    runtime.ref(names.speaker(node)), runtime.ref(names.MEMBERSHIP)  # KeyError before any change
    runtime.ask(names.MEMBERSHIP, SimulatedMembership.revive, node, timeout=timeout)
    runtime.ask(names.speaker(node), SpeakerActor.revive, timeout=timeout)


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
                names.speaker(node),
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
