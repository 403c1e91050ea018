"""The Helm chart charts/lbtui: `helm lint` and `helm template` with default and other values,
the rendered objects checked (kinds, RBAC/CRDs/webhooks equal to examples/deploy's, images,
arguments lbtui's parser accepts, MetalLB's alerts). helm comes from tests/kube-real/build.sh
(built from its Go module, cached); without it these tests fail, they do not skip."""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbtui.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "lbtui"
DEPLOY = ROOT / "examples" / "deploy"
ALL_MONITORING = [
    "prometheus.podMonitor.enabled=true",
    "prometheus.serviceMonitor.enabled=true",
    "prometheus.prometheusRule.enabled=true",
]


def helm_binary() -> Path:
    bin_dir = subprocess.run(
        [str(ROOT / "tests/kube-real/build.sh"), "--print-dir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    helm = Path(bin_dir) / "helm"
    if not helm.exists():
        pytest.fail(f"{helm} is missing: run tests/kube-real/build.sh (scripts/test does)")
    return helm


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm_binary()), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def render(*sets: str, namespace: str = "metallb-system") -> list[dict[str, Any]]:
    args = ["template", "lb", str(CHART), "--namespace", namespace]
    for s in sets:
        args += ["--set", s]
    done = helm(*args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def refused(*sets: str) -> str:
    args = ["template", "lb", str(CHART)]
    for s in sets:
        args += ["--set", s]
    done = helm(*args)
    assert done.returncode != 0
    return done.stderr


def deploy_docs(name: str, namespace: str = "metallb-system") -> list[dict[str, Any]]:
    text = (
        (DEPLOY / name).read_text().replace("namespace: metallb-system", f"namespace: {namespace}")
    )
    return [d for d in yaml.safe_load_all(text) if d]


def key(doc: dict[str, Any]) -> tuple[str, str, str]:
    meta = doc["metadata"]
    return (doc["kind"], meta.get("namespace", ""), meta["name"])


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def args_of(workload: dict[str, Any]) -> list[str]:
    return workload["spec"]["template"]["spec"]["containers"][0]["args"]


@pytest.mark.parametrize("sets", [[], ALL_MONITORING, ["crds.enabled=false"]])
def test_helm_lint_passes(sets: list[str]) -> None:
    args = ["lint", str(CHART), "--strict"]
    for s in sets:
        args += ["--set", s]
    done = helm(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


def test_the_chart_uses_examples_deploy_files_not_copies() -> None:
    for name in ("crds.yaml", "rbac.yaml", "webhooks.yaml"):
        link = CHART / "files" / name
        assert link.is_symlink(), f"{link} must link to examples/deploy/{name}"
        assert link.resolve() == (DEPLOY / name).resolve()


@pytest.mark.parametrize("namespace", ["metallb-system", "lb-elsewhere"])
def test_crds_rbac_and_webhooks_are_examples_deploy_in_the_release_namespace(
    namespace: str,
) -> None:
    rendered = {key(d): d for d in render(namespace=namespace)}
    for name in ("crds.yaml", "rbac.yaml", "webhooks.yaml"):
        for doc in deploy_docs(name, namespace):
            assert rendered.get(key(doc)) == doc, key(doc)
    assert "metallb-system" not in yaml.safe_dump(list(rendered.values())) or (
        namespace == "metallb-system"
    )


def test_default_objects_images_and_arguments() -> None:
    docs = render()
    kinds = sorted({d["kind"] for d in docs})
    assert kinds == [
        "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "DaemonSet",
        "Deployment", "Role", "RoleBinding", "Secret", "Service", "ServiceAccount",
        "ValidatingWebhookConfiguration",
    ]  # fmt: skip
    controller, speaker = one(docs, "Deployment", "controller"), one(docs, "DaemonSet", "speaker")
    for workload, example in ((controller, "controller.yaml"), (speaker, "speaker.yaml")):
        [ex] = deploy_docs(example)
        pod, ex_pod = workload["spec"]["template"]["spec"], ex["spec"]["template"]["spec"]
        assert pod["containers"][0]["image"] == "localhost/lbtui:latest"
        # the same command line as examples/deploy, plus the log level
        assert set(args_of(workload)) - {"--log-level=info"} == set(args_of(ex))
        for field in ("serviceAccountName", "hostNetwork", "volumes"):
            assert pod.get(field) == ex_pod.get(field), field
        for field in ("env", "securityContext", "volumeMounts"):
            assert pod["containers"][0].get(field) == ex_pod["containers"][0].get(field), field
        assert {p["name"] for p in pod["containers"][0]["ports"]} == {
            p["name"] for p in ex_pod["containers"][0]["ports"]
        }
        assert workload["spec"]["selector"] == ex["spec"]["selector"]
        lbtui_accepts(args_of(workload))


def lbtui_accepts(args: list[str]) -> argparse.Namespace:
    """The container's arguments, $(VARS) filled in, parsed by lbtui's own parser."""
    values = {"METALLB_NODE_NAME": "n1", "METALLB_NAMESPACE": "ns", "POD_NAME": "p",
              "METALLB_HOST": "10.0.0.1"}  # fmt: skip
    filled = [re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], a) for a in args]
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "--log-level" not in sub.choices[filled[0]]._option_string_actions:
        filled = [a for a in filled if not a.startswith("--log-level=")]  # before lbtui has it
    return parser.parse_args(filled)


def test_non_default_values() -> None:
    docs = render(
        "crds.enabled=false",
        "controller.webhookMode=disabled",
        "speaker.memberlist.enabled=false",
        "speaker.excludeInterfaces.enabled=false",
        "speaker.ignoreExcludeLB=true",
        "speaker.tolerateMaster=false",
        "speaker.statusPort=0",
        "loadBalancerClass=lbtui",
        "controller.logLevel=all",
        "speaker.logLevel=none",
        "controller.image.repository=registry.example/lbtui",
        "controller.image.tag=0.1.0",
        "controller.leaderElect=true",
        "controller.replicas=2",
        "speaker.nodeSelector.pool=edge",
        "speaker.xdp.enabled=false",
    )
    assert not [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    assert not [d for d in docs if d["kind"] == "ValidatingWebhookConfiguration"]
    controller, speaker = one(docs, "Deployment", "controller"), one(docs, "DaemonSet", "speaker")
    c_args, s_args = args_of(controller), args_of(speaker)
    assert "--webhook-mode=disabled" in c_args and "--leader-elect" in c_args
    assert controller["spec"]["replicas"] == 2
    assert "--log-level=debug" in c_args and "--log-level=error" in s_args
    assert "--lb-class=lbtui" in c_args and "--lb-class=lbtui" in s_args
    assert not [a for a in c_args + s_args if a.startswith("--ml-")]
    assert "--l2-exclude=(?!)" in s_args and "--ignore-exclude-lb" in s_args
    assert not [a for a in s_args if a.startswith("--status-addr")]
    pod = speaker["spec"]["template"]["spec"]
    assert ("tolerations" not in pod and "volumes" not in pod) or not pod.get("volumes")
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "pool": "edge"}
    image = controller["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example/lbtui:0.1.0"
    args = lbtui_accepts(s_args)
    assert args.l2_exclude == ["(?!)"] and args.ignore_exclude_lb and args.l2_no_xdp
    caps = speaker["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]
    assert caps["add"] == ["NET_RAW"]  # without XDP, no more than MetalLB's speaker
    assert lbtui_accepts(c_args).leader_elect


def test_monitoring_objects_scrape_the_https_metrics() -> None:
    docs = render(*ALL_MONITORING, "prometheus.serviceMonitor.interval=15s")
    monitors = [d for d in docs if d["kind"] in ("ServiceMonitor", "PodMonitor")]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in monitors) == [
        ("PodMonitor", "lbtui-controller"), ("PodMonitor", "lbtui-speaker"),
        ("ServiceMonitor", "lbtui-controller-monitor"), ("ServiceMonitor", "lbtui-speaker-monitor"),
    ]  # fmt: skip
    for monitor in monitors:
        spec = monitor["spec"]
        [endpoint] = spec.get("endpoints") or spec["podMetricsEndpoints"]
        assert endpoint["port"] == "metricshttps" and endpoint["scheme"] == "https"
        assert endpoint["tlsConfig"] == {"insecureSkipVerify": True}
        if monitor["kind"] == "ServiceMonitor":
            assert endpoint["interval"] == "15s"
            service = one(docs, "Service", monitor["metadata"]["name"] + "-service")
            assert service["spec"]["selector"]["app"] == "metallb"
            assert monitor["spec"]["selector"]["matchLabels"].items() <= (
                service["metadata"]["labels"].items()
            )
        else:
            secret = one(docs, "Secret", endpoint["authorization"]["credentials"]["name"])
            assert secret["type"] == "kubernetes.io/service-account-token"
    # the PodMonitors' own token may read the metrics
    binding = one(docs, "ClusterRoleBinding", "lbtui:metrics-reader:lb-podmonitor")
    assert binding["roleRef"]["name"] == "lbtui:metrics-reader"
    assert one(docs, "ClusterRole", "lbtui:metrics-reader")


def test_metallbs_alerts() -> None:
    docs = render(
        "prometheus.prometheusRule.enabled=true",
        "prometheus.prometheusRule.addressPoolExhausted.excludePools=lab.*",
        "prometheus.prometheusRule.bgpSessionDown.enabled=false",
    )
    [rule] = [d for d in docs if d["kind"] == "PrometheusRule"]
    rules = rule["spec"]["groups"][0]["rules"]
    assert [r["alert"] for r in rules] == [
        "MetalLBStaleConfig", "MetalLBConfigNotLoaded", "MetalLBAddressPoolExhausted",
        "MetalLBAddressPoolUsage75Percent", "MetalLBAddressPoolUsage85Percent",
        "MetalLBAddressPoolUsage95Percent",
    ]  # fmt: skip
    by_name = {r["alert"]: r for r in rules}
    assert 'pool!~"lab.*"' in by_name["MetalLBAddressPoolExhausted"]["expr"]
    assert by_name["MetalLBAddressPoolUsage95Percent"]["labels"] == {"severity": "critical"}
    assert by_name["MetalLBStaleConfig"]["expr"].startswith("metallb_k8s_client_config_stale_bool")
    # the alerts' metrics are ones lbtui exports (README's list)
    readme = (ROOT / "README.md").read_text()
    for r in rules:
        for metric in re.findall(r"metallb_[a-z0-9_]+", r["expr"]):
            assert f"`{metric}`" in readme, metric


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["controller.logLevel=verbose"], 'logLevel "verbose"'),
        (["controller.webhookMode=sometimes"], 'controller.webhookMode "sometimes"'),
        (["speaker.frr.enabled=true"], "speaker.frr.enabled"),
        (["prometheus.serviceAccount=prom"], "prometheus.namespace"),
    ],
)
def test_bad_values_are_refused_with_the_reason(sets: list[str], message: str) -> None:
    assert message in refused(*sets)
