"""``lbtui speaker --bgp-backend frr`` as a process: the file follows the cluster files."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lbtui.cli import main

GOLDEN = Path(__file__).parent / "golden" / "frr"


def wait_for(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_frr_backend_keeps_the_file_current_and_withdraws_on_stop(tmp_path: Path) -> None:
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text((GOLDEN / "ebgp-v4.yaml").read_text())
    target = tmp_path / "frr.conf"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "lbtui", "speaker", "--node-name", "node-a", "--no-l2"),
            *("--cluster", str(cluster), "--poll", "0.2"),
            *("--bgp-backend", "frr", "--frr-config", str(target)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        golden = (GOLDEN / "ebgp-v4.conf").read_text()
        wait_for(lambda: target.exists() and target.read_text() == golden)
        # Delete the api Service: its /32 goes, the rest stays.
        docs = cluster.read_text().split("\n---\n")
        kept = [d for d in docs if "name: api," not in d and "name: api-1," not in d]
        assert len(kept) == len(docs) - 2
        cluster.write_text("\n---\n".join(kept))
        wait_for(lambda: "  network 192.0.2.20/32" not in target.read_text())
        assert "  network 192.0.2.10/32\n" in target.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        text = target.read_text()
        assert "  network " not in text  # withdrawn
        assert " neighbor 10.99.0.1 remote-as 64500\n" in text  # the session stays configured
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_frr_backend_needs_a_path(capsys) -> None:
    args = ["speaker", "--node-name", "n", "--cluster", str(GOLDEN / "no-routes.yaml")]
    assert main([*args, "--no-l2", "--bgp-backend", "frr"]) == 1
    assert "--frr-config" in capsys.readouterr().err
    missing = "/nonexistent-dir/frr.conf"
    assert main([*args, "--no-l2", "--bgp-backend", "frr", "--frr-config", missing]) == 1
