"""The lab's router: BIRD 2 or FRR (zebra + bgpd), peering with every node and installing the
nodes as ECMP next hops into its namespace's kernel (which forwards the client's flows).

The configurations are pure functions of the plan; ``check_router`` says which Debian package
is missing; the commands to start and query each daemon are here too, and the parsers of
their answers. ``router_query``, ``sessions`` and ``bfd`` ask the running router.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lbtui.lab.netns import run
from lbtui.lab.state import LabState
from lbtui.lab.topology import NODE_AS, ROUTER_AS, ROUTER_IP, LabError, LabPlan

FRR_DIR = Path("/usr/lib/frr")
#: What each router needs, and the Debian package it comes from.
NEEDS = {
    "bird": (("bird", "birdc"), "bird2"),
    "frr": (("zebra", "bfdd", "bgpd", "vtysh"), "frr"),
}

BIRD_CONF = """\
# lbtui lab {name}: the router (BIRD 2). Every node is an eBGP neighbour; equal routes from
# several nodes are merged into one multipath kernel route (ECMP).
router id {router_ip};
log "{workdir}/bird.log" {{ info, remote, warning, error, auth, fatal, bug }};
protocol device {{ scan time 1; }}
protocol kernel kern4 {{
  ipv4 {{ import none; export all; }};
  merge paths on;
}}
# BFD as the lab's BFDProfile says: 100 ms, 3 missed packets.
protocol bfd {{
  interface "eth0" {{ min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }};
}}
template bgp lbnode {{
  local {router_ip} as {router_as};
  hold time 3; keepalive time 1; connect retry time 1;
  error wait time 1, 5;
  bfd on;
  ipv4 {{ import all; export none; }};
}}
{neighbors}
"""

FRR_CONF = """\
! lbtui lab {name}: the router (FRR zebra + bgpd). Every node is an eBGP neighbour;
! up to 64 equal paths make one multipath kernel route (ECMP).
frr defaults datacenter
hostname {name}-router
router bgp {router_as}
 bgp router-id {router_ip}
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
 neighbor NODES peer-group
 neighbor NODES remote-as {node_as}
 neighbor NODES timers 1 3
 neighbor NODES timers connect 1
 neighbor NODES bfd
 neighbor NODES bfd profile lab
{neighbors}
 address-family ipv4 unicast
  maximum-paths 64
 exit-address-family
exit
"""

# bfdd reads a file of its own (it would stop at the router block's `exit`): the lab's
# BFDProfile, 100 ms and 3 missed packets.
BFDD_CONF = """\
bfd
 profile lab
  receive-interval 100
  transmit-interval 100
  detect-multiplier 3
 exit
exit
"""


def check_router(router: str) -> None:
    """LabError naming the Debian package when the router's programs are missing."""
    programs, package = NEEDS[router]
    missing = [p for p in programs if _program(router, p) is None]
    if missing:
        raise LabError(
            f"the {router.upper()} router needs {', '.join(missing)}: install the Debian "
            f"package {package} (apt-get install {package}), or choose the other --router"
        )


def _program(router: str, name: str) -> str | None:
    if router == "frr" and name != "vtysh":
        path = FRR_DIR / name
        return str(path) if path.exists() else None
    return shutil.which(name)


def bird_config(plan: LabPlan, workdir: Path) -> str:
    neighbors = "\n".join(
        f"protocol bgp {node} from lbnode {{ neighbor {plan.host(node).ip} as {NODE_AS}; }}"
        for node in plan.nodes
    )
    return BIRD_CONF.format(
        name=plan.name,
        router_ip=ROUTER_IP,
        router_as=ROUTER_AS,
        workdir=workdir,
        neighbors=neighbors,
    )


def frr_config(plan: LabPlan) -> str:
    neighbors = "\n".join(f" neighbor {plan.host(n).ip} peer-group NODES" for n in plan.nodes)
    return FRR_CONF.format(
        name=plan.name,
        router_ip=ROUTER_IP,
        router_as=ROUTER_AS,
        node_as=NODE_AS,
        neighbors=neighbors,
    )


def bird_commands(workdir: Path) -> list[list[str]]:
    """The daemon to start (in the router's namespace), foreground so its pid is ours."""
    conf, ctl = workdir / "bird.conf", workdir / "bird.ctl"
    return [["bird", "-f", "-c", str(conf), "-s", str(ctl), "-P", str(workdir / "bird.pid")]]


def frr_commands(frr_dir: Path) -> list[list[str]]:
    """zebra, then bfdd and bgpd talking to it (no watchfrr, no /etc/frr: everything in
    ``frr_dir``, which user frr must be able to enter: zebra and bfdd drop to it)."""
    zserv = str(frr_dir / "zserv.api")
    common = ["--vty_socket", str(frr_dir), "--log", f"file:{frr_dir}/frr.log"]
    zebra = [str(FRR_DIR / "zebra"), "-z", zserv, "-i", str(frr_dir / "zebra.pid"), "-P", "0"]
    bgpd = [
        str(FRR_DIR / "bgpd"),
        "-S",
        "-z",
        zserv,
        "-f",
        str(frr_dir / "frr.conf"),
        "-i",
        str(frr_dir / "bgpd.pid"),
        "-A",
        "127.0.0.1",
        "-P",
        "0",
    ]
    bfdd = [
        str(FRR_DIR / "bfdd"),
        *("-z", zserv, "-f", str(frr_dir / "bfdd.conf")),
        *("-i", str(frr_dir / "bfdd.pid"), "--bfdctl", str(frr_dir / "bfdd.sock")),
    ]
    return [[*zebra, *common], [*bfdd, *common], [*bgpd, *common]]


def bird_sessions(output: str) -> dict[str, str]:
    """``birdc show protocols``: node -> BGP state ("Established", "Active", ...)."""
    out: dict[str, str] = {}
    for line in output.splitlines():
        # Name Proto Table State Since Info: Info starts with the BGP state when there is one.
        parts = line.split()
        if len(parts) >= 5 and parts[1] == "BGP":
            out[parts[0]] = parts[5] if len(parts) >= 6 else parts[3]
    return out


def frr_sessions(output: str, plan: LabPlan) -> dict[str, str]:
    """``vtysh -c 'show bgp summary json'``: node -> BGP state."""
    try:
        body = json.loads(output or "{}")
    except json.JSONDecodeError:
        return {}
    peers = (body.get("ipv4Unicast") or {}).get("peers") or {}
    by_ip = {plan.host(n).ip: n for n in plan.nodes}
    return {by_ip[ip]: p.get("state", "?") for ip, p in peers.items() if ip in by_ip}


def bird_bfd(output: str, plan: LabPlan) -> dict[str, str]:
    """``birdc show bfd sessions``: node -> BFD state ("Up", "Down", "Init", ...)."""
    by_ip = {plan.host(n).ip: n for n in plan.nodes}
    out: dict[str, str] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in by_ip:
            out[by_ip[parts[0]]] = parts[2]
    return out


def frr_bfd(output: str, plan: LabPlan) -> dict[str, str]:
    """``vtysh -c 'show bfd peers json'``: node -> BFD state."""
    try:
        peers = json.loads(output or "[]")
    except json.JSONDecodeError:
        return {}
    by_ip = {plan.host(n).ip: n for n in plan.nodes}
    return {
        by_ip[p["peer"]]: str(p.get("status", "?")).capitalize()
        for p in peers
        if isinstance(p, dict) and p.get("peer") in by_ip
    }


# -- asking the running router ---------------------------------------------------------------


def router_query(plan: LabPlan, state: LabState, command: str) -> str:
    """``command`` to the running router (birdc or vtysh); its output, empty if it fails."""
    if plan.router == "bird":
        ctl = Path(state.workdir) / "bird.ctl"
        return run(["birdc", "-s", str(ctl), *command.split()], check=False)
    frr_dir = next((p for p in state.paths if "-frr-" in p), "")
    netns = plan.host("router").netns
    vtysh = ["ip", "netns", "exec", netns, "vtysh", "--vty_socket", frr_dir]
    return run([*vtysh, "-c", command], check=False)


def sessions(plan: LabPlan, state: LabState) -> dict[str, str]:
    """The router's BGP sessions: node -> state."""
    if plan.router == "bird":
        return bird_sessions(router_query(plan, state, "show protocols"))
    return frr_sessions(router_query(plan, state, "show bgp summary json"), plan)


def bfd(plan: LabPlan, state: LabState) -> dict[str, str]:
    """The router's BFD sessions: node -> state ("Up" when the path is watched)."""
    if plan.router == "bird":
        return bird_bfd(router_query(plan, state, "show bfd sessions"), plan)
    return frr_bfd(router_query(plan, state, "show bfd peers json"), plan)
