"""``lab up``: the lab's files, its namespaces and bridge, the router, every node's HTTP server
and speaker, then waiting until it serves.

Every step is done with ``ip`` and the daemons' own programs, and each thing is recorded in the
state file before it is made (the caller, ``Lab.up``, holds the lock and removes what was made
when a step fails).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lbtui.lab import router as routers
from lbtui.lab.netns import alive, run
from lbtui.lab.processes import LabProcesses
from lbtui.lab.readiness import not_ready
from lbtui.lab.state import LabState, StateStore
from lbtui.lab.topology import (
    ROUTER_IP,
    LabError,
    LabPlan,
    in_lan,
    lab_cluster,
    lab_config,
    pool_ranges,
)


def build(
    plan: LabPlan,
    state: LabState,
    store: StateStore,
    processes: LabProcesses,
    progress: Callable[[str], None],
    timeout: float,
) -> None:
    """Make the lab ``state`` (already saved) describes, and wait until it serves."""
    workdir = Path(state.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    config, cluster = lab_config(plan), lab_cluster(plan)
    (workdir / "config.yaml").write_text(config)
    (workdir / "cluster.yaml").write_text(cluster)
    state.namespaces = list(plan.namespaces)  # recorded before any is made
    store.save(state)
    progress(f"namespaces: {', '.join(plan.namespaces)}")
    network(plan, pool_ranges(config))
    if plan.bgp:
        start_router(plan, state, store, processes, progress)
    for node in plan.nodes:
        processes.start_httpd(plan, state, node, workdir)
    for node in plan.nodes:
        processes.start_speaker(plan, state, node, workdir)
    progress("waiting for the speakers to gossip and announce")
    wait_ready(plan, state, timeout)


def network(plan: LabPlan, pools: list[str]) -> None:
    """The namespaces, the bridge with one veth port per host, and each host's addresses,
    sysctls and routes."""
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
                if not in_lan(pool):
                    run([*ip_host, "route", "add", pool, "via", ROUTER_IP])
        if host.role not in ("router", "client"):
            # The pools are delivered locally (like kube-proxy's IPVS dummy interface):
            # the node's HTTP server answers on any service address that reaches it.
            for pool in pools:
                run([*ip_host, "route", "add", "local", pool, "dev", "lo"])


def start_router(
    plan: LabPlan,
    state: LabState,
    store: StateStore,
    processes: LabProcesses,
    progress: Callable[[str], None],
) -> None:
    """BIRD, or FRR's zebra, bfdd and bgpd, in the router's namespace."""
    netns = plan.host("router").netns
    workdir = Path(state.workdir)
    if plan.router == "bird":
        conf = workdir / "bird.conf"
        conf.write_text(routers.bird_config(plan, workdir))
        run(["bird", "-p", "-c", str(conf)])
        for argv in routers.bird_commands(workdir):
            processes.spawn(state, "router", "router", netns, argv, workdir / "bird.out")
        _wait(lambda: (workdir / "bird.ctl").exists(), 10, "BIRD's control socket")
        progress("router: BIRD")
        return
    # zebra drops to user frr: its directory must be one frr can enter (not under a 0700
    # directory such as a test's temporary one).
    frr_dir = Path(tempfile.mkdtemp(prefix=f"{plan.name}-frr-"))
    state.paths.append(str(frr_dir))
    store.save(state)
    frr_dir.chmod(0o755)
    shutil.chown(frr_dir, "frr", "frr")
    (frr_dir / "frr.conf").write_text(routers.frr_config(plan))
    (frr_dir / "bfdd.conf").write_text(routers.BFDD_CONF)
    zebra, bfdd, bgpd = routers.frr_commands(frr_dir)
    processes.spawn(state, "router", "router", netns, zebra, workdir / "zebra.out")
    _wait(lambda: (frr_dir / "zserv.api").exists(), 10, "zebra's zserv socket")
    processes.spawn(state, "router", "router", netns, bfdd, workdir / "bfdd.out")
    processes.spawn(state, "router", "router", netns, bgpd, workdir / "bgpd.out")
    progress("router: FRR (zebra, bfdd, bgpd)")


def wait_ready(plan: LabPlan, state: LabState, timeout: float) -> None:
    """Until the lab serves (LabError when a process exits or ``timeout`` passes first)."""
    deadline = time.monotonic() + timeout
    waiting = "the speakers"
    while time.monotonic() < deadline:
        for proc in state.processes:
            if not alive(proc.pid, proc.start):
                raise LabError(
                    f"{proc.role} on {proc.node} exited during start-up: {_tail(Path(proc.log))}"
                )
        problems = not_ready(plan, state)
        if not problems:
            return
        waiting = "; ".join(problems)
        time.sleep(0.25)
    raise LabError(f"the lab did not come up within {timeout:.0f} s: {waiting}")


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
