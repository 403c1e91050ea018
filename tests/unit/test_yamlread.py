"""The libyaml path (``actors/config/yamlread.py``) against PyYAML's own loader, the path the
loader took before: the same documents, lines and models, or the same error.

Random documents are dumped in every style PyYAML writes and read both ways; random texts
(mostly broken YAML) must give the same documents or the same UnreadableInput, message and
line included; whole files of MetalLB and cluster objects must give equal Inputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.config.loader import (
    Inputs,
    check_utf8,
    load_documents,
    load_file,
    load_text,
    yaml_documents,
)
from actors.config.marks import Marks
from actors.config.yamlread import GoCompatibleCLoader, GoCompatibleLoader, compose, construct
from actors.model.issues import Issue, UnreadableInput

FUZZ = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def pyyaml_documents(text: str, file: str) -> Iterator[tuple[Any, int]]:
    """The loader's documents as they were read before libyaml: PyYAML's pure-Python loader."""
    try:
        loader = GoCompatibleLoader(text)
    except yaml.YAMLError as exc:
        raise UnreadableInput(file, f"YAML error: {exc}") from exc
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            yield loader.construct_document(node), node.start_mark.line + 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise UnreadableInput(file, f"YAML syntax error: {exc.problem or exc}", line) from exc
    except yaml.YAMLError as exc:
        raise UnreadableInput(file, f"YAML error: {exc}") from exc
    except RecursionError as exc:
        raise UnreadableInput(file, "YAML error: nested too deeply") from exc
    except (ValueError, TypeError, OverflowError) as exc:
        raise UnreadableInput(file, f"YAML error: {exc}") from exc
    finally:
        loader.dispose()


def outcome(read: Any, text: str) -> Any:
    """The documents and lines read, or the error (message and line)."""
    try:
        return ("ok", _comparable(list(read(text, "f"))))
    except UnreadableInput as exc:
        return ("unreadable", str(exc), exc.line)


def assert_read_as_before(text: str) -> None:
    """What PyYAML read is read the same; what PyYAML refused is refused with the same message
    and line, unless libyaml reads it (it is more lenient in places, e.g. a tab after a plain
    scalar, as Go's YAML, a port of libyaml, is): then what it read stands, and the error
    reported is PyYAML's from where libyaml stopped, never at an earlier line."""
    before, now = outcome(pyyaml_documents, text), outcome(yaml_documents, text)
    if before[0] == "ok":
        assert now == before
    elif now[0] == "unreadable":
        assert now == before or (None not in (now[2], before[2]) and now[2] >= before[2])


def _comparable(value: Any, inside: frozenset[int] = frozenset()) -> Any:
    """NaN equal to itself, a container holding itself marked, so equal documents compare
    equal."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict | list | tuple):
        if id(value) in inside:
            return "<itself>"
        inside = inside | {id(value)}
    if isinstance(value, dict):
        return {_comparable(k, inside): _comparable(v, inside) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_comparable(v, inside) for v in value]
    return value


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(
        ["64512:30", "1:20", "0o17", "0x1F", "010", "1_000", "2024-01-01", "~", "=", "<<"]
    ),
)
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4),
    ),
    max_leaves=20,
)
styles = st.fixed_dictionaries(
    {
        "default_flow_style": st.sampled_from([False, True, None]),
        "allow_unicode": st.booleans(),
        "explicit_start": st.booleans(),
        "width": st.sampled_from([20, 80]),
        "indent": st.sampled_from([2, 4]),
    }
)


@FUZZ
@given(st.lists(trees, min_size=1, max_size=4), styles)
def test_documents_pyyaml_writes_read_the_same(docs: list[Any], style: dict[str, Any]) -> None:
    text = yaml.safe_dump_all(docs, **style)
    assert_read_as_before(text)


@FUZZ
@given(st.lists(trees, min_size=1, max_size=3), styles, st.sampled_from(["\n", "\r\n", "\r"]))
def test_utf8_bytes_as_files_are_read_read_as_their_text(
    docs: list[Any], style: dict[str, Any], newline: str
) -> None:
    """``load_file`` hands libyaml the file's bytes; Python's text mode read it before,
    turning \r\n and \r into \n."""
    text = yaml.safe_dump_all(docs, **style).replace("\n", newline)
    before = outcome(pyyaml_documents, text.replace("\r\n", "\n").replace("\r", "\n"))
    assert outcome(lambda t, f: yaml_documents(t.encode(), f), text) == before


YAMLISH = "ab:- \n\t{}[],&*!|>'\"%@`#?~0123456789.\\xé\x85\u2028\ud800\x00"


@FUZZ
@given(st.text(YAMLISH, max_size=60))
def test_any_text_reads_the_same_or_fails_the_same(text: str) -> None:
    assert_read_as_before(text)


@FUZZ
@given(st.lists(st.text(YAMLISH, max_size=30), min_size=1, max_size=4))
def test_a_broken_document_among_good_ones_fails_at_its_line(parts: list[str]) -> None:
    good = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"
    text = "---\n".join([good, *[p + "\n" for p in parts], good])
    assert_read_as_before(text)


POOL = """apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: {name}, namespace: metallb-system}}
spec:
  addresses: [{addresses}]
  autoAssign: {auto}
"""
SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {namespace}
  creationTimestamp: {created}
  labels: {{app: {name}}}
spec:
  type: {type}
  ports: [{{port: {port}, protocol: {protocol}}}]
  clusterIP: {ip}
  loadBalancerIP: {ip}
"""
words = st.sampled_from(["a", "web", "Bad_Name", "", "'x y'", "1", "null", "[1]", "{a: 1}"])
objects = st.one_of(
    st.builds(
        POOL.format,
        name=words,
        addresses=st.sampled_from(["10.0.0.0/24", "10.0.0.5/24", "", "a-b", "64512:30"]),
        auto=st.sampled_from(["true", "1", "yes", "'true'"]),
    ),
    st.builds(
        SERVICE.format,
        name=words,
        namespace=words,
        created=st.sampled_from(["2024-01-01T00:00:00Z", "'2024-01-01'", "2001-02-30", "x"]),
        type=st.sampled_from(["LoadBalancer", "ClusterIP", "1"]),
        port=st.sampled_from(["80", "0", "70000", "http", "0x50"]),
        protocol=st.sampled_from(["TCP", "UDP", "tcp"]),
        ip=st.sampled_from(["10.96.0.1", "'::1'", "1:2:3", ""]),
    ),
)


def _inputs(text: str, read: Any) -> Any:
    try:
        inputs = load_documents(read(text, "f"), "f")
    except UnreadableInput as exc:
        return ("unreadable", str(exc), exc.line)
    return {name: getattr(inputs, name) for name in Inputs.__struct_fields__}


@FUZZ
@given(st.lists(objects, min_size=1, max_size=5))
def test_files_of_objects_give_the_same_models_and_issues(docs: list[str]) -> None:
    text = "---\n".join(docs)
    assert _inputs(text, yaml_documents) == _inputs(text, pyyaml_documents)


KNOWN_INPUTS = [
    # an escaped lone surrogate: libyaml refuses it, PyYAML (and Go's JSON) read it
    '{"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "\\ud800"}}',
    "a: &x {b: 1}\nc: *x\n",  # an alias: the same object, as PyYAML shares it
    "&a [*a]\n",  # a sequence holding itself
    "base: &b {x: 1}\nm: {<<: *b, y: 2}\n",  # a merge key
    "=: 1\n",  # PyYAML's value key
    "s: !!set {a, b}\n",
    "o: !!omap [{a: 1}]\n",
    "x: !custom 1\n",
    "? [1]\n: 2\n",  # an unhashable key
    "a: 2001-02-30\n",
    "c: [64512:30, 1:20:30]\n",
    "t: 2024-01-01T00:00:00Z\nd: 2024-01-01\n",
    "b: !!binary aGVsbG8=\n",
    "a: 1\n---\nb: [\n---\nc: 3\n",  # a syntax error in the second document
    "a: {b: 1} # after\n--- {c: 2}\n--- [\n",
    "[" * 1200 + "]" * 1200,  # beyond libyaml's nesting limit
    "a: 1\n\x00",
    "a: \x85b\u2028c: 1\n",
    "\ufeffa: 1\n",
    "",
    "---\n---\n",
]


@pytest.mark.parametrize("text", KNOWN_INPUTS)
def test_known_inputs_read_as_pyyaml_reads_them(text: str) -> None:
    assert_read_as_before(text)


def _file_outcome(path: Path) -> Any:
    try:
        inputs = load_file(path)
    except UnreadableInput as exc:
        return ("unreadable", str(exc), exc.line)
    return {name: _comparable(getattr(inputs, name)) for name in Inputs.__struct_fields__}


def _text_outcome(text: str, file: str) -> Any:
    try:
        inputs = load_text(text, file)
    except UnreadableInput as exc:
        return ("unreadable", str(exc), exc.line)
    return {name: _comparable(getattr(inputs, name)) for name in Inputs.__struct_fields__}


STREAMED = [
    *KNOWN_INPUTS,
    'a: 1\n---\nkind: Service\napiVersion: v1\nmetadata: {name: "\\ud800"}\n---\nb: [\n',
    " " * 70_000 + '{"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "x"}}',
    '\n{"kind": "List", "items": [{"kind": "Namespace", "apiVersion": "v1"}]}\n',
    "[1, 2\n",
    "a: " + "x" * 300_000 + "\n---\nkind: Node\napiVersion: v1\nmetadata: {name: n}\n",
]


@pytest.mark.parametrize("text", STREAMED, ids=range(len(STREAMED)))
def test_a_file_read_a_piece_at_a_time_reads_as_its_text(text: str, tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    assert _file_outcome(path) == _text_outcome(path.read_text(), str(path))


def test_libyaml_reads_the_plain_documents_and_shares_aliases() -> None:
    text = "a: &x {b: 1}\nc: *x\n---\nkind: Service\n"
    nodes = list(compose(text))
    assert all(isinstance(loader, GoCompatibleCLoader) for _, loader in nodes)
    first = construct(*nodes[0])
    assert first == {"a": {"b": 1}, "c": {"b": 1}} and first["a"] is first["c"]


def test_pyyaml_takes_over_from_the_document_libyaml_refuses() -> None:
    text = 'a: 1\n---\nb: "\\ud800"\n---\nc: 3\n'
    read = [(type(loader), node.start_mark.line) for node, loader in compose(text)]
    assert read == [(GoCompatibleCLoader, 0), (GoCompatibleLoader, 2), (GoCompatibleLoader, 4)]
    assert list(yaml_documents(text, "f")) == [({"a": 1}, 1), ({"b": "\ud800"}, 3), ({"c": 3}, 5)]


def test_marks_locate_fields_after_a_document_libyaml_refuses() -> None:
    text = 'a: "\\ud800"\n---\nkind: X\nspec:\n  b: 1\n'
    marks = Marks()
    marks.add(text, "f")
    issues = [Issue("f", "X/x", "spec.b", "bad", line=3), Issue("f", "", "a", "bad", line=1)]
    marks.want(issues)
    assert [marks.locate(i) for i in issues] == [(5, 6), (1, 4)]


def test_a_file_that_is_not_utf8_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"a: 1\n" * 300_000 + b"b: \xff\n")
    with pytest.raises(UnreadableInput, match="cannot read: 'utf-8' codec can't decode byte 0xff"):
        load_file(path)
    with pytest.raises(UnicodeDecodeError, match="in position 1500003"):
        check_utf8(path.read_bytes())
    check_utf8("é".encode() * 700_000)  # a character across a chunk's edge is fine


def test_load_text_matches_pyyaml_on_a_whole_config() -> None:
    text = "---\n".join(
        [
            POOL.format(name="p", addresses="10.0.0.0/24", auto="true"),
            SERVICE.format(
                name="web",
                namespace="default",
                created="2024-01-01T00:00:00Z",
                type="LoadBalancer",
                port="80",
                protocol="TCP",
                ip="10.96.0.1",
            ),
        ]
    )
    inputs = load_text(text, "f")
    assert len(inputs.resources) == 1 and len(inputs.services) == 1 and not inputs.issues
    assert _inputs(text, yaml_documents) == _inputs(text, pyyaml_documents)
