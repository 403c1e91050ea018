"""The ``lbtui`` command line: one entry point, one subcommand per mode (see DESIGN.md).

This is the one module that wires runtime and console together. Textual is imported lazily,
only by the subcommands that open the console, so headless modes never load it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from actors.config.build import DEFAULT_NAMESPACE, BuildResult, build_config
from actors.config.loader import Inputs, load_files
from actors.model.issues import UnreadableInput

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def _read(files: Sequence[str], err: TextIO) -> Inputs | None:
    try:
        return load_files(files)
    except UnreadableInput as exc:
        print(f"{exc}", file=err)
        return None


def _report(inputs: Inputs, result: BuildResult, out: TextIO) -> int:
    issues = [*inputs.issues, *result.issues]
    for issue in sorted(issues, key=lambda i: (i.severity != "error", i.file, i.line or 0)):
        print(issue, file=out)
    return sum(1 for i in issues if i.severity == "error")


def cmd_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    inputs = _read(args.files, err)
    if inputs is None:
        return EXIT_UNREADABLE
    result = build_config(inputs, namespace=args.namespace)
    errors = _report(inputs, result, out)
    if errors:
        print(f"{errors} error(s) in {len(args.files)} file(s)", file=err)
        return EXIT_INVALID
    cfg = result.config
    assert cfg is not None
    print(
        f"valid: {len(cfg.pools)} pool(s), {len(cfg.l2_advertisements)} L2Advertisement(s), "
        f"{len(cfg.bgp_advertisements)} BGPAdvertisement(s), {len(cfg.peers)} BGPPeer(s), "
        f"{len(cfg.bfd_profiles)} BFDProfile(s), {len(cfg.communities)} community alias(es)",
        file=err,
    )
    return EXIT_OK


def cmd_plan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from actors.cluster.files import cluster_from_inputs
    from actors.election.plan import compute_plan, known_nodes, what_if

    inputs = _read(args.files, err)
    if inputs is None:
        return EXIT_UNREADABLE
    result = build_config(inputs, namespace=args.namespace)
    if _report(inputs, result, err):
        return EXIT_INVALID
    assert result.config is not None
    cluster = cluster_from_inputs(inputs)
    unknown = sorted(set(args.node_down) - known_nodes(cluster))
    if unknown:
        print(f"--node-down: unknown node(s): {', '.join(unknown)}", file=err)
        return EXIT_INVALID
    plan = compute_plan(result.config, cluster, lb_class=args.lb_class)
    if args.node_down:
        report = what_if(result.config, cluster, plan, frozenset(args.node_down))
        body, text = report.to_json(), report.to_table()
    else:
        body, text = plan.to_json(), plan.to_table()
    if args.ecmp_hash:
        body, text = _with_ecmp(args, result.config, cluster, plan, body, text)
    if args.output == "json":
        json.dump(body, out, indent=2)
        out.write("\n")
    else:
        out.write(text)
    return EXIT_OK


def _with_ecmp(
    args: argparse.Namespace, config: Any, cluster: Any, plan: Any, body: Any, text: str
) -> tuple[Any, str]:
    """``--ecmp-hash``: the share of flows a router moves when nodes die (the --node-down
    set, else each node alone), per hashing scheme."""
    from actors.election.ecmp import ecmp_impacts, ecmp_table, single_failures
    from actors.election.plan import known_nodes, what_if

    schemes = list(dict.fromkeys(args.ecmp_hash))
    if args.node_down:
        down = ",".join(sorted(args.node_down))
        report = what_if(config, cluster, plan, frozenset(args.node_down))
        rows = [(down, i) for i in ecmp_impacts(report.bgp_changes, schemes)]
    else:
        rows = single_failures(config, cluster, plan, known_nodes(cluster), schemes)
    body["ecmp"] = [{"down": down, **impact.to_json()} for down, impact in rows]
    return body, f"{text}\n{ecmp_table(rows, schemes)}"


def _setup_logging(verbose: bool) -> None:
    import logging

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from actors.clock import RealClock
    from actors.demo.scenario import ScenarioError
    from actors.observability.eventlog import JsonLinesEventLog
    from actors.roles.demo import build_demo
    from actors.runtime import ActorSpec

    if args.headless:
        _setup_logging(args.verbose)
    else:
        _setup_console_logging(args.log_file, args.verbose)
    status = _status_spec(args, err)
    if isinstance(status, int):
        return status
    if not args.headless and not _theme_ok(args, err):
        return EXIT_INVALID
    scenario_text = None
    if args.scenario:
        try:
            with open(args.scenario, encoding="utf-8") as f:
                scenario_text = f.read()
        except OSError as exc:
            print(f"{args.scenario}: cannot read: {exc}", file=err)
            return EXIT_UNREADABLE
    clock = RealClock()
    origin = clock.now()
    extra = [ActorSpec("eventlog", JsonLinesEventLog, {"stream": out, "time_origin": origin})]
    if not args.headless:
        extra = []  # the terminal belongs to the console
    if status is not None:
        extra.insert(0, status)
    try:
        runtime, _, _ = build_demo(
            nodes=args.nodes,
            scenario_text=scenario_text,
            scenario_file=args.scenario or "<built-in scenario>",
            extra=extra,
            clock=clock,
        )
    except ScenarioError as exc:
        for line in exc.errors:
            print(line, file=err)
        return EXIT_INVALID
    except (UnreadableInput, ValueError) as exc:
        print(f"{exc}", file=err)
        return EXIT_UNREADABLE if isinstance(exc, UnreadableInput) else EXIT_INVALID
    if not args.headless:
        return _demo_console(args, runtime, err)
    runtime.install_signal_handlers()
    runtime.start()
    runtime.wait(args.duration)
    runtime.stop("duration elapsed" if not runtime.stopped.is_set() else "stopped")
    return EXIT_OK


def cmd_speaker(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from actors.clock import RealClock
    from actors.observability.eventlog import JsonLinesEventLog
    from actors.roles.speaker import file_speaker_specs
    from actors.runtime import ActorSpec, Runtime
    from actors.speaker.announcer import CompositeAnnouncer, RecordingAnnouncer

    _setup_logging(args.verbose)
    # Without --cluster the objects come from the Kubernetes API (--kubeconfig or in-cluster).
    status = _status_spec(args, err)
    if isinstance(status, int):
        return status
    if not args.cluster and _metrics_cert_dir_missing(args, err, "speaker"):
        return EXIT_UNREADABLE
    clock = RealClock()
    l2: Any = RecordingAnnouncer()
    bgp: Any = RecordingAnnouncer()
    extra: list[Any] = []
    if not args.no_l2:
        from actors.roles.layer2 import l2_parts

        try:
            l2, extra = l2_parts(
                args.node_name, exclude=args.l2_exclude or None, refresh=args.l2_refresh
            )
        except (ValueError, PermissionError) as exc:
            print(f"lbtui speaker: {exc}", file=err)
            return EXIT_INVALID
    if args.bgp_backend == "frr":
        # FRR runs BGP and BFD; we keep its configuration equal to our announcements.
        from pathlib import Path

        from actors.bgp.frr.writer import FrrConfigWriter

        if not args.frr_config or not Path(args.frr_config).parent.is_dir():
            print(
                "lbtui speaker: --bgp-backend frr needs --frr-config PATH in a directory "
                "that exists",
                file=err,
            )
            return EXIT_INVALID
        writer = {"node": args.node_name, "path": args.frr_config}
        extra.append(ActorSpec("frr", FrrConfigWriter, writer, withdraws_on_stop=True))
    elif not args.no_bgp:
        from actors.bgp.bfd.actor import BfdActor

        extra.append(ActorSpec("bfd", BfdActor, {"node": args.node_name}))
        bgp = _bgp_speaker(args, extra)
    membership = _membership_spec(args, err)
    if isinstance(membership, int):
        return membership
    if membership is not None:
        extra.append(membership)  # last of the subsystems: it leaves right after withdrawal
    failover_metrics = _failover_meter(args.node_name, extra)
    try:
        specs = (file_speaker_specs if args.cluster else _kube_speaker_builder(args))(
            args.node_name,
            args.cluster,
            args.config or args.cluster,
            announcer=CompositeAnnouncer(l2=l2, bgp=bgp),
            state_file=args.state_file,
            lb_class=args.lb_class,
            namespace=args.namespace,
            poll_interval=args.poll,
            extra=extra,
        )
    except UnreadableInput as exc:
        print(f"{exc}", file=err)
        return EXIT_UNREADABLE
    specs.insert(
        0, ActorSpec("eventlog", JsonLinesEventLog, {"stream": out, "time_origin": clock.now()})
    )
    # With --cluster (no Kubernetes) metrics are served only on an explicit --metrics-port.
    if not args.cluster or args.metrics_port is not None:
        from actors.observability.health import DEFAULT_PORT
        from actors.roles.observability import observability_specs

        l2_counters = getattr(l2, "counters", None)
        collectors: list[Any] = [failover_metrics]
        if l2_counters is not None:
            from actors.l2.metrics import ConflictCollector, L2Collector

            collectors += [L2Collector(l2_counters), ConflictCollector(l2_counters)]
        if any(getattr(spec, "name", "") == "bgp" for spec in specs):
            from actors.bgp.actor import BgpSpeakerActor
            from actors.observability.metrics import AskedCounters

            # metallb_bgp_session_up / _updates_total / _announced_prefixes_total by peer.
            collectors.append(
                AskedCounters(BgpSpeakerActor, BgpSpeakerActor.counters, label="peer")
            )
        specs[0:0] = observability_specs(
            port=DEFAULT_PORT if args.metrics_port is None else args.metrics_port,
            node=args.node_name,
            require_membership=_has_membership(specs),
            kube=getattr(args, "kube", None),
            collectors=collectors,
            # MetalLB's HTTPS /metrics (authn/authz through the API): only with the API.
            secure_port=-1 if args.cluster else args.secure_metrics_port,
            metrics_cert_dir=args.metrics_cert_dir,
        )
    if status is not None:
        specs.insert(0, status)
    runtime = Runtime("speaker", specs, clock=clock)
    runtime.install_signal_handlers()
    runtime.start()
    runtime.wait(args.duration)
    runtime.stop("duration elapsed" if not runtime.stopped.is_set() else "stopped")
    return EXIT_OK


def _failover_meter(node: str, extra: list[Any]) -> Any:
    """Takeover times (FailoverMeasured events, lbtui_failover_seconds): a listener that
    starts before the subsystems whose events it reads. Returns the histogram's holder."""
    from actors.observability.failover import FailoverMeterActor, FailoverMetrics
    from actors.runtime import ActorSpec

    metrics = FailoverMetrics()
    extra.insert(0, ActorSpec("failover", FailoverMeterActor, {"node": node, "metrics": metrics}))
    return metrics


def _bgp_speaker(args: argparse.Namespace, extra: list[Any]) -> Any:
    """lbtui's own BGP sessions: the announcer for the speaker, the actor into ``extra``."""
    from actors.bgp.actor import BgpSpeakerActor
    from actors.bgp.announcer import BgpAnnouncer
    from actors.bgp.secrets import FileSecrets
    from actors.kube.secrets import KubeSecrets
    from actors.runtime import ActorSpec

    announcer = BgpAnnouncer()
    options = {
        "node": args.node_name,
        "announcer": announcer,
        "listen_port": args.bgp_listen_port,
        "router_id": args.bgp_router_id,
        "source_address": args.bgp_source_address,
        # On a cluster the passwords come from the watched Secrets (connected a bit later).
        "secrets": FileSecrets(args.config or args.cluster)
        if args.cluster
        else KubeSecrets(lambda: getattr(args, "kube", None)),
    }
    # Before the speaker (extra comes first), so on SIGTERM it closes its sessions first:
    # silently towards graceful-restart peers, which keep our routes while we restart.
    extra.append(ActorSpec("bgp", BgpSpeakerActor, options, withdraws_on_stop=True))
    return announcer


def _status_spec(args: argparse.Namespace, err: TextIO) -> Any:
    """The status endpoint's actor for ``--status-addr`` (None without it; an exit code when
    the address or the token file is bad)."""
    if not args.status_addr:
        return None
    from actors.observability.status import StatusActor, parse_address
    from actors.runtime import ActorSpec

    try:
        address = parse_address(args.status_addr)
    except ValueError as exc:
        print(f"--status-addr: {exc}", file=err)
        return EXIT_INVALID
    token = ""
    if args.status_token_file:
        try:
            with open(args.status_token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            print(f"{args.status_token_file}: cannot read: {exc}", file=err)
            return EXIT_UNREADABLE
        if not token:
            print(f"{args.status_token_file}: the token file is empty", file=err)
            return EXIT_INVALID
    return ActorSpec("status", StatusActor, {"address": address, "token": token})


def _setup_console_logging(log_file: str | None, verbose: bool) -> None:
    """The console owns the terminal: logs go to a file, or nowhere (events are on screen)."""
    import logging

    if log_file:
        logging.basicConfig(
            level=logging.DEBUG if verbose else logging.INFO,
            format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
            filename=log_file,
        )
    else:
        logging.basicConfig(handlers=[logging.NullHandler()], level=logging.WARNING)


def _theme_ok(args: argparse.Namespace, err: TextIO) -> bool:
    """Checked before a runtime is built, so a typo in --theme costs nothing."""
    from lbtui.themes import ThemeError, choose_theme, load_themes

    try:
        choose_theme(args.theme, load_themes())
    except ThemeError as exc:
        print(f"lbtui: {exc}", file=err)
        return False
    return True


def _run_console(port: Any, args: argparse.Namespace, err: TextIO) -> int:
    from lbtui.app import ConsoleApp
    from lbtui.themes import ThemeError

    try:
        app = ConsoleApp(
            port,
            theme_name=args.theme,
            readonly=args.readonly,
            view=args.view or "overview",
            exit_after=getattr(args, "duration", None),
        )
    except ThemeError as exc:
        print(f"lbtui: {exc}", file=err)
        return EXIT_INVALID
    app.run()
    return EXIT_OK


def _demo_console(args: argparse.Namespace, runtime: Any, err: TextIO) -> int:
    """``lbtui demo``: the console on the demo runtime; the console starts the runtime (after
    subscribing, so it sees every event) and the runtime stops when the console quits."""
    from actors.roles.demo import kill_node, revive_node
    from lbtui.ports.local import LocalPort

    port = LocalPort(
        runtime,
        kill_node=kill_node,
        revive_node=revive_node,
        readonly=args.readonly,
        description=f"demo, {args.nodes} nodes in process",
    )
    try:
        return _run_console(port, args, err)
    finally:
        runtime.stop("console closed")


def _kube_console(args: argparse.Namespace, err: TextIO) -> int:
    """``lbtui console --kubeconfig``: the console on the cluster's API, in this process."""
    from actors.kube.resources import CONSOLE_RESOURCES
    from actors.roles.console import kube_console_specs
    from actors.runtime import Runtime
    from lbtui.ports.kube.port import KubePort

    try:
        kube = _connect(args, CONSOLE_RESOURCES)
    except UnreadableInput as exc:
        print(f"lbtui console: {exc}", file=err)
        return EXIT_UNREADABLE
    token = _console_token(args, err)
    if token is None:
        return EXIT_UNREADABLE
    runtime = Runtime("console", kube_console_specs(kube, lb_class=args.lb_class))
    # The speakers' own event streams, through the API server's pod proxy (lbtui/ports/kube/).
    port = KubePort(
        runtime,
        kube.api,
        namespace=args.namespace,
        speaker_labels=args.speaker_labels,
        status_port=args.speaker_status_port,
        token=token,
        follow_speakers=not args.no_speaker_streams,
        readonly=args.readonly,
        description=f"cluster at {kube.api.host}",
    )
    try:
        return _run_console(port, args, err)
    finally:
        runtime.stop("console closed")


def _console_token(args: argparse.Namespace, err: TextIO) -> str | None:
    """The status endpoints' bearer token: --token, $LBTUI_TOKEN or --token-file (None: the
    file cannot be read, said on ``err``)."""
    token = args.token or os.environ.get("LBTUI_TOKEN", "")
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            print(f"{args.token_file}: cannot read: {exc}", file=err)
            return None
    return token


def cmd_console(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lbtui.ports.remote import RemotePort

    _setup_console_logging(args.log_file, args.verbose)
    if args.kubeconfig:
        return _kube_console(args, err)
    if not args.connect:
        print("lbtui console: --connect URL or --kubeconfig FILE is needed", file=err)
        return EXIT_INVALID
    token = _console_token(args, err)
    if token is None:
        return EXIT_UNREADABLE
    if not args.connect.startswith(("http://", "https://")):
        print(f"--connect {args.connect}: expected http://HOST:PORT", file=err)
        return EXIT_INVALID
    # The status endpoint is read-only: the console is too, whatever --readonly says.
    args.readonly = True
    return _run_console(RemotePort(args.connect, token), args, err)


def _console_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--theme",
        default=None,
        help="console theme: a themes/*.toml name (dark, light, colorblind); "
        "default $LBTUI_THEME or dark",
    )
    parser.add_argument(
        "--readonly", action="store_true", help="console: hide every key that changes anything"
    )
    parser.add_argument(
        "--view",
        default=None,
        help="console: the view to open (overview, svc, pools, nodes, l2, bgp, peers, events)",
    )
    parser.add_argument("--log-file", metavar="FILE", help="console: write logs to FILE")


def _status_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--status-addr",
        metavar="HOST:PORT",
        help="serve GET /state and GET /events (JSON lines) read-only on HOST:PORT, "
        "for `lbtui console --connect`",
    )
    parser.add_argument(
        "--status-token-file",
        metavar="FILE",
        help="require 'Authorization: Bearer <token>' with the token in FILE",
    )


# At most one cluster load per 100 ms on a real cluster: bursts of changes coalesce.
KUBE_REFRESH_INTERVAL = 0.1


def _connect(args: argparse.Namespace, resources: Any) -> Any:
    """The KubeCluster for ``--kubeconfig`` (or in-cluster); UnreadableInput if unusable."""
    from actors.kube.api import KubeApi
    from actors.kube.cluster import KubeCluster

    try:
        api = KubeApi.connect(args.kubeconfig, args.context)
    except Exception as exc:  # the client raises ConfigException, OSError, YAML errors...
        raise UnreadableInput(args.kubeconfig or "<in-cluster config>", str(exc)) from exc
    return KubeCluster(api, namespace=args.namespace, resources=resources)


def _kube_speaker_builder(args: argparse.Namespace) -> Any:
    """``lbtui speaker`` on a cluster: file_speaker_specs's signature, the API behind it."""
    from actors.kube.resources import SPEAKER_RESOURCES
    from actors.roles.speaker import kube_speaker_specs

    args.kube = _connect(args, SPEAKER_RESOURCES)

    def build(node: str, _cluster: Any, _config: Any, **kw: Any) -> Any:
        return kube_speaker_specs(
            node,
            args.kube,
            announcer=kw["announcer"],
            lb_class=kw.get("lb_class"),
            pod_name=args.pod_name or os.environ.get("POD_NAME", ""),
            discovery_labels=args.ml_labels,
            refresh_interval=KUBE_REFRESH_INTERVAL,
            extra=kw.get("extra"),
        )

    return build


def _membership_spec(args: argparse.Namespace, err: TextIO) -> Any:
    """The gossip actor of ``lbtui speaker`` (None without any --ml-* option; an exit code
    when an address or the secret file is bad)."""
    if not (args.ml_bind or args.ml_join or args.ml_secret_file or args.ml_secret_key_path):
        return None
    from actors.membership.actor import MembershipActor
    from actors.membership.keyring import KeyFileError, Keyring
    from actors.membership.transport import check_bindable, parse_address
    from actors.runtime import ActorSpec

    try:
        bind = parse_address(args.ml_bind or "0.0.0.0")
        join = [parse_address(a) for a in (args.ml_join or "").split(",") if a.strip()]
    except ValueError as exc:
        print(f"lbtui speaker: --ml-bind/--ml-join: {exc}", file=err)
        return EXIT_INVALID
    try:
        check_bindable(bind)
    except OSError as exc:
        print(f"lbtui speaker: --ml-bind: {exc}", file=err)
        return EXIT_INVALID
    sealer = None
    if args.ml_secret_file and args.ml_secret_key_path:
        print("lbtui speaker: use --ml-secret-file or --ml-secret-key-path, not both", file=err)
        return EXIT_INVALID
    if args.ml_secret_file or args.ml_secret_key_path:
        flag = "--ml-secret-file" if args.ml_secret_file else "--ml-secret-key-path"
        try:
            if args.ml_secret_file:
                sealer = Keyring.from_file(args.ml_secret_file)
            else:  # MetalLB's mounted memberlist Secret
                sealer = Keyring.from_secret_dir(args.ml_secret_key_path)
        except KeyFileError as exc:  # names the file, never the key
            print(f"lbtui speaker: {flag}: {exc}", file=err)
            return EXIT_UNREADABLE if "cannot read" in str(exc) else EXIT_INVALID
    from actors.membership.profile import profile_named

    try:
        profile = profile_named(args.ml_profile).with_overrides(args.ml_timer)
    except ValueError as exc:
        print(f"lbtui speaker: --ml-timer {exc}", file=err)
        return EXIT_INVALID
    options = {
        "node": args.node_name,
        "bind": bind,
        "join": join,
        "profile": profile,
        "sealer": sealer,
        "secret_file": args.ml_secret_file,
        # On Kubernetes without --ml-join the seeds come from speaker discovery.
        "expect_seeds": not args.cluster and not join,
    }
    return ActorSpec("membership", MembershipActor, options)


def _has_membership(specs: list[Any]) -> bool:
    return any(getattr(s, "name", "") == "membership" for s in specs)


def cmd_controller(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from actors.clock import RealClock
    from actors.kube.resources import CONTROLLER_RESOURCES
    from actors.observability.eventlog import JsonLinesEventLog
    from actors.roles.controller import controller_specs
    from actors.roles.observability import observability_specs
    from actors.runtime import ActorSpec, Runtime

    _setup_logging(args.verbose)
    from actors.roles.controller import with_webhook_resources

    if _metrics_cert_dir_missing(args, err, "controller"):
        return EXIT_UNREADABLE
    resources: Any = CONTROLLER_RESOURCES
    if args.webhook_mode != "disabled":
        resources = with_webhook_resources(resources)
    try:
        kube = _connect(args, resources)
    except UnreadableInput as exc:
        print(f"lbtui controller: {exc}", file=err)
        return EXIT_UNREADABLE
    clock = RealClock()
    webhook_options = {
        "cert_dir": args.cert_dir,
        "service_name": args.cert_service_name,
        "secret_name": args.webhook_secret,
        "rotate": not args.disable_cert_rotation,
        "port": args.webhook_port,
    }
    specs = [
        *observability_specs(
            port=args.metrics_port,
            kube=kube,
            secure_port=args.secure_metrics_port,
            metrics_cert_dir=args.metrics_cert_dir,
        ),
        ActorSpec("eventlog", JsonLinesEventLog, {"stream": out, "time_origin": clock.now()}),
        *controller_specs(
            kube,
            lb_class=args.lb_class,
            leader_elect=args.leader_elect,
            lease_name=args.lease_name,
            refresh_interval=KUBE_REFRESH_INTERVAL,
            webhook_mode=args.webhook_mode,
            webhook_options=webhook_options,
            ml_secret_name=args.ml_secret_name,
            deployment=args.deployment,
        ),
    ]
    runtime = Runtime("controller", specs, clock=clock)
    runtime.install_signal_handlers()
    runtime.start()
    runtime.wait(args.duration)
    runtime.stop("duration elapsed" if not runtime.stopped.is_set() else "stopped")
    return EXIT_OK


def cmd_lab(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``lbtui lab up|down|status|fail|heal|traffic|history|console`` (root, Linux)."""
    from pathlib import Path

    from lbtui.lab.lab import Lab, LabError, NetnsError, check_host, print_progress
    from lbtui.lab.state import StateFileError

    try:
        check_host()
        lab = Lab(args.name, Path(args.dir), progress=print_progress(err))
        return int(_LAB_COMMANDS[args.lab_command](lab, args, out, err))
    except (LabError, NetnsError, StateFileError) as exc:
        print(f"lbtui lab: {exc}", file=err)
        return EXIT_INVALID


def _lab_up(lab: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lbtui.lab.lab import status_text

    lab.up(nodes=args.nodes, mode=args.mode, router=args.router, timeout=args.timeout)
    out.write(status_text(lab.status()))
    name = "" if args.name == "lblab" else f" --name {args.name}"
    print(
        f"lab {args.name} is up: lbtui lab traffic{name} | lab fail{name} NODE | "
        f"lab console{name} | lab down{name}",
        file=err,
    )
    return EXIT_OK


def _lab_down(lab: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    out.write(lab.down().text())
    return EXIT_OK


def _lab_status(lab: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lbtui.lab.lab import status_text

    body = lab.status()
    if args.json:
        json.dump(body, out, indent=2)
        out.write("\n")
    else:
        out.write(status_text(body))
    return EXIT_OK


def _lab_fail(lab: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    lab.fail(args.node, args.how)
    print(f"{args.node}: failed ({args.how})", file=out)
    return EXIT_OK


def _lab_heal(lab: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    done = lab.heal(args.node)
    print(f"{args.node}: {', '.join(done) or 'nothing to heal'}", file=out)
    return EXIT_OK


def _lab_traffic(lab: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import asyncio

    from lbtui.lab.lab import traffic_targets
    from lbtui.lab.netns import entered
    from lbtui.lab.traffic import run_traffic, summary_text

    targets = args.target or traffic_targets(lab)
    # From the client's namespace: its kernel resolves, routes and connects as a user's would.
    with entered(lab.plan().host("client").netns):
        report = asyncio.run(
            run_traffic(
                targets,
                seconds=args.seconds,
                connections=args.connections,
                rate=args.rate,
                timeout=args.request_timeout,
            )
        )
    body = report.to_json()
    if args.json:
        json.dump(body, out)
        out.write("\n")
    else:
        out.write(summary_text(body))
    return EXIT_OK


def _lab_history(lab: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Every node's announcement history (GET /history), merged by time."""
    from urllib.parse import urlencode

    query = urlencode({k: v for k, v in (("ip", args.ip), ("node", args.node)) if v})
    entries = []
    for node in lab.plan().nodes:
        try:
            body = lab.fetch(node, f"/history?{query}")
        except (OSError, ValueError) as exc:
            print(f"lbtui lab: {node}: no history ({exc})", file=err)
            continue
        entries += body.get("entries", [])
    entries.sort(key=lambda e: (e["wall"], e["node"], e["seq"]))
    if args.json:
        json.dump(entries, out, indent=2)
        out.write("\n")
        return EXIT_OK
    import time

    for e in entries:
        stamp = (
            time.strftime("%H:%M:%S", time.localtime(e["wall"]))
            + f".{int(e['wall'] % 1 * 1000):03d}"
        )
        out.write(f"{stamp}  {e['node']:<4} {e['action']:<9} {e['ip']:<16} {e['reason']}\n")
    return EXIT_OK


def _lab_console(lab: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The console on one node's status endpoint, from inside the client's namespace."""
    from lbtui.lab.netns import alive, entered
    from lbtui.ports.remote import RemotePort

    state = lab.state()
    plan = lab.plan(state)
    node = args.node
    if node is None:
        running = [
            n
            for n in plan.nodes
            if (p := state.process("speaker", n)) is not None and alive(p.pid, p.start)
        ]
        if not running:
            print("lbtui lab: no speaker is running (lbtui lab heal NODE)", file=err)
            return EXIT_INVALID
        node = running[0]
    plan.host(node)  # an unknown node is a clear error
    _setup_console_logging(args.log_file, args.verbose)
    args.readonly = True
    # Threads the console starts inherit the namespace: its HTTP client connects from there.
    with entered(plan.host("client").netns):
        return _run_console(RemotePort(plan.status_url(node)), args, err)


_LAB_COMMANDS: dict[str, Any] = {
    "up": _lab_up,
    "down": _lab_down,
    "status": _lab_status,
    "fail": _lab_fail,
    "heal": _lab_heal,
    "traffic": _lab_traffic,
    "history": _lab_history,
    "console": _lab_console,
}


def _lab_parser(sub: Any) -> None:
    from lbtui.lab.state import DEFAULT_DIR
    from lbtui.lab.topology import HOWS, MODES, ROUTERS

    lab = sub.add_parser(
        "lab",
        help="(root, Linux) a real network in namespaces: nodes, a router, a client",
        description="One machine as a small data centre: N nodes each running `lbtui speaker` "
        "and an HTTP server answering its name, a BIRD or FRR router, and a client, on one "
        "bridge, all in network namespaces named <name>-*. Everything made is recorded in a "
        "state file, so `lab down` removes it all, also after a crash.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--name", default="lblab", help="lab name, the namespaces' prefix")
    common.add_argument(
        "--dir",
        default=str(DEFAULT_DIR),
        help="where state files and logs go (default $LBTUI_LAB_DIR or /run/lbtui/lab)",
    )
    verbs = lab.add_subparsers(dest="lab_command", required=True, metavar="VERB")
    up = verbs.add_parser("up", parents=[common], help="build the lab and start everything")
    up.add_argument("--nodes", type=int, default=3)
    up.add_argument("--mode", choices=MODES, default="both", help="layer 2, BGP or both")
    up.add_argument("--router", choices=ROUTERS, default="bird", help="BIRD 2 or FRR")
    up.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for everything to serve"
    )
    verbs.add_parser("down", parents=[common], help="remove everything the lab made")
    status = verbs.add_parser("status", parents=[common], help="topology, owners and routes")
    status.add_argument("--json", action="store_true")
    fail = verbs.add_parser("fail", parents=[common], help="break a node")
    fail.add_argument("node")
    fail.add_argument(
        "--how",
        choices=HOWS,
        default="kill",
        help="kill: SIGKILL its speaker; stop: SIGTERM (graceful); link: its cable out",
    )
    heal = verbs.add_parser("heal", parents=[common], help="cable in, speaker running again")
    heal.add_argument("node")
    traffic = verbs.add_parser(
        "traffic", parents=[common], help="many TCP connections from the client to the services"
    )
    traffic.add_argument("--seconds", type=float, default=10.0)
    traffic.add_argument("--connections", type=int, default=20)
    traffic.add_argument("--rate", type=float, default=20.0, help="requests/s per connection")
    traffic.add_argument(
        "--request-timeout", type=float, default=1.0, help="a request unanswered this long fails"
    )
    traffic.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="IP:PORT",
        help="default: every service of the lab",
    )
    traffic.add_argument("--json", action="store_true")
    history = verbs.add_parser(
        "history", parents=[common], help="who announced which address when, and why"
    )
    history.add_argument("--ip", default=None)
    history.add_argument("--node", default=None)
    history.add_argument("--json", action="store_true")
    console = verbs.add_parser("console", parents=[common], help="the console on the lab")
    console.add_argument(
        "--node", default=None, help="whose status endpoint (default: the first running)"
    )
    console.add_argument("-v", "--verbose", action="store_true")
    _console_options(console)
    lab.set_defaults(func=cmd_lab)


def _metrics_cert_dir_missing(args: argparse.Namespace, err: TextIO, role: str) -> bool:
    """--metrics-cert-dir without its tls.crt and tls.key: say which file is missing."""
    cert_dir = args.metrics_cert_dir
    if not cert_dir or args.secure_metrics_port < 0:
        return False
    for name in ("tls.crt", "tls.key"):
        if not os.path.isfile(os.path.join(cert_dir, name)):
            print(f"lbtui {role}: --metrics-cert-dir: no {name} in {cert_dir}", file=err)
            return True
    return False


def _kube_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        default=os.environ.get("KUBECONFIG") or None,
        help="kubeconfig to reach the API server (default: in-cluster config inside a pod, "
        "else $KUBECONFIG or ~/.kube/config)",
    )
    parser.add_argument("--context", default=None, help="kubeconfig context to use")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=7472,
        metavar="PORT",
        help="serve /healthz, /readyz and Prometheus /metrics on PORT (-1: off)",
    )
    parser.add_argument(
        "--secure-metrics-port",
        type=int,
        default=-1,
        metavar="PORT",
        help="MetalLB's metrics endpoint: /metrics over HTTPS on PORT (MetalLB and "
        "examples/deploy: 9120), for bearer tokens the API authenticates (TokenReview) and "
        "authorizes for GET /metrics (SubjectAccessReview); default -1: off",
    )
    parser.add_argument(
        "--metrics-cert-dir",
        metavar="DIR",
        default=None,
        help="tls.crt and tls.key for the HTTPS metrics (reloaded when they change); "
        "default: a self-signed certificate made at start",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lbtui",
        description="A load balancer for bare-metal Kubernetes that reads MetalLB's configuration.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser(
        "validate",
        help="check MetalLB configuration files offline",
        description="Exit 0 if valid, 1 if invalid (every error printed, one a line), "
        "2 if a file cannot be read or is not YAML.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="MetalLB's namespace")
    validate.set_defaults(func=cmd_validate)

    plan = sub.add_parser(
        "plan",
        help="dry run: allocations, L2 owners and BGP advertisements from files",
        description="FILEs hold configuration and cluster objects (Services, EndpointSlices, "
        "Nodes, Namespaces) together.",
    )
    plan.add_argument("files", nargs="+", metavar="FILE")
    plan.add_argument("-o", "--output", choices=("json", "table"), default="table")
    plan.add_argument(
        "--node-down",
        action="append",
        default=[],
        metavar="NODE",
        help="what-if: treat NODE as dead and show what moves (repeatable)",
    )
    plan.add_argument(
        "--ecmp-hash",
        action="append",
        default=[],
        choices=("modulo", "threshold", "resilient"),
        help="BGP mode: the share of flows a router moves (connections reset) when the "
        "--node-down nodes die, or each node alone, if it hashes flows this way (repeatable)",
    )
    plan.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="MetalLB's namespace")
    plan.add_argument(
        "--lb-class",
        default=None,
        help="handle only services of this loadBalancerClass (default: services without one)",
    )
    plan.set_defaults(func=cmd_plan)

    demo = sub.add_parser(
        "demo",
        help="a simulated cluster with the real actors, no root and no cluster needed",
        description="Runs N simulated nodes, sample services and a scenario that shows "
        "failover. With --headless, prints one JSON object per event on stdout.",
    )
    demo.add_argument("--nodes", type=int, default=3, help="number of simulated nodes")
    demo.add_argument("--scenario", metavar="FILE", help="scenario file (examples/scenarios/)")
    demo.add_argument("--headless", action="store_true", help="no console: JSON events on stdout")
    demo.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds (default: until interrupted)",
    )
    demo.add_argument("-v", "--verbose", action="store_true")
    _console_options(demo)
    _status_options(demo)
    demo.set_defaults(func=cmd_demo)

    speaker = sub.add_parser(
        "speaker",
        help="announce on one node",
        description="One node's speaker, headless. With --cluster it needs no API server: "
        "Services, EndpointSlices and Nodes come from files (reloaded when they change).",
    )
    speaker.add_argument("--node-name", required=True, metavar="NODE")
    speaker.add_argument("--cluster", action="append", default=[], metavar="FILE")
    speaker.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="configuration files (default: the --cluster files)",
    )
    speaker.add_argument(
        "--state-file",
        metavar="FILE",
        help="keep the computed status (addresses, announcements) in FILE",
    )
    speaker.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="MetalLB's namespace")
    speaker.add_argument("--lb-class", default=None)
    speaker.add_argument(
        "--poll", type=float, default=1.0, metavar="S", help="how often to check files for changes"
    )
    speaker.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds (default: until SIGTERM)",
    )
    speaker.add_argument(
        "--l2-exclude",
        action="append",
        default=[],
        metavar="REGEX",
        help="never answer ARP/NDP on interfaces whose name matches REGEX (repeatable; "
        "replaces MetalLB's default list: docker, veth, lo, cali, flannel, ...)",
    )
    speaker.add_argument(
        "--l2-refresh",
        type=float,
        default=None,
        metavar="S",
        help="after the takeover burst, send gratuitous ARP/NA again every S seconds",
    )
    speaker.add_argument(
        "--ml-bind",
        metavar="ADDR[:PORT]",
        help="membership (gossip) address, UDP and TCP (default port 7946); any --ml-* option "
        "turns membership on, and the node's liveness then comes from it",
    )
    speaker.add_argument(
        "--ml-join",
        metavar="ADDR:PORT[,...]",
        help="seeds: other speakers' --ml-bind addresses",
    )
    speaker.add_argument(
        "--ml-profile",
        choices=("fast", "lan"),
        default="fast",
        help="gossip timers: fast (default, a crash is known everywhere in under a second) "
        "or lan (close to memberlist's LAN defaults)",
    )
    speaker.add_argument(
        "--ml-timer",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one profile setting (repeatable), e.g. probe_interval=0.2, "
        "suspicion_mult=8, gossip_interval=0.1 (names: actors/membership/profile.py)",
    )
    speaker.add_argument(
        "--ml-secret-file",
        metavar="FILE",
        help="AES keys, one base64 key (16, 24 or 32 bytes) per line, the first used to "
        "encrypt, all accepted (rotation); without it gossip is not encrypted",
    )
    speaker.add_argument(
        "--ml-secret-key-path",
        metavar="DIR",
        default=os.environ.get("METALLB_ML_SECRET_KEY_PATH") or None,
        help="MetalLB's way: the directory where the controller's memberlist Secret is "
        "mounted; the key is derived from DIR/secretkey as MetalLB derives it",
    )
    speaker.add_argument(
        "--no-l2",
        action="store_true",
        help="do not answer ARP/NDP (no raw sockets; for tests of other subsystems)",
    )
    speaker.add_argument(
        "--bgp-backend",
        choices=("native", "frr"),
        default="native",
        help="native: lbtui's own BGP sessions and BFD; frr: keep --frr-config, an frr.conf "
        "with which FRR (bgpd, bfdd) announces the same routes",
    )
    speaker.add_argument(
        "--frr-config",
        metavar="PATH",
        help="with --bgp-backend frr: the frr.conf to keep current (written atomically, "
        "mode 0600, rewritten on every change)",
    )
    speaker.add_argument(
        "--no-bgp",
        action="store_true",
        help="open no BGP sessions and run no BFD (announcements are only recorded)",
    )
    speaker.add_argument(
        "--bgp-router-id",
        metavar="IPv4",
        help="BGP identifier when a BGPPeer sets no routerID (default: the IPv4 address "
        "each session leaves from)",
    )
    speaker.add_argument(
        "--bgp-listen-port",
        type=int,
        default=0,
        metavar="PORT",
        help="also accept connections from configured peers on PORT (179 needs root; "
        "default 0: active sessions only, like MetalLB, never in the way of another "
        "BGP daemon on the node)",
    )
    speaker.add_argument(
        "--bgp-source-address",
        metavar="IP",
        help="source address for BGPPeers without sourceAddress (e.g. 127.0.1.N to run "
        "several speakers on one host)",
    )
    speaker.add_argument(
        "--pod-name",
        default=None,
        help="with the API: this speaker's pod (default $POD_NAME), owner of its status objects",
    )
    speaker.add_argument(
        "--ml-labels",
        default="app=metallb,component=speaker",
        metavar="SELECTOR",
        help="with the API: label selector of the speaker pods, whose IPs membership joins",
    )
    _kube_options(speaker)
    speaker.set_defaults(metrics_port=None)  # 7472 with the API; off with --cluster
    speaker.add_argument("-v", "--verbose", action="store_true")
    _status_options(speaker)
    speaker.set_defaults(func=cmd_speaker)

    controller = sub.add_parser(
        "controller",
        help="allocation and Service status against a Kubernetes API",
        description="Watches Services and MetalLB's configuration in --namespace, allocates "
        "addresses and writes them into each Service's status (with MetalLB's events, pool "
        "status and a ConfigurationState). Events as JSON lines on stdout.",
    )
    controller.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="MetalLB's namespace")
    controller.add_argument(
        "--lb-class",
        default=None,
        help="handle only services of this loadBalancerClass (default: services without one)",
    )
    controller.add_argument(
        "--leader-elect",
        action="store_true",
        help="run several replicas: only the holder of a coordination.k8s.io Lease allocates",
    )
    controller.add_argument("--lease-name", default="lbtui-controller", help="the Lease's name")
    controller.add_argument(
        "--webhook-mode",
        choices=("enabled", "disabled", "onlywebhook"),
        default="enabled",
        help="MetalLB's admission and BGPPeer conversion webhooks: served beside allocation "
        "(enabled), not at all (disabled), or alone without allocation (onlywebhook)",
    )
    controller.add_argument(
        "--webhook-port", type=int, default=9443, metavar="PORT", help="the webhooks' HTTPS port"
    )
    controller.add_argument(
        "--cert-dir",
        default="/tmp/k8s-webhook-server/serving-certs",
        metavar="DIR",
        help="where the webhooks' tls.crt and tls.key are (written there unless "
        "--disable-cert-rotation)",
    )
    controller.add_argument(
        "--cert-service-name",
        default="metallb-webhook-service",
        help="the webhook Service: the certificate is for <name>.<namespace>.svc",
    )
    controller.add_argument(
        "--webhook-secret",
        default="metallb-webhook-cert",
        help="the Secret keeping the webhooks' CA and certificate",
    )
    controller.add_argument(
        "--disable-cert-rotation",
        action="store_true",
        help="do not make or renew the webhook certificates: use those found in --cert-dir",
    )
    controller.add_argument(
        "--ml-secret-name",
        default=os.environ.get("METALLB_ML_SECRET_NAME", ""),
        metavar="NAME",
        help="create the speakers' memberlist key Secret NAME in --namespace unless it exists "
        "(MetalLB's manifests: memberlist)",
    )
    controller.add_argument(
        "--deployment",
        default=os.environ.get("METALLB_DEPLOYMENT") or "controller",
        help="the controller's Deployment, owner of the memberlist Secret",
    )
    controller.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds (default: until SIGTERM)",
    )
    _kube_options(controller)
    controller.add_argument("-v", "--verbose", action="store_true")
    controller.set_defaults(func=cmd_controller)

    console = sub.add_parser(
        "console",
        help="the console attached to a running runtime",
        description="Attaches to a headless runtime's status endpoint (`lbtui speaker` or "
        "`lbtui demo --headless` with --status-addr): read-only. With --kubeconfig, to a "
        "cluster instead: its API, and every speaker's event stream through the API "
        "server's pod proxy.",
    )
    console.add_argument("--connect", metavar="URL", help="http://HOST:PORT")
    console.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="instead of --connect: the cluster itself (Services, pools, who announces what "
        "from the status objects); edits become writes of the metallb.io objects",
    )
    console.add_argument("--context", default=None, help="kubeconfig context to use")
    console.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="MetalLB's namespace")
    console.add_argument("--lb-class", default=None)
    console.add_argument(
        "--token", default="", help="bearer token (or $LBTUI_TOKEN, or --token-file)"
    )
    console.add_argument("--token-file", metavar="FILE", help="read the bearer token from FILE")
    console.add_argument(
        "--speaker-labels",
        default="app=metallb,component=speaker",
        metavar="SELECTOR",
        help="with --kubeconfig: label selector of the speaker pods whose event streams "
        "the console follows (through the API server's pod proxy)",
    )
    console.add_argument(
        "--speaker-status-port",
        type=int,
        default=None,
        metavar="PORT",
        help="with --kubeconfig: the speakers' --status-addr port (default: the speaker "
        "container's port named 'status'); the token is --token/--token-file",
    )
    console.add_argument(
        "--no-speaker-streams",
        action="store_true",
        help="with --kubeconfig: only the API's view, no speaker event streams",
    )
    console.add_argument("-v", "--verbose", action="store_true")
    _console_options(console)
    console.set_defaults(func=cmd_console)
    _lab_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, sys.stdout, sys.stderr))
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
