"""What a file-mode speaker imports: nothing it does not use.

In a fresh interpreter (a subprocess, so this test's own imports do not count): parse the
command line, build the speaker's actors, run the role for a moment, and drive the packet
path (ARP and NDP answers, gratuitous frames, BPF programs, the netlink link reader). Then
none of the heavy libraries the speaker does not need may be in ``sys.modules``: scapy (the
tests' oracle for frames), pyroute2 (the oracle for netlink), textual (the console),
kubernetes (only with the API), prometheus_client (only when metrics are served),
cryptography (only with a membership key); nor the gossip code, the Kubernetes adapter or the
HTTP server a file speaker without membership, API or endpoints never runs. And of our pydantic
models only those the files needed were built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

NOT_IMPORTED = (
    "scapy",
    "pyroute2",
    "textual",
    "rich",
    "kubernetes",
    "prometheus_client",
    "cryptography",
)

#: Ours, and not run by a file speaker without --ml-*, API, metrics or status endpoint.
NOT_RUN = (
    "actors.membership",
    "actors.kube",
    "actors.observability.httpd",
    "actors.bgp.frr",
    "actors.config.legacy",  # no ConfigMap in the files
)

SPEAKER = """
import io, json, os, sys
from actors.clock import RealClock
from actors.l2 import arp, bpf, interfaces, ndp
from actors.roles import speaker as role
from actors.runtime import Runtime
from lbtui.cli import build_parser
from lbtui.commands.speaker import speaker_options

argv = ["speaker", "--node-name", "node-a", "--cluster", "examples/cluster.yaml",
        "--config", "examples/crds/config.yaml", "--no-bgp"]
layer2 = os.geteuid() == 0  # the L2 actor needs raw sockets
options = speaker_options(build_parser().parse_args(argv + ([] if layer2 else ["--no-l2"])))
clock = RealClock()
events = io.StringIO()
role.build(options, events=events, clock=clock)  # with layer 2 if root: its imports count
quiet = speaker_options(build_parser().parse_args(argv + ["--no-l2"]))
runtime = Runtime("speaker", role.build(quiet, events=events, clock=clock), clock=clock)
runtime.start()
runtime.stop("done")
assert "RuntimeReady" in events.getvalue(), events.getvalue()[-2000:]

mac, vip4, vip6 = bytes.fromhex("029900000001"), bytes([10, 99, 0, 100]), bytes(15) + b"\\x01"
replier4, replier6 = arp.ArpReplier(mac), ndp.NdpReplier(mac, None)
asker = bytes.fromhex("029900000002")
assert replier4.answer(arp.request_frame(asker, bytes(4), vip4), {vip4: "x"})[0]
assert replier6.answer(ndp.solicitation_frame(asker, bytes(15) + b"\\x02", vip6), {vip6: "x"})[0]
replier4.gratuitous(vip4)
replier6.unsolicited(vip6)
bpf.arp_program([vip4])
bpf.ndp_program([vip6])
assert interfaces.read_links()

from pydantic import BaseModel

def models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from models(sub)

ours = {f"{m.__module__}.{m.__qualname__}": m.__pydantic_complete__
        for m in models(BaseModel) if m.__module__.startswith("actors.")}
from actors.model import cluster  # its kinds are dataclasses: built = an adapter made
ours.update({f"actors.model.cluster.{k.__qualname__}": k in cluster.ADAPTERS
             for k in vars(cluster).values()
             if isinstance(k, type) and issubclass(k, cluster._K8s) and k is not cluster._K8s})
print(json.dumps({"modules": sorted(sys.modules), "models": ours}))
"""


@pytest.fixture(scope="module")
def speaker_run() -> dict[str, Any]:
    """What the fresh interpreter loaded: ``modules`` (names) and ``models`` (each pydantic
    model of ours -> whether its validator was built)."""
    proc = subprocess.run(
        [sys.executable, "-c", SPEAKER],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_a_file_speaker_and_its_packet_path_import_no_heavy_library(
    speaker_run: dict[str, Any],
) -> None:
    modules = speaker_run["modules"]
    assert "actors.l2.responder" in modules and "actors.config.build" in modules
    loaded = {name.split(".")[0] for name in modules}
    assert loaded.isdisjoint(NOT_IMPORTED), sorted(loaded & set(NOT_IMPORTED))
    unused = [m for m in modules if m.startswith(NOT_RUN) or m in ("http.server", "ssl")]
    assert not unused, unused


def test_the_speaker_builds_only_the_models_it_validates(speaker_run: dict[str, Any]) -> None:
    """Models are deferred (``defer_build``): building a validator costs the start about a
    millisecond a model, so only the kinds the files hold are built, on first use."""
    models = speaker_run["models"]
    built = {name for name, complete in models.items() if complete}
    # what examples/crds/config.yaml and examples/cluster.yaml hold was validated
    assert {
        "actors.config.crds.IPAddressPool",
        "actors.config.crds.BGPPeer",
        "actors.model.cluster.Service",
        "actors.model.cluster.Node",
    } <= built
    # no BFDProfile in the files: never built; nested specs live inside
    # their resource's validator and are never built on their own
    for name in (
        "actors.config.crds.BFDProfile",
        "actors.config.crds.Secret",
        "actors.config.crds.IPAddressPoolSpec",
        "actors.model.selectors.LabelSelector",
        "actors.model.cluster.ObjectMeta",
    ):
        assert name in models and name not in built, name
