"""``lbtui controller --kubeconfig`` and ``lbtui speaker --kubeconfig`` as processes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.kube.fakeapi import FakeKubeApi
from tests.kube.harness import endpoint_slice, ingress_of, service, wait_until
from tests.kube.test_speakers import NS, seed

LBTUI = [sys.executable, "-m", "lbtui"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def readyz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return int(r.status)
    except OSError:
        return 0


def test_controller_and_speaker_processes_on_a_kubeconfig(
    fake: FakeKubeApi, tmp_path: Path
) -> None:
    seed(fake)
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    fake.create(service("web", annotations={"metallb.io/address-pool": "lan"}))
    fake.create(endpoint_slice("web", ["node-1"]))
    ports = free_port(), free_port()
    controller = subprocess.Popen(
        [
            *LBTUI,
            "controller",
            "--kubeconfig",
            kubeconfig,
            "--metrics-port",
            str(ports[0]),
            # The webhooks on a free port, their certificates inside the test's directory.
            "--webhook-port",
            "0",
            "--cert-dir",
            str(tmp_path / "certs"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    speaker = subprocess.Popen(
        [
            *LBTUI,
            "speaker",
            "--node-name",
            "node-1",
            "--kubeconfig",
            kubeconfig,
            "--no-l2",
            "--no-bgp",
            "--metrics-port",
            str(ports[1]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(lambda: ingress_of(fake, "web"), timeout=30) == ["10.99.0.100"]
        wait_until(lambda: fake.items("ServiceL2Status", NS), timeout=30)
        wait_until(lambda: readyz(ports[0]) == 200 and readyz(ports[1]) == 200, timeout=30)
    finally:
        for proc in (speaker, controller):
            proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=20) for proc in (controller, speaker)]
    assert controller.returncode == 0, outputs[0][1]
    assert speaker.returncode == 0, outputs[1][1]
    events = [json.loads(line) for line in outputs[0][0].splitlines() if line.strip()]
    names = [e["event"] for e in events]
    assert "IpAssigned" in names and names[-1] == "RuntimeStopped"
    speaker_events = [json.loads(line) for line in outputs[1][0].splitlines() if line.strip()]
    assert any(
        e["event"] == "AnnouncementStarted" and e["ip"] == "10.99.0.100" for e in speaker_events
    )
    # The graceful stop withdrew everything, status objects included.
    assert fake.items("ServiceL2Status", NS) == []


def test_an_unusable_kubeconfig_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    proc = subprocess.run(
        [*LBTUI, "controller", "--kubeconfig", str(missing), "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert str(missing) in proc.stderr


def test_an_api_outage_is_retried_by_lbtui_alone(fake: FakeKubeApi, tmp_path: Path) -> None:
    """urllib3's own retries are off: during an outage stderr holds lbtui's backoff lines
    ("retrying in 1.2s"), never urllib3's "Retrying (Retry(total=2, ...))" warnings."""
    seed(fake)
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    port = free_port()
    controller = subprocess.Popen(
        [
            *(*LBTUI, "controller", "--kubeconfig", kubeconfig, "--metrics-port", str(port)),
            *("--webhook-port", "0", "--cert-dir", str(tmp_path / "certs")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: readyz(port) == 200, timeout=30)
        fake.down()
        time.sleep(4)  # the outage: lbtui's backoff starts near a second
        fake.up()
        wait_until(lambda: readyz(port) == 200, timeout=60, what="the controller is back")
    finally:
        controller.send_signal(signal.SIGTERM)
        _, stderr = controller.communicate(timeout=20)
    lines = stderr.splitlines()
    assert [line for line in lines if "Retrying (" in line] == []
    assert any("retrying in" in line for line in lines), stderr
