"""`lbtui speaker` processes inside a Topology's node namespaces, and their event streams."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.net.topology import PYTHON, Topology


class Speaker:
    def __init__(self, topo: Topology, node: str, cluster: Path, logs: Path, args: Sequence[str]):
        self.node = node
        self.out_path = logs / f"{node}.jsonl"
        self.err_path = logs / f"{node}.err"
        self.proc = topo.spawn(
            node,
            [
                PYTHON,
                "-m",
                "lbtui",
                "speaker",
                "--node-name",
                node,
                "--cluster",
                str(cluster),
                "--poll",
                "0.2",
                *args,
            ],
            stdout=self.out_path.open("w"),
            stderr=self.err_path.open("w"),
        )

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.out_path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line being written
                out.append(json.loads(line))
        return out

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], Any], timeout: float = 20.0
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = predicate(self.events())
            if found:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.node} exited {self.proc.returncode}: {self.stderr()}")
            time.sleep(0.05)
        raise AssertionError(f"{self.node}: condition not met; stderr: {self.stderr()[-2000:]}")

    def answering(self) -> dict[str, tuple[str, ...]]:
        """What this speaker answers for now (from its L2AnswersChanged events)."""
        now: dict[str, tuple[str, ...]] = {}
        for e in self.events():
            if e["event"] == "L2AnswersChanged":
                if e["interfaces"]:
                    now[e["ip"]] = tuple(e["interfaces"])
                else:
                    now.pop(e["ip"], None)
        return now

    def stderr(self) -> str:
        return self.err_path.read_text() if self.err_path.exists() else ""

    def terminate(self, timeout: float = 10.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def start_speakers(
    topo: Topology, cluster: Path, logs: Path, args: Sequence[str] = (), nodes: Sequence[str] = ()
) -> dict[str, Speaker]:
    speakers = {n: Speaker(topo, n, cluster, logs, args) for n in (nodes or topo.node_names)}
    for speaker in speakers.values():
        speaker.wait_for(lambda ev: any(e["event"] == "RuntimeReady" for e in ev))
    return speakers


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def client_probe(topo: Topology, *args: str) -> dict[str, Any]:
    out = topo.client.run(PYTHON, "-m", "tests.net.probe", *args, timeout=60)
    return json.loads(out)


def tcp_hello(topo: Topology, address: str, port: int = 8080) -> str:
    """Connect from the client and return what the server says (its node name)."""
    code = (
        "import socket,sys\n"
        f"s=socket.create_connection(({address!r},{port}),timeout=3)\n"
        "print(s.recv(100).decode())\n"
    )
    return topo.client.run(PYTHON, "-c", code).strip()


HELLO_SERVER = """
import socket, sys
name = sys.argv[1].encode()
srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("::", 8080))
srv.listen(16)
while True:
    conn, _ = srv.accept()
    conn.sendall(name)
    conn.close()
"""


def start_hello_servers(topo: Topology) -> None:
    for node in topo.node_names:
        topo.spawn(node, [PYTHON, "-c", HELLO_SERVER, node], stdout=subprocess.DEVNULL)
