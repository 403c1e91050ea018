"""A BGP lab in network namespaces: three nodes, a BIRD 2 router and an FRR router (root).

    lbb-<pid>-<n>-bird  10.99.60.1 (+ .2 for the TCP-MD5 sessions), fd00:99:60::1 ─┐
    lbb-<pid>-<n>-frr   10.99.60.3, zebra + bgpd                                     ├─ br0
    lbb-<pid>-<n>-nK    10.99.60.1K, fd00:99:60::1K, `lbtui speaker --node-name nK`  ┘

BIRD: iBGP over IPv4 with every node (AS 64500, hold 3 s, so a cut link is noticed fast),
eBGP over IPv6 (nodes AS 64501), and a TCP-MD5 session with n1 and n2 on 10.99.60.2 (eBGP
multihop; n1 is configured with the right password, n2 with a wrong one). FRR: eBGP over
IPv4 (AS 64502). Both install multipath routes into their namespace's kernel, which the
tests read. BIRD waits only 1 s (not 60) after a session error before it accepts the node
again.
Everything started here is killed and every namespace deleted by ``close()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.net.topology import kill_namespace, remove_leftovers, run

REPO = Path(__file__).resolve().parents[2]
PREFIX = "lbb"
NODES = ("n1", "n2", "n3")
BIRD_V4, BIRD_MD5, FRR_V4 = "10.99.60.1", "10.99.60.2", "10.99.60.3"
BIRD_V6 = "fd00:99:60::1"
MD5_PASSWORD = "lbb-s3cret"


def node_v4(node: str) -> str:
    return f"10.99.60.1{node[1:]}"


def node_v6(node: str) -> str:
    return f"fd00:99:60::1{node[1:]}"


BIRD_CONF = """\
router id 10.99.60.1;
log "{dir}/bird.log" all;
protocol device {{ scan time 1; }}
protocol kernel kern4 {{ ipv4 {{ import none; export all; }}; merge paths on; }}
protocol kernel kern6 {{ ipv6 {{ import none; export all; }}; merge paths on; }}
template bgp ibgp4 {{
  local 10.99.60.1 as 64500; direct; hold time 3; keepalive time 1; connect retry time 1;
  error wait time 1, 5;
  ipv4 {{ import all; export none; gateway direct; }};
  ipv6 {{ import all; export none; gateway direct; }};
}}
template bgp ebgp6 {{
  local fd00:99:60::1 as 64500; hold time 9; keepalive time 3; connect retry time 1;
  error wait time 1, 5;
  ipv6 {{ import all; export none; }};
}}
template bgp signed {{
  local 10.99.60.2 as 64500; multihop; hold time 9; keepalive time 3; connect retry time 1;
  error wait time 1, 5;
  password "{password}";
  ipv4 {{ import all; export none; }};
}}
{protocols}
"""

FRR_CONF = """\
frr defaults datacenter
hostname lbbfrr
router bgp 64502
 bgp router-id 10.99.60.3
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
 neighbor SPK peer-group
 neighbor SPK remote-as 64501
 neighbor SPK timers 3 9
 neighbor SPK timers connect 1
{neighbors}
 address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
"""


class BgpLab:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.tag = f"{PREFIX}-{os.getpid()}-{time.monotonic_ns() % 100000}"
        self.sw = f"{self.tag}-sw"
        self.bird_ns = f"{self.tag}-bird"
        self.frr_ns = f"{self.tag}-frr"
        self.nodes = {n: f"{self.tag}-{n}" for n in NODES}
        self.procs: list[subprocess.Popen[str]] = []
        self.speakers: dict[str, subprocess.Popen[str]] = {}
        self.ports: dict[str, str] = {}
        self.frr_dir: Path | None = None

    # -- building ----------------------------------------------------------------------------
    def up(self) -> BgpLab:
        remove_leftovers(PREFIX)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self) -> None:
        run(["ip", "netns", "add", self.sw])
        self._ip(self.sw, "link", "add", "br0", "type", "bridge")
        self._ip(self.sw, "link", "set", "br0", "up")
        hosts = [
            (self.bird_ns, [f"{BIRD_V4}/24", f"{BIRD_MD5}/24", f"{BIRD_V6}/64"]),
            (self.frr_ns, [f"{FRR_V4}/24", "fd00:99:60::3/64"]),
            *((ns, [f"{node_v4(n)}/24", f"{node_v6(n)}/64"]) for n, ns in self.nodes.items()),
        ]
        for index, (netns, addresses) in enumerate(hosts):
            port = f"p{index}"
            self.ports[netns] = port
            run(["ip", "netns", "add", netns])
            self._ip(self.sw, "link", "add", port, "type", "veth", "peer", "name", "eth0")
            self._ip(self.sw, "link", "set", "eth0", "netns", netns)
            self._ip(self.sw, "link", "set", port, "master", "br0", "up")
            run(["ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"])
            self._ip(netns, "link", "set", "lo", "up")
            self._ip(netns, "link", "set", "eth0", "up")
            for address in addresses:
                extra = ["nodad"] if ":" in address else []
                self._ip(netns, "addr", "add", address, "dev", "eth0", *extra)

    def _ip(self, netns: str, *args: str) -> str:
        return run(["ip", "-n", netns, *args])

    def spawn(self, netns: str, args: Sequence[str], **popen: Any) -> subprocess.Popen[str]:
        proc = subprocess.Popen(  # type: ignore[call-overload]
            ["ip", "netns", "exec", netns, *args],
            cwd=REPO,
            text=True,
            start_new_session=True,
            **popen,
        )
        self.procs.append(proc)
        return proc

    # -- routers -----------------------------------------------------------------------------
    def start_bird(self) -> None:
        protocols = []
        for n in NODES:
            protocols.append(f"protocol bgp {n}v4 from ibgp4 {{ neighbor {node_v4(n)} as 64500; }}")
            protocols.append(f"protocol bgp {n}v6 from ebgp6 {{ neighbor {node_v6(n)} as 64501; }}")
        for n in ("n1", "n2"):
            # BIRD locks a session on (neighbor address, port): another port lets this one
            # run beside n?v4. We dial BIRD, so nothing needs to listen on that port.
            neighbor = f"neighbor {node_v4(n)} port 1179 as 64501"
            protocols.append(f"protocol bgp {n}md5 from signed {{ {neighbor}; }}")
        conf = self.dir / "bird.conf"
        conf.write_text(
            BIRD_CONF.format(dir=self.dir, password=MD5_PASSWORD, protocols="\n".join(protocols))
        )
        run(["bird", "-p", "-c", str(conf)])
        self.spawn(
            self.bird_ns,
            ["bird", "-f", "-c", str(conf), "-s", str(self.dir / "bird.ctl")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: (self.dir / "bird.ctl").exists(), 10, "BIRD control socket")

    def start_frr(self) -> None:
        # zebra drops to user frr, which cannot enter pytest's 0700 temporary directories.
        frr_dir = Path(tempfile.mkdtemp(prefix=f"{self.tag}-frr-"))
        frr_dir.chmod(0o755)
        run(["chown", "frr:frr", str(frr_dir)])
        self.frr_dir = frr_dir
        neighbors = "\n".join(f" neighbor {node_v4(n)} peer-group SPK" for n in NODES)
        conf = frr_dir / "frr.conf"
        conf.write_text(FRR_CONF.format(neighbors=neighbors))
        zserv = str(frr_dir / "zserv.api")
        common = ["-i", "--vty_socket", str(frr_dir), "--log", "stdout"]
        self.spawn(
            self.frr_ns,
            ["/usr/lib/frr/zebra", "-z", zserv, *_pid(common, frr_dir / "zebra.pid"), "-P", "0"],
            stdout=(frr_dir / "zebra.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: Path(zserv).exists(), 10, "zebra's zserv socket")
        self.spawn(
            self.frr_ns,
            [
                "/usr/lib/frr/bgpd",
                "-S",
                "-z",
                zserv,
                "-f",
                str(conf),
                *_pid(common, frr_dir / "bgpd.pid"),
                "-A",
                "127.0.0.1",
            ],
            stdout=(frr_dir / "bgpd.log").open("w"),
            stderr=subprocess.STDOUT,
        )

    def birdc(self, *command: str) -> str:
        # birdc exits 1 on "Network not found" too: the text tells, not the status.
        return run(["birdc", "-s", str(self.dir / "bird.ctl"), *command], check=False)

    def vtysh(self, command: str) -> Any:
        out = run(
            [
                "ip",
                "netns",
                "exec",
                self.frr_ns,
                "vtysh",
                "--vty_socket",
                str(self.frr_dir),
                "-c",
                command,
            ]
        )
        return json.loads(out) if command.rstrip().endswith("json") else out

    # -- what the routers hold ---------------------------------------------------------------
    def bird_next_hops(self, prefix: str) -> set[str]:
        """The nodes whose routes BIRD has for ``prefix`` (from `show route all`)."""
        return {route["from"] for route in self.bird_routes(prefix)}

    def bird_routes(self, prefix: str) -> list[dict[str, Any]]:
        """BIRD's routes for ``prefix``: protocol, node, attributes."""
        out = self.birdc("show", "route", "for", prefix, "all")
        routes: list[dict[str, Any]] = []
        for line in out.splitlines():
            stripped = line.strip()
            if " [n" in line and ("unicast" in line or "unreachable" in line):
                proto = line.split("[", 1)[1].split()[0]
                routes.append({"protocol": proto, "from": proto[:2], "text": stripped, "attrs": {}})
            elif routes and stripped.startswith("BGP.") and ":" in stripped:
                key, value = stripped.split(":", 1)
                routes[-1]["attrs"][key] = value.strip()
        return routes

    def kernel_next_hops(self, netns: str, prefix: str) -> set[str]:
        family = "-6" if ":" in prefix else "-4"
        out = run(["ip", "-n", netns, "-j", family, "route", "show", prefix])
        routes = json.loads(out or "[]")
        hops: set[str] = set()
        for route in routes:
            if "nexthops" in route:
                hops |= {h["gateway"] for h in route["nexthops"] if "gateway" in h}
            elif "gateway" in route:
                hops.add(route["gateway"])
        return hops

    # -- speakers ----------------------------------------------------------------------------
    def start_speaker(self, node: str, cluster: Path, config: Path) -> subprocess.Popen[str]:
        out = (self.dir / f"{node}.jsonl").open("a")
        err = (self.dir / f"{node}.err").open("a")
        proc = self.spawn(
            self.nodes[node],
            [
                sys.executable,
                "-m",
                "lbtui",
                "speaker",
                *("--node-name", node, "--cluster", str(cluster), "--config", str(config)),
                *("--no-l2", "--poll", "0.2", "--bgp-listen-port", "179"),
            ],
            stdout=out,
            stderr=err,
        )
        self.speakers[node] = proc
        return proc

    def stop_speaker(self, node: str, sig: int = signal.SIGTERM) -> None:
        proc = self.speakers.pop(node)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=15)

    def events(self, node: str, kind: str | None = None) -> list[dict[str, Any]]:
        out = []
        path = self.dir / f"{node}.jsonl"
        for line in path.read_text().splitlines() if path.exists() else ():
            with contextlib.suppress(json.JSONDecodeError):
                event = json.loads(line)
                if kind is None or event.get("event") == kind:
                    out.append(event)
        return out

    def session_state(self, node: str, peer: str) -> str:
        states = [e["state"] for e in self.events(node, "PeerSessionChanged") if e["peer"] == peer]
        return states[-1] if states else ""

    def set_link(self, node: str, up: bool) -> None:
        port = self.ports[self.nodes[node]]
        self._ip(self.sw, "link", "set", port, "up" if up else "down")

    # -- teardown ----------------------------------------------------------------------------
    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
        for netns in [self.bird_ns, self.frr_ns, *self.nodes.values(), self.sw]:
            kill_namespace(netns)
        if self.frr_dir is not None:
            shutil.rmtree(self.frr_dir, ignore_errors=True)


def _pid(common: list[str], path: Path) -> list[str]:
    return [common[0], str(path), *common[1:]]


def wait_until(check: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)
