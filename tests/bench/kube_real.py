"""Side by side on the real API server: LoadBalancer Services (10,000 by default) and the time
until every one has its address in status, with lbtui's controller and (when it can be built
here) MetalLB's, in one run.

    .venv/bin/python tests/bench/kube_real.py [--services 10000] [--creators 16]
        [--mode running|precreate|both] [--only lbtui,floor,metallb] [--profile DIR]
        [--baseline CHECKOUT]

(as root: the control plane runs in a network namespace.) Two modes:

- ``running``: the controller runs, then ``--creators`` threads create the Services; the time
  is from the first create until every Service has an address (creating 10k Services alone
  takes ~100 s on this API server, so this reading is bounded by the creation).
- ``precreate``: every Service exists before the controller starts; the time is from the
  controller's start (process start, imports included) until every Service has an address.
  This is the reading the issue's "10,000 in 30 s" goal is about.

The control plane is the realkube tests' (tests/kube-real/controlplane.py), started fresh for
each controller and mode so nothing is inherited. Each controller runs as a process in the
root namespace with the admin kubeconfig (the same client rights for both), webhooks off.
Printed per controller and mode: creation time, time until all assigned, CPU seconds of the
controller process until its writes are done (from its start in ``precreate``, from the first
create in ``running``; CPU, not wall time, is the reading load on a shared machine does not
distort), peak RSS, the
writes per Service (Service, status and Event writes the API server counted, the bench's own
creates taken out) and 429s, and MetalLB / lbtui ratios.

The "API floor" row (``precreate`` only) is ``tests/bench/api_floor.py`` on the same
precreated Services: a minimal client (``http.client`` over the admin kubeconfig's TLS and
token, 16 threads, no allocator, cache or watch) that writes only what lbtui must, one status
PATCH per Service (the same body) and then one IPAllocated Event, as fast as the API server
takes them: the fastest any controller written in Python can go on this machine, with the API
server and etcd on the same cores. Its phases (status, then Events) are printed beside it.

``--baseline DIR`` adds a row: the lbtui controller of another checkout (``/work/main``, a
commit before a change) on the same workload in the same run, with the ratio baseline / lbtui.
``--profile DIR`` runs lbtui under ``tests/bench/profile_threads.py`` (a CPU-timed cProfile in
every thread) and writes ``DIR/lbtui-<mode>.txt``; its times are then the profiled process's,
slower than the real one's.

MetalLB's controller is built by ``tests/kube-real/build.sh --with-metallb`` from its Go module
(go.universe.tf/metallb) into the same cache; without it only lbtui's rows are printed, with the
reason.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from tests.bench.procinfo import cpu_seconds  # noqa: E402

sys.path.insert(0, str(REPO / "tests" / "kube-real"))  # not a package: its name has a dash
controlplane = importlib.import_module("controlplane")

NS = "metallb-system"
POOL = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bench, namespace: metallb-system}
spec: {addresses: [10.128.0.0/17]}
"""


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

    def create(i: int) -> None:
        api.create_namespaced_service("bench", body(i), _preload_content=False)

    start = time.monotonic()
    with ThreadPoolExecutor(creators) as pool:
        list(pool.map(create, range(count)))
    return time.monotonic() - start


def _has_address(service: dict[str, Any]) -> bool:
    return bool(((service.get("status") or {}).get("loadBalancer") or {}).get("ingress"))


class AssignedWatch:
    """The Services of ``bench`` that have an address in status, followed by one list and a
    watch (raw JSON lines) in a thread: the moment the last one got its address is read off
    the watch. Polling a list of 10,000 Services four times a second instead made the API
    server read them all from etcd and encode them each time, on the cores the controller
    and the API server share: it slowed the very writes it timed."""

    def __init__(self, api: Any, count: int) -> None:
        self.api = api
        self.count = count
        self.assigned: set[str] = set()
        self.done_at: float | None = None
        self.ready = threading.Event()  # listed, and watching
        self._stop = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _note(self, service: dict[str, Any], deleted: bool = False) -> None:
        name = (service.get("metadata") or {}).get("name", "")
        if _has_address(service) and not deleted:
            self.assigned.add(name)
        else:
            self.assigned.discard(name)
        if self.done_at is None and len(self.assigned) >= self.count:
            self.done_at = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                listed = json.loads(
                    self.api.list_namespaced_service("bench", _preload_content=False).data
                )
                self.assigned = set()
                for item in listed.get("items") or []:
                    self._note(item)
                rv = listed["metadata"]["resourceVersion"]
                self._response = response = self.api.list_namespaced_service(
                    "bench",
                    watch=True,
                    resource_version=rv,
                    timeout_seconds=3600,
                    _preload_content=False,
                )
                self.ready.set()
                buffer = b""
                for chunk in response.stream(1 << 16):
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                            self._note(event["object"], event["type"] == "DELETED")
                        elif event.get("type") == "ERROR":
                            raise RuntimeError(event.get("object"))
            except Exception as exc:
                if not self._stop.is_set():
                    print(f"bench: watching Services: {exc}; listing again", file=sys.stderr)
                    time.sleep(0.5)

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()
        self._thread.join(5)


def write_calls(api: Any) -> Counter[str]:
    """The API server's count of write requests by ``VERB resource[/subresource]`` (its
    ``apiserver_request_total``), and of 429s: who made them does not matter here, only the
    bench (its creates) and the controller write."""
    configuration = api.api_client.configuration
    headers = {
        "Authorization": configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
    }
    response = api.api_client.call_api("GET", configuration.host + "/metrics", headers)
    text = response.read().decode() if hasattr(response, "read") else response.data.decode()
    out: Counter[str] = Counter()
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        value = float(line.rsplit(" ", 1)[1])
        if labels.get("code") == "429":
            out["429"] += int(value)
        if labels.get("verb") not in ("POST", "PUT", "PATCH", "DELETE"):
            continue
        if labels.get("resource") not in ("services", "events"):
            continue
        what = labels["resource"] + (
            "/" + labels["subresource"] if labels.get("subresource") else ""
        )
        out[f"{labels['verb']} {what}"] += int(value)
    return out


def run_one(
    name: str,
    command: list[str],
    env: dict[str, str],
    count: int,
    creators: int,
    work: Path,
    mode: str,
) -> dict[str, Any]:
    plane = controlplane.ControlPlane(work=work / f"{name}-{mode}", stress_watches=False).up()
    proc: subprocess.Popen[bytes] | None = None
    watcher: AssignedWatch | None = None
    try:
        plane.kubectl("apply", "-f", str(REPO / "examples" / "deploy" / "namespace.yaml"))
        plane.kubectl("apply", "-f", str(REPO / "examples" / "deploy" / "crds.yaml"))
        plane.kubectl("apply", "-f", "-", stdin=POOL)
        plane.kubectl("create", "namespace", "bench")
        api = core_api(plane)
        created_in: dict[str, float] = {}
        if mode == "precreate":
            created_in["s"] = create_services(api, count, creators)
        calls0 = write_calls(api)
        watcher = AssignedWatch(api, count)
        if not watcher.ready.wait(120):
            raise RuntimeError("the bench's watch of the Services did not start")
        log = open(work / f"{name}-{mode}.log", "wb")  # noqa: SIM115
        first = time.monotonic()
        proc = subprocess.Popen(
            command,
            env={**os.environ, **env},
            # ``python -m lbtui`` imports from its working directory first: the checkout's.
            cwd=env.get("PYTHONPATH") or None,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        cpu0 = 0.0
        creator = None
        if mode == "running":
            time.sleep(3)  # started and synced (an empty cluster)
            cpu0 = cpu_seconds(proc.pid)
            first = time.monotonic()
            creator = threading.Thread(
                target=lambda: created_in.setdefault("s", create_services(api, count, creators))
            )
            creator.start()
        deadline = first + 1800
        while time.monotonic() < deadline:
            if watcher.done_at is not None or proc.poll() is not None:
                break
            time.sleep(0.25)
        assigned = len(watcher.assigned)
        total = (watcher.done_at or time.monotonic()) - first
        if creator is not None:
            creator.join()
        # The Events may still be being posted: the writes (and the CPU they cost) are read
        # once the API server has counted none for 3 s (at most 120 s more).
        calls, settle = write_calls(api), time.monotonic() + 120
        while time.monotonic() < settle and proc.poll() is None:
            time.sleep(3)
            again = write_calls(api)
            if again == calls:
                break
            calls = again
        alive = proc.poll() is None
        cpu = cpu_seconds(proc.pid) - cpu0 if alive else float("nan")
        rss = peak_rss_mb(proc.pid) if alive else float("nan")
        calls.subtract(calls0)
        if mode == "running":
            calls["POST services"] -= count  # the bench's own creates
        row = {
            "controller": name,
            "mode": mode,
            "services": count,
            "assigned": assigned,
            "created_s": created_in.get("s", float("nan")),
            "all_assigned_s": total,
            "cpu_s": cpu,
            "peak_rss_mb": rss,
            "writes": {k: v for k, v in sorted(calls.items()) if v and k != "429"},
            "writes_per_service": sum(v for k, v in calls.items() if k != "429") / count,
            "http_429": calls["429"],
        }
        if name == "floor":  # what the API floor said of itself: its phases
            log.close()
            reported = [
                line
                for line in (work / f"{name}-{mode}.log").read_text().splitlines()
                if line.startswith("{")
            ]
            if reported:
                row["reported"] = json.loads(reported[-1])
        print(json.dumps(row), flush=True)
        return row
    finally:
        if watcher is not None:
            watcher.stop()
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(45)  # MetalLB's controller-runtime waits up to 30 s for its runnables
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        plane.down()
        # etcd's data (~110 MB at 10,000 Services) is not kept; the logs are.
        shutil.rmtree(work / f"{name}-{mode}" / "etcd", ignore_errors=True)


def lbtui_command(work: Path, mode: str, profile: Path | None, name: str = "lbtui") -> list[str]:
    kubeconfig = work / f"{name}-{mode}" / "admin.kubeconfig"
    head = [sys.executable, "-m", "lbtui"]
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        profiler = REPO / "tests" / "bench" / "profile_threads.py"
        head = [sys.executable, str(profiler), str(profile / f"lbtui-{mode}.txt"), "--"]
    return [
        *head,
        "controller",
        f"--kubeconfig={kubeconfig}",
        f"--namespace={NS}",
        "--webhook-mode=disabled",
        "--metrics-port=-1",
    ]


def metallb_command(binary: Path) -> list[str]:
    return [
        str(binary),
        f"--namespace={NS}",
        "--webhook-mode=disabled",
        "--disable-cert-rotation",
        "--port=0",
        "--log-level=warn",
    ]


def print_table(rows: list[dict[str, Any]], creators: int) -> None:
    titles = {
        "running": "created while the controller runs (time from the first create)",
        "precreate": "created at once before the controller starts (time from its start)",
    }
    for mode in ("running", "precreate"):
        of_mode = [r for r in rows if r["mode"] == mode]
        if not of_mode:
            continue
        print(
            f"\n{of_mode[0]['services']} LoadBalancer Services {titles[mode]}, {creators} creators"
        )
        print(
            f"{'controller':<10} {'assigned':>9} {'created (s)':>12} {'all assigned (s)':>17} "
            f"{'CPU (s)':>8} {'CPU/Service (ms)':>17} {'peak RSS (MB)':>14} "
            f"{'writes/Service':>15} {'429s':>5}"
        )
        for r in of_mode:
            print(
                f"{r['controller']:<10} {r['assigned']:>9} {r['created_s']:>12.1f} "
                f"{r['all_assigned_s']:>17.1f} {r['cpu_s']:>8.1f} "
                f"{1000 * r['cpu_s'] / r['services']:>17.1f} {r['peak_rss_mb']:>14.0f} "
                f"{r['writes_per_service']:>15.2f} {r['http_429']:>5}"
            )
        for r in of_mode:
            print(f"  {r['controller']} writes: {r['writes']}")
            if r["controller"] == "floor" and "reported" in r:
                print(f"  floor phases: {r['reported']}")
        by = {r["controller"]: r for r in of_mode}
        for top, bottom, label, rss in (
            ("metallb", "lbtui", "MetalLB / lbtui", True),
            ("lbtui", "floor", "lbtui / API floor", False),
            ("baseline", "lbtui", "baseline / lbtui", False),
        ):
            if top in by and bottom in by:
                print_ratio(label, by[top], by[bottom], rss=rss)


def print_ratio(label: str, top: dict, bottom: dict, *, rss: bool) -> None:
    """One "ratio A / B" line: time until all assigned, CPU, and peak RSS if asked."""
    line = (
        f"ratio {label}: time until all assigned "
        f"{top['all_assigned_s'] / bottom['all_assigned_s']:.1f}x, "
        f"CPU {top['cpu_s'] / bottom['cpu_s']:.2f}x"
    )
    if rss:
        line += f", peak RSS {top['peak_rss_mb'] / bottom['peak_rss_mb']:.2f}x"
    print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--creators", type=int, default=16)
    parser.add_argument(
        "--only",
        default="lbtui,floor,metallb",
        help="the rows to run, comma-separated: lbtui, floor (the API floor), metallb",
    )
    parser.add_argument("--mode", choices=("running", "precreate", "both"), default="both")
    parser.add_argument("--profile", type=Path, default=None, help="profile lbtui into DIR")
    parser.add_argument(
        "--baseline", type=Path, default=None, help="also run the lbtui controller of checkout DIR"
    )
    args = parser.parse_args()
    only = {o.strip() for o in args.only.split(",") if o.strip()}
    unknown = only - {"lbtui", "floor", "metallb"}
    if unknown:
        parser.error(f"--only: unknown rows {', '.join(sorted(unknown))}")
    work = Path(tempfile.mkdtemp(prefix="lbtui-bench-kube-"))
    metallb = controlplane.binaries() / "metallb-controller"
    modes = ("running", "precreate") if args.mode == "both" else (args.mode,)
    rows = []
    reason = ""
    for mode in modes:
        if "lbtui" in only:
            command = lbtui_command(work, mode, args.profile)
            env = {"PYTHONPATH": str(REPO)}
            rows.append(run_one("lbtui", command, env, args.services, args.creators, work, mode))
        if args.baseline is not None:
            # Another checkout's controller on the same workload in the same run: before and
            # after a change, under the same load.
            command = lbtui_command(work, mode, None, "baseline")
            env = {"PYTHONPATH": str(args.baseline)}
            rows.append(run_one("baseline", command, env, args.services, args.creators, work, mode))
        if "floor" in only and mode == "precreate":
            kubeconfig = work / f"floor-{mode}" / "admin.kubeconfig"
            command = [
                sys.executable,
                str(REPO / "tests" / "bench" / "api_floor.py"),
                str(kubeconfig),
            ]
            rows.append(run_one("floor", command, {}, args.services, args.creators, work, mode))
        if "metallb" in only:
            if metallb.exists():
                env = {"KUBECONFIG": str(work / f"metallb-{mode}" / "admin.kubeconfig")}
                rows.append(
                    run_one(
                        "metallb",
                        metallb_command(metallb),
                        env,
                        args.services,
                        args.creators,
                        work,
                        mode,
                    )
                )
            else:
                reason = (
                    f"MetalLB's controller is not built ({metallb}): "
                    "run tests/kube-real/build.sh --with-metallb"
                )
    print_table(rows, args.creators)
    if reason:
        print("\n" + reason)
    print(json.dumps(rows))
    print(f"logs: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
