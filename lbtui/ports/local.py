"""ConsolePort: everything the console may ask of the runtime, and the election's explanations.

The console reaches the runtime only through here (DESIGN rule 1): a :class:`LocalPort` wraps a
runtime in the same process (``lbtui demo``), a :class:`RemotePort` reads a headless runtime's
status endpoint (``lbtui console --connect``). Every call may block (an ask, an HTTP request),
so the console makes them from ``@work(thread=True)`` workers, never on the UI loop.

The rest of the module answers the console's questions from a ConsoleState with the election
core, touching nothing: ``describe`` (why a service has no IP, why this node owns the address),
``service_tree`` (service -> IP -> pool -> advertisement -> node -> sessions), ``what_if``
(what moves if nodes die) and ``yaml_for`` (objects in MetalLB's form).
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import queue
import threading
import time
import typing
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import yaml

import actors.events as events_module
from actors.allocator.actor import AllocatorActor
from actors.cluster.actor import ClusterActor
from actors.config.actor import ConfigActor
from actors.config.build import build_config
from actors.config.loader import load_documents
from actors.config.store import EditOutcome
from actors.election.bgp import bgp_decision
from actors.election.ecmp import ecmp_impacts
from actors.election.ecmp import summary as ecmp_summary
from actors.election.l2 import L2Decision, l2_decision
from actors.election.plan import compute_plan
from actors.election.plan import what_if as plan_what_if
from actors.events import AnnouncementStarted, Event, MembershipUpdated
from actors.model import names
from actors.model.allocation import Allocation, PoolUsage
from actors.model.cluster import ClusterState, EndpointSlice, Namespace, Node, Service
from actors.model.config import IPAddress
from actors.model.issues import Issue
from actors.observability.status import PASSWORD_NOTE, config_documents
from actors.speaker.actor import SpeakerActor
from lbtui.bridge import ActorEvent, Bridge, PortStatus, Poster, SnapshotLoaded
from lbtui.state.model import ConsoleState, Snapshot
from lbtui.state.rows import age_text, peer_nodes, seconds_text, session_key

ASK_TIMEOUT = 10.0
T = TypeVar("T")
EDITABLE = {"pool": "IPAddressPool", "peer": "BGPPeer"}
REDACTED = "********"


class ReadOnlyPort(Exception):
    """The port cannot change anything (a remote status endpoint, or --readonly)."""


class ConsolePort(Protocol):
    description: str
    readonly: bool
    can_kill: bool

    def start(self, app: Poster) -> None:
        """Begin posting ActorEvent (and SnapshotLoaded) messages to ``app``. May block."""

    def stop(self) -> None: ...

    def document(self, kind: str, name: str) -> dict[str, Any] | None:
        """The metallb.io object as written in the configuration (None: no such object)."""

    def apply_edit(self, doc: dict[str, Any]) -> EditOutcome: ...

    def delete(self, kind: str, name: str) -> EditOutcome: ...

    def kill_node(self, node: str) -> None: ...

    def revive_node(self, node: str) -> None: ...


NodeControl = Callable[[Any, str], None]


class LocalPort:
    """The console on a runtime in this process (``lbtui demo``)."""

    def __init__(
        self,
        runtime: Any,
        *,
        start_runtime: bool = True,
        kill_node: NodeControl | None = None,
        revive_node: NodeControl | None = None,
        readonly: bool = False,
        description: str = "",
        timeout: float = ASK_TIMEOUT,
    ) -> None:
        self.runtime = runtime
        self.start_runtime = start_runtime
        self._kill = kill_node
        self._revive = revive_node
        self.readonly = readonly
        self.can_kill = kill_node is not None and revive_node is not None
        self.description = description or f"{runtime.role} (in process)"
        self.timeout = timeout
        self._bridge: Any = None

    def start(self, app: Poster) -> None:
        # Subscribe before the runtime starts, so the console sees every event from the first.
        self._bridge = Bridge.start(app, clock=self.runtime.clock, scheduler=self.runtime.scheduler)
        if self.start_runtime:
            self.runtime.start()
        else:
            app.post_message(SnapshotLoaded(self.snapshot()))

    def stop(self) -> None:
        if self._bridge is not None:
            with contextlib.suppress(Exception):
                self._bridge.stop(timeout=2)
            self._bridge = None

    def _ask(self, actor: str, method: Callable[..., T], *args: Any) -> T:
        return self.runtime.ask(actor, method, *args, timeout=self.timeout)

    def snapshot(self) -> Snapshot:
        """The runtime's state now, by asking the actors that hold it."""
        now = self.runtime.clock.now()
        config = cluster = allocations = usage = None
        with contextlib.suppress(KeyError):
            config = self._ask(names.CONFIG, ConfigActor.current)
        with contextlib.suppress(KeyError):
            cluster = self._ask(names.CLUSTER, ClusterActor.snapshot)
        with contextlib.suppress(KeyError):
            allocations, usage = self._ask(names.ALLOCATOR, AllocatorActor.snapshot)
        with contextlib.suppress(KeyError, AttributeError):
            # Membership has no getter everywhere; its republish reaches us through the bridge.
            self.runtime.proxy(names.MEMBERSHIP).republish()
        announced: list[AnnouncementStarted] = []
        for name in self.runtime.names():
            node = names.speaker_node(name)
            if node is None:
                continue
            try:
                current = self._ask(name, SpeakerActor.announcements)
            except KeyError:
                continue
            for ip, duty in current.l2.items():
                announced.append(
                    AnnouncementStarted(
                        now,
                        node,
                        ip,
                        "layer2",
                        duty.message,
                        ",".join(duty.interfaces),
                        duty.services,
                    )
                )
            for (prefix, peers), route in current.bgp.items():
                announced.append(
                    AnnouncementStarted(
                        now,
                        node,
                        prefix,
                        "bgp",
                        f"advertised to {', '.join(peers)}",
                        "",
                        route.services,
                        peers,
                    )
                )
        return Snapshot(
            now=now,
            role=self.runtime.role,
            config=config,
            cluster=cluster,
            allocations=allocations,
            usage=usage,
            announcements=tuple(announced),
        )

    def document(self, kind: str, name: str) -> dict[str, Any] | None:
        doc = self._ask(names.CONFIG, ConfigActor.document, kind, name)
        return doc if isinstance(doc, dict) else None

    def apply_edit(self, doc: dict[str, Any]) -> EditOutcome:
        if self.readonly:
            raise ReadOnlyPort("the console is read-only")
        return self._ask(names.CONFIG, ConfigActor.apply_edit, doc)

    def delete(self, kind: str, name: str) -> EditOutcome:
        if self.readonly:
            raise ReadOnlyPort("the console is read-only")
        return self._ask(names.CONFIG, ConfigActor.delete, kind, name)

    def kill_node(self, node: str) -> None:
        if self.readonly or self._kill is None:
            raise ReadOnlyPort("killing nodes is only possible in the demo")
        self._kill(self.runtime, node)

    def revive_node(self, node: str) -> None:
        if self.readonly or self._revive is None:
            raise ReadOnlyPort("reviving nodes is only possible in the demo")
        self._revive(self.runtime, node)


# -- remote: a headless runtime's status endpoint ---------------------------------------------

# Events whose JSON form is a summary: the client fetches /state instead of decoding them.
SUMMARIZED_EVENTS = frozenset(
    name
    for name, cls in vars(events_module).items()
    if isinstance(cls, type)
    and issubclass(cls, Event)
    and cls is not Event
    and cls.to_json is not Event.to_json
)


def decode_event(record: Mapping[str, Any]) -> Event | None:
    """An event from its JSON line, or None (unknown, summarized or malformed: dropped)."""
    name = record.get("event")
    cls = getattr(events_module, str(name), None)
    if not isinstance(cls, type) or not issubclass(cls, Event) or name in SUMMARIZED_EVENTS:
        return None
    try:
        hints = typing.get_type_hints(cls, vars(events_module))
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in record:
                continue
            value = record[f.name]
            text = str(hints.get(f.name, ""))
            if isinstance(value, list):
                value = frozenset(value) if "frozenset" in text else tuple(value)
            kwargs[f.name] = value
        return cls(**kwargs)
    except (TypeError, ValueError):
        return None


def decode_snapshot(body: Mapping[str, Any]) -> tuple[Snapshot, int]:
    """A Snapshot from ``GET /state`` and the sequence number it is current to."""
    now = float(body.get("now") or 0.0)
    config = None
    errors: list[str] = list(body.get("configErrors") or [])
    docs = body.get("config")
    if isinstance(docs, list):
        inputs = load_documents(((d, 0) for d in docs), "<status endpoint>")
        result = build_config(inputs)
        config = result.config
        if config is None:
            errors += [str(i) for i in result.errors]
    cluster = None
    raw = body.get("cluster")
    if isinstance(raw, dict):
        cluster = ClusterState.of(
            services=[Service.model_validate(s) for s in raw.get("services", [])],
            endpoint_slices=[
                EndpointSlice.model_validate(s) for s in raw.get("endpointSlices", [])
            ],
            nodes=[Node.model_validate(n) for n in raw.get("nodes", [])],
            namespaces=[Namespace.model_validate(n) for n in raw.get("namespaces", [])],
        )
    allocations = usage = None
    if isinstance(body.get("allocations"), dict):
        allocations = {
            key: Allocation(
                key,
                tuple(ipaddress.ip_address(ip) for ip in a.get("ips", [])),
                a.get("pool"),
                a.get("error"),
                a.get("cleared"),
            )
            for key, a in body["allocations"].items()
        }
        usage = {
            name: PoolUsage(
                u["total"], u["inUse"], u["totalV4"], u["totalV6"], u["inUseV4"], u["inUseV6"]
            )
            for name, u in (body.get("usage") or {}).items()
        }
    views = body.get("membership") or []
    memberships = tuple(
        m
        for m in (decode_event(v) for v in (views if isinstance(views, list) else [views]))
        if isinstance(m, MembershipUpdated)
    )
    announced = tuple(
        e
        for e in (decode_event(a) for a in body.get("announcements", []))
        if isinstance(e, AnnouncementStarted)
    )
    history = tuple(e for e in (decode_event(r) for r in body.get("events", [])) if e)
    snapshot = Snapshot(
        now=now,
        role=str(body.get("role") or "remote"),
        history=history,
        config=config,
        cluster=cluster,
        allocations=allocations,
        usage=usage,
        memberships=memberships,
        announcements=announced,
        config_errors=tuple(errors),
    )
    return snapshot, int(body.get("seq") or 0)


class RemotePort:
    """The console on a headless runtime's status endpoint: read-only by construction."""

    readonly = True
    can_kill = False

    def __init__(
        self,
        url: str,
        token: str = "",
        *,
        timeout: float = 5.0,
        retry: float = 2.0,
        min_interval: float = 0.05,
        refetch_interval: float = 0.5,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retry = retry
        self.min_interval = min_interval
        self.refetch_interval = refetch_interval
        self.description = self.url
        self._stopped = threading.Event()
        self._documents: dict[tuple[str, str], dict[str, Any]] = {}

    # -- HTTP --------------------------------------------------------------------------------
    def _open(self, path: str, timeout: float | None) -> Any:
        request = urllib.request.Request(self.url + path)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        return urllib.request.urlopen(request, timeout=timeout)

    def fetch_state(self) -> dict[str, Any]:
        with self._open("/state", self.timeout) as response:
            body = json.load(response)
        docs = body.get("config") or []
        self._documents = {
            (str(d.get("kind")), str(d.get("metadata", {}).get("name"))): d
            for d in docs
            if isinstance(d, dict)
        }
        return body

    # -- ConsolePort -------------------------------------------------------------------------
    def start(self, app: Poster) -> None:
        threading.Thread(target=self._run, args=(app,), name="lbtui-remote", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self, app: Poster) -> None:
        while not self._stopped.is_set():
            try:
                body = self.fetch_state()
                snapshot, seq = decode_snapshot(body)
                app.post_message(SnapshotLoaded(snapshot))
                app.post_message(PortStatus(f"connected to {self.url}"))
                self._follow(app, seq)
            except urllib.error.HTTPError as exc:
                reason = "unauthorized (check --token)" if exc.code == 401 else str(exc)
                app.post_message(PortStatus(f"{self.url}: {reason}", ok=False))
            except (OSError, ValueError) as exc:
                app.post_message(PortStatus(f"{self.url}: {exc}", ok=False))
            self._stopped.wait(self.retry)

    def _follow(self, app: Poster, seq: int) -> None:
        """Read /events; post batches at most every ``min_interval``; refetch /state when a
        summarized state event says the snapshot changed."""
        lines: queue.Queue[bytes | None] = queue.Queue()
        response = self._open(f"/events?since={seq}", None)

        def read() -> None:
            try:
                for line in response:
                    lines.put(line)
            except OSError:
                pass
            lines.put(None)

        threading.Thread(target=read, name="lbtui-remote-read", daemon=True).start()
        last_post = 0.0
        stale_since: float | None = None
        try:
            while not self._stopped.is_set():
                batch: list[Event] = []
                closed = False
                wait = self.refetch_interval if stale_since is not None else 1.0
                try:
                    items = [lines.get(timeout=wait)]
                except queue.Empty:
                    items = []
                while True:
                    try:
                        items.append(lines.get_nowait())
                    except queue.Empty:
                        break
                for line in items:
                    if line is None:
                        closed = True
                        break
                    record = _json_line(line)
                    if record is None or record.get("seq", seq + 1) <= seq:
                        continue
                    seq = int(record.get("seq", seq))
                    if record.get("event") in SUMMARIZED_EVENTS:
                        stale_since = stale_since or time.monotonic()
                    event = decode_event(record)
                    if event is not None:
                        batch.append(event)
                if batch:
                    pause = last_post + self.min_interval - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    app.post_message(ActorEvent(tuple(batch)))
                    last_post = time.monotonic()
                if stale_since is not None and time.monotonic() - stale_since >= (
                    self.refetch_interval
                ):
                    snapshot, seq = decode_snapshot(self.fetch_state())
                    app.post_message(SnapshotLoaded(dataclasses.replace(snapshot, history=())))
                    stale_since = None
                if closed:
                    app.post_message(PortStatus(f"{self.url}: event stream closed", ok=False))
                    return
        finally:
            with contextlib.suppress(Exception):
                response.close()

    def document(self, kind: str, name: str) -> dict[str, Any] | None:
        return self._documents.get((kind, name))

    def apply_edit(self, doc: dict[str, Any]) -> EditOutcome:
        raise ReadOnlyPort("the status endpoint is read-only")

    def delete(self, kind: str, name: str) -> EditOutcome:
        raise ReadOnlyPort("the status endpoint is read-only")

    def kill_node(self, node: str) -> None:
        raise ReadOnlyPort("the status endpoint is read-only")

    def revive_node(self, node: str) -> None:
        raise ReadOnlyPort("the status endpoint is read-only")


def _json_line(line: bytes) -> dict[str, Any] | None:
    line = line.strip()
    if not line:
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


# -- explanations -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    style: str = ""  # a semantic style: ok, error, warning, muted, alive, dead, ...


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class Description:
    title: str
    sections: tuple[Section, ...]

    def text(self) -> str:
        out = [self.title]
        for section in self.sections:
            out.append("")
            out.append(section.title)
            out += [f"  {line.text}" for line in section.lines]
        return "\n".join(out)


@dataclass(frozen=True, slots=True)
class _Held:
    """An allocation seen only through Service status (no allocator snapshot)."""

    ips: tuple[IPAddress, ...]
    pool: str | None


def _assigned(state: ConsoleState, key: str) -> Any:
    allocation = state.allocations.get(key)
    if allocation is not None:
        return allocation
    row = state.services.get(key)
    ips = tuple(ipaddress.ip_address(ip) for ip in row.ips) if row else ()
    return _Held(ips, row.pool or None if row else None)


def _member_line(state: ConsoleState, node: str) -> str:
    member = state.members.get(node)
    if member is None:
        return f"{node}: unknown"
    since = age_text(state.now - member.since) if member.since is not None else "-"
    return f"{node}: {member.state} for {since}" + (f" ({member.reason})" if member.reason else "")


def describe(state: ConsoleState, kind: str, key: str) -> Description:
    """Why things are as they are, for one object of a view (``d``)."""
    describers: dict[str, Callable[[ConsoleState, str], Description]] = {
        "service": describe_service,
        "pool": describe_pool,
        "node": describe_node,
        "l2": describe_address,
        "session": describe_session,
        "peer": describe_peer,
        "event": describe_event,
    }
    describer = describers.get(kind)
    if describer is None:
        return Description(f"{kind} {key}", (Section("", (Line("nothing to describe"),)),))
    return describer(state, key)


def describe_service(state: ConsoleState, key: str) -> Description:
    title = f"Service {key}"
    cluster, config = state.cluster, state.config
    service = cluster.services.get(key) if cluster else None
    if service is None or config is None or cluster is None:
        return Description(title, (Section("Service", (Line("not known (yet)", "muted"),)),))
    spec = service.spec
    lines = [
        Line(f"type {spec.type}, externalTrafficPolicy {spec.external_traffic_policy}"),
        Line("ports: " + (", ".join(f"{p.port}/{p.protocol}" for p in spec.ports) or "-")),
    ]
    notes = {k: v for k, v in service.metadata.annotations.items() if "metallb" in k}
    if notes:
        lines.append(Line("annotations: " + ", ".join(f"{k}={v}" for k, v in notes.items())))
    serving = sorted({ep.node_name or "?" for ep in cluster.endpoints_of(key) if ep.is_serving})
    lines.append(
        Line("serving endpoints on: " + (", ".join(serving) or "none"), "" if serving else "error")
    )
    sections = [Section("Service", tuple(lines))]

    assigned = _assigned(state, key)
    alloc_lines: list[Line] = []
    error = getattr(assigned, "error", None)
    if assigned.ips:
        ips = ", ".join(str(ip) for ip in assigned.ips)
        alloc_lines.append(Line(f"{ips} from pool {assigned.pool or '?'}", "ok"))
        if error:
            alloc_lines.append(Line(f"requested addresses refused: {error}", "warning"))
    else:
        alloc_lines.append(Line(f"no address: {error or 'not allocated yet'}", "error"))
        alloc_lines += [Line(hint, "muted") for hint in _no_ip_hints(state, service, error)]
    sections.append(Section("Allocation", tuple(alloc_lines)))
    if not assigned.ips:
        return Description(title, tuple(sections))

    pool = assigned.pool
    if pool is not None and config.l2_advertisements_for(pool):
        decision = l2_decision(config, cluster, key, assigned, state.alive)
        sections.append(Section("Layer 2 election", _l2_lines(state, decision)))
    if pool is not None and config.bgp_advertisements_for(pool):
        sections.append(Section("BGP", _bgp_lines(state, key, assigned)))
    if (
        pool is not None
        and not config.l2_advertisements_for(pool)
        and not (config.bgp_advertisements_for(pool))
    ):
        sections.append(
            Section(
                "Announcement",
                (Line(f"pool {pool} has no L2Advertisement and no BGPAdvertisement", "error"),),
            )
        )
    return Description(title, tuple(sections))


def _no_ip_hints(state: ConsoleState, service: Service, error: str | None) -> list[str]:
    hints = []
    config = state.config
    if config is None:
        return hints
    wanted = service.metadata.annotations.get("metallb.io/address-pool")
    if wanted and wanted not in config.pools:
        hints.append(f"it asks for pool {wanted!r}, which does not exist")
    auto = [p.name for p in config.pools.values() if p.auto_assign]
    if not wanted and not auto:
        hints.append("no pool has autoAssign: the service must name one (metallb.io/address-pool)")
    for name, usage in sorted(state.usage.items()):
        if usage.total and usage.in_use >= usage.total:
            hints.append(f"pool {name} is full ({usage.in_use}/{usage.total})")
    return hints


def _l2_lines(state: ConsoleState, decision: L2Decision) -> tuple[Line, ...]:
    lines = [
        Line(
            f"{decision.reason}: {decision.message}",
            "ok" if decision.announced else "error",
        )
    ]
    if decision.advertisements:
        lines.append(Line("advertisements: " + ", ".join(decision.advertisements)))
    if decision.ranked:
        lines.append(Line("candidates, winner first (preference score, then sha256(node#ip)):"))
        for rank, c in enumerate(decision.ranked, 1):
            lines.append(Line(f"  {rank}. {c.node}  score {c.score}  sha256 {c.hash[:12]}…"))
    for rejection in decision.rejected:
        lines.append(Line(f"  ruled out {rejection.node}: {rejection.message}", "muted"))
    if decision.announced:
        lines.append(Line("interfaces: " + (", ".join(decision.interfaces) or "all eligible")))
    for ip in decision.ips:
        entry = state.l2.get(str(ip))
        if entry is None or entry.node is None:
            lines.append(Line(f"runtime: nobody answers for {ip} yet", "warning"))
            continue
        since = age_text(state.now - entry.since)
        agree = "" if entry.node == decision.node else f" (election says {decision.node})"
        lines.append(
            Line(
                f"runtime: {entry.node} answers for {ip} since {since}{agree}",
                "ok" if not agree else "warning",
            )
        )
    return tuple(lines)


def _bgp_lines(state: ConsoleState, key: str, assigned: Any) -> tuple[Line, ...]:
    assert state.config is not None and state.cluster is not None
    decision = bgp_decision(state.config, state.cluster, key, assigned, state.alive)
    lines = [
        Line(f"{decision.reason}: {decision.message}", "ok" if decision.announcing else "error")
    ]
    for verdict in decision.nodes:
        detail = verdict.message
        if verdict.announced and verdict.prefixes:
            detail += f" ({', '.join(verdict.prefixes)})"
        lines.append(
            Line(
                f"  {verdict.node}: {verdict.reason}: {detail}",
                "" if verdict.announced else "muted",
            )
        )
    return tuple(lines)


def describe_address(state: ConsoleState, ip: str) -> Description:
    entry = state.l2.get(ip)
    title = f"Layer 2 address {ip}"
    if entry is None:
        return Description(title, (Section("Owner", (Line("not announced", "muted"),)),))
    lines = [
        Line(f"owner: {entry.node or 'nobody'}", "ok" if entry.node else "error"),
        Line(f"since {age_text(state.now - entry.since)}: {entry.reason}"),
        Line("interfaces: " + (", ".join(entry.interfaces) or "all eligible")),
        Line(
            f"taken over {entry.takeovers} time(s); gratuitous packets sent: "
            f"{entry.gratuitous or 'none reported (simulated network)'}"
        ),
        Line(
            f"last failover took {seconds_text(entry.failover_seconds, entry.failover_measured)}"
            + ("" if entry.failover_measured else " (estimated from events; ~ marks estimates)")
        ),
    ]
    if entry.conflict:
        lines.append(Line(f"SPLIT BRAIN: {entry.conflict}", "error"))
    if len(entry.announcers) > 1:
        lines.append(Line("answering now: " + ", ".join(sorted(entry.announcers)), "warning"))
    sections = [Section("Owner", tuple(lines))]
    if state.config is not None and state.cluster is not None:
        for service in entry.services:
            if service in state.cluster.services:
                decision = l2_decision(
                    state.config, state.cluster, service, _assigned(state, service), state.alive
                )
                sections.append(Section(f"Election for {service}", _l2_lines(state, decision)))
    return Description(title, tuple(sections))


def describe_node(state: ConsoleState, node: str) -> Description:
    lines = [Line(_member_line(state, node))]
    member = state.members.get(node)
    if member and member.incarnation is not None:
        lines.append(Line(f"incarnation {member.incarnation}"))
    if node in state.losses:
        lines.append(Line(f"lost {age_text(state.now - state.losses[node])} ago", "warning"))
    obj = state.cluster.nodes.get(node) if state.cluster else None
    if obj is not None:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(obj.metadata.labels.items()))
        lines.append(Line(f"labels: {labels or '-'}"))
        for c in obj.status.conditions:
            lines.append(Line(f"condition {c.type}={c.status}"))
        for a in obj.status.addresses:
            lines.append(Line(f"{a.type} {a.address}"))
        if obj.network_unavailable:
            lines.append(Line("NetworkUnavailable: announces nothing", "error"))
        if obj.excluded_from_load_balancers:
            lines.append(Line("labelled exclude-from-external-load-balancers", "warning"))
    else:
        lines.append(Line("no Node object", "muted"))
    sections = [Section("Membership and health", tuple(lines))]
    owned = [e for e in state.l2.values() if node in e.announcers]
    sections.append(
        Section(
            "Layer 2",
            tuple(Line(f"{e.ip} for {', '.join(e.services)}") for e in owned)
            or (Line("announces nothing", "muted"),),
        )
    )
    routes = [r for (n, _, _), r in state.routes.items() if n == node]
    sections.append(
        Section(
            "BGP routes",
            tuple(Line(f"{r.prefix} to {', '.join(r.peers)}") for r in routes)
            or (Line("announces nothing", "muted"),),
        )
    )
    moved = [f for f in state.failovers if node in (f.from_node, f.to_node)]
    if moved:
        sections.append(
            Section(
                "Failovers",
                tuple(
                    Line(
                        f"{f.ip}: {f.from_node} → {f.to_node} in "
                        f"{seconds_text(f.seconds, f.measured)}"
                    )
                    for f in moved[-10:]
                ),
            )
        )
    return Description(f"Node {node}", tuple(sections))


def describe_pool(state: ConsoleState, name: str) -> Description:
    config = state.config
    pool = config.pools.get(name) if config else None
    if config is None or pool is None:
        return Description(f"IPAddressPool {name}", (Section("Pool", (Line("not configured"),)),))
    lines = [Line(f"{r.text} ({r.size} addresses, IPv{r.version})") for r in pool.ranges]
    usage = state.usage.get(name)
    if usage:
        lines.append(Line(f"in use {usage.in_use}/{usage.total}"))
    lines.append(Line(f"autoAssign {str(pool.auto_assign).lower()}"))
    lines.append(Line(f"avoidBuggyIPs {str(pool.avoid_buggy_ips).lower()}"))
    if pool.allocation is not None:
        sa = pool.allocation
        lines.append(Line(f"serviceAllocation priority {sa.priority or 'unset'}"))
        if sa.namespaces:
            lines.append(Line("  namespaces " + ", ".join(sorted(sa.namespaces))))
    ads = [
        Line(f"L2Advertisement {ad.name}: interfaces {', '.join(ad.interfaces) or 'all'}")
        for ad in config.l2_advertisements_for(name)
    ]
    ads += [
        Line(
            f"BGPAdvertisement {ad.name}: /{ad.aggregation_length} /{ad.aggregation_length_v6}, "
            f"localPref {ad.local_pref}, communities "
            f"{', '.join(c.text for c in ad.communities) or '-'}, "
            f"peers {', '.join(ad.peers) or 'all'}"
        )
        for ad in config.bgp_advertisements_for(name)
    ]
    if not ads:
        ads = [Line("none: addresses from this pool are allocated but never announced", "error")]
    holders = sorted(k for k, a in state.allocations.items() if a.pool == name and a.ips)
    services = [
        Line(f"{k}: {', '.join(str(ip) for ip in state.allocations[k].ips)}") for k in holders[:30]
    ]
    if len(holders) > 30:
        services.append(Line(f"… and {len(holders) - 30} more", "muted"))
    return Description(
        f"IPAddressPool {name}",
        (
            Section("Pool", tuple(lines)),
            Section("Advertisements", tuple(ads)),
            Section("Services", tuple(services) or (Line("none", "muted"),)),
        ),
    )


def describe_peer(state: ConsoleState, name: str) -> Description:
    config = state.config
    peer = next((p for p in config.peers if p.name == name), None) if config else None
    if config is None or peer is None:
        return Description(f"BGPPeer {name}", (Section("Peer", (Line("not configured"),)),))
    password = "set" if peer.password else "from a Secret" if peer.password_secret else "none"
    lines = [
        Line(f"{peer.peer_address} port {peer.peer_port}, ASN {peer.my_asn} -> {peer.peer_asn}"),
        Line("iBGP" if peer.is_ibgp else "eBGP"),
        Line(f"hold {peer.hold_time}s, keepalive {peer.keepalive_time}s"),
        Line(f"password: {password}"),
        Line(f"BFD profile: {peer.bfd_profile or 'none'}"),
        Line(
            f"ebgpMultiHop {str(peer.ebgp_multihop).lower()}, "
            f"graceful restart {str(peer.enable_graceful_restart).lower()}"
        ),
    ]
    sessions = []
    for node in peer_nodes(state, peer):
        session = state.sessions.get((node, name))
        status = session.state if session else "no session events"
        sessions.append(Line(f"{node}: {status}", "ok" if status == "Established" else "muted"))
    ads = [
        Line(f"BGPAdvertisement {ad.name} (pools {', '.join(sorted(ad.pools))})")
        for ad in config.bgp_advertisements
        if not ad.peers or name in ad.peers
    ]
    return Description(
        f"BGPPeer {name}",
        (
            Section("Peer", tuple(lines)),
            Section("Sessions", tuple(sessions) or (Line("no node selected", "warning"),)),
            Section("Advertised through", tuple(ads) or (Line("nothing", "muted"),)),
        ),
    )


def describe_session(state: ConsoleState, key: str) -> Description:
    node, _, peer = key.partition("/")
    session = state.sessions.get((node, peer))
    if session is None:
        lines = [
            Line(
                "no session events from this runtime (the simulated network has no real sessions)",
                "muted",
            )
        ]
    else:
        lines = [
            Line(f"{session.state} for {age_text(state.now - session.since)}"),
            Line(f"reason: {session.reason or '-'}"),
            Line(f"last error: {session.last_error or '-'}"),
        ]
    prefixes = sorted({p for (n, p, peers) in state.routes if n == node and peer in peers})
    return Description(
        f"BGP session {node} -> {peer}",
        (
            Section("Session", tuple(lines)),
            Section(
                f"Prefixes sent ({len(prefixes)})",
                tuple(Line(p) for p in prefixes) or (Line("none", "muted"),),
            ),
        ),
    )


def describe_event(state: ConsoleState, key: str) -> Description:
    entry = next((e for e in state.log if f"{e.seq:09d}" == key), None)
    if entry is None:
        return Description(f"event {key}", (Section("", (Line("gone from the log"),)),))
    body = yaml.safe_dump(dict(entry.record), sort_keys=False).splitlines()
    return Description(entry.name, (Section("Event", tuple(Line(b) for b in body)),))


# -- the tree of one service ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TreeItem:
    label: str
    style: str = ""
    children: tuple[TreeItem, ...] = ()


def service_tree(state: ConsoleState, key: str) -> TreeItem:
    """service -> IP -> pool -> advertisement -> node -> sessions (``x``)."""
    row = state.services.get(key)
    status = row.status if row else "unknown"
    config, cluster = state.config, state.cluster
    assigned = _assigned(state, key)
    if config is None or cluster is None or not assigned.ips:
        reason = getattr(assigned, "error", None) or "no address"
        return TreeItem(f"Service {key} ({status})", "error", (TreeItem(reason, "error"),))
    pool_name = assigned.pool or "?"
    pool = config.pools.get(pool_name)
    usage = state.usage.get(pool_name)
    pool_label = f"IPAddressPool {pool_name}" + (
        f" ({usage.in_use}/{usage.total} in use)" if usage else ""
    )
    ads: list[TreeItem] = []
    if pool is not None and config.l2_advertisements_for(pool_name):
        decision = l2_decision(config, cluster, key, assigned, state.alive)
        for ad in config.l2_advertisements_for(pool_name):
            if ad.name not in decision.advertisements:
                ads.append(TreeItem(f"L2Advertisement {ad.name} (does not match)", "muted"))
                continue
            owner = (
                (TreeItem(f"{decision.node} {_state_text(state, decision.node)} — owner", "ok"),)
                if decision.node
                else (TreeItem(f"nobody: {decision.message}", "error"),)
            )
            ads.append(TreeItem(f"L2Advertisement {ad.name}", "l2", owner))
    if pool is not None and config.bgp_advertisements_for(pool_name):
        decision_bgp = bgp_decision(config, cluster, key, assigned, state.alive)
        for ad in config.bgp_advertisements_for(pool_name):
            nodes = []
            for verdict in decision_bgp.nodes:
                if ad.name not in verdict.advertisements:
                    continue
                if not verdict.announced:
                    nodes.append(TreeItem(f"{verdict.node}: {verdict.reason}", "muted"))
                    continue
                sessions = tuple(
                    TreeItem(
                        _session_label(state, verdict.node, peer),
                        _session_style(state, verdict.node, peer),
                    )
                    for peer in verdict.peers
                )
                nodes.append(
                    TreeItem(
                        f"{verdict.node} {_state_text(state, verdict.node)} — "
                        f"{', '.join(verdict.prefixes)}",
                        "ok",
                        sessions,
                    )
                )
            label = f"BGPAdvertisement {ad.name} (localPref {ad.local_pref})"
            ads.append(TreeItem(label, "bgp", tuple(nodes) or (TreeItem("no node", "muted"),)))
    if not ads:
        ads.append(TreeItem("no advertisement: never announced", "error"))
    ips = tuple(
        TreeItem(f"IP {ip}", "", (TreeItem(pool_label, "", tuple(ads)),)) for ip in assigned.ips
    )
    return TreeItem(f"Service {key} ({status})", "ok" if status == "announced" else "warning", ips)


def _state_text(state: ConsoleState, node: str | None) -> str:
    member = state.members.get(node or "")
    return f"({member.state})" if member else ""


def _session_label(state: ConsoleState, node: str, peer: str) -> str:
    session = state.sessions.get((node, peer))
    status = session.state if session else "no session events"
    count = len({p for (n, p, peers) in state.routes if n == node and peer in peers})
    return f"session {peer}: {status}, {count} prefixes sent"


def _session_style(state: ConsoleState, node: str, peer: str) -> str:
    session = state.sessions.get((node, peer))
    return "ok" if session and session.state == "Established" else "muted"


# -- what if ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Move:
    target: str  # an IP (layer 2) or a prefix (BGP)
    before: tuple[str, ...]
    after: tuple[str, ...]
    services: tuple[str, ...]
    protocol: str


@dataclass(frozen=True, slots=True)
class WhatIfResult:
    down: frozenset[str]
    moves: tuple[Move, ...]
    stranded: tuple[str, ...]  # services nobody would announce any more
    error: str = ""
    # BGP: the share of flows the router would move, per ECMP hashing scheme (mean over the
    # prefixes that change), e.g. "modulo 66.7% · threshold 50.0% · resilient 33.3%".
    ecmp: str = ""


def what_if(state: ConsoleState, down: Iterable[str]) -> WhatIfResult:
    """What would move if ``down`` died now (election core only; nothing is touched)."""
    down = frozenset(down)
    config, cluster = state.config, state.cluster
    if config is None or cluster is None:
        return WhatIfResult(down, (), (), "no configuration or cluster yet")
    dead = frozenset(n for n, m in state.members.items() if m.state in ("dead", "left"))
    allocations = dict(state.allocations)
    usage = dict(state.usage)
    before = compute_plan(config, cluster, down=dead, allocations=allocations, usage=usage)
    result = plan_what_if(config, cluster, before, dead | down)
    moves: list[Move] = []
    for ip, a, b in result.l2_moves:
        services = result.before.l2[ip].services
        moves.append(Move(ip, (a,) if a else (), (b,) if b else (), services, "layer2"))
    routes_before = _route_services(result.before.bgp)
    for prefix, a, b in result.bgp_changes:
        moves.append(Move(prefix, a, b, routes_before.get(prefix, ()), "bgp"))
    stranded = sorted({s for m in moves if not m.after for s in m.services})
    ecmp = ecmp_summary(ecmp_impacts((p, a, b) for p, a, b in result.bgp_changes))
    return WhatIfResult(down, tuple(moves), tuple(stranded), ecmp=ecmp)


def _route_services(bgp: Mapping[str, tuple[Any, ...]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, set[str]] = {}
    for routes in bgp.values():
        for route in routes:
            out.setdefault(route.prefix, set()).update(route.services)
    return {k: tuple(sorted(v)) for k, v in out.items()}


# -- YAML in MetalLB's form -------------------------------------------------------------------


def redact(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a metallb.io document with any BGP password replaced."""
    out = json.loads(json.dumps(doc, default=str))
    spec = out.get("spec")
    if isinstance(spec, dict) and spec.get("password"):
        spec["password"] = REDACTED
    return out


def restore_password(edited: dict[str, Any], original: dict[str, Any] | None) -> dict[str, Any]:
    """Put the real password back where an edited document still has the redacted one."""
    spec = edited.get("spec")
    if (
        isinstance(spec, dict)
        and spec.get("password") == REDACTED
        and original
        and isinstance(original.get("spec"), dict)
    ):
        spec["password"] = original["spec"].get("password", "")
    return edited


def config_document(state: ConsoleState, kind: str, name: str) -> dict[str, Any] | None:
    """An object of the configuration in force, in MetalLB's form (without passwords)."""
    if state.config is None:
        return None
    for doc in config_documents(state.config):
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    return None


def yaml_for(
    state: ConsoleState, kind: str, key: str, document: dict[str, Any] | None = None
) -> str:
    """The object behind a row as YAML, in MetalLB's (or Kubernetes') form (``y``)."""
    docs: list[Any] = []
    if kind in EDITABLE:
        doc = document or config_document(state, EDITABLE[kind], key)
        if doc is not None:
            doc = redact(doc)
            if kind == "pool" and key in state.usage:
                u = state.usage[key]
                doc["status"] = {
                    "assignedIPv4": u.in_use_v4,
                    "assignedIPv6": u.in_use_v6,
                    "availableIPv4": u.total_v4 - u.in_use_v4,
                    "availableIPv6": u.total_v6 - u.in_use_v6,
                }
            if doc.get("metadata", {}).get("annotations", {}).get(PASSWORD_NOTE):
                doc.setdefault("spec", {})["password"] = REDACTED
            docs.append(doc)
    elif kind == "service" and state.cluster and key in state.cluster.services:
        docs.append(_k8s(state.cluster.services[key]))
    elif kind == "node" and state.cluster and key in state.cluster.nodes:
        docs.append(_k8s(state.cluster.nodes[key]))
    elif kind == "l2" and key in state.l2:
        docs += _l2_status(state, key)
    elif kind == "session":
        docs.append(_session_state(state, key))
    elif kind == "event":
        entry = next((e for e in state.log if f"{e.seq:09d}" == key), None)
        if entry is not None:
            docs.append(dict(entry.record))
    if not docs:
        return f"# no {kind} {key}\n"
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)


def _k8s(obj: Any) -> dict[str, Any]:
    return obj.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _l2_status(state: ConsoleState, ip: str) -> list[dict[str, Any]]:
    """MetalLB's ServiceL2Status objects for the services on one address."""
    entry = state.l2[ip]
    out = []
    for service in entry.services:
        namespace, _, name = service.partition("/")
        out.append(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "ServiceL2Status",
                "metadata": {
                    "generateName": "l2-",
                    "namespace": "metallb-system",
                    "labels": {
                        "metallb.io/node": entry.node or "",
                        "metallb.io/service-name": name,
                        "metallb.io/service-namespace": namespace,
                    },
                },
                "status": {
                    "node": entry.node or "",
                    "serviceName": name,
                    "serviceNamespace": namespace,
                    "interfaces": [{"name": i} for i in entry.interfaces],
                },
            }
        )
    return out


def _session_state(state: ConsoleState, key: str) -> dict[str, Any]:
    """A BGP session as FRR-K8s' BGPSessionState (MetalLB's session status object)."""
    node, _, peer = key.partition("/")
    session = state.sessions.get((node, peer))
    config_peer = (
        next((p for p in state.config.peers if p.name == peer), None) if state.config else None
    )
    return {
        "apiVersion": "frrk8s.metallb.io/v1beta1",
        "kind": "BGPSessionState",
        "metadata": {"name": f"{node}-{peer}", "namespace": "metallb-system"},
        "status": {
            "node": node,
            "peer": str(config_peer.peer_address) if config_peer else peer,
            "vrf": config_peer.vrf if config_peer else "",
            "bgpStatus": session.state if session else "Unknown",
            "bfdStatus": "N/A",
        },
    }


def issues_text(issues: Iterable[Issue]) -> list[str]:
    return [str(i) for i in issues]


__all__ = [
    "ConsolePort",
    "Description",
    "LocalPort",
    "ReadOnlyPort",
    "RemotePort",
    "TreeItem",
    "WhatIfResult",
    "decode_event",
    "decode_snapshot",
    "describe",
    "service_tree",
    "session_key",
    "what_if",
    "yaml_for",
]
