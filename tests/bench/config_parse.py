"""Configuration parsing: lbtui's load, validate and plan beside libyaml parsing the same file.

Run: ``.venv/bin/python tests/bench/config_parse.py [--services 1000,10000] [--mb 1,8,50]
[--before /path/to/other/checkout]``. Prints one table.

Each file holds an IPAddressPool, an L2Advertisement, 10 Nodes and N LoadBalancer Services
(about 460 bytes each: labels, an annotation, creationTimestamp, uid, selector, a port,
clusterIP(s), ipFamilies), either N given (``--services``) or as many as fill the size
(``--mb``). Every row is its own process, so the times include the interpreter's start and
imports, and the peak RSS (``ru_maxrss``) is the whole process's:

- ``libyaml``: ``list(yaml.load_all(f, Loader=yaml.CSafeLoader))``, the parse alone;
- ``load``: ``actors.config.loader.load_files`` (parse, classify, pydantic models);
- ``validate``: ``lbtui validate FILE``;
- ``plan``: ``lbtui plan FILE`` (allocation, L2 owners, BGP, the table).

``--before PATH`` adds the same lbtui rows run from another checkout (e.g. main before this
change), side by side in the same run. The ratio is CPU time over libyaml's CPU time (CPU, not
wall, so other work on a shared machine disturbs it less); RSS/file is peak RSS over the size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    code: int


def run(argv: list[str], pythonpath: Path) -> Run:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=pythonpath, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        proc.stderr.close()
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode)


def rows_for(path: Path, before: Path | None) -> list[tuple[str, Run]]:
    py = sys.executable
    rows = [("libyaml", run([py, "-c", LIBYAML, str(path)], ROOT))]
    checkouts = [("", ROOT)] + ([("before ", before)] if before else [])
    for label, checkout in checkouts:
        rows.append((f"{label}load", run([py, "-c", LOAD, str(path)], checkout)))
        rows.append((f"{label}validate", run([py, "-m", "lbtui", "validate", str(path)], checkout)))
        rows.append((f"{label}plan", run([py, "-m", "lbtui", "plan", str(path)], checkout)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", default="1000,10000", help="Service counts, comma-separated")
    parser.add_argument("--mb", default="1,8,50", help="file sizes in MB, comma-separated")
    parser.add_argument("--before", type=Path, default=None, help="another checkout to compare")
    args = parser.parse_args()
    files: list[tuple[str, int | None, int | None]] = [
        (f"{int(n) // 1000}k services", int(n), None) for n in args.services.split(",") if n
    ] + [(f"{mb} MB", None, int(float(mb) * 2**20)) for mb in args.mb.split(",") if mb]
    head = (
        f"{'file':<16} {'MB':>6} {'services':>8}  {'what':<16} {'wall s':>7} {'cpu s':>7} "
        f"{'x libyaml':>9} {'RSS MB':>7} {'RSS/file':>8}"
    )
    print(head)
    print("-" * len(head))
    with tempfile.TemporaryDirectory() as tmp:
        for name, services, size in files:
            path = Path(tmp) / "config.yaml"
            count = write_file(path, services, size)
            mb = path.stat().st_size / 2**20
            rows = rows_for(path, args.before)
            base = rows[0][1].cpu
            for what, r in rows:
                failed = "" if r.code in (0, 1) else f"  (exit {r.code})"
                print(
                    f"{name:<16} {mb:>6.1f} {count:>8}  {what:<16} {r.wall:>7.2f} {r.cpu:>7.2f} "
                    f"{r.cpu / base:>8.2f}x {r.rss_mb:>7.0f} {r.rss_mb / mb:>7.1f}x{failed}",
                    flush=True,
                )
            path.unlink()


if __name__ == "__main__":
    main()
