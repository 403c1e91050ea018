"""``lbtui controller``: allocation and Service status against a Kubernetes API, headless
(``actors.roles.controller``), with MetalLB's webhooks and optional leader election.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, TextIO

from actors.config.build import DEFAULT_NAMESPACE
from lbtui.commands.common import (
    EXIT_OK,
    add_kube_and_metrics_options,
    kube_options,
    metrics_options,
    refused,
)
from lbtui.commands.logs import add_logging_options, setup_logging


def add_parser(subparsers: Any) -> None:
    controller = subparsers.add_parser(
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
    add_kube_and_metrics_options(controller)
    add_logging_options(controller)
    controller.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from actors.clock import RealClock
    from actors.roles import controller as role
    from actors.roles.errors import OptionsError
    from actors.runtime import Runtime, run_until_stopped

    setup_logging(args)
    options = role.ControllerOptions(
        kube=kube_options(args),
        namespace=args.namespace,
        lb_class=args.lb_class,
        leader_elect=args.leader_elect,
        lease_name=args.lease_name,
        webhook_mode=args.webhook_mode,
        webhooks=role.WebhookOptions(
            port=args.webhook_port,
            cert_dir=args.cert_dir,
            service_name=args.cert_service_name,
            secret_name=args.webhook_secret,
            rotate=not args.disable_cert_rotation,
        ),
        ml_secret_name=args.ml_secret_name,
        deployment=args.deployment,
        metrics=metrics_options(args),
    )
    clock = RealClock()
    try:
        specs = role.build(options, events=out, clock=clock)
    except OptionsError as exc:
        return refused(exc, err)
    run_until_stopped(Runtime("controller", specs, clock=clock), args.duration)
    return EXIT_OK
