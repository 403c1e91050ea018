"""The image built by scripts/image (buildah, no Docker engine), run from its root filesystem.

The build uses the cached debootstrap base (~/.cache/lbtui-image; the first run on a machine
makes it, a few minutes); the image's root filesystem is mounted with ``buildah mount`` and run
with chroot: ``lbtui`` and MetalLB's ``/controller`` and ``/speaker`` start from it, and a
speaker started from it inside a node's network namespace answers ARP, the client's kernel
being the judge, as in tests/net/test_l2.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.net.cluster import Svc, cluster_yaml
from tests.net.topology import REPO, Topology

pytestmark = [pytest.mark.net, pytest.mark.slow, pytest.mark.timeout(1800)]

TAG = f"localhost/lbtui-test:{os.getpid()}"
VIP = "10.99.0.100"


def sh(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)}: {done.stderr[-3000:]}"
    return done.stdout.strip()


@pytest.fixture(scope="module")
def rootfs() -> Iterator[Path]:
    missing = [t for t in ("buildah", "podman", "debootstrap") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"the image test needs {', '.join(missing)} (scripts/test installs them)")
    env = {**os.environ, "PYTHON": sys.executable}
    built = subprocess.run(
        [str(REPO / "scripts/image"), "--tag", TAG, "--no-archive"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=1500,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    print(built.stderr, file=sys.stderr)  # the build's own timing line, for the log
    container = sh("buildah", "from", "--pull-never", TAG)
    try:
        yield Path(sh("buildah", "mount", container))
    finally:
        subprocess.run(["buildah", "umount", container], capture_output=True, timeout=60)
        subprocess.run(["buildah", "rm", container], capture_output=True, timeout=60)
        for image in (TAG, TAG.replace(":", "-controller:"), TAG.replace(":", "-speaker:")):
            subprocess.run(["buildah", "rmi", image], capture_output=True, timeout=60)


def in_image(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["chroot", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/opt/lbtui/bin:/usr/sbin:/usr/bin:/sbin:/bin", **(env or {})},
    )


def test_the_image_runs_lbtui_and_metallbs_entrypoints(rootfs: Path) -> None:
    version = in_image(rootfs, "lbtui", "--version")
    if version.returncode != 0:  # before lbtui has --version: its help
        version = in_image(rootfs, "lbtui", "--help")
        assert "speaker" in version.stdout and "controller" in version.stdout
    assert version.returncode == 0, version.stderr
    # its Python is the base's Debian python3, with exactly the locked dependencies
    frozen = in_image(rootfs, "/opt/lbtui/bin/python", "-c", PIN_CHECK)
    assert frozen.returncode == 0, frozen.stderr
    pins = dict(line.split("==") for line in json.loads(frozen.stdout))
    lock = (REPO / "requirements.lock").read_text()
    for name, version_ in pins.items():
        assert f"{name}=={version_} " in lock, name
    assert not (rootfs / "opt/lbtui/bin/pip").exists()
    for entry in ("/controller", "/speaker"):
        refused = in_image(rootfs, entry, "--no-such-flag")
        assert refused.returncode == 2
        assert "flag provided but not defined: -no-such-flag" in refused.stderr
    # MetalLB's speaker environment, translated; it then fails only for want of an API server
    speaker = in_image(rootfs, "/speaker", "--port=9120", env={"METALLB_NODE_NAME": "node-a"})
    assert "running lbtui speaker --log-level" in speaker.stderr or "running lbtui speaker -" in (
        speaker.stderr
    ), speaker.stderr
    assert "Traceback" not in speaker.stderr, speaker.stderr[-3000:]


PIN_CHECK = (
    "import json, importlib.metadata as m; "
    'print(json.dumps(sorted(f\'{d.metadata["Name"].lower().replace("_", "-")}=={d.version}\' '
    "for d in m.distributions() if d.metadata['Name'] != 'lbtui')))"
)


def test_a_speaker_from_the_image_answers_arp_in_a_namespace(rootfs: Path) -> None:
    work = rootfs / "tmp" / "lbtui-test"
    work.mkdir(parents=True, exist_ok=True)
    (work / "cluster.yaml").write_text(cluster_yaml(["node-a"], [Svc("web", VIP, ("node-a",))]))
    events = work / "events.jsonl"
    with Topology(node_names=["node-a"], service_addresses=[VIP], prefix="lbimg") as topo:
        proc = topo.spawn(
            "node-a",
            ["chroot", str(rootfs), "/opt/lbtui/bin/lbtui", "speaker", "--node-name", "node-a",
             "--cluster", "/tmp/lbtui-test/cluster.yaml", "--poll", "0.2"],
            stdout=events.open("w"),
            stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while VIP not in events.read_text():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, events.read_text()[-2000:]
            time.sleep(0.1)
        client = topo.client
        client.ip("neigh", "flush", "dev", "eth0")
        client.run("ping", "-4", "-c", "1", "-W", "2", VIP, check=False)
        deadline = time.monotonic() + 20
        entry = client.neighbour(VIP)
        while (entry is None or "lladdr" not in entry) and time.monotonic() < deadline:
            client.run("ping", "-4", "-c", "1", "-W", "1", VIP, check=False)
            entry = client.neighbour(VIP)
        assert entry is not None and entry.get("lladdr") == topo.node("node-a").mac, entry
        assert proc.poll() is None
