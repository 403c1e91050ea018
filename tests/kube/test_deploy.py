"""examples/deploy: parsed, and consistent with itself and with what lbtui does.

No cluster is needed: the manifests are read as YAML and checked for what `kubectl apply -k`
would need (references between objects) and for what lbtui needs at run time (the flags it is
given exist, the RBAC rules grant every call its code makes, the CRD schemas accept MetalLB
objects and the status lbtui writes).
"""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from actors.events import Announced
from actors.kube.config_state import configuration_state_status
from actors.kube.pool_status import pool_status
from actors.kube.resources import (
    CONFIG_RESOURCES,
    CONSOLE_RESOURCES,
    CONTROLLER_RESOURCES,
    SPEAKER_RESOURCES,
    Resource,
)
from actors.kube.speaker_status import desired_status_objects
from actors.model.allocation import PoolUsage
from lbtui.cli import build_parser
from tests.kube import crdgen
from tests.kube.schema import violations

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "examples" / "deploy"
NS = "metallb-system"


def load(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())


@functools.cache
def all_objects() -> list[dict[str, Any]]:
    """Parsed once per run (PyYAML is slow on the CRDs); tests only read them."""
    return [doc for name in kustomization()["resources"] for doc in load(name)]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in all_objects() if d["kind"] == kind]


def one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    return found


# -- the files -------------------------------------------------------------------------------


def test_every_resource_parses_and_names_itself() -> None:
    k = kustomization()
    assert k["namespace"] == NS
    for name in k["resources"]:
        assert (DEPLOY / name).is_file(), name
    objects = all_objects()
    kinds = {d["kind"] for d in objects}
    assert {
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "Role",
        "ClusterRoleBinding",
        "RoleBinding",
        "Deployment",
        "DaemonSet",
    } <= kinds
    seen = set()
    for d in objects:
        assert d.get("apiVersion") and d.get("kind") and d["metadata"].get("name"), d
        key = (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])
        assert key not in seen, f"duplicate {key}"
        seen.add(key)


def test_crds_are_the_generated_ones_with_one_storage_version_each() -> None:
    assert (DEPLOY / "crds.yaml").read_text() == crdgen.render(), "run python -m tests.kube.crdgen"
    crds = {d["spec"]["names"]["kind"]: d for d in of_kind("CustomResourceDefinition")}
    # Everything lbtui reads from and writes to the metallb.io group is defined.
    read = {r.kind for r in SPEAKER_RESOURCES if r.group == "metallb.io"}
    written = {"ServiceL2Status", "ServiceBGPStatus", "ConfigurationState"}
    assert read | written <= set(crds)
    for kind, d in crds.items():
        spec = d["spec"]
        assert d["metadata"]["name"] == f"{spec['names']['plural']}.metallb.io"
        assert spec["group"] == "metallb.io" and spec["scope"] == "Namespaced"
        assert sum(v["storage"] for v in spec["versions"]) == 1, kind
    # The versions lbtui asks for are served; status is a subresource where lbtui writes it.
    for r in SPEAKER_RESOURCES:
        if r.group == "metallb.io":
            versions = {v["name"] for v in crds[r.kind]["spec"]["versions"] if v["served"]}
            assert r.version in versions, r.kind
    for kind in ("IPAddressPool", *written):
        assert all("status" in v.get("subresources", {}) for v in crds[kind]["spec"]["versions"])
    assert {v["name"] for v in crds["BGPPeer"]["spec"]["versions"]} == {"v1beta1", "v1beta2"}


# -- the CRD schemas accept what they must ---------------------------------------------------


def schema_of(kind: str) -> dict[str, Any]:
    for d in of_kind("CustomResourceDefinition"):
        if d["spec"]["names"]["kind"] == kind:
            storage = next(v for v in d["spec"]["versions"] if v["storage"])
            return storage["schema"]["openAPIV3Schema"]
    raise KeyError(kind)


def metallb_examples() -> list[dict[str, Any]]:
    docs = []
    for name in ("crds/config.yaml", "cluster.yaml"):
        for d in yaml.safe_load_all((ROOT / "examples" / name).read_text()):
            if d and str(d.get("apiVersion", "")).startswith("metallb.io/"):
                docs.append(d)
    return docs


@pytest.mark.parametrize(
    "doc", metallb_examples(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_the_crd_schemas_accept_the_example_configuration(doc: dict[str, Any]) -> None:
    assert violations(schema_of(doc["kind"]), doc) == []


def test_the_crd_schemas_accept_what_lbtui_writes_and_refuse_bad_input() -> None:
    usage = PoolUsage(total=20, in_use=3, total_v4=4, total_v6=16, in_use_v4=1, in_use_v6=2)
    assert violations(schema_of("IPAddressPool")["properties"]["status"], pool_status(usage)) == []
    state = configuration_state_status(False, ("bad pool",), "poolReconcilerValid", 1.8e9)
    assert violations(schema_of("ConfigurationState")["properties"]["status"], state) == []
    announced = (
        Announced("default/web", "layer2", ("10.0.0.1",), ("eth0",)),
        Announced("default/web", "bgp", ("10.0.0.1",), (), ("router",)),
    )
    for (plural, _), status in desired_status_objects("node-1", announced).items():
        kind = "ServiceL2Status" if plural == "servicel2statuses" else "ServiceBGPStatus"
        assert violations(schema_of(kind)["properties"]["status"], status) == []
    bad = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "x"},
        "spec": {"myASN": 1, "peerPort": 20000, "holdtime": "9s"},
    }
    assert violations(schema_of("BGPPeer"), bad) == [
        ".spec.peerPort: 20000 > 16384",
        ".spec.holdtime: unknown field",
    ]


# -- RBAC: references, and every call lbtui makes is granted ---------------------------------


def grants(rules: list[dict[str, Any]], verb: str, group: str, resource: str) -> bool:
    for rule in rules:
        if (
            group in rule["apiGroups"]
            and resource in rule["resources"]
            and verb in rule["verbs"]
            and not rule.get("resourceNames")
        ):
            return True
    return False


def permissions(account: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(cluster-wide rules, rules in metallb-system) of a service account."""
    cluster: list[dict[str, Any]] = []
    local: list[dict[str, Any]] = []
    for binding_kind, target in (("ClusterRoleBinding", cluster), ("RoleBinding", local)):
        for b in of_kind(binding_kind):
            if {"kind": "ServiceAccount", "name": account, "namespace": NS} in b["subjects"]:
                role = one(b["roleRef"]["kind"], b["roleRef"]["name"])
                target.extend(role["rules"])
    return cluster, cluster + local


def needed_reads(resources: tuple[Resource, ...]) -> list[tuple[str, str, str]]:
    """(scope, group, resource) for every list + watch the reflectors make."""
    return [("cluster" if r.scope == "all" else "namespace", r.group, r.plural) for r in resources]


CONTROLLER_WRITES = [
    ("cluster", "patch", "", "services/status"),
    ("cluster", "create", "", "events"),
    ("namespace", "patch", "metallb.io", "ipaddresspools/status"),
    ("namespace", "create", "metallb.io", "configurationstates"),
    ("namespace", "patch", "metallb.io", "configurationstates/status"),
    ("namespace", "create", "coordination.k8s.io", "leases"),
    ("namespace", "create", "", "secrets"),  # the memberlist Secret, when absent
]
SPEAKER_WRITES = [
    ("cluster", "create", "", "events"),
    ("namespace", "list", "", "pods"),
    ("namespace", "get", "", "pods"),
    ("namespace", "list", "metallb.io", "servicel2statuses"),
    ("namespace", "create", "metallb.io", "servicel2statuses"),
    ("namespace", "delete", "metallb.io", "servicel2statuses"),
    ("namespace", "patch", "metallb.io", "servicel2statuses/status"),
    ("namespace", "list", "metallb.io", "servicebgpstatuses"),
    ("namespace", "create", "metallb.io", "servicebgpstatuses"),
    ("namespace", "delete", "metallb.io", "servicebgpstatuses"),
    ("namespace", "patch", "metallb.io", "servicebgpstatuses/status"),
    ("namespace", "create", "metallb.io", "configurationstates"),
    ("namespace", "patch", "metallb.io", "configurationstates/status"),
]


@pytest.mark.parametrize(
    ("account", "resources", "writes"),
    [
        ("controller", CONTROLLER_RESOURCES, CONTROLLER_WRITES),
        ("speaker", SPEAKER_RESOURCES, SPEAKER_WRITES),
    ],
)
def test_rbac_grants_every_call_and_nothing_wild(
    account: str, resources: tuple[Resource, ...], writes: list[tuple[str, str, str, str]]
) -> None:
    cluster, local = permissions(account)
    for scope, group, plural in needed_reads(resources):
        rules = cluster if scope == "cluster" else local
        if plural == "configmaps":  # the legacy ConfigMap: granted by name only
            assert any(
                "configmaps" in r["resources"]
                and r.get("resourceNames") == ["config"]
                and {"list", "watch"} <= set(r["verbs"])
                for r in rules
            )
            continue
        for verb in ("list", "watch"):
            assert grants(rules, verb, group, plural), f"{account}: {verb} {group}/{plural}"
    for scope, verb, group, plural in writes:
        rules = cluster if scope == "cluster" else local
        assert grants(rules, verb, group, plural), f"{account}: {verb} {group}/{plural}"
    for rule in local:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        assert "*" not in rule["apiGroups"]
    if account == "controller":
        # No Secret readable but the webhook certificate's and the memberlist key, by name
        # (no BGP passwords); create (the memberlist Secret) reads nothing.
        assert all(
            (
                r.get("resourceNames") in (["metallb-webhook-cert"], ["memberlist"])
                and not {"list", "watch"} & set(r["verbs"])
            )
            or r["verbs"] == ["create"]
            for r in local
            if "secrets" in r["resources"]
        )
        assert not any("nodes" in r["resources"] for r in local)


def test_bindings_name_roles_and_accounts_that_exist() -> None:
    accounts = {d["metadata"]["name"] for d in of_kind("ServiceAccount")}
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        for b in of_kind(kind):
            one(b["roleRef"]["kind"], b["roleRef"]["name"])
            for s in b["subjects"]:
                assert s["kind"] == "ServiceAccount" and s["name"] in accounts
                assert s["namespace"] == NS


# -- the workloads ---------------------------------------------------------------------------


def expand(arg: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), f"<{m.group(1)}>"), arg)


@pytest.mark.parametrize(("kind", "name"), [("Deployment", "controller"), ("DaemonSet", "speaker")])
def test_workloads_reference_what_exists_and_run_valid_commands(kind: str, name: str) -> None:
    workload = one(kind, name)
    spec = workload["spec"]["template"]["spec"]
    labels = workload["spec"]["template"]["metadata"]["labels"]
    assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert spec["serviceAccountName"] in {d["metadata"]["name"] for d in of_kind("ServiceAccount")}
    (container,) = spec["containers"]
    image_names = {i["name"] for i in kustomization()["images"]}
    assert container["image"].split(":")[0] in image_names
    env = {e["name"]: "x" for e in container.get("env", [])}
    args = [expand(a, env) for a in container["args"]]
    assert "<" not in " ".join(args), f"undefined $(VAR) in {args}"
    parsed = build_parser().parse_args(args)  # every flag exists (SystemExit otherwise)
    assert parsed.command == name
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["monitoring"] == parsed.metrics_port
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] in ports
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    caps = container["securityContext"]["capabilities"]
    assert caps["drop"] == ["ALL"]
    if name == "speaker":
        assert spec["hostNetwork"] is True
        assert caps["add"] == ["NET_RAW", "NET_ADMIN", "BPF"]  # raw sockets; XDP
        assert ports["memberlist-tcp"] == ports["memberlist-udp"] == 7946
        assert parsed.ml_bind.endswith(":7946")  # membership listens where the ports say
        # Discovery finds the speakers by the labels their pods carry.
        selector = dict(kv.split("=") for kv in parsed.ml_labels.split(","))
        assert selector.items() <= labels.items()
    else:
        assert "add" not in caps
        assert spec["securityContext"]["runAsNonRoot"] is True


def test_the_containerfile_builds_from_files_that_exist() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for source in shlex.split(line)[1:-1]:
                assert (ROOT / source).exists(), source
    assert 'ENTRYPOINT ["lbtui"]' in text


# -- the console (`lbtui console --kubeconfig`) and the speakers' status endpoint -------------

CONSOLE_CALLS = [
    ("cluster", "list", "", "events"),
    ("cluster", "watch", "", "events"),
    ("namespace", "list", "", "pods"),
    ("namespace", "watch", "", "pods"),
    ("namespace", "get", "", "pods/proxy"),
]
CONSOLE_EDITS = [(v, r.plural) for v in ("create", "update", "delete") for r in CONFIG_RESOURCES]


def test_the_console_account_reads_what_it_watches_follows_speakers_and_writes_nothing() -> None:
    cluster, local = permissions("console")
    for scope, group, plural in needed_reads(CONSOLE_RESOURCES):
        rules = cluster if scope == "cluster" else local
        if plural == "configmaps":
            assert any(
                "configmaps" in r["resources"] and r.get("resourceNames") == ["config"]
                for r in rules
            )
            continue
        for verb in ("list", "watch"):
            assert grants(rules, verb, group, plural), f"console: {verb} {group}/{plural}"
    for scope, verb, group, plural in CONSOLE_CALLS:
        rules = cluster if scope == "cluster" else local
        assert grants(rules, verb, group, plural), f"console: {verb} {group}/{plural}"
    for rule in local:  # cluster-wide rules included
        assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"]
    # pods/proxy reaches nothing but the pods of metallb-system: never granted cluster-wide.
    assert not any("pods/proxy" in r["resources"] for r in cluster)
    # Edits have a role of their own, which grants every write the console makes.
    edit = one("Role", "console-edit")["rules"]
    for verb, plural in CONSOLE_EDITS:
        assert grants(edit, verb, "metallb.io", plural), f"console-edit: {verb} {plural}"


def test_the_speaker_serves_its_status_where_the_console_looks_for_it() -> None:
    from actors.observability.status import parse_address

    speaker = one("DaemonSet", "speaker")
    (container,) = speaker["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: "10.0.0.1" for e in container.get("env", [])}
    parsed = build_parser().parse_args([expand(a, env) for a in container["args"]])
    ports = {p["name"]: p for p in container["ports"]}
    host, port = parse_address(parsed.status_addr)
    assert host == "10.0.0.1"  # the node's address: hostNetwork, so the pod's IP too
    assert ports["status"]["containerPort"] == port and ports["status"]["protocol"] == "TCP"
    assert port not in {p["containerPort"] for name, p in ports.items() if name != "status"}
    # The console finds the port by the name it defaults to, and the pods by its labels.
    console = build_parser().parse_args(["console", "--kubeconfig", "k"])
    assert console.speaker_status_port is None
    from lbtui.ports.kube.targets import STATUS_PORT_NAME

    assert STATUS_PORT_NAME == "status"
    selector = dict(kv.split("=") for kv in console.speaker_labels.split(","))
    assert selector.items() <= speaker["spec"]["template"]["metadata"]["labels"].items()


# -- the webhooks ----------------------------------------------------------------------------


def grants_named(rules: list[dict[str, Any]], verb: str, group: str, resource: str, name: str):
    return any(
        group in r["apiGroups"]
        and resource in r["resources"]
        and verb in r["verbs"]
        and name in (r.get("resourceNames") or [name])
        for r in rules
    )


def test_the_webhooks_match_metallbs_paths_and_reach_the_controller() -> None:
    from actors.kube.webhooks import CONVERSION_PATH, VALIDATION_PATHS
    from actors.roles.controller import with_webhook_resources

    (configuration,) = of_kind("ValidatingWebhookConfiguration")
    assert configuration["metadata"]["name"] == "metallb-webhook-configuration"
    service = one("Service", "metallb-webhook-service")
    controller = one("Deployment", "controller")
    pod = controller["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    parsed = build_parser().parse_args(container["args"])
    # The Service leads to the controller's pods and to the port the webhooks listen on.
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (port,) = service["spec"]["ports"]
    assert port["port"] == 443 and ports[port["targetPort"]] == parsed.webhook_port == 9443
    assert parsed.webhook_mode == "enabled" and not parsed.disable_cert_rotation
    assert parsed.cert_service_name == service["metadata"]["name"]
    # The certificate directory is a writable volume (the root filesystem is read-only).
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert "emptyDir" in volumes[mounts[parsed.cert_dir]]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # The Secret the rotator fills exists, so the controller needs no right to create Secrets.
    assert one("Secret", parsed.webhook_secret)["metadata"]["namespace"] == NS
    # MetalLB's webhooks: path, kind, operations; all fail closed.
    operations = {
        "BGPPeer": ["CREATE", "UPDATE"],
        "BFDProfile": ["CREATE", "DELETE"],
    }
    crds = {d["spec"]["names"]["kind"]: d for d in of_kind("CustomResourceDefinition")}
    paths = []
    for hook in configuration["webhooks"]:
        client = hook["clientConfig"]["service"]
        assert (client["name"], client["namespace"]) == (service["metadata"]["name"], NS)
        kind = VALIDATION_PATHS[client["path"]]
        paths.append(client["path"])
        assert hook["failurePolicy"] == "Fail" and hook["sideEffects"] == "None"
        (rule,) = hook["rules"]
        spec = crds[kind]["spec"]
        assert rule["apiGroups"] == [spec["group"]]
        assert rule["resources"] == [spec["names"]["plural"]]
        version = "v1beta2" if kind == "BGPPeer" else "v1beta1"
        assert rule["apiVersions"] == [version] and client["path"].startswith(
            f"/validate-metallb-io-{version}-"
        )
        assert rule["operations"] == operations.get(kind, ["CREATE", "UPDATE"])
    assert sorted(paths) == sorted(VALIDATION_PATHS)
    # BGPPeer versions are converted by the same controller.
    conversion = crds["BGPPeer"]["spec"]["conversion"]
    assert conversion["strategy"] == "Webhook"
    client = conversion["webhook"]["clientConfig"]["service"]
    assert (client["name"], client["namespace"], client["path"]) == (
        service["metadata"]["name"],
        NS,
        CONVERSION_PATH,
    )
    assert conversion["webhook"]["conversionReviewVersions"] == ["v1"]
    # RBAC: the webhooks' reads, the Secret and the two caBundle targets, by name.
    cluster, local = permissions("controller")
    for r in with_webhook_resources(CONTROLLER_RESOURCES):
        rules = cluster if r.scope == "all" else local
        if r.plural != "configmaps":
            assert grants(rules, "list", r.group, r.plural), r.plural
            assert grants(rules, "watch", r.group, r.plural), r.plural
    for verb in ("get", "update"):
        assert grants_named(local, verb, "", "secrets", parsed.webhook_secret)
        assert grants_named(
            cluster,
            verb,
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            configuration["metadata"]["name"],
        )
        assert grants_named(
            cluster,
            verb,
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "bgppeers.metallb.io",
        )
    for rule in cluster:
        if {"validatingwebhookconfigurations", "customresourcedefinitions"} & set(
            rule["resources"]
        ):
            assert rule.get("resourceNames"), rule  # never every webhook or CRD


def test_the_memberlist_secret_the_controller_makes_is_what_the_speakers_mount() -> None:
    from actors.membership.keyring import MEMBERLIST_SECRET_KEY

    def container_of(kind: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        pod = one(kind, name)["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: "x" for e in container.get("env", [])}
        return pod, {**container, "args": [expand(a, env) for a in container["args"]]}

    _, controller = container_of("Deployment", "controller")
    made = build_parser().parse_args(controller["args"])
    assert made.ml_secret_name == "memberlist"  # MetalLB's name
    assert made.deployment == one("Deployment", "controller")["metadata"]["name"]
    pod, speaker = container_of("DaemonSet", "speaker")
    parsed = build_parser().parse_args(speaker["args"])
    assert parsed.ml_secret_key_path == "/etc/ml_secret_key"  # MetalLB's mount path
    mounts = {m["mountPath"]: m["name"] for m in speaker["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    secret = volumes[mounts[parsed.ml_secret_key_path]]["secret"]
    assert secret["secretName"] == made.ml_secret_name
    assert "items" not in secret  # mounted whole: the file is named by its key
    assert MEMBERLIST_SECRET_KEY == "secretkey"
    # The controller may read that Secret and its own Deployment (the owner), by name only.
    _, local = permissions("controller")
    assert grants_named(local, "get", "", "secrets", "memberlist")
    assert grants_named(local, "get", "apps", "deployments", made.deployment)
    assert not grants(local, "get", "apps", "deployments")
    assert not grants(local, "get", "", "secrets")


def test_the_https_metrics_port_and_the_reviews_its_filter_makes() -> None:
    for kind, name in (("Deployment", "controller"), ("DaemonSet", "speaker")):
        (container,) = one(kind, name)["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: "x" for e in container.get("env", [])}
        parsed = build_parser().parse_args([expand(a, env) for a in container["args"]])
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metricshttps"] == parsed.secure_metrics_port == 9120  # MetalLB's port
        # The filter's TokenReview and SubjectAccessReview are cluster-scoped creates.
        cluster, _ = permissions(name)
        assert grants(cluster, "create", "authentication.k8s.io", "tokenreviews"), name
        assert grants(cluster, "create", "authorization.k8s.io", "subjectaccessreviews"), name
    # The role a scraper is given: GET on the nonResourceURL /metrics, nothing else.
    reader = one("ClusterRole", "lbtui:metrics-reader")
    assert reader["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
    bound = {
        b["roleRef"]["name"] for k in ("ClusterRoleBinding", "RoleBinding") for b in of_kind(k)
    }
    assert "lbtui:metrics-reader" not in bound  # the user binds it to their Prometheus
