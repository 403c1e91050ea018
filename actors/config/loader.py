"""Reading multi-document YAML files into typed objects, remembering where each came from.

One loader serves configuration (metallb.io resources, the legacy ConfigMap, Secrets) and
cluster objects (Service, EndpointSlice, Node, Namespace), because ``lbtui plan`` and the
file-backed speaker take both from the same files. Objects that fail their schema become
:class:`Issue` s naming file, object and field; an unknown ``metallb.io`` kind is an error (a
typo), other kinds lbtui does not read are warnings, never dropped silently.
"""

from __future__ import annotations

import codecs
import difflib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Generic, Protocol, TypeVar

import msgspec
import yaml
from pydantic import ValidationError

from actors.config.crds import METALLB_GROUP, RESOURCE_KINDS, MetalLBResource, Secret
from actors.config.jsonread import json_documents
from actors.config.parallel import Piece, PieceFailed, PieceReader, pieces_for, plan_pieces
from actors.config.yamlread import LibyamlRefused, Source, documents
from actors.model.cluster import EndpointSlice, Namespace, Node, Service
from actors.model.issues import Issue, UnreadableInput
from actors.model.redacted import Redacted
from actors.util.gc_pause import gc_paused

T = TypeVar("T")


class Validated(Protocol):
    """A kind read from a document: a pydantic model, or a cluster object (``_K8s``)."""

    @classmethod
    def model_validate(cls, obj: Any, *, by_name: bool | None = None) -> Any: ...


# metallb.io kinds MetalLB itself writes (status objects): not configuration, so not read, but
# not a typo either. Any other unknown metallb.io kind is an error (``IPAdressPool``).
METALLB_STATUS_KINDS = frozenset({"ServiceL2Status", "ServiceBGPStatus", "ConfigurationState"})

# lbtui's own files (``lbtui demo --scenario``) in a directory given to ``validate``: not
# configuration, skipped without a word.
LBTUI_GROUP = "lbtui.io"
LBTUI_KINDS = frozenset({"DemoScenario"})

CLUSTER_KINDS: dict[str, type[Validated]] = {
    "Service": Service,
    "EndpointSlice": EndpointSlice,
    "Node": Node,
    "Namespace": Namespace,
}


class Sourced(msgspec.Struct, Generic[T], frozen=True):
    """An object together with the file (and line) it was read from."""

    obj: T
    file: str
    line: int | None = None


class LegacyConfigMap(Redacted, msgspec.Struct, frozen=True):
    """The ``config`` key of MetalLB's pre-0.13 ConfigMap, still unparsed."""

    name: str
    namespace: str
    text: str  # may hold BGP passwords: kept out of repr (and so out of logs)
    line_offset: int | None = None

    __redacted__ = frozenset({"text"})


class Inputs(msgspec.Struct):
    """Everything read from a set of files, sorted by what it is for."""

    resources: list[Sourced[MetalLBResource]] = msgspec.field(default_factory=list)
    legacy: list[Sourced[LegacyConfigMap]] = msgspec.field(default_factory=list)
    secrets: list[Sourced[Secret]] = msgspec.field(default_factory=list)
    services: list[Sourced[Service]] = msgspec.field(default_factory=list)
    endpoint_slices: list[Sourced[EndpointSlice]] = msgspec.field(default_factory=list)
    nodes: list[Sourced[Node]] = msgspec.field(default_factory=list)
    namespaces: list[Sourced[Namespace]] = msgspec.field(default_factory=list)
    issues: list[Issue] = msgspec.field(default_factory=list)

    def extend(self, other: Inputs) -> None:
        for name in self.__struct_fields__:
            getattr(self, name).extend(getattr(other, name))

    def of_cluster_kind(self, kind: str) -> list[Sourced[Any]]:
        """The list holding the objects of one of the :data:`CLUSTER_KINDS`."""
        return {
            "Service": self.services,
            "EndpointSlice": self.endpoint_slices,
            "Node": self.nodes,
            "Namespace": self.namespaces,
        }[kind]


def yaml_documents(text: Source, file: str) -> Iterator[tuple[Any, int]]:
    """Each YAML document with its 1-based starting line, read by libyaml
    (:mod:`actors.config.yamlread`), or by the json module if the text is JSON
    (:mod:`actors.config.jsonread`). ``text`` may be a binary file, read a piece at a time
    (unless it is JSON). Raises UnreadableInput on bad YAML."""
    as_json = json_documents(_whole_if_json(text))
    if as_json is not None:
        yield from as_json
        return
    try:
        yield from documents(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise UnreadableInput(file, f"YAML syntax error: {exc.problem or exc}", line) from exc
    except yaml.YAMLError as exc:  # a control character: the reader refuses the whole text
        raise UnreadableInput(file, f"YAML error: {exc}") from exc
    except RecursionError as exc:
        raise UnreadableInput(file, "YAML error: nested too deeply") from exc
    except (ValueError, TypeError, OverflowError) as exc:
        # PyYAML's constructors let these through, e.g. the timestamp 2001-02-30.
        raise UnreadableInput(file, f"YAML error: {exc}") from exc


def _whole_if_json(text: Source) -> str | bytes:
    """A text as it is; a file's whole text if it may be JSON (it starts with { or [), else
    nothing (b""); the file is left at its start."""
    if isinstance(text, str | bytes):
        return text
    start = b""
    while not start:
        piece = text.read(1 << 16)
        if not piece:
            break
        start = piece.lstrip(b" \r\n")
    whole = b""
    if start.startswith((b"{", b"[")):
        text.seek(0)
        whole = text.read()
    text.seek(0)
    return whole


def load_files(paths: Iterable[str | Path]) -> Inputs:
    inputs = Inputs()
    for path in paths:
        inputs.extend(load_file(path))
    return inputs


def load_file(path: str | Path) -> Inputs:
    """A file's objects, read by libyaml a piece at a time (the file is never held whole)."""
    file = str(path)
    try:
        with open(path, "rb") as stream:
            check_utf8_file(stream)
            size = stream.tell()
            pieces = pieces_for(size)
            cuts = plan_pieces(stream, size, pieces) if pieces > 1 else []
            if cuts:
                inputs = _load_pieces(file, cuts)
                if inputs is not None:
                    return inputs
            stream.seek(0)
            return load_text(stream, file)
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableInput(file, f"cannot read: {exc}") from exc


def _load_pieces(file: str, pieces: list[Piece]) -> Inputs | None:
    """A big file read a piece per core (:mod:`actors.config.parallel`), each piece's
    documents classified as they come (a child's sent ahead are not held as bytes); None when
    a piece cannot be read alone (then one reading of the whole file says what is wrong,
    where)."""
    parts = [Inputs() for _ in pieces]

    def take(index: int, docs: Iterable[tuple[Any, int]]) -> None:
        for doc, line in docs:
            _classify(doc, file, line, parts[index])

    try:
        reader = PieceReader(file, pieces, take)
    except (OSError, ValueError, AssertionError):  # no fork here (resources, a daemon process)
        return None
    try:
        with gc_paused():
            take(0, reader.first())
            reader.rest()
    except (LibyamlRefused, PieceFailed):
        return None
    finally:
        reader.close()
    inputs = parts[0]
    for part in parts[1:]:
        inputs.extend(part)
    return inputs


def check_utf8_file(stream: IO[bytes], chunk: int = 1 << 20) -> None:
    """:func:`check_utf8` of a binary file, read a chunk at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while data := stream.read(chunk):
            decoder.decode(data)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        stream.seek(0)
        stream.read().decode("utf-8")  # raises the same error, said of the whole file
        raise


def check_utf8(data: bytes, chunk: int = 1 << 20) -> None:
    """Raise UnicodeDecodeError (positions in the whole of ``data``) unless it is UTF-8,
    without holding its text: decoded a chunk at a time, the text thrown away."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(data), chunk):
            decoder.decode(view[start : start + chunk])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        data.decode("utf-8")  # raises the same error, said of the whole file
        raise


def load_text(text: Source, file: str) -> Inputs:
    """The objects of a text (or of UTF-8 bytes, or of a binary file at its start)."""
    return load_documents(yaml_documents(text, file), file)


def load_documents(docs: Iterable[tuple[Any, int]], file: str) -> Inputs:
    """Classify already-parsed documents (``(document, line)`` pairs) from one file. The
    cyclic collector waits meanwhile: the models read stay alive, so its passes free nothing."""
    inputs = Inputs()
    with gc_paused():
        for doc, line in docs:
            _classify(doc, file, line, inputs)
    return inputs


def _object_name(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return f"{doc.get('kind', '?')}/{name if name else '?'}"


# Kubernetes Lists do not nest; this bound also stops a YAML alias that contains itself.
_MAX_LIST_DEPTH = 4


def _classify(doc: Any, file: str, line: int, inputs: Inputs, depth: int = 0) -> None:
    if doc is None:
        return
    if not isinstance(doc, dict):
        inputs.issues.append(
            Issue(file, "", "", f"document at line {line} is not a mapping", line=line)
        )
        return
    kind = doc.get("kind")
    api_version = doc.get("apiVersion")
    if kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in doc):
        items = doc.get("items") or []
        if not isinstance(items, list) or depth >= _MAX_LIST_DEPTH:
            problem = "is not a list" if not isinstance(items, list) else "nested too deeply"
            inputs.issues.append(Issue(file, _object_name(doc), "items", problem, line=line))
            return
        for item in items:
            _classify(item, file, line, inputs, depth + 1)
        return
    obj = _object_name(doc)
    if not isinstance(kind, str) or not isinstance(api_version, str):
        inputs.issues.append(
            Issue(file, obj, "", f"missing kind or apiVersion (document at line {line})", line=line)
        )
        return

    if kind in RESOURCE_KINDS:
        model, versions = RESOURCE_KINDS[kind]
        if api_version not in versions:
            inputs.issues.append(
                Issue(
                    file,
                    obj,
                    "apiVersion",
                    f"unsupported apiVersion {api_version!r} for {kind} "
                    f"(expected {' or '.join(versions)})",
                    line=line,
                )
            )
            return
        parsed = _validate(model, doc, file, obj, line, inputs)
        if parsed is not None:
            inputs.resources.append(Sourced(parsed, file, line))  # type: ignore[arg-type]
        return

    if kind == "ConfigMap" and api_version == "v1":
        data = doc.get("data") or {}
        meta = doc.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        if isinstance(data, dict) and isinstance(data.get("config"), str):
            inputs.legacy.append(
                Sourced(
                    LegacyConfigMap(
                        name=str(meta.get("name", "")),
                        namespace=str(meta.get("namespace", "")),
                        text=data["config"],
                    ),
                    file,
                    line,
                )
            )
        else:
            inputs.issues.append(
                Issue(
                    file,
                    obj,
                    "data",
                    "ConfigMap has no 'config' key: not a MetalLB legacy configuration, ignored",
                    severity="warning",
                    line=line,
                )
            )
        return

    if kind == "Secret" and api_version == "v1":
        parsed = _validate(Secret, doc, file, obj, line, inputs)
        if parsed is not None:
            inputs.secrets.append(Sourced(parsed, file, line))  # type: ignore[arg-type]
        return

    if kind in CLUSTER_KINDS:
        parsed = _validate(CLUSTER_KINDS[kind], doc, file, obj, line, inputs)
        if parsed is not None:
            inputs.of_cluster_kind(kind).append(Sourced(parsed, file, line))
        return

    if api_version.split("/")[0] == LBTUI_GROUP and kind in LBTUI_KINDS:
        return
    if api_version.split("/")[0] == METALLB_GROUP and kind not in METALLB_STATUS_KINDS:
        close = difflib.get_close_matches(kind, RESOURCE_KINDS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        inputs.issues.append(
            Issue(file, obj, "kind", f"unknown {METALLB_GROUP} kind {kind!r}{hint}", line=line)
        )
        return
    inputs.issues.append(
        Issue(
            file,
            obj,
            "kind",
            f"{api_version} {kind} is not read by lbtui (it reads metallb.io resources, the "
            "legacy MetalLB ConfigMap, Secrets, Services, EndpointSlices, Nodes and Namespaces); "
            "ignored",
            severity="warning",
            line=line,
        )
    )


def _validate(
    model: type[Validated], doc: dict[str, Any], file: str, obj: str, line: int, inputs: Inputs
) -> Any:
    try:
        # by_name=False: only the YAML (alias) names count, as in Kubernetes; "auto_assign"
        # must be reported as unknown, not silently taken for "autoAssign".
        return model.model_validate(doc, by_name=False)
    except ValidationError as exc:
        for err in exc.errors():
            loc = format_loc(err["loc"])
            inputs.issues.append(Issue(file, obj, loc, _pydantic_message(err, loc), line=line))
        return None


def format_loc(loc: tuple[int | str, ...]) -> str:
    """pydantic's location tuple as a dotted path with [i] indexes: spec.addresses[1]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-after", "function-before", "constrained")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


# What an empty list should have held, said in plain words (by the field's last name).
EMPTY_LIST_HINTS = {
    "addresses": "at least one address range: a CIDR (192.168.10.0/24) or a-b range "
    "(192.168.10.1-192.168.10.9)",
}


def _pydantic_message(err: Any, loc: str = "") -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field missing"
    if kind == "too_short":
        ctx = err.get("ctx") or {}
        least = ctx.get("min_length", 1)
        name = loc.rsplit(".", 1)[-1]
        wanted = EMPTY_LIST_HINTS.get(name) or (
            f"at least {least} item" + ("s" if least != 1 else "")
        )
        got = ctx.get("actual_length")
        return f"empty: give {wanted}" if got == 0 else f"too short: give {wanted}"
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")
