"""Reading a big multi-document YAML file on several cores, with the answers of one reading.

A line that is ``---`` at column 0, followed by a blank or the end of the line, is always a
document start: YAML lets no scalar hold it (libyaml ends a plain scalar there, a block
scalar's lines are indented, a quoted scalar or a flow collection that reaches it is an
error). So a file can be cut just before such lines, and each piece read on its own, by
libyaml, in its own process: the pieces' documents, in order, are the file's, and each
piece's lines are offset by the lines before it, so every document keeps its true line.

:func:`plan_pieces` (pure) says where to cut, or not to: a file with a ``%`` directive (a
``%YAML``/``%TAG`` line changes how the documents after it read), one with a NEL, LS or PS
line break (counted as lines by YAML, not cut around here), or one that may be JSON is read
whole. :func:`load_pieces` reads the pieces: the first in this process, the others each in a
forked child that sends its documents back a batch at a time (pickled plain objects: cheaper
than the models, which this process validates). Anything unusual in any piece (a syntax error,
a document libyaml refuses and PyYAML would read, a child that dies) and the whole file is
read again in one pass, so its errors are exactly the ones of one reading, where it says.
Used only above :data:`THRESHOLD`, with more than one core, and in a process with one thread
(forking a threaded process may copy a lock another thread holds).
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import re
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

import msgspec

from actors.config.yamlread import documents

# Below this a file is read in one pass (forking is not worth it).
THRESHOLD = 4 << 20
# The first piece's share of an equal split: this process also validates every document.
FIRST_SHARE = 0.75
# Documents a child sends at a time (~25 KB pickled).
BATCH = 128
# A pipe's buffer, as large as Linux lets it be (1 MB unless raised), so a child seldom
# waits for this process to take what it sent.
PIPE_SIZE = 1 << 20
# How the file is scanned: pieces of about this size, each ending at a line break.
CHUNK = 1 << 20

_CUT = re.compile(rb"(?:^|(?<=\n))---(?=[ \t\r\n]|\Z)")
# A "%" starting a line (maybe after a BOM): a directive, or content read whole to be safe.
_DIRECTIVE_STARTS = (b"%", b"\xef\xbb\xbf%")
_DIRECTIVES = (b"\n%", b"\r%", b"\n\xef\xbb\xbf%", b"\r\xef\xbb\xbf%")
_UNUSUAL_BREAKS = (b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")
_DONE, _FAILED = b"", b"!"


class Piece(msgspec.Struct, frozen=True):
    """Bytes [start, end) of a file, whose first line is line ``first_line`` (0-based)."""

    start: int
    end: int
    first_line: int


class _LongLine(Exception):
    """No line feed in many chunks (a file with CR line ends, or one huge line)."""


def _chunks(stream: IO[bytes], size: int) -> Iterator[bytes]:
    """The file's bytes in chunks that each end with a line feed (the last one: at the end),
    so no line break, character or line start is split between two chunks. Raises
    _LongLine after 8 chunks without a line feed."""
    rest = b""
    while True:
        data = stream.read(size)
        if not data:
            if rest:
                yield rest
            return
        data = rest + data
        last = data.rfind(b"\n")
        if last < 0:
            if len(data) > 8 * size:
                raise _LongLine
            rest = data
            continue
        rest = data[last + 1 :]
        yield data[: last + 1]


def _breaks(data: bytes) -> int:
    """Lines ended in ``data`` as YAML counts them (CRLF, CR, LF; no NEL, LS, PS)."""
    if b"\r" not in data:
        return data.count(b"\n")
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _not_to_cut(data: bytes) -> bool:
    """A chunk (starting a line) with a directive or a NEL, LS or PS line break. A single
    byte is searched for first: memchr, where a longer pattern is 30 times slower."""
    if b"%" in data and (
        data.startswith(_DIRECTIVE_STARTS) or any(found in data for found in _DIRECTIVES)
    ):
        return True
    return (b"\x85" in data or b"\xe2" in data) and any(found in data for found in _UNUSUAL_BREAKS)


def plan_pieces(stream: IO[bytes], size: int, pieces: int, chunk: int = CHUNK) -> list[Piece]:
    """Where to cut a file of ``size`` bytes into at most ``pieces`` pieces, the first
    ``FIRST_SHARE`` of an equal share; [] when it is not to be cut. The stream is read once
    from its start (and left anywhere)."""
    if pieces < 2 or size <= 0:
        return []
    first = size / pieces * FIRST_SHARE
    rest = (size - first) / (pieces - 1)
    targets = [int(first + rest * i) for i in range(pieces - 1)]
    stream.seek(0)
    try:
        return _plan(_chunks(stream, chunk), targets)
    except _LongLine:
        return []


def _plan(chunks: Iterator[bytes], targets: list[int]) -> list[Piece]:
    cuts: list[tuple[int, int]] = []  # (offset, lines before it)
    offset = lines = 0
    for data in chunks:
        if offset == 0 and data.lstrip(b" \t\r\n").startswith((b"{", b"[")):
            return []  # maybe JSON: the loader reads it whole
        if _not_to_cut(data):
            return []
        end = offset + len(data)
        while targets and targets[0] < end:
            found = _CUT.search(data, max(targets[0] - offset, 0))
            if found is None:
                break
            at = offset + found.start()
            if at > 0 and (not cuts or at > cuts[-1][0]):
                cuts.append((at, lines + _breaks(data[: found.start()])))
            targets.pop(0)
        lines += _breaks(data)
        offset = end
    if not cuts:
        return []
    starts = [(0, 0), *cuts]
    ends = [at for at, _ in cuts] + [offset]
    return [Piece(start, end, line) for (start, line), end in zip(starts, ends, strict=True)]


class _Range:
    """Bytes [start, end) of a binary file, read as libyaml reads a file: a piece at a time."""

    def __init__(self, stream: IO[bytes], piece: Piece) -> None:
        stream.seek(piece.start)
        self._stream = stream
        self._left = piece.end - piece.start
        self.name = getattr(stream, "name", "<file>")

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self._left:
            size = self._left
        data = self._stream.read(size)
        self._left -= len(data)
        return data


def piece_documents(stream: IO[bytes], piece: Piece) -> Iterator[tuple[Any, int]]:
    """The documents of one piece, each with its line in the file; raises on anything a
    reading of the whole file might say otherwise (then the whole file is read again)."""
    return documents(_Range(stream, piece), first_line=piece.first_line, fallback=False)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def alone() -> bool:
    """Whether this process has no other thread (forking one that has is unsafe: a lock
    another thread holds stays held in the child)."""
    return threading.active_count() == 1


def pieces_for(size: int, cores: int | None = None) -> int:
    """How many pieces a file of ``size`` bytes is read in: 1 below :data:`THRESHOLD`, in a
    process with other threads, or with one core; else up to a piece per core."""
    if size < THRESHOLD or not alone() or not hasattr(os, "fork"):
        return 1
    cores = usable_cores() if cores is None else cores
    return max(1, min(cores, size // (THRESHOLD // 2)))


def _child(path: str, piece: Piece, conn: Any) -> None:
    """A child's work: one piece's documents, sent a batch at a time, then _DONE (or
    _FAILED: the parent reads the whole file again and says what is wrong)."""
    gc.disable()  # the documents are sent and dropped: reference counting frees them
    try:
        with open(path, "rb") as stream:
            batch: list[tuple[Any, int]] = []
            for found in piece_documents(stream, piece):
                batch.append(found)
                if len(batch) >= BATCH:
                    conn.send_bytes(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
                    batch = []
            if batch:
                conn.send_bytes(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
        conn.send_bytes(_DONE)
    except BaseException:  # any failure: the parent reads the file itself
        with contextlib.suppress(OSError):
            conn.send_bytes(_FAILED)
    finally:
        conn.close()


def _widen(fd: int) -> None:
    """The pipe's buffer as large as allowed; as it is where not."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
    except (ImportError, OSError):
        pass


class PieceFailed(Exception):
    """A piece could not be read alone: the whole file is to be read in one pass."""


Documents = list[tuple[Any, int]]


class PieceReader:
    """A file cut into pieces: the first read here, the others by forked children (started
    at once), each child's documents handed to ``take(index, documents)`` a batch at a time,
    in order, as they arrive (index 1 is the second piece): :meth:`first` yields the first
    piece's documents, :meth:`rest` waits for the others; then :meth:`close` (also on error).
    Raises PieceFailed (or LibyamlRefused) where a piece cannot be read alone."""

    def __init__(
        self, path: str, pieces: list[Piece], take: Callable[[int, Documents], None]
    ) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._path = path
        self._first = pieces[0]
        self._take = take
        self._children: list[tuple[Any, Any]] = []
        self._done: list[bool] = []
        try:
            for piece in pieces[1:]:
                receive, send = context.Pipe(duplex=False)
                _widen(receive.fileno())
                child = context.Process(target=_child, args=(path, piece, send), daemon=True)
                try:
                    child.start()
                finally:
                    send.close()
                self._children.append((child, receive))
                self._done.append(False)
        except BaseException:
            self.close()  # the children started so far
            raise

    def _receive(self, index: int, wait: bool) -> None:
        """Hand on what child ``index`` has sent (all of it if ``wait``)."""
        receive = self._children[index][1]
        while not self._done[index] and (wait or receive.poll()):
            try:
                data = receive.recv_bytes()
            except (EOFError, OSError):
                data = _FAILED  # the child died
            if data == _FAILED:
                raise PieceFailed
            if data == _DONE:
                self._done[index] = True
            else:
                self._take(index + 1, pickle.loads(data))

    def first(self) -> Iterator[tuple[Any, int]]:
        """The first piece's documents (the children's taken meanwhile, so none waits on a
        full pipe)."""
        with open(self._path, "rb") as stream:
            for count, found in enumerate(piece_documents(stream, self._first)):
                yield found
                if count % 64 == 0:
                    for index in range(len(self._children)):
                        self._receive(index, wait=False)

    def rest(self) -> None:
        """Every other piece's documents, taken in order."""
        for index in range(len(self._children)):
            self._receive(index, wait=True)

    def close(self) -> None:
        for child, receive in self._children:
            receive.close()
            if child.is_alive():
                child.terminate()
            child.join()
        self._children = []
