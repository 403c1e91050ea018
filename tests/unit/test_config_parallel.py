"""A big YAML file read in pieces (``actors/config/parallel.py``) against one reading of it.

Where the pieces are cut (pure), then random multi-document files (block and quoted scalars
with ``---`` inside, comments, directives, flow collections, anchors, documents libyaml
refuses, syntax errors, CRLF and CR line ends, a BOM) read in 2 to 4 pieces, each by its own
forked process, must give the same objects, issues and lines as one reading, or the same
error at the same line: a split reading either agrees or gives way to the whole reading.
"""

from __future__ import annotations

import io
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import actors.config.parallel as parallel
from actors.config.loader import Inputs, _load_pieces, load_file, load_text
from actors.config.parallel import Piece, PieceReader, pieces_for, plan_pieces
from actors.model.issues import UnreadableInput

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def cuts(text: bytes, pieces: int = 2, chunk: int = 7) -> list[tuple[int, int]]:
    return [
        (p.start, p.first_line) for p in plan_pieces(io.BytesIO(text), len(text), pieces, chunk)
    ]


def test_a_file_is_cut_before_a_document_start_line_with_its_lines_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parallel, "FIRST_SHARE", 0.9)
    text = b"a: 1\n---\nb: 2\n" * 10
    assert cuts(text) == [(0, 0), (75, 16)]  # the first past 90% of half the file
    assert cuts(text, pieces=3) == [(0, 0), (47, 10), (103, 22)]
    crlf = text.replace(b"\n", b"\r\n")
    assert cuts(crlf) == [(0, 0), (91, 16)]
    for data in (text, crlf):
        for pieces in (2, 3, 4):
            for start, line in cuts(data, pieces)[1:]:
                assert data[start:].startswith(b"---") and data[start - 1 : start] in b"\r\n"
                assert line == data[:start].count(b"\n") + data[:start].count(b"\r") - data[
                    :start
                ].count(b"\r\n")


@pytest.mark.parametrize(
    ("line", "cut"),
    [
        (b"---", True),
        (b"--- !tag", True),
        (b"--- {a: 1}", True),
        (b"--- |", True),
        (b"---\t# c", True),
        (b"---\r", True),
        (b"----", False),
        (b" ---", False),
        (b"---x", False),
        (b"...", False),
    ],
)
def test_only_a_document_start_line_is_a_cut(line: bytes, cut: bool) -> None:
    text = b"a: 1\n" * 12 + line + b"\nb: 2\n" + b"c: 3\n" * 4
    assert bool(cuts(text)) == cut


@pytest.mark.parametrize(
    "text",
    [
        b"%YAML 1.1\n---\na: 1\n---\nb: 2\n",  # a directive changes how documents read
        b"a: 1\n...\n%TAG ! tag:x,2000:\n--- !a\nb: 2\n",
        b"\xef\xbb\xbf%YAML 1.1\n---\na: 1\n---\nb: 2\n",
        b"a: 1\n---\nb: \xc2\x85c\n---\nd: 4\n",  # a NEL, a line break to YAML
        b'{"a": 1}\n---\nb: 2\n',  # maybe JSON: the loader's JSON path reads it whole
        b"  [1]\n---\nb: 2\n",
        b"a: 1\r%YAML 1.1\r\n---\nb: 2\n",  # a directive after a CR
        b"a: 1\r---\rb: 2\r" * 20,  # CR line ends: cut only after a line feed
        b"a: " + b"x" * 200 + b"\n---\nb: 2\n",  # a line longer than 8 chunks
        b"a: 1\nb: 2\n",  # no document start to cut at
        b"---\na: 1\n",  # only at the very start
    ],
)
def test_a_file_not_to_cut(text: bytes) -> None:
    assert cuts(text) == []


@pytest.fixture
def thread_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in ``lbtui plan``/``validate``: no other thread (in the suite's process earlier
    tests leave daemon threads, and the real check would read the file whole)."""
    monkeypatch.setattr(parallel, "alone", lambda: True)


def test_one_piece_below_the_threshold_or_with_one_core(thread_free: None) -> None:
    assert pieces_for(parallel.THRESHOLD - 1, cores=8) == 1
    assert pieces_for(parallel.THRESHOLD, cores=1) == 1
    assert pieces_for(100 * parallel.THRESHOLD, cores=2) == 2


def test_one_piece_beside_another_thread() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not parallel.alone()
        assert pieces_for(100 * parallel.THRESHOLD, cores=2) == 1
    finally:
        stop.set()
        other.join()


SERVICE = (
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: ns\n"
    "spec:\n  type: LoadBalancer\n  ports: [{{port: {port}}}]\n"
)
FRAGMENTS = [
    "a: 1",
    "a: 1\nb: [1,\n  2]",
    "q: 'x\n  --- not a marker'",
    'q: "x\n  --- y\n  ... z"',
    "q: 'x\n--- at column 0'",  # a quoted scalar meeting a document start: an error
    'q: "x\n---\n"',
    "b: |\n  line\n  --- inside\n   ---",
    "b: |+\n  kept\n\n",
    "b: >-\n  folded\n  ---\n",
    "--- |\n  a top-level block\n",
    "# --- a comment\na: 2 # ---",
    "p: word\n  more words\n  ---x",
    "p: word\n---x",
    "f: [1,\n---\n2]",  # a flow sequence meeting a document start: an error
    "f: {a: 1,",
    "m: &x {g: 1}\nn: *x",
    "k: *missing",
    "t: 2001-02-30",
    "x: !custom 1",
    "s: !!set {a, b}",
    '"\\ud800": 1',  # an escaped lone surrogate: libyaml refuses it, PyYAML reads it
    "a:\tb",
    "\tx: 1",
    "a: 1\n b: 2",
    "a: b: c",
    "z: \x00",
    "- 1\n- 2\n...\n",
    "",
    "# only a comment",
    SERVICE.format(name="web", port=80),
    SERVICE.format(name="bad", port="http"),
    SERVICE.format(name="huge", port=70000),
    "apiVersion: v1\nkind: Widget\nmetadata: {name: w}",
    "apiVersion: metallb.io/v1beta1\nkind: IPAdressPool\nmetadata: {name: p}",
    "apiVersion: v1\nkind: Node\nmetadata: {name: n1}",
]
GOOD = [
    "a: 1",
    "q: 'x\n  --- not a marker'",
    "b: |\n  line\n  --- inside\n   ---",
    "b: |+\n  kept\n\n",
    "# --- a comment\na: 2 # ---",
    "p: word\n  more words\n  ---x",
    SERVICE.format(name="web", port=80),
    SERVICE.format(name="bad", port="http"),
]
MARKERS = [
    *["---", "--- ", "---\t", "--- # c", "--- !!map", "---  ", "...\n---"] * 3,
    "----",
    " ---",
    "...\n%YAML 1.1\n---",
]
documents = st.tuples(
    st.sampled_from(MARKERS), st.lists(st.sampled_from(GOOD * 6 + FRAGMENTS), max_size=3)
)


def render(docs: list[tuple[str, list[str]]], first_marker: bool, newline: str, bom: bool) -> str:
    parts = []
    for i, (marker, body) in enumerate(docs):
        text = "\n".join(body)
        head = "" if i == 0 and not first_marker else marker + "\n"
        parts.append(head + (text + "\n" if text else ""))
    text = "".join(parts).replace("\n", newline)
    return ("\ufeff" if bom else "") + text


def whole(path: Path) -> Any:
    """One reading of the file (as the loader reads a small one)."""
    try:
        with path.open("rb") as stream:
            inputs = load_text(stream, str(path))
    except UnreadableInput as exc:
        return ("unreadable", str(exc), exc.line)
    return comparable(inputs)


def comparable(inputs: Inputs) -> dict[str, Any]:
    return {name: getattr(inputs, name) for name in Inputs.__struct_fields__}


@FUZZ
@given(
    docs=st.lists(documents, min_size=2, max_size=8),
    first_marker=st.booleans(),
    newline=st.sampled_from(["\n", "\n", "\r\n", "\r"]),
    bom=st.booleans(),
    count=st.integers(2, 4),
    chunk=st.integers(1, 64),
)
def test_pieces_read_what_one_reading_reads_or_give_way(
    docs: list[tuple[str, list[str]]],
    first_marker: bool,
    newline: str,
    bom: bool,
    count: int,
    chunk: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    path = tmp_path_factory.mktemp("split") / "f.yaml"
    data = render(docs, first_marker, newline, bom).encode("utf-8", "surrogatepass")
    path.write_bytes(data)
    pieces = plan_pieces(io.BytesIO(data), len(data), count, chunk)
    expected = whole(path)
    if not pieces:
        return
    split = _load_pieces(str(path), pieces)
    event("read in pieces" if split is not None else "read whole")
    if isinstance(expected, tuple):
        assert split is None  # a reading in pieces never succeeds where one reading fails
    elif split is not None:
        assert comparable(split) == expected


def test_known_files_are_read_in_pieces_as_whole(tmp_path: Path) -> None:
    """Files every piece of which libyaml reads: the pieces are used, and agree."""
    docs = [SERVICE.format(name=f"s{i}", port=80 + i) for i in range(40)]
    docs[7] = "apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n"  # a warning, with its line
    docs[31] = SERVICE.format(name="bad", port="http")  # an issue, with its line
    docs[20] = "b: |\n  text\n  --- inside\nq: 'a\n  --- b'\n"
    for newline in ("\n", "\r\n"):  # (a file with CR line ends is read whole)
        path = tmp_path / "f.yaml"
        path.write_bytes(("---\n".join(docs)).replace("\n", newline).encode())
        data = path.read_bytes()
        for count in (2, 3, 4):
            pieces = plan_pieces(io.BytesIO(data), len(data), count, 64)
            assert len(pieces) == count
            split = _load_pieces(str(path), pieces)
            assert split is not None
            assert comparable(split) == whole(path)
        text = path.read_bytes().decode().replace("\r\n", "\n").replace("\r", "\n")
        last = text.index("apiVersion: v1\nkind: Service\nmetadata:\n  name: s39\n")
        assert split.services[-1].line == text[:last].count("\n") + 1


def test_an_error_in_a_later_piece_is_said_at_its_line(tmp_path: Path) -> None:
    docs = [SERVICE.format(name=f"s{i}", port=80) for i in range(20)]
    docs[15] = "a: [1,\n"
    path = tmp_path / "f.yaml"
    path.write_text("---\n".join(docs))
    data = path.read_bytes()
    pieces = plan_pieces(io.BytesIO(data), len(data), 2, 64)
    assert len(pieces) == 2 and pieces[1].start < data.index(b"a: [1,")
    assert _load_pieces(str(path), pieces) is None
    with pytest.raises(UnreadableInput) as raised:
        load_file(path)
    assert raised.value.line == whole(path)[2]


def test_a_child_that_dies_gives_way_to_one_reading(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("---\n".join(SERVICE.format(name=f"s{i}", port=80) for i in range(2000)))
    data = path.read_bytes()
    pieces = plan_pieces(io.BytesIO(data), len(data), 2)
    taken: list[int] = []
    reader = PieceReader(str(path), pieces, lambda index, docs: taken.append(index))
    try:
        for child, _ in reader._children:
            os.kill(child.pid, signal.SIGKILL)
        with pytest.raises(parallel.PieceFailed):  # found while the first piece is read
            for _ in reader.first():
                pass
            reader.rest()
    finally:
        reader.close()
    assert taken == []


def test_load_file_reads_a_big_file_in_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, thread_free: None
) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("---\n".join(SERVICE.format(name=f"s{i}", port=80) for i in range(3000)))
    expected = whole(path)
    used: list[list[Piece]] = []
    real = parallel.PieceReader.__init__

    def spy(self: PieceReader, file: str, pieces: list[Piece], take: Any) -> None:
        used.append(pieces)
        real(self, file, pieces, take)

    monkeypatch.setattr(parallel, "THRESHOLD", 1 << 12)
    monkeypatch.setattr(parallel, "usable_cores", lambda: 3)
    monkeypatch.setattr(parallel.PieceReader, "__init__", spy)
    assert comparable(load_file(path)) == expected
    assert [len(p) for p in used] == [3]


def test_a_fork_that_fails_leaves_no_child_and_one_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, thread_free: None
) -> None:
    import multiprocessing
    from multiprocessing.context import ForkProcess

    path = tmp_path / "f.yaml"
    path.write_text("---\n".join(SERVICE.format(name=f"s{i}", port=80) for i in range(3000)))
    expected = whole(path)
    real = ForkProcess.start
    started: list[int] = []

    def second_fails(self: ForkProcess) -> None:
        if started:
            raise OSError(11, "Resource temporarily unavailable")
        real(self)
        started.append(self.pid or 0)

    monkeypatch.setattr(parallel, "THRESHOLD", 1 << 12)
    monkeypatch.setattr(parallel, "usable_cores", lambda: 3)
    monkeypatch.setattr(ForkProcess, "start", second_fails)
    assert comparable(load_file(path)) == expected
    assert len(started) == 1 and multiprocessing.active_children() == []
