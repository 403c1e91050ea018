"""A real Kubernetes control plane for the tests: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, built from their Go modules (``build.sh``) and run in a network
namespace of its own.

    <prefix>-<pid>-cp   lo: etcd (2379), the API server (6443), the controller manager, the
                        scheduler, kwok
                        kube0 (bridge): 10.97.0.1/24, the API server's address for speakers
                        and for the webhook Service's endpoint (the controller under test)
    root namespace      127.0.0.1:<port> forwarded to the API server (tests, kubectl, client)

The API server runs with a serving certificate of a fresh CA, ServiceAccount keys, RBAC, the
default admission plugins and ``--enable-aggregator-routing`` (it calls webhooks at their
Service's endpoints, so a process in the namespace can serve them without kube-proxy). Nodes
are kwok's (annotation ``kwok.x-k8s.io/node: fake``); their Pods become Running, and the real
endpointslice controller makes EndpointSlices from them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from forward import Forwarder
from pki import Pki, make_pki

from lbtui.lab.netns import kill_namespace, remove_leftovers, run

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "tests" / "kube-real" / "build.sh"
PREFIX = "lbkr"
API_ADDRESS = "10.97.0.1"
API_PORT = 6443
SUBNET = "10.97.0."
KWOK_ANNOTATION = "kwok.x-k8s.io/node"


def binaries() -> Path:
    """The build cache's bin directory (``build.sh --print-dir``)."""
    out = subprocess.run([str(BUILD), "--print-dir"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def kubeconfig(server: str, ca: Path, token: str, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "realkube", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "realkube", "user": user}}],
        "current-context": user,
    }


class ControlPlaneError(RuntimeError):
    pass


@dataclass
class ControlPlane:
    """``up()`` starts everything and writes ``admin.kubeconfig``; ``down()`` stops it all."""

    work: Path
    bin: Path = field(default_factory=binaries)
    extra_apiserver_args: list[str] = field(default_factory=list)
    stress_watches: bool = True
    netns: str = ""
    pki: Pki | None = None
    forwarder: Forwarder | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.netns = self.netns or f"{PREFIX}-{os.getpid()}-cp"

    # -- what tests use ----------------------------------------------------------------------

    @property
    def server(self) -> str:
        """The API server's URL from this (root) namespace."""
        assert self.forwarder is not None
        return f"https://127.0.0.1:{self.forwarder.port}"

    @property
    def inner_server(self) -> str:
        """The API server's URL from inside the test namespaces."""
        return f"https://{API_ADDRESS}:{API_PORT}"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.work / "admin.kubeconfig"

    def write_kubeconfig(self, name: str, token: str, *, inner: bool = False) -> Path:
        """A kubeconfig for ``token`` (a ServiceAccount's, say), for use here or, with
        ``inner``, from inside the test namespaces."""
        assert self.pki is not None
        path = self.work / f"{name}.kubeconfig"
        server = self.inner_server if inner else self.server
        path.write_text(yaml.safe_dump(kubeconfig(server, self.pki.ca_cert, token, name)))
        path.chmod(0o600)
        return path

    def kubectl(
        self,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        kubeconfig_path: Path | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [
            str(self.bin / "kubectl"),
            f"--kubeconfig={kubeconfig_path or self.admin_kubeconfig}",
            *args,
        ]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc

    def in_netns(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *cmd]

    # -- lifecycle ---------------------------------------------------------------------------

    def up(self, timeout: float = 60) -> ControlPlane:
        missing = [
            b
            for b in (
                "etcd",
                "kube-apiserver",
                "kube-controller-manager",
                "kubectl",
                "kwok",
                "kwok-stages.yaml",
            )
            if not (self.bin / b).exists()
        ]
        if missing:
            raise ControlPlaneError(
                f"not built: {', '.join(missing)} in {self.bin}; run tests/kube-real/build.sh"
            )
        remove_leftovers(PREFIX)
        self.work.mkdir(parents=True, exist_ok=True)
        try:
            self._network()
            self.pki = make_pki(
                self.work / "pki",
                [
                    API_ADDRESS,
                    "127.0.0.1",
                    "localhost",
                    "kubernetes",
                    "kubernetes.default",
                    "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local",
                    "10.96.0.1",
                ],
            )
            self._start_etcd()
            self.forwarder = Forwarder(self.netns, "127.0.0.1", API_PORT)
            self.admin_kubeconfig.write_text(
                yaml.safe_dump(
                    kubeconfig(self.server, self.pki.ca_cert, self.pki.admin_token, "admin")
                )
            )
            self.start_apiserver()
            self._wait_ready(timeout)
            self._start_controller_manager()
            self._start_scheduler()
            self._start_kwok()
            self._wait_for_default_serviceaccount(timeout)
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        for name in reversed(list(self.processes)):
            self._stop(name)
        if self.forwarder is not None:
            self.forwarder.close()
        kill_namespace(self.netns)

    def _network(self) -> None:
        kill_namespace(self.netns)
        run(["ip", "netns", "add", self.netns])
        for cmd in (
            "ip link set lo up",
            "ip link add kube0 type bridge",
            f"ip addr add {API_ADDRESS}/24 dev kube0",
            "ip link set kube0 up",
        ):
            run(self.in_netns(*cmd.split()))

    def attach(self, netns: str, address: str, ifname: str = "kube") -> None:
        """Connect another namespace to the control plane's bridge with ``address``/24."""
        peer = f"k{abs(hash((netns, ifname))) % 10**8}"
        run(
            [
                "ip",
                "link",
                "add",
                ifname,
                "netns",
                netns,
                "type",
                "veth",
                "peer",
                "name",
                peer,
                "netns",
                self.netns,
            ]
        )
        run(self.in_netns("ip", "link", "set", peer, "master", "kube0", "up"))
        run(["ip", "netns", "exec", netns, "ip", "addr", "add", f"{address}/24", "dev", ifname])
        run(["ip", "netns", "exec", netns, "ip", "link", "set", ifname, "up"])

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.work / f"{name}.log", "ab")  # noqa: SIM115 (kept open for the process)
        self.processes[name] = subprocess.Popen(
            self.in_netns(*args), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def _stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.processes.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def log(self, name: str) -> str:
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _start_etcd(self) -> None:
        data = self.work / "etcd"
        shutil.rmtree(data, ignore_errors=True)
        self._spawn(
            "etcd",
            [
                str(self.bin / "etcd"),
                f"--data-dir={data}",
                "--name=default",
                "--listen-client-urls=http://127.0.0.1:2379",
                "--advertise-client-urls=http://127.0.0.1:2379",
                "--listen-peer-urls=http://127.0.0.1:2380",
                "--initial-advertise-peer-urls=http://127.0.0.1:2380",
                "--initial-cluster=default=http://127.0.0.1:2380",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )

    def start_apiserver(self) -> None:
        """(Re)start kube-apiserver; etcd keeps the state across restarts."""
        pki = self.pki
        assert pki is not None
        self._spawn(
            "kube-apiserver",
            [
                str(self.bin / "kube-apiserver"),
                "--etcd-servers=http://127.0.0.1:2379",
                # Dual stack: the server's own loopback client dials [::1] (its Service IP
                # allocator writes IPAddress objects through it).
                "--bind-address=::",
                f"--secure-port={API_PORT}",
                f"--advertise-address={API_ADDRESS}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--token-auth-file={pki.tokens}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--enable-aggregator-routing=true",
                "--allow-privileged=true",
                "--profiling=false",
                *self.watch_stress_args(),
                *self.extra_apiserver_args,
            ],
        )

    def watch_stress_args(self) -> list[str]:
        """410 Gone for real: Services are watched from etcd (no watch cache), and etcd is
        compacted every 2 s, so a watch resumed after a pause meets a compacted revision.
        Off for the benchmark, which measures a server as clusters run it."""
        if not self.stress_watches:
            return []
        return ["--watch-cache-sizes=services#0", "--etcd-compaction-interval=2s"]

    def stop_apiserver(self) -> None:
        self._stop("kube-apiserver")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            proc = self.processes["kube-apiserver"]
            if proc.poll() is not None:
                raise ControlPlaneError(
                    "kube-apiserver exited:\n" + self.log("kube-apiserver")[-3000:]
                )
            try:
                done = self.kubectl("get", "--raw=/readyz", check=False, timeout=10)
            except subprocess.TimeoutExpired as exc:  # a starved machine: ask again
                last = str(exc)
                continue
            if done.returncode == 0:
                return
            last = done.stderr
            time.sleep(0.3)
        raise ControlPlaneError(f"kube-apiserver not ready in {timeout} s: {last}")

    def wait_ready(self, timeout: float = 60) -> None:
        self._wait_ready(timeout)

    def _start_controller_manager(self) -> None:
        pki = self.pki
        assert pki is not None
        inner = self.work / "kcm.kubeconfig"
        inner.write_text(
            yaml.safe_dump(
                kubeconfig(
                    f"https://127.0.0.1:{API_PORT}",
                    pki.ca_cert,
                    pki.controller_manager_token,
                    "system:kube-controller-manager",
                )
            )
        )
        self._spawn(
            "kube-controller-manager",
            [
                str(self.bin / "kube-controller-manager"),
                f"--kubeconfig={inner}",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",  # nothing scrapes it here
                "--controllers=*",
                # Each controller acts as its own ServiceAccount (the bootstrap roles
                # system:controller:*), as kubeadm runs it.
                "--use-service-account-credentials=true",
                "--concurrent-gc-syncs=5",
            ],
        )

    def _start_scheduler(self) -> None:
        """The real scheduler: it binds the Deployment's and DaemonSet's Pods to kwok Nodes."""
        pki = self.pki
        assert pki is not None
        inner = self.work / "scheduler.kubeconfig"
        inner.write_text(
            yaml.safe_dump(
                kubeconfig(
                    f"https://127.0.0.1:{API_PORT}",
                    pki.ca_cert,
                    pki.scheduler_token,
                    "system:kube-scheduler",
                )
            )
        )
        self._spawn(
            "kube-scheduler",
            [
                str(self.bin / "kube-scheduler"),
                f"--kubeconfig={inner}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
            ],
        )

    def _start_kwok(self) -> None:
        pki = self.pki
        assert pki is not None
        inner = self.work / "kwok.kubeconfig"
        inner.write_text(
            yaml.safe_dump(
                kubeconfig(f"https://127.0.0.1:{API_PORT}", pki.ca_cert, pki.admin_token, "kwok")
            )
        )
        self._spawn(
            "kwok",
            [
                str(self.bin / "kwok"),
                f"--kubeconfig={inner}",
                f"--config={self.bin / 'kwok-stages.yaml'}",
                f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
                # Pod IPs on the bridge's own subnet (nodes and the API use .1-.127), so a
                # process standing in for a Pod takes its IP and is reachable at once.
                f"--cidr={SUBNET}128/25",
                "--node-lease-duration-seconds=40",
            ],
        )

    def _wait_for_default_serviceaccount(self, timeout: float) -> None:
        """Pods need the ``default`` ServiceAccount that the controller manager makes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0:
                return
            for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
                if self.processes[name].poll() is not None:
                    raise ControlPlaneError(f"{name} exited:\n" + self.log(name)[-3000:])
            time.sleep(0.3)
        raise ControlPlaneError(
            "no default ServiceAccount: " + self.log("kube-controller-manager")[-2000:]
        )

    # -- objects -----------------------------------------------------------------------------

    def add_node(self, name: str, address: str, labels: dict[str, str] | None = None) -> None:
        """A kwok Node (kwok keeps it Ready and runs its Pods)."""
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "type": "kwok",
                    **(labels or {}),
                },
            },
        }
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(node))
        # A create drops status (the server's Node strategy): the address, as a kubelet
        # reports it, goes through the status subresource; kwok's heartbeat keeps it.
        addresses = {
            "status": {
                "addresses": [
                    {"type": "InternalIP", "address": address},
                    {"type": "Hostname", "address": name},
                ]
            }
        }
        self.kubectl(
            "patch",
            "node",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps(addresses),
        )
