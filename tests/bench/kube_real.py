"""Side by side on the real API server: 10,000 LoadBalancer Services created at once, and the
time until every one has its address in status, with lbtui's controller and (when it can be
built here) MetalLB's, in one run.

    sudo .venv/bin/python tests/bench/kube_real.py [--services 10000] [--creators 16]

The control plane is the realkube tests' (tests/kube-real/controlplane.py), started fresh for
each controller so neither inherits the other's state. Each controller runs as a process in the
root namespace with the admin kubeconfig (the same client rights for both), webhooks off.
Printed per controller: creation time, time from the first create until every Service has an
address, CPU seconds and peak RSS of the controller process, and the ratio.

MetalLB's controller is built by ``tests/kube-real/build.sh --with-metallb`` from its Go module
(go.universe.tf/metallb) into the same cache; without it only lbtui's row is printed, with the
reason.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "kube-real"))  # not a package: its name has a dash
controlplane = importlib.import_module("controlplane")

NS = "metallb-system"
POOL = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bench, namespace: metallb-system}
spec: {addresses: [10.128.0.0/17]}
"""


def clock_ticks(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def core_api(plane: Any) -> Any:
    from kubernetes import client, config

    api_client = config.new_client_from_config(str(plane.admin_kubeconfig))
    api_client.configuration.connection_pool_maxsize = 64
    return client.CoreV1Api(api_client)


def create_services(api: Any, count: int, creators: int) -> float:
    body = lambda i: {  # noqa: E731
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"bench-{i}", "namespace": "bench"},
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"port": 80}],
            "selector": {"app": "x"},
            # 10k NodePorts do not exist (30000-32767); a bare-metal LB needs none.
            "allocateLoadBalancerNodePorts": False,
        },
    }
    start = time.monotonic()
    with ThreadPoolExecutor(creators) as pool:
        list(pool.map(lambda i: api.create_namespaced_service("bench", body(i)), range(count)))
    return time.monotonic() - start


def count_assigned(api: Any) -> int:
    items = api.list_namespaced_service("bench").items  # one list: no continue token to expire
    return sum(1 for s in items if s.status.load_balancer and s.status.load_balancer.ingress)


def run_one(
    name: str, command: list[str], env: dict[str, str], count: int, creators: int, work: Path
) -> dict[str, Any]:
    plane = controlplane.ControlPlane(work=work / name, stress_watches=False).up()
    proc: subprocess.Popen[bytes] | None = None
    try:
        plane.kubectl("apply", "-f", str(REPO / "examples" / "deploy" / "namespace.yaml"))
        plane.kubectl("apply", "-f", str(REPO / "examples" / "deploy" / "crds.yaml"))
        plane.kubectl("apply", "-f", "-", stdin=POOL)
        plane.kubectl("create", "namespace", "bench")
        api = core_api(plane)
        log = open(work / f"{name}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        time.sleep(3)  # started and synced (an empty cluster)
        cpu0 = clock_ticks(proc.pid)
        first = time.monotonic()
        created_in = {}
        creator = threading.Thread(
            target=lambda: created_in.setdefault("s", create_services(api, count, creators))
        )
        creator.start()
        assigned, deadline = 0, first + 600
        while time.monotonic() < deadline:
            assigned = count_assigned(api)
            if assigned >= count:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.5)
        total = time.monotonic() - first
        creator.join()
        row = {
            "controller": name,
            "services": count,
            "assigned": assigned,
            "created_s": created_in.get("s", float("nan")),
            "all_assigned_s": total,
            "cpu_s": clock_ticks(proc.pid) - cpu0 if proc.poll() is None else float("nan"),
            "peak_rss_mb": peak_rss_mb(proc.pid) if proc.poll() is None else float("nan"),
        }
        print(json.dumps(row), flush=True)
        return row
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(45)  # MetalLB's controller-runtime waits up to 30 s for its runnables
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        plane.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--creators", type=int, default=16)
    parser.add_argument("--only", choices=("lbtui", "metallb"), default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lbtui-bench-kube-"))
    bin_dir = controlplane.binaries()
    rows = []
    if args.only in (None, "lbtui"):
        plane_kubeconfig = work / "lbtui" / "admin.kubeconfig"
        rows.append(
            run_one(
                "lbtui",
                [
                    sys.executable,
                    "-m",
                    "lbtui",
                    "controller",
                    f"--kubeconfig={plane_kubeconfig}",
                    f"--namespace={NS}",
                    "--webhook-mode=disabled",
                    "--metrics-port=-1",
                ],
                {"PYTHONPATH": str(REPO)},
                args.services,
                args.creators,
                work,
            )
        )
    metallb = bin_dir / "metallb-controller"
    reason = ""
    if args.only in (None, "metallb"):
        if metallb.exists():
            plane_kubeconfig = work / "metallb" / "admin.kubeconfig"
            rows.append(
                run_one(
                    "metallb",
                    [
                        str(metallb),
                        f"--namespace={NS}",
                        "--webhook-mode=disabled",
                        "--disable-cert-rotation",
                        "--port=0",
                        "--log-level=warn",
                    ],
                    {"KUBECONFIG": str(plane_kubeconfig)},
                    args.services,
                    args.creators,
                    work,
                )
            )
        else:
            reason = (
                f"MetalLB's controller is not built ({metallb}): "
                "run tests/kube-real/build.sh --with-metallb"
            )
    print(f"\n{args.services} LoadBalancer Services created at once ({args.creators} creators)\n")
    print(
        f"{'controller':<10} {'assigned':>9} {'created (s)':>12} {'all assigned (s)':>17} "
        f"{'CPU (s)':>8} {'peak RSS (MB)':>14}"
    )
    for r in rows:
        print(
            f"{r['controller']:<10} {r['assigned']:>9} {r['created_s']:>12.1f} "
            f"{r['all_assigned_s']:>17.1f} {r['cpu_s']:>8.1f} {r['peak_rss_mb']:>14.0f}"
        )
    if len(rows) == 2:
        print(
            f"\nratio (MetalLB / lbtui, time until all assigned): "
            f"{rows[1]['all_assigned_s'] / rows[0]['all_assigned_s']:.1f}x"
        )
    if reason:
        print("\n" + reason)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
