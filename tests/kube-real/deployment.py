"""lbtui deployed on the real control plane the way a user deploys it: ``kubectl apply -k
examples/deploy``, then lbtui's processes standing in for the Pods that kwok simulates.

kwok makes the controller Deployment's Pod and the speaker DaemonSet's Pods Running (with
IPs: the speakers' are their Nodes' addresses, as hostNetwork Pods' are). Each lbtui process
runs in a network namespace that carries its Pod's IP on the control plane's bridge, with the
least-privilege kubeconfig of its ServiceAccount (a real token from the TokenRequest API), so
the API server calls the webhooks at the controller Pod's endpoint and the RBAC of
examples/deploy is what every call meets.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane import PREFIX, REPO, SUBNET, ControlPlane, ControlPlaneError

from lbtui.lab.netns import kill_namespace, run

NS = "metallb-system"
NODES = {"n1": f"{SUBNET}11", "n2": f"{SUBNET}12", "n3": f"{SUBNET}13"}
PROBE_POOL = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: webhook-probe, namespace: metallb-system}
spec: {addresses: [192.0.2.255/32]}
"""


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60, every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (ControlPlaneError, KeyError, IndexError, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@dataclass
class LbtuiProcess:
    """``python -m lbtui ...`` in a network namespace, its output in a log file."""

    name: str
    netns: str
    args: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LbtuiProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **self.env}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, sys.executable, "-m", "lbtui", *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=REPO,
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Deployment:
    plane: ControlPlane
    processes: list[LbtuiProcess] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    # -- the cluster objects -----------------------------------------------------------------

    def apply(self) -> Deployment:
        for name, address in NODES.items():
            self.plane.add_node(name, address)
        self.plane.kubectl("apply", "-k", str(REPO / "examples" / "deploy"), timeout=120)
        return self

    def get(self, *args: str) -> Any:
        return json.loads(self.plane.kubectl("get", *args, "-o", "json").stdout)

    def pod(self, component: str, node: str | None = None) -> dict[str, Any]:
        """The Running Pod of ``component`` (on ``node``), as kwok made it."""

        def running() -> dict[str, Any] | None:
            pods = self.get("pods", "-n", NS, "-l", f"app=metallb,component={component}")["items"]
            for pod in pods:
                if node is not None and pod["spec"].get("nodeName") != node:
                    continue
                status, deleting = pod["status"], pod["metadata"].get("deletionTimestamp")
                if status.get("phase") == "Running" and status.get("podIP") and not deleting:
                    return pod
            return None

        return wait_for(f"a Running {component} pod", running, timeout=90)

    def token(self, service_account: str) -> str:
        """A real ServiceAccount token (TokenRequest API), bound to nothing but the account."""
        return self.plane.kubectl(
            "create", "token", service_account, "-n", NS, "--duration=10h"
        ).stdout.strip()

    def kubeconfig(self, service_account: str) -> Path:
        return self.plane.write_kubeconfig(
            f"sa-{service_account}", self.token(service_account), inner=True
        )

    # -- lbtui's processes -------------------------------------------------------------------

    def namespace_for(self, name: str, address: str) -> str:
        """A network namespace on the control plane's bridge with ``address`` (a Pod's IP)."""
        netns = f"{PREFIX}-{os.getpid()}-{name}"
        kill_namespace(netns)
        run(["ip", "netns", "add", netns])
        run(["ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up"])
        self.plane.attach(netns, address)
        self.namespaces.append(netns)
        return netns

    def start(
        self, name: str, netns: str, args: list[str], env: dict[str, str] | None = None
    ) -> LbtuiProcess:
        log = self.plane.work / f"{name}.log"
        process = LbtuiProcess(name, netns, args, log, env or {}).start()
        self.processes.append(process)
        return process

    def start_controller(
        self,
        name: str = "controller",
        *extra: str,
        webhooks: bool = True,
        pod: dict[str, Any] | None = None,
    ) -> LbtuiProcess:
        """The controller in its Pod's namespace, with the controller ServiceAccount. It runs
        with ``--leader-elect`` as a two-replica Deployment would (one replica holds the Lease)."""
        pod = pod or self.pod("controller")
        netns = self.namespace_for(name, pod["status"]["podIP"])
        cert_dir = self.plane.work / f"{name}-certs"
        args = [
            "controller",
            f"--kubeconfig={self.kubeconfig('controller')}",
            f"--namespace={NS}",
            f"--webhook-mode={'enabled' if webhooks else 'disabled'}",
            f"--cert-dir={cert_dir}",
            "--ml-secret-name=memberlist",
            "--deployment=controller",
            "--leader-elect",
            "--secure-metrics-port=9120",
            *extra,
        ]
        return self.start(name, netns, args, {"POD_NAME": pod["metadata"]["name"]})

    def restart_controller(self, name: str = "controller") -> LbtuiProcess:
        old = next(p for p in self.processes if p.name == name)
        old.stop()
        self.processes.remove(old)
        netns = old.netns
        kill_namespace(netns)
        self.namespaces.remove(netns)
        controller = self.start_controller(name)
        self.wait_for_webhooks(controller)
        return controller

    def wait_for_webhooks(self, controller: LbtuiProcess) -> None:
        """Until the API server's calls reach ``controller``'s webhooks (a server-side dry run
        of a pool: the validating webhook answers it)."""

        def answered() -> bool:
            if not controller.alive():
                raise AssertionError("controller exited:\n" + controller.output()[-3000:])
            done = self.plane.kubectl(
                "apply", "--dry-run=server", "-f", "-", stdin=PROBE_POOL, check=False
            )
            return done.returncode == 0

        wait_for("the admission webhooks to answer", answered, timeout=90, every=0.5)

    def wait_for_compaction(self, path: str, resource_version: str) -> None:
        """Until etcd has compacted ``resource_version`` away: a list at exactly that version
        is then refused with 410 Gone (the API server compacts every few seconds here)."""

        def compacted() -> bool:
            done = self.plane.kubectl(
                "get",
                "--raw",
                f"{path}?resourceVersion={resource_version}&resourceVersionMatch=Exact",
                check=False,
            )
            return done.returncode != 0 and (
                "410" in done.stderr or "too old" in done.stderr or "Expired" in done.stderr
            )

        wait_for(f"etcd to compact revision {resource_version}", compacted, timeout=60, every=1)

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        for netns in self.namespaces:
            kill_namespace(netns)
        self.namespaces.clear()
