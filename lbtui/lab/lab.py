"""``lbtui lab``: build, inspect, break and remove the lab (see topology.py for its shape).

:class:`Lab` does every step with ``ip`` and the daemons' own programs, records each thing in
the state file before making it (state.py), and removes all of it on ``down``, also after a
crash. Speakers are real ``lbtui speaker`` processes with gossip, layer 2 on raw sockets and
BGP sessions to the router; each serves its status endpoint (``--status-addr``) and metrics
inside its namespace, which the lab reads from inside the client's namespace.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from lbtui.lab import router as routers
from lbtui.lab.netns import (
    NetnsError,
    alive,
    entered,
    kill_namespace,
    namespace_pids,
    namespaces,
    process_start,
    run,
)
from lbtui.lab.state import DEFAULT_DIR, LabState, Process, StateFileError, StateStore
from lbtui.lab.topology import (
    CLIENT_IP,
    HOWS,
    HTTP_PORT,
    LAN,
    METRICS_PORT,
    ROUTER_IP,
    LabError,
    LabPlan,
    lab_cluster,
    lab_config,
    plan_lab,
    pool_ranges,
    service_addresses,
    speaker_args,
)

ROLES = ("sw", "router", "client")


def check_host() -> None:
    """LabError unless this is Linux, we are root and iproute2 is there."""
    if not sys.platform.startswith("linux"):
        raise LabError("lbtui lab needs Linux (network namespaces)")
    if os.geteuid() != 0:
        raise LabError("lbtui lab needs root (network namespaces, raw sockets, port 179)")
    if shutil.which("ip") is None:
        raise LabError("lbtui lab needs the ip command: install the Debian package iproute2")


@dataclass
class DownReport:
    namespaces: list[str] = field(default_factory=list)
    processes: int = 0
    paths: list[str] = field(default_factory=list)

    def text(self) -> str:
        if not (self.namespaces or self.processes or self.paths):
            return "nothing to remove\n"
        return (
            f"removed {len(self.namespaces)} namespace(s) ({', '.join(self.namespaces) or '-'}), "
            f"stopped {self.processes} process(es), deleted {len(self.paths)} path(s)\n"
        )


class Lab:
    def __init__(
        self,
        name: str = "lblab",
        directory: Path = DEFAULT_DIR,
        *,
        python: str = sys.executable,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        plan_lab(name)  # validates the name
        self.name = name
        self.store = StateStore(name, directory)
        self.python = python
        self.progress = progress or (lambda _text: None)
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- state -------------------------------------------------------------------------------
    def state(self) -> LabState:
        state = self.store.load()
        if state is None:
            raise LabError(f"lab {self.name} is not up (lbtui lab up)")
        return state

    def plan(self, state: LabState | None = None) -> LabPlan:
        state = state or self.state()
        return plan_lab(state.name, len(state.nodes), state.mode, state.router)

    # -- up ----------------------------------------------------------------------------------
    def up(
        self, nodes: int = 3, mode: str = "both", router: str = "bird", timeout: float = 60.0
    ) -> LabState:
        check_host()
        plan = plan_lab(self.name, nodes, mode, router)
        if plan.bgp:
            routers.check_router(router)
        with self.store.locked():
            if self.store.exists():
                raise LabError(
                    f"lab {self.name} is up already (or a crashed one is left): "
                    f"lbtui lab down{self._name_flag()} first"
                )
            leftovers = self._leftover_namespaces()
            if leftovers:
                raise LabError(
                    f"namespaces of lab {self.name} exist without a state file "
                    f"({', '.join(leftovers)}): lbtui lab down{self._name_flag()} removes them"
                )
            workdir = self.store.dir / self.name
            state = LabState(
                self.name, mode, router, list(plan.nodes), str(workdir), created=time.time()
            )
            self.store.save(state)
            try:
                self._build(plan, state, Path(workdir), timeout)
            except BaseException:
                self.progress("lab up failed: removing what was made")
                self._down(state)
                raise
            state.complete = True
            self.store.save(state)
            return state

    def _name_flag(self) -> str:
        return "" if self.name == "lblab" else f" --name {self.name}"

    def _build(self, plan: LabPlan, state: LabState, workdir: Path, timeout: float) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        workdir.chmod(0o755)
        config, cluster = lab_config(plan), lab_cluster(plan)
        (workdir / "config.yaml").write_text(config)
        (workdir / "cluster.yaml").write_text(cluster)
        state.namespaces = list(plan.namespaces)  # recorded before any is made
        self.store.save(state)
        self.progress(f"namespaces: {', '.join(plan.namespaces)}")
        self._network(plan, pool_ranges(config))
        if plan.bgp:
            self._start_router(plan, state, workdir)
        for node in plan.nodes:
            self._start_httpd(plan, state, node, workdir)
        for node in plan.nodes:
            self._start_speaker(plan, state, node, workdir)
        self.progress("waiting for the speakers to gossip and announce")
        self._wait_ready(plan, state, timeout)

    def _network(self, plan: LabPlan, pools: list[str]) -> None:
        sw = plan.switch
        for netns in plan.namespaces:
            run(["ip", "netns", "add", netns])
        ip_sw = ["ip", "-n", sw]
        run([*ip_sw, "link", "add", "br0", "type", "bridge"])
        run([*ip_sw, "link", "set", "br0", "up"])
        for host in plan.hosts:
            run([*ip_sw, "link", "add", host.port, "type", "veth", "peer", "name", "eth0"])
            run([*ip_sw, "link", "set", "eth0", "netns", host.netns])
            run([*ip_sw, "link", "set", host.port, "master", "br0", "up"])
            sysctls = {"net.ipv6.conf.all.disable_ipv6": "1"}  # the lab is IPv4
            if host.role == "router":
                sysctls |= {
                    "net.ipv4.ip_forward": "1",
                    # L4 hashing: one client's connections spread over the next hops.
                    "net.ipv4.fib_multipath_hash_policy": "1",
                    # The client and the nodes share the LAN: no "go direct" redirects.
                    "net.ipv4.conf.all.send_redirects": "0",
                    "net.ipv4.conf.eth0.send_redirects": "0",
                }
            elif host.role == "client":
                sysctls |= {
                    "net.ipv4.conf.all.accept_redirects": "0",
                    "net.ipv4.conf.eth0.accept_redirects": "0",
                }
            else:
                # Only lbtui answers ARP for the service addresses (kube-proxy's strictARP).
                sysctls |= {
                    "net.ipv4.conf.all.arp_ignore": "1",
                    "net.ipv4.conf.all.arp_announce": "2",
                }
            ip_host = ["ip", "-n", host.netns]
            run([*ip_host, "link", "set", "eth0", "address", host.mac])
            for key, value in sysctls.items():
                run(["ip", "netns", "exec", host.netns, "sysctl", "-qw", f"{key}={value}"])
            run([*ip_host, "link", "set", "lo", "up"])
            run([*ip_host, "link", "set", "eth0", "up"])
            run([*ip_host, "addr", "add", f"{host.ip}/24", "dev", "eth0"])
            if host.role == "client" and plan.bgp:
                for pool in pools:
                    if not _in_lan(pool):
                        run([*ip_host, "route", "add", pool, "via", ROUTER_IP])
            if host.role not in ("router", "client"):
                # The pools are delivered locally (like kube-proxy's IPVS dummy interface):
                # the node's HTTP server answers on any service address that reaches it.
                for pool in pools:
                    run([*ip_host, "route", "add", "local", pool, "dev", "lo"])

    def _spawn(
        self,
        state: LabState,
        role: str,
        node: str,
        netns: str,
        argv: list[str],
        log: Path,
        stdout: Path | None = None,
    ) -> Process:
        out = open(stdout or log, "ab")  # noqa: SIM115 - handed to the child
        err = out if stdout is None else open(log, "ab")  # noqa: SIM115
        try:
            child = subprocess.Popen(
                ["ip", "netns", "exec", netns, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            out.close()
            if err is not out:
                err.close()
        self._children[child.pid] = child
        proc = Process(role, node, netns, child.pid, process_start(child.pid), argv, str(log))
        state.processes.append(proc)
        self.store.save(state)
        return proc

    def _start_router(self, plan: LabPlan, state: LabState, workdir: Path) -> None:
        netns = plan.host("router").netns
        if plan.router == "bird":
            conf = workdir / "bird.conf"
            conf.write_text(routers.bird_config(plan, workdir))
            run(["bird", "-p", "-c", str(conf)])
            for argv in routers.bird_commands(workdir):
                self._spawn(state, "router", "router", netns, argv, workdir / "bird.out")
            _wait(lambda: (workdir / "bird.ctl").exists(), 10, "BIRD's control socket")
            self.progress("router: BIRD")
            return
        # zebra drops to user frr: its directory must be one frr can enter (not under a 0700
        # directory such as a test's temporary one).
        frr_dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-frr-"))
        state.paths.append(str(frr_dir))
        self.store.save(state)
        frr_dir.chmod(0o755)
        shutil.chown(frr_dir, "frr", "frr")
        (frr_dir / "frr.conf").write_text(routers.frr_config(plan))
        (frr_dir / "bfdd.conf").write_text(routers.BFDD_CONF)
        zebra, bfdd, bgpd = routers.frr_commands(frr_dir)
        self._spawn(state, "router", "router", netns, zebra, workdir / "zebra.out")
        _wait(lambda: (frr_dir / "zserv.api").exists(), 10, "zebra's zserv socket")
        self._spawn(state, "router", "router", netns, bfdd, workdir / "bfdd.out")
        self._spawn(state, "router", "router", netns, bgpd, workdir / "bgpd.out")
        self.progress("router: FRR (zebra, bfdd, bgpd)")

    def _start_httpd(self, plan: LabPlan, state: LabState, node: str, workdir: Path) -> None:
        argv = [self.python, "-m", "lbtui.lab.httpd", node, "--port", str(HTTP_PORT)]
        self._spawn(state, "httpd", node, plan.host(node).netns, argv, workdir / f"{node}.httpd")

    def _start_speaker(self, plan: LabPlan, state: LabState, node: str, workdir: Path) -> None:
        argv = [self.python, "-m", "lbtui", *speaker_args(plan, node, workdir)]
        self._spawn(
            state,
            "speaker",
            node,
            plan.host(node).netns,
            argv,
            workdir / f"{node}.log",
            stdout=workdir / f"{node}.events.jsonl",
        )

    def _wait_ready(self, plan: LabPlan, state: LabState, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = "the speakers"
        while time.monotonic() < deadline:
            for proc in state.processes:
                if not alive(proc.pid, proc.start):
                    raise LabError(
                        f"{proc.role} on {proc.node} exited during start-up: "
                        f"{_tail(Path(proc.log))}"
                    )
            problems = self.not_ready(plan)
            if not problems:
                return
            waiting = "; ".join(problems)
            time.sleep(0.25)
        raise LabError(f"the lab did not come up within {timeout:.0f} s: {waiting}")

    def not_ready(self, plan: LabPlan | None = None) -> list[str]:
        """Why the lab is not serving yet (empty: every node gossips with all others, every
        layer 2 address has its owner, the router has every node as a next hop)."""
        plan = plan or self.plan()
        views = self.views(plan)
        problems = []
        everyone = set(plan.nodes)
        for node in plan.nodes:
            view = views.get(node)
            if view is None:
                problems.append(f"{node}: no status yet")
                continue
            seen = set(own_membership(view, node).get("alive", []))
            if seen != everyone:
                problems.append(f"{node} sees {', '.join(sorted(seen)) or 'nobody'} alive")
        if problems:
            return problems
        cluster = (Path(self.state().workdir) / "cluster.yaml").read_text()
        owners = l2_owners(views)
        expected = self.expected_owners()
        for _service, ip, _port in service_addresses(cluster):
            in_lan = _in_lan(ip)
            if plan.l2 and in_lan and owners.get(ip, set()) != {expected.get(ip)}:
                who = ", ".join(sorted(owners.get(ip, ()))) or "nobody"
                problems.append(f"{ip}: owned by {who}, not (yet) by {expected.get(ip)}")
            if plan.bgp and not in_lan:
                hops = self.next_hops(plan, ip)
                if hops != everyone:
                    problems.append(f"{ip}: router next hops {', '.join(sorted(hops)) or '-'}")
        if plan.bgp and not problems:
            # Until BFD is up a cut cable is noticed only by the hold timer.
            bfd = self.bfd(plan)
            waiting = sorted(n for n in plan.nodes if bfd.get(n) != "Up")
            if waiting:
                problems.append(f"BFD with the router not up for {', '.join(waiting)}")
        return problems

    def expected_owners(self, down: Iterable[str] = ()) -> dict[str, str | None]:
        """The layer 2 owner of every address the election predicts (the lab's own files,
        ``down`` nodes dead): what every speaker computes once membership agrees."""
        from actors.cluster.files import cluster_from_inputs
        from actors.config.build import build_config
        from actors.config.loader import load_text
        from actors.election.plan import compute_plan

        workdir = Path(self.state().workdir)
        text = (
            (workdir / "config.yaml").read_text() + "---\n" + (workdir / "cluster.yaml").read_text()
        )
        inputs = load_text(text, str(workdir))
        config = build_config(inputs).config
        if config is None:
            raise LabError(f"{workdir}: the lab's configuration is not valid")
        plan = compute_plan(config, cluster_from_inputs(inputs), down=frozenset(down))
        return {ip: owner.node for ip, owner in plan.l2.items()}

    # -- what is going on --------------------------------------------------------------------
    def views(self, plan: LabPlan | None = None, timeout: float = 1.0) -> dict[str, Any]:
        """Each node's ``GET /state`` (nodes that do not answer are left out), read from
        inside the client's namespace."""
        plan = plan or self.plan()
        out: dict[str, Any] = {}
        with entered(plan.host("client").netns):
            for node in plan.nodes:
                try:
                    with urllib.request.urlopen(
                        f"{plan.status_url(node)}/state", timeout=timeout
                    ) as response:
                        out[node] = json.load(response)
                except (OSError, ValueError):
                    continue
        return out

    def fetch(self, node: str, path: str, timeout: float = 2.0) -> Any:
        """``GET path`` from one node's status endpoint (or its /metrics, as text)."""
        plan = self.plan()
        url = (
            f"http://{plan.host(node).ip}:{METRICS_PORT}/metrics"
            if path == "/metrics"
            else f"{plan.status_url(node)}{path}"
        )
        with (
            entered(plan.host("client").netns),
            urllib.request.urlopen(url, timeout=timeout) as response,
        ):
            data = response.read()
        return data.decode() if path == "/metrics" else json.loads(data)

    def next_hops(self, plan: LabPlan, address: str) -> set[str]:
        """The nodes the router's kernel sends ``address`` to (ECMP next hops)."""
        by_ip = {plan.host(n).ip: n for n in plan.nodes}
        out = run(
            ["ip", "-n", plan.host("router").netns, "-j", "route", "show", address], check=False
        )
        hops: set[str] = set()
        for route in json.loads(out or "[]"):
            gateways = [h.get("gateway") for h in route.get("nexthops", [])]
            gateways.append(route.get("gateway"))
            hops |= {by_ip[g] for g in gateways if g in by_ip}
        return hops

    def client_neighbour(self, plan: LabPlan, address: str) -> str | None:
        """The node whose MAC the client's kernel holds for ``address``, if any."""
        out = run(
            ["ip", "-n", plan.host("client").netns, "-j", "neigh", "show", address], check=False
        )
        by_mac = {plan.host(n).mac: n for n in plan.nodes}
        for entry in json.loads(out or "[]"):
            mac = entry.get("lladdr")
            if mac:
                return by_mac.get(mac, mac)
        return None

    def sessions(self, plan: LabPlan) -> dict[str, str]:
        """The router's BGP sessions: node -> state."""
        if plan.router == "bird":
            return routers.bird_sessions(self._router_query(plan, "show protocols"))
        return routers.frr_sessions(self._router_query(plan, "show bgp summary json"), plan)

    def bfd(self, plan: LabPlan) -> dict[str, str]:
        """The router's BFD sessions: node -> state ("Up" when the path is watched)."""
        if plan.router == "bird":
            return routers.bird_bfd(self._router_query(plan, "show bfd sessions"), plan)
        return routers.frr_bfd(self._router_query(plan, "show bfd peers json"), plan)

    def _router_query(self, plan: LabPlan, command: str) -> str:
        state = self.state()
        if plan.router == "bird":
            ctl = Path(state.workdir) / "bird.ctl"
            return run(["birdc", "-s", str(ctl), *command.split()], check=False)
        frr_dir = next((p for p in state.paths if "-frr-" in p), "")
        netns = plan.host("router").netns
        vtysh = ["ip", "netns", "exec", netns, "vtysh", "--vty_socket", frr_dir]
        return run([*vtysh, "-c", command], check=False)

    def status(self) -> dict[str, Any]:
        """Everything ``lab status`` shows, as JSON."""
        state = self.state()
        plan = self.plan(state)
        views = self.views(plan, timeout=0.5)
        cluster = (Path(state.workdir) / "cluster.yaml").read_text()
        nodes = []
        links = _link_states(plan)
        for node in plan.nodes:
            host = plan.host(node)
            speaker = state.process("speaker", node)
            httpd = state.process("httpd", node)
            view = views.get(node) or {}
            membership = own_membership(view, node)
            nodes.append(
                {
                    "node": node,
                    "namespace": host.netns,
                    "ip": host.ip,
                    "mac": host.mac,
                    "speaker": _proc_state(speaker),
                    "http": _proc_state(httpd),
                    "link": links.get(host.port, "?"),
                    "failed": state.failed.get(node, ""),
                    "alive": sorted(membership.get("alive", [])),
                    "announces": sorted(
                        f"{a['ip']} ({'L2' if a['protocol'] == 'layer2' else 'BGP'})"
                        for a in view.get("announcements", [])
                        if a.get("node") == node
                    ),
                }
            )
        services = []
        owners = l2_owners(views)
        for service, ip, port in service_addresses(cluster):
            entry: dict[str, Any] = {"service": service, "ip": ip, "port": port}
            if _in_lan(ip):
                entry["mode"] = "layer2"
                entry["owners"] = sorted(owners.get(ip, ()))
                entry["clientNeighbour"] = self.client_neighbour(plan, ip)
            else:
                entry["mode"] = "bgp"
                entry["nextHops"] = sorted(self.next_hops(plan, ip))
            services.append(entry)
        body: dict[str, Any] = {
            "name": state.name,
            "mode": state.mode,
            "router": state.router if plan.bgp else "none (layer 2 only)",
            "complete": state.complete,
            "created": state.created,
            "client": {"namespace": plan.host("client").netns, "ip": CLIENT_IP},
            "nodes": nodes,
            "services": services,
        }
        if plan.bgp:
            body["sessions"] = self.sessions(plan)
            body["bfd"] = self.bfd(plan)
            body["routerProcesses"] = [
                _proc_state(p) for p in state.processes if p.role == "router"
            ]
        return body

    # -- breaking and mending ----------------------------------------------------------------
    def fail(self, node: str, how: str = "kill") -> None:
        if how not in HOWS:
            raise LabError(f"--how {how}: one of {', '.join(HOWS)}")
        with self.store.locked():
            state = self.state()
            plan = self.plan(state)
            host = plan.host(node)
            if how == "link":
                run(["ip", "-n", plan.switch, "link", "set", host.port, "down"])
            else:
                speaker = state.process("speaker", node)
                if speaker is None or not alive(speaker.pid, speaker.start):
                    raise LabError(f"{node}'s speaker is not running (lbtui lab heal {node})")
                self._signal(speaker, signal.SIGKILL if how == "kill" else signal.SIGTERM)
                self._wait_exit(speaker, 15.0)
            previous = state.failed.get(node, "")
            state.failed[node] = ",".join(sorted({*previous.split(","), how} - {""}))
            self.store.save(state)

    def heal(self, node: str) -> list[str]:
        """Put ``node`` back: its cable in, its speaker running. Returns what was done."""
        done = []
        with self.store.locked():
            state = self.state()
            plan = self.plan(state)
            host = plan.host(node)
            if _link_states(plan).get(host.port) != "up":
                run(["ip", "-n", plan.switch, "link", "set", host.port, "up"])
                done.append("link up")
            speaker = state.process("speaker", node)
            if speaker is None or not alive(speaker.pid, speaker.start):
                self._start_speaker(plan, state, node, Path(state.workdir))
                done.append("speaker started")
            state.failed.pop(node, None)
            self.store.save(state)
        return done

    def _signal(self, proc: Process, sig: int) -> None:
        if alive(proc.pid, proc.start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)

    def _wait_exit(self, proc: Process, timeout: float) -> None:
        child = self._children.get(proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child is not None and child.poll() is not None:
                return
            if child is None and not alive(proc.pid, proc.start):
                return
            time.sleep(0.01)
        self._signal(proc, signal.SIGKILL)

    # -- down --------------------------------------------------------------------------------
    def down(self) -> DownReport:
        check_host()
        with self.store.locked():
            try:
                state = self.store.load()
            except StateFileError:
                state = None  # unreadable: sweep by name
            report = self._down(state)
        self.store.remove_lock()
        return report

    def _down(self, state: LabState | None) -> DownReport:
        report = DownReport()
        procs = state.processes if state is not None else []
        for proc in procs:
            if alive(proc.pid, proc.start):
                self._signal(proc, signal.SIGKILL)
                report.processes += 1
        for proc in procs:
            self._wait_exit(proc, 5.0)
        existing = set(namespaces())
        wanted = set(state.namespaces if state is not None else ()) | set(
            self._leftover_namespaces()
        )
        # The nodes first, the switch last (deleting it takes every port with it).
        for netns in sorted(wanted & existing, key=lambda n: n.endswith("-sw")):
            report.processes += len(namespace_pids(netns))
            kill_namespace(netns)
            report.namespaces.append(netns)
        paths = list(state.paths) if state is not None else []
        paths += [str(p) for p in Path(tempfile.gettempdir()).glob(f"{self.name}-frr-*")]
        if state is not None:
            paths.append(state.workdir)
        for path in dict.fromkeys(paths):
            if Path(path).exists():
                shutil.rmtree(path, ignore_errors=True)
                report.paths.append(path)
        self.store.remove()
        for child in self._children.values():
            with contextlib.suppress(Exception):
                child.wait(timeout=1)
        return report

    def _leftover_namespaces(self) -> list[str]:
        prefix = f"{self.name}-"
        out = []
        for netns in namespaces():
            role = netns[len(prefix) :] if netns.startswith(prefix) else ""
            if role in ROLES or (role.startswith("n") and role[1:].isdigit()):
                out.append(netns)
        return out


# -- helpers ----------------------------------------------------------------------------------


def own_membership(view: dict[str, Any], node: str) -> dict[str, Any]:
    """A node's own membership view from its ``GET /state`` (one view per observer)."""
    found = view.get("membership") or []
    for entry in found if isinstance(found, list) else [found]:
        if isinstance(entry, dict) and entry.get("observer") in (node, ""):
            return entry
    return {}


def l2_owners(views: dict[str, Any]) -> dict[str, set[str]]:
    """Address -> the nodes that say they answer for it (each node speaks for itself)."""
    owners: dict[str, set[str]] = {}
    for node, view in views.items():
        for a in view.get("announcements", []):
            if a.get("protocol") == "layer2" and a.get("node") == node:
                owners.setdefault(a["ip"], set()).add(node)
    return owners


def _in_lan(address: str) -> bool:
    network = ipaddress.ip_network(address, strict=False)
    return network.version == 4 and network.subnet_of(LAN)  # type: ignore[arg-type]


def _link_states(plan: LabPlan) -> dict[str, str]:
    """Bridge port -> "up" | "down" (administrative state, as `lab fail --how link` sets)."""
    out = run(["ip", "-n", plan.switch, "-j", "link", "show"], check=False)
    states = {}
    for link in json.loads(out or "[]"):
        states[link.get("ifname", "")] = "up" if "UP" in link.get("flags", []) else "down"
    return states


def _proc_state(proc: Process | None) -> str:
    if proc is None:
        return "-"
    return f"running (pid {proc.pid})" if alive(proc.pid, proc.start) else "not running"


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def status_text(body: dict[str, Any]) -> str:
    """``lab status``, for people."""
    lines = [
        f"lab {body['name']}: mode {body['mode']}, router {body['router']}"
        + ("" if body["complete"] else "  (INCOMPLETE: lab up did not finish; lab down)"),
        f"client {body['client']['ip']} in {body['client']['namespace']}",
        "",
        _columns(
            ("NODE", "ADDRESS", "MAC", "LINK", "SPEAKER", "HTTP", "SEES ALIVE", "ANNOUNCES"),
            [
                (
                    n["node"] + (f" [{n['failed']}]" if n["failed"] else ""),
                    n["ip"],
                    n["mac"],
                    n["link"],
                    n["speaker"],
                    n["http"],
                    ",".join(n["alive"]) or "-",
                    ", ".join(n["announces"]) or "-",
                )
                for n in body["nodes"]
            ],
        ),
        "",
    ]
    rows = []
    for s in body["services"]:
        if s["mode"] == "layer2":
            who = f"owner {','.join(s['owners']) or 'none'}; client ARP -> {s['clientNeighbour']}"
        else:
            who = f"router next hops {','.join(s['nextHops']) or 'none'}"
        rows.append((s["service"], f"{s['ip']}:{s['port']}", s["mode"], who))
    lines.append(_columns(("SERVICE", "ADDRESS", "MODE", "SERVED BY"), rows))
    if "sessions" in body:
        sessions = ", ".join(f"{n} {st}" for n, st in sorted(body["sessions"].items()))
        bfd = ", ".join(f"{n} {st}" for n, st in sorted(body.get("bfd", {}).items()))
        lines += ["", f"router BGP sessions: {sessions or 'none'}; BFD: {bfd or 'none'}"]
    return "\n".join(lines) + "\n"


def _columns(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> str:
    rows = list(rows)
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    )


def traffic_targets(lab: Lab) -> list[str]:
    state = lab.state()
    cluster = (Path(state.workdir) / "cluster.yaml").read_text()
    return [f"{ip}:{port}" for _service, ip, port in service_addresses(cluster)]


def print_progress(stream: TextIO) -> Callable[[str], None]:
    def show(text: str) -> None:
        print(f"lab: {text}", file=stream, flush=True)

    return show


__all__ = ["HOWS", "DownReport", "Lab", "LabError", "NetnsError", "check_host", "status_text"]
