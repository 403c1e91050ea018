"""MetalLB's entrypoints: ``/controller`` and ``/speaker`` in lbtui's image.

MetalLB's manifests and Helm chart start ``/controller`` and ``/speaker`` with Go-style flags
(``--port=9120 --log-level=info``) and ``METALLB_*`` environment variables; the speaker also
reads the ``metallb-excludel2`` ConfigMap mounted at ``/etc/metallb/excludel2.yaml``. This
module turns those into ``lbtui controller`` / ``lbtui speaker`` arguments, so MetalLB's own
manifests run lbtui with only the image swapped. The translation is pure
(:func:`translate`: flags, environment and file contents in, lbtui's argv and notes out);
:func:`controller_main` and :func:`speaker_main` (console scripts
``lbtui-metallb-controller``/``-speaker``) read the process's inputs, print the notes on
stderr and run lbtui's command. ``FLAGS`` is the table the README's "Running MetalLB's
manifests" section states: every flag MetalLB takes, and what lbtui does with it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from actors.config.build import DEFAULT_NAMESPACE

#: Where MetalLB's manifests mount the metallb-excludel2 ConfigMap, and the service account's
#: namespace file MetalLB falls back to without --namespace.
EXCLUDEL2_PATH = "/etc/metallb/excludel2.yaml"
SA_NAMESPACE_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
#: MetalLB up to 0.14 served plain-HTTP metrics and its probes on --port (7472); later
#: releases serve HTTPS metrics on --port (9120) and probes on --health-probe-port (17472).
LEGACY_METRICS_PORT = 7472
#: A pattern that matches no interface name: MetalLB's empty exclusion list.
MATCH_NOTHING = "(?!)"

LOG_LEVELS = {"all": "debug", "debug": "debug", "info": "info", "warn": "warn", "error": "error",
              "none": "error"}  # fmt: skip
BGP_TYPES = ("native", "frr", "frr-k8s")
WEBHOOK_MODES = ("enabled", "disabled", "onlywebhook")


class CompatError(ValueError):
    """MetalLB's flags or files cannot be run: the message says which and why."""


@dataclass(frozen=True)
class Flag:
    """One of MetalLB's flags: its value's kind, the variable giving its default, and what
    lbtui does with it (``ignored`` flags are accepted and said to be ignored)."""

    name: str
    kind: str  # "str", "int" or "bool"
    role: str  # "controller", "speaker" or "both"
    lbtui: str
    env: str | None = None
    default: str = ""
    ignored: bool = False


FLAGS: tuple[Flag, ...] = (
    Flag("log-level", "str", "both", "--log-level (all: debug, none: error)", default="info"),
    Flag("namespace", "str", "both", "--namespace (else the service account's namespace)",
         env="METALLB_NAMESPACE"),
    Flag("port", "int", "both", "7472: --metrics-port 7472 (MetalLB <= 0.14, plain HTTP); "
         "else --secure-metrics-port PORT (0: off)", default="9120"),
    Flag("health-probe-port", "int", "both", "--metrics-port (/healthz, /readyz and plain "
         "/metrics) unless --port is 7472", default="17472"),
    Flag("metrics-cert-dir", "str", "both", "--metrics-cert-dir"),
    Flag("lb-class", "str", "both", "--lb-class"),
    Flag("pod-name", "str", "both", "speaker: --pod-name (owner of its status objects); "
         "controller: ignored", env="METALLB_POD_NAME"),
    Flag("enable-pprof", "bool", "both", "ignored (no Go runtime; SIGUSR1 prints the "
         "threads' stacks)", ignored=True),
    Flag("pprof-bind-address", "str", "both", "ignored (as --enable-pprof)", ignored=True),
    Flag("tls-min-version", "str", "both", "ignored (Python's TLS defaults)", ignored=True),
    Flag("tls-cipher-suites", "str", "both", "ignored (Python's TLS defaults)", ignored=True),
    Flag("tls-curve-preferences", "str", "both", "ignored (Python's TLS defaults)", ignored=True),
    # the speaker
    Flag("node-name", "str", "speaker", "--node-name (required)", env="METALLB_NODE_NAME"),
    Flag("host", "str", "speaker", "ignored (lbtui's metrics listen on every address)",
         env="METALLB_HOST", ignored=True),
    Flag("ml-bindaddr", "str", "speaker", "--ml-bind ADDR:PORT; empty: no membership, as "
         "MetalLB", env="METALLB_ML_BIND_ADDR"),
    Flag("ml-bindport", "str", "speaker", "the PORT of --ml-bind (default 7946)",
         env="METALLB_ML_BIND_PORT"),
    Flag("ml-labels", "str", "speaker", "--ml-labels", env="METALLB_ML_LABELS"),
    Flag("ml-secret-key-path", "str", "speaker", "--ml-secret-key-path (the key derived from "
         "DIR/secretkey as MetalLB derives it)", env="METALLB_ML_SECRET_KEY_PATH"),
    Flag("ml-wan-config", "bool", "speaker", "ignored (lbtui's timers: --ml-profile)",
         ignored=True),
    Flag("ignore-exclude-lb", "bool", "speaker", "--ignore-exclude-lb"),
    Flag("bgp-debounce-timeout", "str", "speaker", "ignored (lbtui applies each change at "
         "once)", env="METALLB_BGP_DEBOUNCE_TIMEOUT", ignored=True),
    Flag("frrk8s-namespace", "str", "speaker", "ignored (no frr-k8s mode)",
         env="FRRK8S_NAMESPACE", ignored=True),
    Flag("frrk8s-secret-passthrough", "bool", "speaker", "ignored (no frr-k8s mode)",
         ignored=True),
    # the controller
    Flag("ml-secret-name", "str", "controller", "--ml-secret-name",
         env="METALLB_ML_SECRET_NAME"),
    Flag("deployment", "str", "controller", "--deployment", env="METALLB_DEPLOYMENT"),
    Flag("disable-cert-rotation", "bool", "controller", "--disable-cert-rotation"),
    Flag("cert-dir", "str", "controller", "--cert-dir",
         default="/tmp/k8s-webhook-server/serving-certs"),
    Flag("cert-service-name", "str", "controller", "--cert-service-name",
         default="metallb-webhook-service"),
    Flag("webhook-mode", "str", "controller", "--webhook-mode", default="enabled"),
    Flag("webhook-secret", "str", "controller", "--webhook-secret",
         default="metallb-webhook-cert"),
    Flag("webhook-http2", "bool", "controller", "ignored (the webhooks speak HTTP/1.1)",
         ignored=True),
)  # fmt: skip

#: Environment variables MetalLB reads directly (not as a flag's default).
ENV_NOTES = {
    "METALLB_BGP_TYPE": "speaker: native as is; frr and frr-k8s: lbtui's own BGP sessions "
    "(no FRR is configured); controller: ignored",
}


def flags_of(role: str) -> dict[str, Flag]:
    return {f.name: f for f in FLAGS if f.role in (role, "both")}


@dataclass(frozen=True)
class Translation:
    """lbtui's arguments (the subcommand first) and one note per MetalLB input lbtui does not
    use or uses differently."""

    argv: tuple[str, ...]
    notes: tuple[str, ...] = ()


def parse_go_flags(
    argv: Sequence[str], flags: Mapping[str, Flag]
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Go's flag syntax: ``-f``/``--f``, ``=value`` or the next argument; a bool flag takes
    only ``=value``; ``--`` or the first non-flag ends the flags. The flags given, by name,
    and the arguments after them (MetalLB reads none)."""
    given: dict[str, str] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            break
        if not arg.startswith("-") or arg == "-":
            args.insert(0, arg)
            break
        name, eq, value = arg.lstrip("-").partition("=")
        flag = flags.get(name)
        if flag is None:
            raise CompatError(f"flag provided but not defined: -{name}")
        if flag.kind == "bool":
            value = value if eq else "true"
            if value.lower() not in ("1", "t", "true", "0", "f", "false"):
                raise CompatError(f"invalid boolean value {value!r} for -{name}")
            value = "true" if value.lower() in ("1", "t", "true") else "false"
        elif not eq:
            if not args:
                raise CompatError(f"flag needs an argument: -{name}")
            value = args.pop(0)
        if flag.kind == "int" and not re.fullmatch(r"-?\d+", value.strip()):
            raise CompatError(f"invalid value {value!r} for flag -{name}: not an integer")
        given[name] = value.strip()
    return given, tuple(args)


def parse_excludel2(text: str, path: str = EXCLUDEL2_PATH) -> tuple[str, ...]:
    """The ``announcedInterfacesToExclude`` regular expressions of MetalLB's excludel2.yaml,
    each checked (CompatError naming the file and the pattern)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CompatError(f"{path}: not YAML: {exc}") from None
    if doc is None:
        return ()
    if not isinstance(doc, dict):
        raise CompatError(f"{path}: expected a mapping with announcedInterfacesToExclude")
    patterns = doc.get("announcedInterfacesToExclude") or []
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise CompatError(f"{path}: announcedInterfacesToExclude: expected a list of strings")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise CompatError(f"{path}: announcedInterfacesToExclude: {pattern!r}: {exc}") from None
    return tuple(patterns)


def translate(
    role: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    excludel2: str | None = None,
    sa_namespace: str | None = None,
    log_level_flag: bool = True,
) -> Translation:
    """MetalLB's ``role`` ("controller" or "speaker") command line and environment as lbtui's.

    ``excludel2`` is the text of /etc/metallb/excludel2.yaml (None: absent, lbtui's default
    list, which is the one MetalLB's manifests put in that ConfigMap), ``sa_namespace`` the
    service account's namespace file, ``log_level_flag`` whether lbtui takes ``--log-level``
    (else debug becomes ``-v``). CompatError when MetalLB itself would refuse to start.
    """
    if role not in ("controller", "speaker"):
        raise CompatError(f"unknown MetalLB role {role!r}")
    flags = flags_of(role)
    given, rest = parse_go_flags(argv, flags)

    def value(name: str) -> str:
        if name in given:
            return given[name]
        flag = flags[name]
        return (env.get(flag.env, "") if flag.env else "") or flag.default

    def is_set(name: str) -> bool:
        flag = flags[name]
        return name in given or bool(flag.env and env.get(flag.env))

    out: list[str] = [role]
    notes = [
        f"--{name}: {flags[name].lbtui}"
        for name in sorted(flags)
        if flags[name].ignored and is_set(name) and value(name) not in ("", "false")
    ]
    if rest:
        notes.append(
            f"arguments after the flags ignored, as MetalLB ignores them: {' '.join(rest)}"
        )

    level = value("log-level").lower()
    if level not in LOG_LEVELS:
        raise CompatError(f"--log-level {level!r}: must be one of {', '.join(LOG_LEVELS)}")
    if log_level_flag:
        out += ["--log-level", LOG_LEVELS[level]]
    elif LOG_LEVELS[level] == "debug":
        out.append("-v")

    namespace = value("namespace") or (sa_namespace or "").strip()
    if not namespace:
        namespace = DEFAULT_NAMESPACE
        notes.append(f"no --namespace, METALLB_NAMESPACE or service account: {namespace}")
    out += ["--namespace", namespace]

    port, health = int(value("port")), int(value("health-probe-port"))
    if port == LEGACY_METRICS_PORT:
        out += ["--metrics-port", str(port), "--secure-metrics-port", "-1"]
    else:
        out += ["--metrics-port", str(health), "--secure-metrics-port", str(port or -1)]
    if value("metrics-cert-dir"):
        out += ["--metrics-cert-dir", value("metrics-cert-dir")]
    if value("lb-class"):
        out += ["--lb-class", value("lb-class")]

    if role == "speaker":
        out += _speaker(value, notes, env, excludel2)
    else:
        out += _controller(value, notes, env)
    return Translation(tuple(out), tuple(notes))


def _speaker(value, notes: list[str], env: Mapping[str, str], excludel2: str | None) -> list[str]:
    node = value("node-name")
    if not node:
        raise CompatError("must specify --node-name or METALLB_NODE_NAME")
    out = ["--node-name", node]
    if value("pod-name"):
        out += ["--pod-name", value("pod-name")]
    if value("ignore-exclude-lb") == "true":
        out.append("--ignore-exclude-lb")
    bind = value("ml-bindaddr")
    if bind:
        port = value("ml-bindport") or "7946"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise CompatError(f"--ml-bindport {port!r}: not a port")
        host = f"[{bind}]" if ":" in bind else bind
        out += ["--ml-bind", f"{host}:{port}"]
        if value("ml-labels"):
            out += ["--ml-labels", value("ml-labels")]
        if value("ml-secret-key-path"):
            out += ["--ml-secret-key-path", value("ml-secret-key-path")]
    else:
        notes.append("no --ml-bindaddr or METALLB_ML_BIND_ADDR: membership off, as MetalLB")
    debounce = value("bgp-debounce-timeout")
    if debounce and (not debounce.isdigit() or int(debounce) <= 0):
        raise CompatError(f"--bgp-debounce-timeout {debounce!r}: must be a positive integer")
    bgp_type = env.get("METALLB_BGP_TYPE", "") or "native"
    if bgp_type not in BGP_TYPES:
        raise CompatError(f"METALLB_BGP_TYPE {bgp_type!r}: must be one of {', '.join(BGP_TYPES)}")
    if bgp_type != "native":
        notes.append(f"METALLB_BGP_TYPE={bgp_type}: {ENV_NOTES['METALLB_BGP_TYPE']}")
    if excludel2 is not None:
        patterns = parse_excludel2(excludel2)
        for pattern in patterns or (MATCH_NOTHING,):
            out += ["--l2-exclude", pattern]
    return out


def _controller(value, notes: list[str], env: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    mode = value("webhook-mode")
    if mode not in WEBHOOK_MODES:
        raise CompatError(f"--webhook-mode {mode!r}: must be one of {', '.join(WEBHOOK_MODES)}")
    out += ["--webhook-mode", mode, "--cert-dir", value("cert-dir")]
    out += ["--cert-service-name", value("cert-service-name")]
    out += ["--webhook-secret", value("webhook-secret")]
    if value("disable-cert-rotation") == "true":
        out.append("--disable-cert-rotation")
    for name in ("ml-secret-name", "deployment"):
        if value(name):
            out += [f"--{name}", value(name)]
    if value("pod-name"):
        notes.append("--pod-name: ignored by lbtui's controller")
    if env.get("METALLB_BGP_TYPE"):
        notes.append(f"METALLB_BGP_TYPE: {ENV_NOTES['METALLB_BGP_TYPE']}")
    return out


# -- the entry points (the image's /controller and /speaker) ------------------------------


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CompatError(f"{path}: {exc.strerror or exc}") from None


def _takes_log_level(role: str) -> bool:
    """Whether ``lbtui ROLE`` takes ``--log-level`` (argparse has no public way to ask)."""
    from lbtui.cli import build_parser

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return "--log-level" in action.choices[role]._option_string_actions
    return False


def run_as(role: str, argv: Sequence[str] | None = None) -> int:
    from lbtui.cli import main

    try:
        translation = translate(
            role,
            sys.argv[1:] if argv is None else argv,
            os.environ,
            excludel2=_read(EXCLUDEL2_PATH) if role == "speaker" else None,
            sa_namespace=_read(SA_NAMESPACE_PATH),
            log_level_flag=_takes_log_level(role),
        )
    except CompatError as exc:
        print(f"{role}: {exc}", file=sys.stderr)
        return 2
    for note in translation.notes:
        print(f"{role}: {note}", file=sys.stderr)
    print(f"{role}: running lbtui {' '.join(translation.argv)}", file=sys.stderr)
    # What the translation decided wins over lbtui's own environment defaults.
    os.environ.pop("METALLB_ML_SECRET_KEY_PATH", None)
    return main(list(translation.argv))


def controller_main() -> int:
    return run_as("controller")


def speaker_main() -> int:
    return run_as("speaker")
