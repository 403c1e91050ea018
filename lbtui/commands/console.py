"""``lbtui console``: the console attached to a running runtime.

``--connect URL``: a headless runtime's status endpoint (read-only). Otherwise a cluster, as
kubectl finds it (``--kubeconfig``, else ``$KUBECONFIG``, else ``~/.kube/config``; ``--context``
else the current context), through its API (``actors.roles.console`` builds the actors that
read it) and every speaker's event stream through the API server's pod proxy.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, TextIO

from actors.config.build import DEFAULT_NAMESPACE
from lbtui.commands.common import EXIT_INVALID, EXIT_UNREADABLE, kube_options, refused
from lbtui.commands.logs import add_logging_options, setup_console_logging
from lbtui.commands.tui import (
    add_console_options,
    console_settings,
    run_console,
)


def add_parser(subparsers: Any) -> None:
    console = subparsers.add_parser(
        "console",
        help="the console attached to a running runtime",
        description="Attaches to a cluster, found as kubectl finds it (--kubeconfig, else "
        "$KUBECONFIG, else ~/.kube/config; --context, else the current context): its API, "
        "and every speaker's event stream through the API server's pod proxy. With --connect, "
        "to a headless runtime's status endpoint instead (`lbtui speaker` or `lbtui demo "
        "--headless` with --status-addr): read-only.",
    )
    console.add_argument(
        "--connect",
        metavar="URL",
        action="append",
        help="http://HOST:PORT of a speaker's status endpoint, not a cluster; give it once per "
        "speaker to see the whole cluster (every speaker's announcements, membership and "
        "failovers merged); one --connect shows that one speaker's view",
    )
    console.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="the cluster's kubeconfig (default: $KUBECONFIG, a colon-separated list, else "
        "~/.kube/config): Services, pools, who announces what from the status objects; "
        "edits become writes of the metallb.io objects",
    )
    console.add_argument(
        "--context", default=None, help="kubeconfig context to use (default: its current one)"
    )
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
    add_logging_options(console)
    add_console_options(console)
    console.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lbtui.ports.remote import RemotePort

    setup_console_logging(args)
    if args.connect and args.kubeconfig:
        print("lbtui console: --connect and --kubeconfig: one or the other", file=err)
        return EXIT_INVALID
    if not args.connect:
        return _on_cluster(args, err)
    token = _token(args, err)
    if token is None:
        return EXIT_UNREADABLE
    for url in args.connect:
        if not url.startswith(("http://", "https://")):
            print(f"--connect {url}: expected http://HOST:PORT", file=err)
            return EXIT_INVALID
    urls = list(dict.fromkeys(args.connect))  # the same speaker twice is one speaker
    # The status endpoint is read-only: the console is too, whatever --readonly says.
    settings = console_settings(args, readonly=True)
    if len(urls) == 1:
        return run_console(RemotePort(urls[0], token), settings, err)
    from lbtui.ports.cluster import ClusterPort

    return run_console(ClusterPort(urls, token), settings, err)


def _on_cluster(args: argparse.Namespace, err: TextIO) -> int:
    """The console on the cluster's API, in this process (no kubeconfig found: exit 2, saying
    where lbtui looked and that --connect is the other way)."""
    from actors.roles import console as role
    from actors.roles.errors import OptionsError
    from actors.runtime import Runtime
    from lbtui.ports.kube.port import KubePort

    options = role.KubeConsoleOptions(
        kube=kube_options(args), namespace=args.namespace, lb_class=args.lb_class
    )
    try:
        built = role.build(options)
    except OptionsError as exc:
        code = refused(exc, err)
        if not args.kubeconfig:
            print("(or attach to a speaker's status endpoint: --connect URL)", file=err)
        return code
    token = _token(args, err)
    if token is None:
        return EXIT_UNREADABLE
    runtime = Runtime("console", built.specs)
    # The speakers' own event streams, through the API server's pod proxy (lbtui/ports/kube.py).
    port = KubePort(
        runtime,
        built.cluster.api,
        namespace=args.namespace,
        speaker_labels=args.speaker_labels,
        status_port=args.speaker_status_port,
        token=token,
        follow_speakers=not args.no_speaker_streams,
        readonly=args.readonly,
        description=f"cluster at {built.cluster.api.host}",
    )
    try:
        return run_console(port, console_settings(args), err)
    finally:
        runtime.stop("console closed")


def _token(args: argparse.Namespace, err: TextIO) -> str | None:
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
