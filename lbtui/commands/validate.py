"""``lbtui validate PATH...``: offline lint of MetalLB configuration, fit for a CI pipeline.

A PATH is a file, ``-`` (standard input), or a directory read recursively (``*.yaml``,
``*.yml``, ``*.json``). The whole report goes to stdout: every issue as
``file:line:column: Kind/name: field: message`` (errors first), then a summary line; with
``-o json`` one object ``{files, errors, warnings, summary}``, each issue as
``{file, line, column, kind, name, field, message}``. ``--strict`` counts warnings as errors.
Exit 0 if valid, 1 if invalid, 2 if an input cannot be read or is not YAML.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import msgspec

from actors.config.build import DEFAULT_NAMESPACE, build_config
from actors.config.loader import Inputs, load_file, load_text
from actors.config.marks import Marks
from actors.model.config import Config
from actors.model.issues import Issue, UnreadableInput, printable
from actors.util.gc_pause import gc_paused
from lbtui.commands.common import EXIT_INVALID, EXIT_OK, EXIT_UNREADABLE

STDIN = "-"
SUFFIXES = (".yaml", ".yml", ".json")


def add_parser(subparsers: Any) -> None:
    validate = subparsers.add_parser(
        "validate",
        help="check MetalLB configuration files offline",
        description="Exit 0 if valid, 1 if invalid (every issue printed, one a line, with "
        "file:line:column), 2 if an input cannot be read or is not YAML. The whole report "
        "goes to stdout.",
    )
    validate.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a file, - for standard input, or a directory (read recursively: *.yaml, "
        "*.yml, *.json)",
    )
    validate.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="MetalLB's namespace")
    validate.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="report format"
    )
    validate.add_argument("--strict", action="store_true", help="count warnings as errors (exit 1)")
    validate.set_defaults(func=run)


def expand(paths: list[str]) -> list[str]:
    """The files the paths name: directories walked recursively (sorted, configuration
    suffixes only), ``-`` and plain files as given. Raises UnreadableInput for a directory
    that holds no configuration file."""
    files: list[str] = []
    for path in paths:
        if path != STDIN and Path(path).is_dir():
            found = sorted(
                str(p) for p in Path(path).rglob("*") if p.is_file() and p.suffix in SUFFIXES
            )
            if not found:
                raise UnreadableInput(path, f"no {', '.join(SUFFIXES)} file in this directory")
            files.extend(found)
        else:
            files.append(path)
    return files


def _read_stdin(stdin: TextIO) -> str:
    try:
        return stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableInput("<stdin>", f"cannot read: {exc}") from exc


def lint(
    paths: list[str], namespace: str, stdin: TextIO
) -> tuple[list[str], list[Issue], list[tuple[str, Config]], Marks]:
    """Read and validate: the files read, every issue, each configuration found with its label
    (none if there is an error), the marks that locate issues. Raises UnreadableInput."""
    files = expand(paths)
    inputs, marks = Inputs(), Marks()
    for file in files:
        if file == STDIN:
            text = _read_stdin(stdin)
            inputs.extend(load_text(text, "<stdin>"))
            marks.add(text, "<stdin>")
        else:  # read a piece at a time, and again only where an issue is to be located
            inputs.extend(load_file(file))
            marks.add(Path(file), file)
    issues = list(inputs.issues)
    configs: list[tuple[str, Config]] = []
    for label, variant in alternatives(inputs):
        result = build_config(variant, namespace=namespace)
        issues.extend(i for i in result.issues if i not in issues)
        if result.config is not None:
            configs.append((label, result.config))
    if any(i.severity == "error" for i in issues):
        configs = []
    issues.sort(key=lambda i: (i.severity != "error", i.file, i.line or 0))
    marks.want(issues)
    return ["<stdin>" if f == STDIN else f for f in files], issues, configs, marks


def alternatives(inputs: Inputs) -> list[tuple[str, Inputs]]:
    """The configurations ``inputs`` hold: one, or when both metallb.io resources and a legacy
    ConfigMap are given, each on its own. No MetalLB reads both (up to 0.12 the ConfigMap, from
    0.13 the resources), so they are alternatives, each validated with the other objects."""
    if not (inputs.resources and inputs.legacy):
        return [("", inputs)]
    return [
        ("metallb.io resources", msgspec.structs.replace(inputs, legacy=[], issues=[])),
        ("legacy ConfigMap", msgspec.structs.replace(inputs, resources=[], issues=[])),
    ]


def _record(issue: Issue, marks: Marks) -> dict[str, Any]:
    where = marks.locate(issue)
    obj = issue.obj.split(" (from ", 1)[0]
    kind, _, name = obj.partition("/")
    return {
        "file": issue.file,
        "line": where[0] if where else issue.line,
        "column": where[1] if where else None,
        "kind": kind,
        "name": name,
        "field": issue.field,
        "message": issue.message,
    }


def _located(issue: Issue, marks: Marks) -> str:
    where = marks.locate(issue)
    if where:
        issue = msgspec.structs.replace(issue, file=f"{issue.file}:{where[0]}:{where[1]}")
    elif issue.line:
        issue = msgspec.structs.replace(issue, file=f"{issue.file}:{issue.line}")
    return str(issue)


def _counts(cfg: Config) -> dict[str, int]:
    return {
        "pools": len(cfg.pools),
        "l2Advertisements": len(cfg.l2_advertisements),
        "bgpAdvertisements": len(cfg.bgp_advertisements),
        "bgpPeers": len(cfg.peers),
        "bfdProfiles": len(cfg.bfd_profiles),
        "communities": len(cfg.communities),
    }


def _summary_text(configs: list[tuple[str, Config]], errors: int, warnings: int, files: int) -> str:
    if errors:
        return f"invalid: {errors} error(s), {warnings} warning(s) in {files} file(s)"
    parts = [
        (f"{label}: " if label else "")
        + f"{len(cfg.pools)} pool(s), {len(cfg.l2_advertisements)} L2Advertisement(s), "
        f"{len(cfg.bgp_advertisements)} BGPAdvertisement(s), {len(cfg.peers)} BGPPeer(s), "
        f"{len(cfg.bfd_profiles)} BFDProfile(s), {len(cfg.communities)} community alias(es)"
        for label, cfg in configs
    ]
    return "valid: " + "; ".join(parts) + (f"; {warnings} warning(s)" if warnings else "")


def run(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO | None = None) -> int:
    # One pass over objects that all stay alive to the end: the cyclic collector would walk
    # them again and again and free nothing.
    with gc_paused():
        return _run(args, out, stdin if stdin is not None else sys.stdin)


def _run(args: argparse.Namespace, out: TextIO, source: TextIO) -> int:
    try:
        files, issues, configs, marks = lint(args.paths, args.namespace, source)
    except UnreadableInput as exc:
        if args.output == "json":
            problem = {
                "file": exc.file,
                "line": exc.line,
                "column": None,
                "kind": "",
                "name": "",
                "field": "",
                "message": str(exc),
            }
            report = {
                "files": [],
                "errors": [problem],
                "warnings": [],
                "summary": {"valid": False, "unreadable": True, "errors": 1, "warnings": 0},
            }
            print(json.dumps(report, indent=2), file=out)
        else:
            print(printable(f"unreadable: {exc}"), file=out)
        return EXIT_UNREADABLE
    if args.strict:
        issues = [msgspec.structs.replace(i, severity="error") for i in issues]
    errors = [i for i in issues if i.severity == "error"]
    warnings = [i for i in issues if i.severity == "warning"]
    valid = not errors
    if args.output == "json":
        report = {
            "files": files,
            "errors": [_record(i, marks) for i in errors],
            "warnings": [_record(i, marks) for i in warnings],
            "summary": {
                "valid": valid,
                "errors": len(errors),
                "warnings": len(warnings),
                **(_counts(configs[0][1]) if valid and len(configs) == 1 else {}),
                **(
                    {"alternatives": {label: _counts(cfg) for label, cfg in configs}}
                    if valid and len(configs) > 1
                    else {}
                ),
            },
        }
        print(json.dumps(report, indent=2), file=out)
    else:
        for issue in issues:
            print(_located(issue, marks), file=out)
        print(_summary_text(configs, len(errors), len(warnings), len(files)), file=out)
    return EXIT_OK if valid else EXIT_INVALID
