"""BGP benchmark: N /32 prefixes into BIRD 2, lbtui's speaker side by side with GoBGP and ExaBGP.

    sudo .venv/bin/python tests/bench/bgp.py [--sizes 10000,100000] [--speakers ours,gobgp,exabgp]

The script re-runs itself in a private network namespace (``unshare --net``: only its own
loopback, nothing touches the machine's network). For each size and each speaker, a fresh
BIRD (passive, ``import all``, nothing exported anywhere) waits on 127.0.0.1:179; the speaker
connects from 127.0.1.x and its session is established first. Then the clock starts and the
speaker is handed N routes the way it is normally fed in bulk:

- ours:   BgpAnnouncer.announce_bgp() for each route (what the SpeakerActor calls), in a
          separate process running the BgpSpeakerActor;
- gobgp:  ``gobgp mrt inject global FILE`` (a TABLE_DUMPv2 file written beforehand), which
          streams the paths to gobgpd over its gRPC API;
- exabgp: its text API, ``announce attributes next-hop self nlri P1 P2 ...`` (1000 prefixes
          a line) relayed from a FIFO by the API process.

The time is from the hand-over until ``birdc show protocols all`` says all N are imported.
Routes carry ORIGIN and AS_PATH and the speaker's own next hop; no communities. For GoBGP the
time at which its own RIB held them all is printed too: its figure is bounded by that
injection path (CLI, gRPC, RIB), not by BGP.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIRD_ASN = 64500
NOTES: list[str] = []
F_SETPIPE_SZ = 1031
SPEAKERS = {
    # name: (source address, ASN)
    "ours": ("127.0.1.1", 64601),
    "gobgp": ("127.0.1.2", 64602),
    "exabgp": ("127.0.1.3", 64603),
}

BIRD_CONF = """\
router id 127.0.0.1;
protocol device {{ }}
protocol bgp {name} {{
  local 127.0.0.1 as {bird_asn}; neighbor {source} as {asn};
  passive on; multihop; hold time 90; keepalive time 30;
  ipv4 {{ import all; export none; }};
}}
"""

GOBGP_CONF = """\
[global.config]
  as = {asn}
  router-id = "{source}"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.1"
    peer-as = {bird_asn}
  [neighbors.timers.config]
    connect-retry = 1
  [neighbors.transport.config]
    local-address = "{source}"
  [neighbors.ebgp-multihop.config]
    enabled = true
    multihop-ttl = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
"""

EXABGP_CONF = """\
process feed {{ run {python} {relay} {fifo}; encoder text; }}
neighbor 127.0.0.1 {{
  router-id {source}; local-address {source}; local-as {asn}; peer-as {bird_asn};
  hold-time 90;
  family {{ ipv4 unicast; }}
  capability {{ asn4 enable; }}
  api {{ processes [ feed ]; }}
}}
"""

# ExaBGP's API process: relay the lines written to a FIFO to ExaBGP, then stay until ExaBGP
# goes (our stdin is its pipe: EOF then).
EXABGP_RELAY = """\
import sys
with open(sys.argv[1]) as fifo:
    for line in fifo:
        sys.stdout.write(line)
        sys.stdout.flush()
sys.stdin.read()
"""


def prefixes(n: int) -> list[str]:
    return [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32" for i in range(n)]


# -- our speaker, as a worker process -----------------------------------------------------------


def worker(source: str, asn: int) -> None:
    """Runs our BgpSpeakerActor; stdin: "prepare N" then "go"; stdout: progress lines."""
    import ipaddress

    import pykka

    from actors.bgp.actor import BgpSpeakerActor
    from actors.bgp.announcer import BgpAnnouncer
    from actors.events import ConfigApplied, PeerSessionChanged
    from actors.listener import Published
    from actors.model.config import Config, Peer
    from actors.model.route import BGPRoute

    def publish(event: object) -> None:
        if isinstance(event, PeerSessionChanged) and event.state == "Established":
            print("established", flush=True)

    announcer = BgpAnnouncer()
    actor = BgpSpeakerActor.start("bench", announcer, source_address=source, publish=publish)
    peer = Peer(
        name="bird",
        my_asn=asn,
        peer_asn=BIRD_ASN,
        peer_address=ipaddress.ip_address("127.0.0.1"),
        hold_time=90,
        keepalive_time=30,
        ebgp_multihop=True,
    )
    actor.tell(Published(ConfigApplied(0.0, Config(peers=(peer,)), "bench")))
    routes: list[BGPRoute] = []
    for line in sys.stdin:
        command = line.split()
        if command[0] == "prepare":
            routes = [BGPRoute(p, ("bird",), (), 0, ()) for p in prefixes(int(command[1]))]
            print("prepared", flush=True)
        elif command[0] == "go":
            for route in routes:
                announcer.announce_bgp(route)
            announcer.synced()
            print("handed over", flush=True)
        elif command[0] == "quit":
            break
    pykka.ActorRegistry.stop_all()


# -- MRT for GoBGP ------------------------------------------------------------------------------


def write_mrt(path: Path, routes: list[str], next_hop: str, peer_asn: int) -> None:
    """A TABLE_DUMPv2 file (RFC 6396): one peer, one RIB_IPV4_UNICAST record per prefix."""
    from actors.bgp.codec.attributes.base import PathAttributes
    from actors.bgp.codec.attributes.registry import encode_attributes
    from actors.bgp.codec.nlri import encode_prefix

    def record(subtype: int, body: bytes) -> bytes:
        return struct.pack("!IHHI", 0, 13, subtype, len(body)) + body

    peer = struct.pack("!BI4sI", 0x02, 1, bytes([127, 0, 1, 2]), peer_asn)  # AS4, IPv4
    out = [record(1, struct.pack("!IHH", 1, 0, 1) + peer)]
    attrs = encode_attributes(PathAttributes(origin=0, as_path=(), next_hop=next_hop))
    entry = struct.pack("!HIH", 0, 0, len(attrs)) + attrs
    for seq, prefix in enumerate(routes):
        nlri = encode_prefix(prefix)[1]
        out.append(record(2, struct.pack("!I", seq) + nlri + struct.pack("!H", 1) + entry))
    path.write_bytes(b"".join(out))


# -- the runs -----------------------------------------------------------------------------------


class Run:
    def __init__(self, workdir: Path, name: str) -> None:
        self.dir = workdir / name
        self.dir.mkdir()
        self.name = name
        self.source, self.asn = SPEAKERS[name]
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, args: list[str], **kw: object) -> subprocess.Popen[bytes]:
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        proc = subprocess.Popen(  # type: ignore[call-overload]
            args, start_new_session=True, preexec_fn=_die_with_parent, **kw
        )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)

    def birdc(self, *command: str) -> str:
        out = subprocess.run(
            ["birdc", "-s", str(self.dir / "bird.ctl"), *command], capture_output=True, text=True
        )
        return out.stdout

    def start_bird(self) -> None:
        conf = self.dir / "bird.conf"
        conf.write_text(
            BIRD_CONF.format(name=self.name, bird_asn=BIRD_ASN, source=self.source, asn=self.asn)
        )
        self.spawn(["bird", "-f", "-c", str(conf), "-s", str(self.dir / "bird.ctl")])
        wait(lambda: (self.dir / "bird.ctl").exists(), 10, "BIRD")

    def established(self) -> bool:
        return "Established" in self.birdc("show", "protocols", self.name)

    def imported(self) -> int:
        found = re.search(
            r"Routes:\s+(\d+) imported", self.birdc("show", "protocols", "all", self.name)
        )
        return int(found.group(1)) if found else 0


def _die_with_parent() -> None:
    """Children get SIGKILL if the benchmark dies (a timeout, ^C): nothing is left behind."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def wait(check, timeout: float, what: str, step: float = 0.02):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        time.sleep(step)


def measure(run: Run, n: int, hand_over) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    hand_over()
    wait(lambda: run.imported() >= n, 600, f"{run.name}: {n} routes in BIRD", step=0.01)
    return time.monotonic() - start


def bench_ours(run: Run, n: int) -> tuple[float, float]:
    started = time.monotonic()
    proc = run.spawn(
        [sys.executable, __file__, "--worker", run.source, str(run.asn)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout
    wait(run.established, 60, "our session")
    established = time.monotonic() - started
    stdin.write(f"prepare {n}\n".encode())
    stdin.flush()
    while stdout.readline().strip() != b"prepared":
        pass

    def go() -> None:
        stdin.write(b"go\n")
        stdin.flush()

    return established, measure(run, n, go)


def bench_gobgp(run: Run, n: int) -> tuple[float, float]:
    conf = run.dir / "gobgpd.toml"
    conf.write_text(GOBGP_CONF.format(asn=run.asn, source=run.source, bird_asn=BIRD_ASN))
    started = time.monotonic()
    run.spawn(["gobgpd", "-f", str(conf), "--api-hosts", "127.0.0.1:50051", "--pprof-disable"])
    wait(run.established, 60, "GoBGP's session")
    established = time.monotonic() - started
    mrt = run.dir / "routes.mrt"
    write_mrt(mrt, prefixes(n), run.source, 65000)
    data = mrt.read_bytes()
    # GoBGP 3.10's `mrt inject` exits right after its last stream.Send, losing whatever is
    # still in flight: feed it through a FIFO that stays open until BIRD has every route.
    fifo = run.dir / "routes.fifo"
    os.mkfifo(fifo)
    run.spawn(["gobgp", "-u", "127.0.0.1", "-p", "50051", "mrt", "inject", "global", str(fifo)])
    writer: list[int] = []

    def go() -> None:
        fd = os.open(fifo, os.O_WRONLY)
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, F_SETPIPE_SZ, 1 << 20)  # fewer short reads on the CLI's side
        writer.append(fd)
        threading.Thread(target=_write_all, args=(fd, data), daemon=True).start()

    rib_full: list[float] = []

    def watch_rib() -> None:  # when GoBGP's own RIB has them all (its injection path)
        start = time.monotonic()
        with contextlib.suppress(TimeoutError):
            wait(lambda: gobgp_rib_size() >= n, 600, "GoBGP's RIB", step=0.05)
            rib_full.append(time.monotonic() - start)

    watcher = threading.Thread(target=watch_rib, daemon=True)
    watcher.start()
    try:
        result = established, measure(run, n, go)
        watcher.join(10)
        NOTES.append(
            f"GoBGP {n}: its RIB held all routes after {rib_full[0]:.3f} s"
            if rib_full
            else f"GoBGP {n}: RIB not watched"
        )
        return result
    finally:
        for fd in writer:
            with contextlib.suppress(OSError):
                os.close(fd)


def gobgp_rib_size() -> int:
    out = subprocess.run(
        ["gobgp", "-u", "127.0.0.1", "-p", "50051", "global", "rib", "summary"],
        capture_output=True,
        text=True,
    ).stdout
    found = re.search(r"Destination: (\d+)", out)
    return int(found.group(1)) if found else 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def bench_exabgp(run: Run, n: int) -> tuple[float, float]:
    fifo = run.dir / "feed.fifo"
    os.mkfifo(fifo)
    relay = run.dir / "relay.py"
    relay.write_text(EXABGP_RELAY)
    conf = run.dir / "exabgp.conf"
    conf.write_text(
        EXABGP_CONF.format(
            python="/usr/bin/python3",
            relay=relay,
            fifo=fifo,
            source=run.source,
            asn=run.asn,
            bird_asn=BIRD_ASN,
        )
    )
    env = {
        **os.environ,
        "exabgp.daemon.user": "root",
        "exabgp.daemon.drop": "false",
        "exabgp.api.cli": "false",
        "exabgp.api.ack": "false",
        "exabgp.log.destination": str(run.dir / "exabgp.log"),
    }
    started = time.monotonic()
    run.spawn(["exabgp", str(conf)], env=env, cwd=run.dir)
    writer = open(fifo, "w")  # noqa: SIM115 - kept open while ExaBGP reads it
    wait(run.established, 60, "ExaBGP's session")
    established = time.monotonic() - started
    all_prefixes = prefixes(n)
    lines = [
        "announce attributes next-hop self nlri " + " ".join(all_prefixes[i : i + 1000]) + "\n"
        for i in range(0, n, 1000)
    ]

    def go() -> None:
        writer.writelines(lines)
        writer.flush()

    try:
        return established, measure(run, n, go)
    finally:
        writer.close()


BENCHES = {"ours": bench_ours, "gobgp": bench_gobgp, "exabgp": bench_exabgp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--speakers", default="ours,gobgp,exabgp")
    parser.add_argument("--worker", nargs=2, metavar=("SOURCE", "ASN"), help=argparse.SUPPRESS)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return
    if not args.inside:
        if os.geteuid() != 0:
            sys.exit("the BGP benchmark needs root (a private network namespace)")
        missing = [
            t
            for t in ("bird", "birdc", "gobgpd", "gobgp", "exabgp", "unshare")
            if not shutil.which(t)
        ]
        if missing:
            sys.exit(f"missing: {', '.join(missing)} (apt-get install bird2 gobgpd exabgp)")
        os.execvp(
            "unshare", ["unshare", "--net", sys.executable, __file__, "--inside", *sys.argv[1:]]
        )
    # SIGTERM (a timeout) runs the cleanups below instead of leaving daemons behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    names = args.speakers.split(",")
    results: dict[tuple[str, int], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="lbb-bench-") as tmp:
        for n in sizes:
            for name in names:
                workdir = Path(tmp) / str(n)
                workdir.mkdir(exist_ok=True)
                run = Run(workdir, name)
                try:
                    run.start_bird()
                    results[(name, n)] = BENCHES[name](run, n)
                    print(f"  {name:7} {n:>7}: {results[(name, n)][1]:.3f} s", file=sys.stderr)
                except Exception as exc:  # report it and go on with the others
                    print(f"  {name:7} {n:>7}: failed: {exc}", file=sys.stderr)
                finally:
                    run.close()
    print_table(sizes, names, results)


def print_table(
    sizes: list[int], names: list[str], results: dict[tuple[str, int], tuple[float, float]]
) -> None:
    print()
    print(
        f"{'prefixes':>9}  "
        + "  ".join(f"{n:>14}" for n in names)
        + "   ours vs GoBGP   ours vs ExaBGP"
    )
    for n in sizes:
        cells = []
        for name in names:
            found = results.get((name, n))
            cells.append(f"{found[1]:>8.3f} s" if found else f"{'failed':>10}")
            cells[-1] = f"{cells[-1]:>14}"
        ratio = ""
        ours = results.get(("ours", n))
        for other in ("gobgp", "exabgp"):
            theirs = results.get((other, n))
            ratio += f"   {ours[1] / theirs[1]:>10.2f}x  " if ours and theirs else f"   {'-':>11}  "
        rate = f"   ({n / ours[1]:,.0f} routes/s ours)" if ours else ""
        print(f"{n:>9}  " + "  ".join(cells) + ratio + rate)
    print()
    for note in NOTES:
        print(note)
    print(
        "session established after (s): "
        + ", ".join(
            f"{name} {results[(name, sizes[0])][0]:.2f}"
            for name in names
            if (name, sizes[0]) in results
        )
    )


if __name__ == "__main__":
    main()
