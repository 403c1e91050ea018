"""The Helm chart on the real API server (issue 15): ``helm template charts/lbtui`` renders
what the server accepts. A server-side dry run sends every object through the real schema
validation, defaulting and admission (the CRDs, RBAC, workloads and webhook configuration)
without replacing what examples/deploy installed; the chart's object names are the same."""

from __future__ import annotations

import subprocess

import yaml
from controlplane import REPO
from deployment import NS, Deployment


def render(deployed: Deployment, *values: str) -> str:
    helm = deployed.plane.bin / "helm"
    out = subprocess.run(
        [
            str(helm),
            "template",
            "lbtui",
            str(REPO / "charts" / "lbtui"),
            "--namespace",
            NS,
            *values,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout


def test_the_charts_manifests_are_accepted_by_the_real_api_server(deployed: Deployment) -> None:
    for values in (
        [],
        ["--set", "speaker.ignoreExcludeLB=true", "--set", "controller.logLevel=debug"],
    ):
        manifests = render(deployed, *values)
        kinds = {d["kind"] for d in yaml.safe_load_all(manifests) if d}
        assert {"Deployment", "DaemonSet", "ClusterRole", "ValidatingWebhookConfiguration"} <= kinds
        done = deployed.plane.kubectl(
            "apply", "--dry-run=server", "-f", "-", stdin=manifests, check=False, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "(server dry run)" in done.stdout
