"""Console speed: time to first paint and event-to-screen lag with 1k and 10k services.

    .venv/bin/python tests/bench/console.py [--sizes 1000,10000] [--repeat 3]

The events are what the runtime would publish for N LoadBalancer services on a 3-node demo
(the real allocator and L2 election compute them; the actors themselves are not started, so
the numbers are the console's alone). Each console runs headless at 160x50 on the services
view; "paint" is the moment the table draws its first data row (the compositor asks for the
line), "lag" is from posting an ActorEvent to the app until the changed row is drawn with the
new value.

Side by side in the same run:
- "empty": the console with no service at all (Textual's own start-up, the floor);
- "DataTable": Textual's DataTable filled with the same rows (first paint, one update_cell);
- the console from a replay of every event, and from a snapshot (what a console attaching
  late, or `lbtui console --connect`, does).
Below the table: how much of the node kill's lag the reducer alone takes (its batch reduced
outside any app), the rest being the screen's update and Textual's frame.
Goals (issue 7): first paint under 0.3 s and lag under 100 ms at 10k services.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from textual.app import App, ComposeResult
from textual.widgets import DataTable

from actors.allocator.converge import allocate_cluster
from actors.config.store import ConfigStore
from actors.demo.cluster import DemoCluster, ServiceSpec
from actors.election.l2 import l2_owners
from actors.events import (
    AllocationsUpdated,
    AnnouncementStarted,
    AnnouncementStopped,
    ClusterUpdated,
    ConfigApplied,
    Event,
    IpAssigned,
    MembershipUpdated,
    NodeLeft,
    NodeSuspected,
    RuntimeReady,
)
from lbtui.app import ConsoleApp
from lbtui.bridge import ActorEvent
from lbtui.state.model import Snapshot
from lbtui.state.rows import service_rows
from lbtui.widgets.table import ResourceTable

SIZE = (160, 50)
NODES = ("node-1", "node-2", "node-3")
CONFIG = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec:
  addresses: [10.96.0.0/16]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
spec:
  ipAddressPools: [lan]
"""


class Quiet:
    description = "bench"
    readonly = False
    can_kill = False

    def start(self, app: Any) -> None: ...

    def stop(self) -> None: ...


class World:
    """N services, allocated and elected by the real cores, as events and as a snapshot."""

    def __init__(self, n: int) -> None:
        specs = [
            ServiceSpec(f"svc-{i:05d}", namespace=f"ns-{i % 20:02d}", endpoints=NODES)
            for i in range(n)
        ]
        _, result = ConfigStore.from_text(CONFIG).build()
        assert result.config is not None
        self.config = result.config
        self.cluster = DemoCluster(3, services=specs).load()
        self.allocations, self.usage = allocate_cluster(self.config, self.cluster)
        self.assigned = {k: a for k, a in self.allocations.items() if a.ips}
        self.by_ip = {str(ip): (k,) for k, a in self.assigned.items() for ip in a.ips}
        owners = l2_owners(self.config, self.cluster, self.assigned)
        self.owners = {ip: o.node for ip, o in owners.items()}
        alive = frozenset(NODES)
        t = 1.0
        membership = MembershipUpdated(t, "demo", alive, frozenset())
        self.events: list[Event] = [
            ConfigApplied(t, self.config, "startup"),
            ClusterUpdated(t, self.cluster, "demo"),
            *(
                IpAssigned(t, k, tuple(str(ip) for ip in a.ips), a.pool or "")
                for k, a in self.assigned.items()
            ),
            AllocationsUpdated(t, self.allocations, self.usage),
            membership,
            *self.announcements(t, self.owners),
            RuntimeReady(t, "demo", ()),
        ]
        self.snapshot = Snapshot(
            now=t,
            role="demo",
            config=self.config,
            cluster=self.cluster,
            allocations=self.allocations,
            usage=self.usage,
            memberships=(membership,),
            announcements=tuple(self.announcements(t, self.owners)),
        )

    def announcements(self, t: float, owners: dict[str, str | None]) -> list[Event]:
        return [
            AnnouncementStarted(t, node, ip, "layer2", "elected", "", self.by_ip[ip])
            for ip, node in owners.items()
            if node is not None
        ]

    def one_failover(self, t: float) -> tuple[list[Event], str, str]:
        """One address moving between two live nodes (an endpoint moved, say)."""
        ip, old = next(iter(self.owners.items()))
        assert old is not None
        new = next(n for n in NODES if n != old)
        reason = f"failover from {old} (no longer eligible)"
        events: list[Event] = [
            AnnouncementStarted(t, new, ip, "layer2", reason, "", self.by_ip[ip]),
            AnnouncementStopped(t, old, ip, "layer2", f"{new} elected"),
        ]
        return events, self.by_ip[ip][0], new

    def node_kill(self, t: float) -> tuple[list[Event], str, str, int]:
        """node-1 dies: its addresses stop, membership says so, the others take over."""
        dead = "node-1"
        mine = [ip for ip, n in self.owners.items() if n == dead]
        alive = frozenset(NODES) - {dead}
        owners = l2_owners(self.config, self.cluster, self.assigned, alive)
        after = {ip: owners[ip].node for ip in mine}
        reason = f"failover from {dead} (dead)"
        events: list[Event] = [
            *(AnnouncementStopped(t, dead, ip, "layer2", "node killed") for ip in mine),
            NodeSuspected(t, dead, "demo"),
            NodeLeft(t + 0.6, dead, "dead"),
            MembershipUpdated(t + 0.6, "demo", alive, frozenset({dead})),
            *(
                AnnouncementStarted(t + 0.6, n, ip, "layer2", reason, "", self.by_ip[ip])
                for ip, n in after.items()
                if n
            ),
        ]
        watched = mine[-1]
        return events, self.by_ip[watched][0], after[watched] or "", len(mine)


Stamp = tuple[float, float]  # (wall, cpu) seconds
NAN: Stamp = (float("nan"), float("nan"))


def stamp() -> Stamp:
    """Wall clock and this process's CPU time: on a shared machine the CPU time is what the
    console itself spent, the wall time adds whatever else was running."""
    return time.perf_counter(), time.process_time()


def since(start: Stamp, end: Stamp | None) -> Stamp:
    return NAN if end is None else (end[0] - start[0], end[1] - start[1])


class Probe:
    """Watches ResourceTable.render_line: when a data row is first drawn, and when a given row
    is drawn showing a given value."""

    def __init__(self) -> None:
        self.first_row: Stamp | None = None
        self.first_frame: Stamp | None = None  # the table drawn at all (even empty)
        self.watch: tuple[str, int, str] | None = None
        self.seen: Stamp | None = None
        original = ResourceTable.render_line
        probe = self

        def render_line(table: ResourceTable, y: int) -> Any:
            strip = original(table, y)
            if probe.first_frame is None and table.id == "table":
                probe.first_frame = stamp()
            if y > 0 and table.id == "table":
                index = int(table.scroll_y) + y - 1
                if index < table.row_count:
                    if probe.first_row is None:
                        probe.first_row = stamp()
                    if probe.watch is not None and probe.seen is None:
                        key, column, value = probe.watch
                        if table.keys[index] == key:
                            row = table.row(key)
                            if row is not None and row[column] == value:
                                probe.seen = stamp()
            return strip

        ResourceTable.render_line = render_line  # type: ignore[method-assign]


async def console_paint(make: Callable[[], ConsoleApp], probe: Probe, empty: bool = False) -> Stamp:
    probe.first_row = probe.first_frame = None
    start = stamp()
    app = make()
    async with app.run_test(size=SIZE) as pilot:
        while time.perf_counter() - start[0] < 60:
            painted = probe.first_frame if empty else probe.first_row
            if painted is not None:
                return since(start, painted)
            await pilot.pause(0.001)
    return NAN


async def console_lag(world: World, probe: Probe, burst: bool) -> tuple[Stamp, int]:
    app = ConsoleApp(Quiet(), snapshot=world.snapshot, view="svc", start_port=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.05)
        if burst:
            events, key, node, moved = world.node_kill(2.0)
        else:
            (events, key, node), moved = world.one_failover(2.0), 1
        table = app.screen.query_one("#table", ResourceTable)
        table.select_key(key)  # the row in view, as a user would be looking at it
        await pilot.pause(0.05)
        column = 4  # ANNOUNCED BY
        probe.watch, probe.seen = (key, column, node), None
        start = stamp()
        app.post_message(ActorEvent(tuple(events)))
        while probe.seen is None and time.perf_counter() - start[0] < 60:
            await pilot.pause(0.001)
        lag = since(start, probe.seen)
        probe.watch = None
        return lag, moved


class TableApp(App[None]):
    """Textual's DataTable with the same rows, for comparison."""

    def __init__(self, rows: list[tuple[str, ...]]) -> None:
        super().__init__()
        self.rows = rows
        self.painted: Stamp | None = None

    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("NAMESPACE", "NAME", "IPS", "POOL", "ANNOUNCED BY", "PROTO", "STATUS")
        table.add_rows(self.rows)
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        self.painted = stamp()


async def datatable(rows: list[tuple[str, ...]]) -> tuple[Stamp, Stamp]:
    start = stamp()
    app = TableApp(rows)
    async with app.run_test(size=SIZE) as pilot:
        while app.painted is None and time.perf_counter() - start[0] < 60:
            await pilot.pause(0.001)
        paint = since(start, app.painted)
        table = app.query_one(DataTable)
        key = next(iter(table.rows))
        column = list(table.columns)[4]
        t0 = stamp()
        table.update_cell(key, column, "node-9")
        done: list[Stamp] = []
        app.call_after_refresh(lambda: done.append(stamp()))
        while not done and time.perf_counter() - t0[0] < 60:
            await pilot.pause(0.001)
        return paint, since(t0, done[0] if done else None)


def plain_rows(world: World) -> list[tuple[str, ...]]:
    from lbtui.state.model import ConsoleState
    from lbtui.state.reducer import load_snapshot

    state = load_snapshot(ConsoleState(), world.snapshot)
    out = []
    for row in service_rows(state).values():
        assert row is not None
        out.append(tuple(c if isinstance(c, str) else getattr(c, "text", "") for c in row))
    return out


def reducer_alone(world: World, repeat: int) -> Stamp:
    """reduce_all of the node kill's batch on the snapshot's state, outside any app."""
    from lbtui.state.model import ConsoleState
    from lbtui.state.reducer import load_snapshot, reduce_all

    state = load_snapshot(ConsoleState(), world.snapshot)
    events, *_ = world.node_kill(2.0)
    runs = []
    for _ in range(repeat):
        start = stamp()
        reduce_all(state, events)
        runs.append(since(start, stamp()))
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))


def ms(value: Stamp) -> str:
    wall, cpu = value
    return f"{wall * 1000:.0f} ms (cpu {cpu * 1000:.0f})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    probe = Probe()
    results: list[tuple[str, ...]] = []
    reducer: list[tuple[int, Stamp]] = []

    def median(values: list[Stamp]) -> Stamp:
        return (
            statistics.median(v[0] for v in values),
            statistics.median(v[1] for v in values),
        )

    def app(**kw: Any) -> Callable[[], ConsoleApp]:
        return lambda: ConsoleApp(Quiet(), view="svc", start_port=False, **kw)

    base = median([await console_paint(app(), probe, empty=True) for _ in range(args.repeat)])
    print(f"(empty console: first frame drawn after {ms(base)})", flush=True)
    for n in sizes:
        build = time.perf_counter()
        world = World(n)
        took = time.perf_counter() - build
        print(f"{n} services: {len(world.events)} events built in {took:.1f} s", flush=True)
        replay = median(
            [await console_paint(app(events=world.events), probe) for _ in range(args.repeat)]
        )
        snap = median(
            [await console_paint(app(snapshot=world.snapshot), probe) for _ in range(args.repeat)]
        )
        one = median(
            [(await console_lag(world, probe, burst=False))[0] for _ in range(args.repeat)]
        )
        burst_runs = [await console_lag(world, probe, burst=True) for _ in range(args.repeat)]
        burst = median([lag for lag, _ in burst_runs])
        moved = burst_runs[0][1]
        dt_paint, dt_update = await datatable(plain_rows(world))
        reducer.append((n, reducer_alone(world, args.repeat)))
        results.append(
            (
                f"{n}",
                ms(snap),
                ms(replay),
                ms(one),
                f"{ms(burst)} [{moved} moved]",
                ms(dt_paint),
                ms(dt_update),
            )
        )
    print()
    header = (
        "services",
        "paint (snapshot)",
        "paint (replay)",
        "lag: 1 failover",
        "lag: node kill",
        "DataTable paint",
        "DataTable update",
    )
    widths = [max(len(h), *(len(r[i]) for r in results)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for r in results:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    print(f"\nempty console (Textual start-up, the floor): {ms(base)}")
    print("medians of", args.repeat, "runs; wall clock (cpu time of this process)")
    print("goals at 10k services: first paint < 300 ms, lag < 100 ms")
    print("\nof the node kill's lag, the reducer alone (reduce_all of its batch, no app):")
    for n, took in reducer:
        print(f"  {n:>6} services: {ms(took)}")


if __name__ == "__main__":
    asyncio.run(main())
