"""``lbtui demo``: the whole simulated cluster in one process, with the real actors.

:func:`build` wires them, in start order: [status] [eventlog] (any extra actors), a
ConfigActor on the built-in configuration, a ClusterActor on the in-memory DemoCluster, the
AllocatorActor, membership, the route collector, each node's BgpSpeakerActor and
SpeakerActor (on a SimulatedNetwork), and a ScenarioActor that plays the scenario so the demo
shows failover by itself. The demo's world (cluster, scenarios, membership switch, route
collector) is in ``actors.demo``.

Membership is real gossip: one MembershipActor per node on its own 127.0.x.y address, over
real UDP and TCP, encrypted with a key made for the run; each speaker trusts its own node's
view. A kill silences that node's membership abruptly (a crash, detected by the others); a
revive restarts it with a new incarnation. Under virtual time (a ManualClock scheduler, as in
tests) real sockets cannot keep pace, so SimulatedMembership stands in: a kill is declared
dead after a fixed delay. BGP is real: each node's BgpSpeakerActor peers over loopback TCP
with the built-in route collector ("the router"), whose table becomes the network's routes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TextIO

import msgspec

from actors.allocator.actor import AllocatorActor
from actors.bgp.actor import BgpSpeakerActor
from actors.bgp.announcer import BgpAnnouncer
from actors.clock import Clock, ManualClock, RealClock, Scheduler
from actors.cluster.actor import ClusterActor
from actors.config.actor import ConfigActor
from actors.config.store import ConfigStore
from actors.demo.cluster import DEFAULT_SCENARIO, DEMO_CONFIG, DemoCluster
from actors.demo.collector import RouteCollectorActor, bind_listener
from actors.demo.membership import (
    DETECTION_DELAY,
    DemoGossip,
    MembershipSwitch,
    SimulatedMembership,
    member_name,
)
from actors.demo.scenario import Scenario, ScenarioError, parse_scenario
from actors.demo.scenario_actor import ScenarioActor
from actors.membership.actor import MembershipActor
from actors.membership.keyring import Keyring
from actors.membership.profile import FAST
from actors.membership.transport import free_port
from actors.model import names
from actors.model.issues import UnreadableInput
from actors.roles.errors import OptionsError
from actors.roles.observability import StatusOptions, event_log_spec, status_spec
from actors.runtime import ActorSpec, Runtime
from actors.speaker.actor import SpeakerActor
from actors.speaker.announcer import CompositeAnnouncer, SimulatedAnnouncer, SimulatedNetwork


def kill_node(runtime: Runtime, node: str, timeout: float = 5.0) -> None:
    """Crash one simulated node for real, as the scenario's ``kill`` step does.

    For callers outside the actors (the console's worker threads): it waits for both asks.
    Whatever stands in for gossip, the console only calls this. Raises KeyError for an
    unknown node.
    """
    runtime.ref(names.speaker(node)), runtime.ref(names.MEMBERSHIP)  # KeyError before any change
    runtime.ask(names.speaker(node), SpeakerActor.crash, timeout=timeout)
    with contextlib.suppress(KeyError):  # its BGP sessions die with it
        runtime.ask(names.bgp(node), BgpSpeakerActor.crash, timeout=timeout)
    runtime.ask(names.MEMBERSHIP, MembershipSwitch.kill, node, timeout=timeout)


def revive_node(runtime: Runtime, node: str, timeout: float = 5.0) -> None:
    """Bring a killed node back (the scenario's ``revive``); see :func:`kill_node`."""
    runtime.ref(names.speaker(node)), runtime.ref(names.MEMBERSHIP)  # KeyError before any change
    runtime.ask(names.MEMBERSHIP, MembershipSwitch.revive, node, timeout=timeout)
    with contextlib.suppress(KeyError):
        runtime.ask(names.bgp(node), BgpSpeakerActor.revive, timeout=timeout)
    runtime.ask(names.speaker(node), SpeakerActor.revive, timeout=timeout)


class DemoOptions(msgspec.Struct, frozen=True):
    """What ``lbtui demo`` can be told (the console's own options aside)."""

    nodes: int = 3
    #: A scenario file (examples/scenarios/), read by :func:`build`; None: the built-in one.
    scenario_file: str | None = None
    #: The scenario itself, instead of reading ``scenario_file`` (which then only names it).
    scenario_text: str | None = None
    #: "gossip" (real UDP on loopback), "simulated", or "auto": gossip unless the scheduler
    #: is a ManualClock (virtual time).
    membership: str = "auto"
    detection_delay: float = DETECTION_DELAY  # simulated membership: from a kill to NodeLeft
    status: StatusOptions = msgspec.field(default_factory=StatusOptions)


class Demo(NamedTuple):
    """What :func:`build` made: the runtime (not started) and the demo's world, for callers
    that drive or watch it."""

    runtime: Runtime
    cluster: DemoCluster
    network: SimulatedNetwork


def no_interface(name: str) -> None:
    """The demo's interface lookup: it has no links of the host's."""
    return None


def build(
    options: DemoOptions,
    *,
    events: TextIO | None = None,
    extra: Sequence[ActorSpec] = (),
    network: SimulatedNetwork | None = None,
    clock: Clock | None = None,
    scheduler: Scheduler | None = None,
) -> Demo:
    """The demo runtime, not started; OptionsError for a scenario that cannot be read or
    played, or a bad number of nodes.

    ``events``: write every event there as a JSON line (``--headless``). ``extra``: more
    actors, started first (tests add a recorder)."""
    clock = clock or RealClock()
    head = [] if (status := status_spec(options.status)) is None else [status]
    if events is not None:
        head.append(event_log_spec(events, clock))
    scenario_text = options.scenario_text
    if scenario_text is None and options.scenario_file:
        try:
            with open(options.scenario_file, encoding="utf-8") as f:
                scenario_text = f.read()
        except OSError as exc:
            raise OptionsError(
                f"{options.scenario_file}: cannot read: {exc}", unreadable=True
            ) from exc
    membership = options.membership
    if membership == "auto":
        membership = "simulated" if isinstance(scheduler, ManualClock) else "gossip"
    if membership not in ("gossip", "simulated"):
        raise OptionsError(f"membership must be gossip, simulated or auto, not {membership!r}")
    try:
        cluster = DemoCluster(options.nodes)
        scenario = parse_scenario(
            DEFAULT_SCENARIO if scenario_text is None else scenario_text,
            options.scenario_file or "<built-in scenario>",
            cluster.node_names,
        )
    except ScenarioError as exc:
        raise OptionsError("\n".join(exc.errors)) from exc
    except (UnreadableInput, ValueError) as exc:
        raise OptionsError(str(exc), unreadable=isinstance(exc, UnreadableInput)) from exc
    network = network or SimulatedNetwork()
    runtime: Runtime | None = None

    def resolve(name: str) -> Any:
        assert runtime is not None
        return runtime.ref(name)

    world = _world_specs(cluster, scenario, network, membership, options.detection_delay, resolve)
    specs = [*head, *extra, *world]
    runtime = Runtime("demo", specs, clock=clock, scheduler=scheduler)
    return Demo(runtime, cluster, network)


def _world_specs(
    cluster: DemoCluster,
    scenario: Scenario,
    network: SimulatedNetwork,
    membership: str,
    detection_delay: float,
    resolve: Callable[[str], Any],
) -> list[ActorSpec]:
    """The simulated cluster with the real actors: configuration, cluster source and
    allocator; membership; the route collector; each node's BGP speaker and speaker; and the
    scenario, last."""
    nodes = cluster.node_names
    # BGP for real: every node peers over loopback TCP, from its own 127.0.x.y address, with
    # the built-in route collector (DEMO_CONFIG's peer "collector"), which mirrors what it
    # receives into the network's routes. Its port is picked now, so the nodes know it.
    collector_socket = bind_listener("127.0.0.1", 0)
    collector_port = collector_socket.getsockname()[1]
    addresses = {node: f"127.0.{1 + i // 250}.{1 + i % 250}" for i, node in enumerate(nodes)}
    bgp_announcers = {node: BgpAnnouncer() for node in nodes}
    if membership == "gossip":
        membership_specs = _gossip_specs(nodes, addresses, resolve)
    else:
        membership_specs = [
            ActorSpec(
                names.MEMBERSHIP,
                SimulatedMembership,
                {"nodes": nodes, "detection_delay": detection_delay},
            )
        ]
    return [
        ActorSpec(names.CONFIG, ConfigActor, {"store": ConfigStore.from_text(DEMO_CONFIG)}),
        ActorSpec(names.CLUSTER, ClusterActor, {"source": cluster}),
        ActorSpec(names.ALLOCATOR, AllocatorActor),
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
                names.bgp(node),
                BgpSpeakerActor,
                {
                    "node": node,
                    "announcer": bgp_announcers[node],
                    "peer_ports": {"collector": collector_port},
                    "source_address": addresses[node],
                    # The demo never touches the host's links: an unnumbered peer in a demo
                    # configuration waits ("no such interface"), sending nothing.
                    "interface_index": no_interface,
                },
                withdraws_on_stop=True,
            )
            for node in nodes
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
            for node in nodes
        ),
        ActorSpec("scenario", ScenarioActor, {"scenario": scenario, "resolve": resolve}),
    ]


def _gossip_specs(
    nodes: tuple[str, ...], addresses: dict[str, str], resolve: Callable[[str], Any]
) -> list[ActorSpec]:
    """One MembershipActor per node, on its own loopback address and a free port, every
    other node a seed (so a revived node rejoins whoever is up), one key for the run."""
    binds = {node: (addresses[node], free_port(addresses[node])) for node in nodes}
    sealer = Keyring.generate()
    specs = [
        ActorSpec(
            member_name(node),
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
    specs.append(ActorSpec(names.MEMBERSHIP, DemoGossip, {"nodes": nodes, "resolve": resolve}))
    return specs
