"""Proof 7: MetalLB's HTTPS metrics endpoint (``--secure-metrics-port``) asks the real API server
who a bearer token is (TokenReview) and whether it may GET /metrics (SubjectAccessReview):
a real ServiceAccount token bound to ``lbtui:metrics-reader`` gets 200, an unbound one 403, none
401."""

from __future__ import annotations

import subprocess
import sys

from deployment import Deployment, wait_for

PROBE = """
import ssl, sys, urllib.error, urllib.request
request = urllib.request.Request(sys.argv[1])
if sys.argv[2]:
    request.add_header("Authorization", "Bearer " + sys.argv[2])
try:
    with urllib.request.urlopen(request, context=ssl._create_unverified_context(), timeout=10) as r:
        body = r.read().decode()
        print(r.status, "metallb_" in body or "lbtui_" in body)
except urllib.error.HTTPError as e:
    print(e.code, False)
"""


def scrape(deployed: Deployment, token: str) -> tuple[int, bool]:
    """GET https://<controller pod IP>:9120/metrics from the control plane's namespace (the
    bridge the Pods share), as Prometheus in the cluster would."""
    pod = deployed.pod("controller")
    url = f"https://{pod['status']['podIP']}:9120/metrics"
    out = subprocess.run(
        deployed.plane.in_netns(sys.executable, "-c", PROBE, url, token),
        capture_output=True,
        text=True,
        timeout=30,
    )
    code, has_metrics = out.stdout.split()
    return int(code), has_metrics == "True"


def test_secure_metrics_trust_only_tokens_bound_to_the_reader_role(deployed: Deployment) -> None:
    plane = deployed.plane
    if plane.kubectl("get", "namespace", "monitoring", check=False).returncode:
        plane.kubectl("create", "namespace", "monitoring")
    for name in ("prometheus", "stranger"):
        if plane.kubectl("get", "sa", name, "-n", "monitoring", check=False).returncode:
            plane.kubectl("create", "serviceaccount", name, "-n", "monitoring")
    if plane.kubectl("get", "clusterrolebinding", "prometheus-metallb", check=False).returncode:
        plane.kubectl(
            "create",
            "clusterrolebinding",
            "prometheus-metallb",
            "--clusterrole=lbtui:metrics-reader",
            "--serviceaccount=monitoring:prometheus",
        )

    def token(name: str) -> str:
        return plane.kubectl("create", "token", name, "-n", "monitoring").stdout.strip()

    allowed = wait_for(
        "the metrics endpoint to answer the bound token",
        lambda: (r := scrape(deployed, token("prometheus")))[0] == 200 and r,
    )
    assert allowed == (200, True)
    assert scrape(deployed, token("stranger")) == (403, False)
    assert scrape(deployed, "") == (401, False)
    assert scrape(deployed, "not-a-token") == (401, False)
