"""Configuration parsing: lbtui's load, validate and plan beside libyaml parsing the same file.

Run: ``.venv/bin/python tests/bench/config_parse.py [--services 1000,10000,100000]
[--mb 1,10,50] [--json] [--before /path/to/other/checkout]``. Prints one table.

Each file holds an IPAddressPool, an L2Advertisement, 10 Nodes and N LoadBalancer Services
(about 460 bytes each: labels, an annotation, creationTimestamp, uid, selector, a port,
clusterIP(s), ipFamilies), either N given (``--services``) or as many as fill the size
(``--mb``). ``--json`` also writes each file as JSON (a List, indented as ``kubectl get -o
json`` writes it) and runs the same rows on it. Every row is its own process, so the times
include the interpreter's start and imports, and the peak RSS (``ru_maxrss``) is the whole
process's:

- ``libyaml events``: every event of the file through PyYAML's libyaml binding and nothing
  else, the floor of any reading built on it (lbtui's included);
- ``libyaml``: ``list(yaml.load_all(f, Loader=yaml.CSafeLoader))``, the issue's reference;
- ``json.loads`` (JSON files): the json module's parse alone;
- ``yaml_rs``, ``rapidyaml`` when installed (not dependencies of lbtui): other parsers'
  own figures on the same file, for the record (YAML 1.2 and no marks; rapidyaml's Python
  objects built by walking its tree);
- ``load``: ``actors.config.loader.load_files`` (parse, classify, the cluster objects);
- ``validate``: ``lbtui validate FILE``;
- ``plan``: ``lbtui plan FILE`` (allocation, L2 owners, BGP, the table).

``--before PATH`` adds the same lbtui rows run from another checkout (e.g. main before this
change), side by side in the same run. ``x libyaml`` is CPU time over libyaml's CPU time (CPU,
not wall, so other work on a shared machine disturbs it less); ``RSS/file`` is peak RSS over
the file's size, and ``+RSS/file`` the same for what the row's process holds beyond its own
start (the same command on an empty file: the interpreter and its imports). A big YAML file
is read on every core (``actors/config/parallel.py``): ``cpu s`` is the process's and its
children's, ``busiest`` the CPU time of the busier of the process and its children (what its
wall time would be on an idle machine with a core each), ``RSS MB`` the peak of the process
plus the peak of its largest child (``child``; forked, it shares its parent's pages, counted
twice here), and ``+RSS/file`` counts the child's growth beyond the start.

Measured (issue 19, 2-core machine shared with other work; CPU s, peak RSS MB, RSS/file):

    50 MB YAML, 111,325 Services   before (main)        after
    libyaml load_all               26.0 s  476 MB        (the reference)
    libyaml events alone            7.5 s   16 MB        (the floor of any PyYAML reading)
    load                           23.2 s  725 MB 14.5x  18.2 s  161 MB 3.2x
    validate                       25.2 s  727 MB 14.5x  18.4 s  213 MB 4.3x
    plan                           29.9 s  899 MB 18.0x  29.0 s  292 MB 5.8x
    50 MB JSON, 46,000 Services: validate 3.5 s 190 MB (3.6x), plan 5.9 s 191 MB (3.6x)
    yaml_rs 4.8 s 715 MB, rapidyaml (its tree walked to objects) 11.9 s 682 MB, on 45 MB

Plan's memory (issue 19, later: the table streamed a few thousand lines at a time, the election's
decisions reduced as they are made, its endpoint index shared; ``--services "" --mb 10,50
--before <stage checkout>``, one run, same files; CPU s, peak RSS MB, RSS/file):

    YAML                           before (stage)       after
    10 MB, 22,391 Services
    validate                        3.4 s   64 MB 6.4x   3.3 s   64 MB 6.4x (+RSS/file 3.0x)
    plan                            3.8 s   90 MB 9.0x   3.8 s   83 MB 8.3x (+RSS/file 4.8x)
    50 MB, 111,325 Services
    load                           15.9 s  160 MB 3.2x  13.7 s  161 MB 3.2x
    validate                       14.9 s  162 MB 3.2x  13.6 s  162 MB 3.2x
    plan                           17.6 s  290 MB 5.8x  17.9 s  250 MB 5.0x

validate is within 4x; plan was not: what it held was ~650 bytes per Service (an Allocation
with its address objects, an L2Owner, the cluster's keys), beside the Services themselves.

Plan's records made compact (issue 19, later: an Allocation keeps one address as its int, an
L2Owner one service as its key and no text of its own, the owners held by address; the
allocator's one pass keeps no memo, a bitmap of occupied offsets, the cluster's key strings;
tracemalloc at 10 MB: plan held 650 -> 290 bytes per Service, its peak 1,080 -> 420 above the
cluster), ``--services "" --mb 10,50 --before <main checkout>``, one run, same files, while
tests ran beside it (CPU s, peak RSS MB, RSS/file, +RSS/file):

    YAML                       before (main)              after
    10 MB, 22,391 Services     (libyaml 4.3 s 106 MB)
    validate                    3.2 s   64 MB 6.4x 3.0x    3.5 s   64 MB 6.4x 3.0x
    plan                        4.2 s   86 MB 8.6x 5.1x    4.3 s   70 MB 7.0x 3.5x
    50 MB, 111,325 Services    (libyaml 23.3 s 476 MB)
    load                       14.5 s  160 MB 3.2x 2.6x   15.4 s  161 MB 3.2x 2.6x
    validate                   16.5 s  162 MB 3.2x 2.6x   14.4 s  162 MB 3.2x 2.6x
    plan                       21.5 s  262 MB 5.2x 4.5x   20.7 s  198 MB 4.0x 3.2x

plan of 50 MB is within 4x (198 MB for a 50 MB file); what is left is mostly the Services
themselves (the cluster: ~160 MB, as load's row shows).

Both cores (issue 19, later: a file of 4 MB or more cut before its ``---`` lines and read a
piece per core, ``actors/config/parallel.py``; string scalars built in their parent's loop;
``--services "" --mb 10,50 --before <main>``, one run, the machine's load average 7-10 from
other work, so wall times are inflated ~2-4x and noisy; CPU s of the process and its child,
busiest = the CPU s of the busier of the two (the wall time on an idle machine), RSS MB =
the process's peak + the child's, the child's own ~30 MB being its parent's pages shared at
fork; +RSS/file counts only the child's growth):

    50 MB, 111,325 Services    cpu s  busiest  wall s  RSS MB (child)  +RSS/file
    libyaml load_all            23.9     23.9    84.5   476             9.2x
    libyaml events (floor)       6.7      6.7    25.9    16             0.0x
    load       before           14.7     14.7    32.9   161             2.6x
               after            14.1      7.1    55.0   187 (32)        2.4x
    validate   before           14.6     14.5    40.0   162             2.6x
               after            14.1      7.1    53.8   188 (33)        2.4x
    plan       before           18.6     18.5    48.7   261             4.5x
               after            19.2     12.0    78.8   284 (34)        4.3x
    10 MB: load 3.2 -> 3.0 s CPU (busiest 1.6), validate 3.4 -> 3.0 (1.6), plan 4.0 -> 3.9 (2.5)

Wall times under that load, interleaved in one loop (``load_files`` of the 50 MB file,
pieces vs one reading): 10.2 vs 15.7 s, then 21.7 vs 24.6 s.

Plan after loading made cheaper (issue 19, later: the table's IPv4 text by ``inet_ntoa``, one
format call a line; no L2 decision made for a verdict no node takes part in; a pool asked for
gives its lowest free address directly; ``tests/bench/config_stages.py`` has the stages).
``lbtui plan`` from main and from this change, interleaved, 3 rounds each, the machine's load
average 5-6 from other work (so wall times are inflated); libyaml and load from one run of
``--services "" --mb 10,50 --before <main>`` beside them. CPU s of the process and its child,
busiest, wall s, RSS MB = the process's peak + its child's (the child: ~33 MB):

                                 cpu s  busiest  wall s  RSS MB
    10 MB, 22,391 Services
    libyaml load_all              5.23     5.22   17.13    106
    load (unchanged)              3.21     1.69    4.12     90
    plan   before (median of 3)   4.06     2.62    6.79    104
           after                  3.71     2.27    6.06    104
    50 MB, 111,325 Services
    libyaml load_all             25.53    25.52   60.76    476
    load (unchanged)             15.30     7.76   39.25    187
    plan   before (median of 3)  18.86    11.66   26.10    229
           after                 17.03    10.03   22.73    229

What plan does after loading is now ~3 s of CPU at 50 MB (was ~5), in one process: forking a
child to elect half the services was measured and not adopted: the election of all of them
is ~0.6 s, and a child forked from the ~180 MB process dirtied 43 MB of its pages (reference
counts) to elect half.

Plan's writing made cheaper (issue 19, later: each table row made once, the columns' widths
from the cells' lengths; no layer-2 election or filter where every pool in use, or none, is
in layer 2 mode; ``-o json`` written a part at a time, not held as one document and written by
the json module's pure-Python indenting encoder). After loading, the stages of
``tests/bench/config_stages.py`` (CPU s, least of 3, main and this change interleaved, two
runs each, the machine's load average 1.7 from other work):

    50 MB, 111,325 Services      before        after
    plan: allocate               1.31-1.64     1.24-1.25   (unchanged)
    plan: elect (L2, BGP)        0.64-0.68     0.44
    plan: table                  1.11-1.12     0.55-0.56
    plan: -o json's writing      1.66-1.84     0.48
    10 MB: elect 0.10 -> 0.08, table 0.21 -> 0.11, json 0.33 -> 0.09

``lbtui plan`` of the 50 MB file from main and this change, interleaved, 6 rounds each, the
machine's load average ~1.5-2.4 from other work (so CPU and wall times are inflated and
noisy; medians): CPU s of the process alone 10.92 -> 10.17, wall 13.05 -> 12.42, peak RSS
230 MB either way (the parent's peak 196 MB, at the end of the election, as before). ``-o
json``, 3 rounds: CPU s of the process 13.00 -> 9.46, wall 16.89 -> 11.95, peak RSS 308 ->
231 MB (the parent's ~275-282 -> ~197-202 MB, as the table's). 10 MB plan: 2.48 -> 2.30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HEADER = """apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: big
  namespace: metallb-system
spec:
  addresses:
  - 10.0.0.0/8
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2
  namespace: metallb-system
"""
NODE = """---
apiVersion: v1
kind: Node
metadata:
  name: node-{i}
  labels:
    kubernetes.io/hostname: node-{i}
status:
  conditions:
  - type: Ready
    status: "True"
  addresses:
  - type: InternalIP
    address: 192.168.0.{host}
"""
SERVICE = """---
apiVersion: v1
kind: Service
metadata:
  name: svc-{i}
  namespace: ns-{ns}
  labels:
    app: app-{i}
  annotations:
    metallb.io/address-pool: big
  creationTimestamp: "2024-01-01T00:00:00Z"
  uid: 00000000-0000-0000-0000-{i:012d}
spec:
  type: LoadBalancer
  selector:
    app: app-{i}
  ports:
  - name: http
    protocol: TCP
    port: 80
  clusterIP: 10.96.{b}.{c}
  clusterIPs:
  - 10.96.{b}.{c}
  ipFamilies:
  - IPv4
  externalTrafficPolicy: Cluster
"""

EVENTS = (
    "import sys, yaml\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    parser = yaml.CSafeLoader(f)\n"
    "    while parser.check_event():\n"
    "        parser.get_event()\n"
)
JSON_LOADS = "import sys, json\nwith open(sys.argv[1], 'rb') as f:\n    json.load(f)\n"
YAML_RS = (
    "import sys, yaml_rs\n"
    "with open(sys.argv[1], encoding='utf-8') as f:\n"
    "    yaml_rs.loads(f.read(), parse_datetime=False)\n"
)
RAPIDYAML = """import sys, ryml
def walk(tree, node):
    if tree.is_map(node):
        out, child = {}, tree.first_child(node)
        while child != ryml.NONE:
            out[bytes(tree.key(child)).decode()] = walk(tree, child)
            child = tree.next_sibling(child)
        return out
    if tree.is_seq(node):
        out, child = [], tree.first_child(node)
        while child != ryml.NONE:
            out.append(walk(tree, child))
            child = tree.next_sibling(child)
        return out
    value = tree.val(node)
    return None if value is None else bytes(value).decode()
with open(sys.argv[1], 'rb') as f:
    tree = ryml.parse_in_arena(f.read())
root = tree.root_id()
if tree.is_stream(root):
    child = tree.first_child(root)
    while child != ryml.NONE:
        walk(tree, child)
        child = tree.next_sibling(child)
else:
    walk(tree, root)
"""
LIBYAML = (
    "import sys, yaml\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    list(yaml.load_all(f, Loader=yaml.CSafeLoader))\n"
)
LOAD = "import sys\nfrom actors.config.loader import load_files\nload_files(sys.argv[1:])\n"


def write_file(path: Path, services: int | None, size: int | None) -> int:
    """Write the file; the number of Services in it."""
    with path.open("w") as out:
        out.write(HEADER)
        written = out.write("".join(NODE.format(i=i, host=i + 1) for i in range(10)))
        i = 0
        while (services is not None and i < services) or (size is not None and written < size):
            written += out.write(SERVICE.format(i=i, ns=i % 50, b=i // 256 % 256, c=i % 256))
            i += 1
    return i


# Runs ``-c CODE ARGS`` or ``-m MODULE ARGS`` and, at exit, writes the peak RSS and the CPU
# time of the process itself and of its children (a piece of a big file read in a forked
# child) to the file named by BENCH_RSS: wait4 alone gives only the larger RSS and the sum.
WRAP = """import atexit, os, resource, runpy, sys
def _report():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.environ["BENCH_RSS"], "w") as out:
        out.write(f"{own.ru_maxrss} {kids.ru_maxrss} {own.ru_utime + own.ru_stime}")
atexit.register(_report)
how, what, sys.argv = sys.argv[1], sys.argv[2], sys.argv[2:]
if how == "-m":
    runpy.run_module(what, run_name="__main__", alter_sys=True)
else:
    sys.argv[0] = "-c"
    exec(compile(what, "<string>", "exec"), {"__name__": "__main__"})
"""


@dataclass
class Run:
    wall: float
    cpu: float  # the process and its children
    rss_mb: float  # peak RSS of the process plus that of its largest child
    code: int
    child_mb: float = 0.0  # peak RSS of its largest child
    own_cpu: float = 0.0  # CPU time of the process alone (``cpu`` less its children's)

    @property
    def busiest(self) -> float:
        """CPU time of the busier of the process and its children: its wall time on an idle
        machine with a core each (they run side by side), whatever else this one runs."""
        return max(self.own_cpu, self.cpu - self.own_cpu)


def run(argv: list[str], pythonpath: Path) -> Run:
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        env = {**os.environ, "PYTHONPATH": str(pythonpath), "BENCH_RSS": report.name}
        start = time.perf_counter()
        proc = subprocess.Popen(
            [argv[0], "-c", WRAP, *argv[1:]],
            cwd=pythonpath,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.stderr is not None:
            proc.stderr.close()
        own_kb, child_kb, own_cpu = (report.read().split() or ["0", "0", "0"])[:3]
    cpu = usage.ru_utime + usage.ru_stime
    own = int(own_kb) / 1024 if int(own_kb) else usage.ru_maxrss / 1024
    child = int(child_kb) / 1024
    return Run(wall, cpu, own + child, proc.returncode, child, float(own_cpu) or cpu)


def service_object(i: int) -> dict[str, object]:
    """The ``i``-th Service of :data:`SERVICE`, as JSON writes it."""
    ip = f"10.96.{i // 256 % 256}.{i % 256}"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"svc-{i}",
            "namespace": f"ns-{i % 50}",
            "labels": {"app": f"app-{i}"},
            "annotations": {"metallb.io/address-pool": "big"},
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "uid": f"00000000-0000-0000-0000-{i:012d}",
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": f"app-{i}"},
            "ports": [{"name": "http", "protocol": "TCP", "port": 80}],
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ipFamilies": ["IPv4"],
            "externalTrafficPolicy": "Cluster",
        },
    }


def write_json(path: Path, services: int) -> None:
    """The same objects as :func:`write_file`'s, as one JSON List (``kubectl get -o json``)."""
    head = [yaml.safe_load(doc) for doc in HEADER.split("---\n")]
    head += [yaml.safe_load(NODE.format(i=i, host=i + 1)[4:]) for i in range(10)]
    with path.open("w") as out:
        out.write('{\n    "apiVersion": "v1",\n    "kind": "List",\n    "items": [\n')
        items = (obj for obj in head)
        first = True
        for obj in [*items, *(service_object(i) for i in range(services))]:
            out.write(
                ("" if first else ",\n") + textwrap.indent(json.dumps(obj, indent=4), " " * 8)
            )
            first = False
        out.write("\n    ]\n}\n")


def importable(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def lbtui_rows(path: Path, checkout: Path, label: str) -> list[tuple[str, Run]]:
    py = sys.executable
    return [
        (f"{label}load", run([py, "-c", LOAD, str(path)], checkout)),
        (f"{label}validate", run([py, "-m", "lbtui", "validate", str(path)], checkout)),
        (f"{label}plan", run([py, "-m", "lbtui", "plan", str(path)], checkout)),
    ]


def rows_for(
    path: Path, before: Path | None, peers: list[tuple[str, str, str]], is_json: bool
) -> list[tuple[str, Run]]:
    """libyaml's parse first (the ratios' base), the floors and peers, then lbtui's rows."""
    py = sys.executable
    rows = [("libyaml", run([py, "-c", LIBYAML, str(path)], ROOT))]
    rows.append(("libyaml events", run([py, "-c", EVENTS, str(path)], ROOT)))
    if is_json:
        rows.append(("json.loads", run([py, "-c", JSON_LOADS, str(path)], ROOT)))
    for name, python, script in peers:
        rows.append((name, run([python, "-c", script, str(path)], ROOT)))
    rows += lbtui_rows(path, ROOT, "")
    if before:
        rows += lbtui_rows(path, before, "before ")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--services", default="1000,10000,100000", help="Service counts, comma-separated"
    )
    parser.add_argument("--mb", default="1,10,50", help="file sizes in MB, comma-separated")
    parser.add_argument("--json", action="store_true", help="also each file written as JSON")
    parser.add_argument("--before", type=Path, default=None, help="another checkout to compare")
    parser.add_argument(
        "--peer-python",
        default=sys.executable,
        help="the interpreter for the yaml_rs and rapidyaml rows (where they are installed)",
    )
    args = parser.parse_args()
    files: list[tuple[str, int | None, int | None]] = [
        (f"{int(n) // 1000}k services", int(n), None) for n in args.services.split(",") if n
    ] + [(f"{mb} MB", None, int(float(mb) * 2**20)) for mb in args.mb.split(",") if mb]
    peers = [
        (name, args.peer_python, script)
        for name, module, script in (
            ("yaml_rs", "yaml_rs", YAML_RS),
            ("rapidyaml", "ryml", RAPIDYAML),
        )
        if importable(args.peer_python, module)
    ]
    head = (
        f"{'file':<18} {'MB':>6} {'services':>8}  {'what':<16} {'wall s':>7} {'cpu s':>7} "
        f"{'x libyaml':>9} {'busiest':>7} {'RSS MB':>7} {'child':>6} {'RSS/file':>8} "
        f"{'+RSS/file':>9}"
    )
    print(head)
    print("-" * len(head))
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.yaml"
        empty.write_text(HEADER)
        # What each row's process holds before it reads anything: the same command on a file
        # with no Services (the interpreter and its imports).
        start = {what: r.rss_mb for what, r in rows_for(empty, args.before, peers, False)}
        for name, services, size in files:
            path = Path(tmp) / "config.yaml"
            count = write_file(path, services, size)
            variants = [(name, path, False)]
            if args.json:
                write_json(Path(tmp) / "config.json", count)
                variants.append((f"{name} json", Path(tmp) / "config.json", True))
            for label, file, is_json in variants:
                mb = file.stat().st_size / 2**20
                rows = rows_for(file, args.before, peers, is_json)
                base = rows[0][1].cpu
                for what, r in rows:
                    failed = "" if r.code in (0, 1) else f"  (exit {r.code})"
                    # A forked child starts with its parent's pages (shared, counted in both
                    # RSS): only what it grew beyond the start counts.
                    began = start.get(what, start["libyaml"])
                    own = r.rss_mb - r.child_mb
                    grown = own - began + max(0.0, r.child_mb - began)
                    print(
                        f"{label:<18} {mb:>6.1f} {count:>8}  {what:<16} {r.wall:>7.2f} "
                        f"{r.cpu:>7.2f} {r.cpu / base:>8.2f}x {r.busiest:>7.2f} {r.rss_mb:>7.0f} "
                        f"{r.child_mb:>6.0f} "
                        f"{r.rss_mb / mb:>7.1f}x {grown / mb:>8.1f}x{failed}",
                        flush=True,
                    )
                file.unlink()


if __name__ == "__main__":
    main()
