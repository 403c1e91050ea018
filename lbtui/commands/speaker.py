"""``lbtui speaker``: one node's announcer, headless (``actors.roles.speaker``).

With ``--cluster`` it needs no API server: Services, EndpointSlices and Nodes come from files
(reloaded when they change); without, from the Kubernetes API (``--kubeconfig`` or in-cluster).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from actors.config.build import DEFAULT_NAMESPACE
from lbtui.commands.common import (
    EXIT_OK,
    add_kube_and_metrics_options,
    add_status_options,
    kube_options,
    metrics_options,
    refused,
    status_options,
)
from lbtui.commands.logs import add_logging_options, setup_logging

if TYPE_CHECKING:
    from actors.roles.speaker import SpeakerOptions

#: The interpreter's thread switch interval in the speaker (Python's default: 5 ms). Under a
#: BGP flood a CPU-bound thread holds the GIL a whole interval before the membership reader
#: gets it: acks to probes took p50 ~12.6 ms with 5 ms, ~8 ms with 1 ms (probe timeout 40 ms;
#: tests/bench/membership_load.py, side by side).
SWITCH_INTERVAL_MS = 1.0


def add_parser(subparsers: Any) -> None:
    speaker = subparsers.add_parser(
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
        "--ignore-exclude-lb",
        action="store_true",
        help="announce from nodes labelled node.kubernetes.io/"
        "exclude-from-external-load-balancers too (MetalLB's --ignore-exclude-lb)",
    )
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
        "--l2-no-xdp",
        action="store_true",
        help="answer ARP and NDP from the reader threads only, without the XDP program that "
        "answers them in the kernel (used by default where it can be attached)",
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
    add_kube_and_metrics_options(speaker)
    speaker.set_defaults(metrics_port=None)  # 7472 with the API; off with --cluster
    speaker.add_argument(
        "--switch-interval",
        type=float,
        default=SWITCH_INTERVAL_MS,
        metavar="MS",
        help="how long a busy thread may hold the interpreter before the membership, ARP and "
        f"BGP keepalive threads get their turn (default {SWITCH_INTERVAL_MS:g} ms; Python's "
        "own is 5: under a BGP flood, membership acks waited for it)",
    )
    add_logging_options(speaker)
    add_status_options(speaker)
    speaker.set_defaults(func=run)


def speaker_options(args: argparse.Namespace) -> SpeakerOptions:
    """The parsed command line as the speaker builder's options (OptionsError when the
    status endpoint's options are bad)."""
    from actors.roles.bgp import BgpOptions
    from actors.roles.layer2 import L2Options
    from actors.roles.membership import MembershipOptions
    from actors.roles.speaker import SpeakerOptions

    return SpeakerOptions(
        node=args.node_name,
        cluster_files=tuple(args.cluster),
        config_files=tuple(args.config),
        kube=kube_options(args),
        namespace=args.namespace,
        lb_class=args.lb_class,
        ignore_exclude_lb=args.ignore_exclude_lb,
        state_file=args.state_file,
        poll_interval=args.poll,
        pod_name=args.pod_name or os.environ.get("POD_NAME", ""),
        discovery_labels=args.ml_labels,
        layer2=L2Options(
            enabled=not args.no_l2,
            exclude=tuple(args.l2_exclude),
            refresh=args.l2_refresh,
            in_kernel=not args.l2_no_xdp,
        ),
        bgp=BgpOptions(
            backend=args.bgp_backend,
            frr_config=args.frr_config,
            enabled=not args.no_bgp,
            router_id=args.bgp_router_id,
            listen_port=args.bgp_listen_port,
            source_address=args.bgp_source_address,
        ),
        membership=MembershipOptions(
            bind=args.ml_bind,
            join=args.ml_join,
            profile=args.ml_profile,
            timers=tuple(args.ml_timer),
            secret_file=args.ml_secret_file,
            secret_key_path=args.ml_secret_key_path,
        ),
        metrics=metrics_options(args),
        status=status_options(args),
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from actors.clock import RealClock
    from actors.roles import speaker as role
    from actors.roles.errors import OptionsError
    from actors.runtime import Runtime, run_until_stopped

    setup_logging(args)
    clock = RealClock()
    try:
        if not 0.01 <= args.switch_interval <= 100:
            raise OptionsError(
                f"lbtui speaker: --switch-interval {args.switch_interval:g}: from 0.01 to 100 ms"
            )
        specs = role.build(speaker_options(args), events=out, clock=clock)
    except OptionsError as exc:
        return refused(exc, err)
    sys.setswitchinterval(args.switch_interval / 1000)
    run_until_stopped(Runtime("speaker", specs, clock=clock), args.duration)
    return EXIT_OK
