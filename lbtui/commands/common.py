"""What the subcommands share: exit codes, logging, refusing options, reading MetalLB files,
and the option groups several of them take (``--status-*``, ``--kubeconfig`` and metrics).

The role builders are imported inside the functions, so ``lbtui validate`` loads no more of
the runtime than it needs; textual is never imported here (see ``lbtui.commands.tui``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from actors.config.build import build_config
from actors.config.loader import Inputs, load_files
from actors.model.config import Config
from actors.model.issues import UnreadableInput

if TYPE_CHECKING:
    from actors.roles.errors import OptionsError
    from actors.roles.kube import KubeOptions
    from actors.roles.observability import MetricsOptions, StatusOptions

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def refused(error: OptionsError, err: TextIO) -> int:
    """Say why a role refused its options; the exit code for it."""
    print(f"{error}", file=err)
    return EXIT_UNREADABLE if error.unreadable else EXIT_INVALID


def setup_logging(verbose: bool) -> None:
    """Headless commands log to stderr (stdout carries the JSON-lines events)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# -- MetalLB files (plan) ------------------------------------------------------------


def load_config(
    files: Sequence[str],
    namespace: str,
    issues: TextIO,
    err: TextIO,
) -> tuple[Inputs, Config] | int:
    """The files' documents and the MetalLB configuration they hold, every issue printed on
    ``issues`` (errors first, one a line); else the exit code: EXIT_UNREADABLE if a file cannot
    be read or is not YAML (said on ``err``), EXIT_INVALID if the configuration has errors.
    (``lbtui validate`` reads its inputs itself: stdin, directories, marks.)"""
    try:
        inputs = load_files(files)
    except UnreadableInput as exc:
        print(f"{exc}", file=err)
        return EXIT_UNREADABLE
    result = build_config(inputs, namespace=namespace)
    found = [*inputs.issues, *result.issues]
    for issue in sorted(found, key=lambda i: (i.severity != "error", i.file, i.line or 0)):
        print(issue, file=issues)
    errors = sum(1 for i in found if i.severity == "error")
    if errors:
        return EXIT_INVALID
    assert result.config is not None
    return inputs, result.config


# -- option groups -----------------------------------------------------------------------------


def add_status_options(parser: argparse.ArgumentParser) -> None:
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


def status_options(args: argparse.Namespace) -> StatusOptions:
    """The checked ``--status-*`` options (OptionsError when they are bad)."""
    from actors.roles.observability import status_options

    return status_options(args.status_addr, args.status_token_file)


def add_kube_and_metrics_options(parser: argparse.ArgumentParser) -> None:
    """``--kubeconfig``, ``--context`` and the metrics options of the roles on a cluster."""
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


def kube_options(args: argparse.Namespace) -> KubeOptions:
    from actors.roles.kube import KubeOptions

    return KubeOptions(kubeconfig=args.kubeconfig, context=args.context)


def metrics_options(args: argparse.Namespace) -> MetricsOptions:
    from actors.roles.observability import MetricsOptions

    return MetricsOptions(
        port=args.metrics_port,
        secure_port=args.secure_metrics_port,
        cert_dir=args.metrics_cert_dir,
    )
