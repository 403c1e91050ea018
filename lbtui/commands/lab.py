"""``lbtui lab up|down|status|fail|heal|traffic|history|console`` (root, Linux): a real
network in namespaces (``lbtui.lab``): nodes each running ``lbtui speaker``, a router, a client.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from lbtui.commands.common import EXIT_INVALID, EXIT_OK
from lbtui.commands.logs import add_logging_options, setup_console_logging
from lbtui.commands.tui import (
    add_console_options,
    console_settings,
    run_console,
)


def add_parser(subparsers: Any) -> None:
    from lbtui.lab.state import DEFAULT_DIR
    from lbtui.lab.topology import HOWS, MODES, ROUTERS

    lab = subparsers.add_parser(
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
        "--node",
        default=None,
        help="only this node's status endpoint (default: every node's, merged into the "
        "cluster's view)",
    )
    add_logging_options(console)
    add_console_options(console)
    lab.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``lbtui lab up|down|status|fail|heal|traffic|history|console`` (root, Linux)."""
    from pathlib import Path

    from lbtui.lab.lab import Lab, check_host, print_progress
    from lbtui.lab.netns import NetnsError
    from lbtui.lab.state import StateFileError
    from lbtui.lab.topology import LabError

    try:
        check_host()
        lab = Lab(args.name, Path(args.dir), progress=print_progress(err))
        return int(_LAB_COMMANDS[args.lab_command](lab, args, out, err))
    except (LabError, NetnsError, StateFileError) as exc:
        print(f"lbtui lab: {exc}", file=err)
        return EXIT_INVALID


def _lab_up(lab: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lbtui.lab.status import status_text

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
    from lbtui.lab.status import status_text

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
    """The console on every node's status endpoint merged (or, with --node, that node's
    only), from inside the client's namespace."""
    from lbtui.lab.netns import entered
    from lbtui.ports.cluster import ClusterPort
    from lbtui.ports.remote import RemotePort

    state = lab.state()
    plan = lab.plan(state)
    if args.node is not None:
        plan.host(args.node)  # an unknown node is a clear error
        port: Any = RemotePort(plan.status_url(args.node))
    else:
        # Every node, dead ones too: one that comes back is followed again by itself.
        port = ClusterPort([plan.status_url(n) for n in plan.nodes])
    setup_console_logging(args)
    settings = console_settings(args, readonly=True)  # a status endpoint is read-only
    # Threads the console starts inherit the namespace: its HTTP client connects from there.
    with entered(plan.host("client").netns):
        return run_console(port, settings, err)


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
