"""Many frames per system call: ``recvmmsg``/``sendmmsg`` on a packet socket, through ctypes.

Python's socket module has neither, so the responder's readers reach them in libc with ctypes
(glibc >= 2.14, musl; Linux >= 3.0). Everything is allocated once per socket: ``VLEN`` receive
slots of ``RECV_SIZE`` bytes and ``VLEN`` send slots of ``SEND_SIZE``, each with its ``iovec``
and its ``mmsghdr`` pointing at it. A call then costs one ctypes call plus, per frame, one slice
copy out of (or into) the preallocated buffers; the lengths are read and written through
``memoryview`` casts of the header arrays, never through ctypes attribute access (slow).

:class:`Batcher.receive` is one blocking ``recvmmsg`` with ``MSG_WAITFORONE``: it sleeps
until a frame arrives (or the socket's ``SO_RCVTIMEO`` passes), then takes, without waiting,
whatever else is already queued, up to ``VLEN``: one system call for a lone request, as a
plain ``recv``, and one for a burst of them. :meth:`Batcher.send` sends many replies in one
``sendmmsg``; a frame the kernel refuses is counted and skipped, the rest still sent.

:func:`batcher` returns None (and logs once) where the calls are missing or refused: the
caller then keeps ``recv``/``send``, one frame per call.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import socket
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

#: Frames per call at most: the bound on one round of the reader (its GIL hold between two
#: system calls is this many answers, ~0.1 ms).
VLEN = 64
RECV_SIZE = 2048  # as the plain reader: more than any ARP or NS we answer; longer is truncated
SEND_SIZE = 128  # more than any reply we build (ARP 42 bytes, NA 86)
DONTWAIT = socket.MSG_DONTWAIT
WAITFORONE = 0x10000  # MSG_WAITFORONE: after the first frame, MSG_DONTWAIT for the rest
#: What a kernel or seccomp profile without the calls answers: then one frame per call.
UNSUPPORTED = frozenset((errno.ENOSYS, errno.EPERM))


class _IoVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class _MsgHdr(ctypes.Structure):
    _fields_ = (
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    )


class _MMsgHdr(ctypes.Structure):
    _fields_ = (("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint))


class _Calls:
    """libc's two functions, typed; looked up once per process."""

    def __init__(self, loader: type[ctypes.CDLL] = ctypes.CDLL) -> None:
        # CDLL: the GIL is released during a call (a test's sender keeps it with PyDLL).
        libc = loader(None, use_errno=True)
        self.recvmmsg = libc.recvmmsg
        self.recvmmsg.argtypes = (
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_void_p,
        )
        self.recvmmsg.restype = ctypes.c_int
        self.sendmmsg = libc.sendmmsg
        self.sendmmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int)
        self.sendmmsg.restype = ctypes.c_int


_calls: _Calls | None = None
_unavailable: str | None = None


def _libc() -> _Calls | None:
    """The calls, or None once they were found missing or refused (then for good)."""
    global _calls
    if _calls is None and _unavailable is None:
        try:
            _calls = _Calls()
        except (OSError, AttributeError) as exc:  # no libc by that name, or no such symbol
            refused_once(exc)
    return _calls if _unavailable is None else None


def refused_once(exc: BaseException) -> None:
    """Note (once per process, in the log) that the batched calls are not available here."""
    global _unavailable
    if _unavailable is None:
        _unavailable = str(exc)
        log.warning("recvmmsg/sendmmsg unavailable (%s): one frame per system call", exc)


def _ring(count: int, size: int) -> tuple[ctypes.Array, ctypes.Array, ctypes.Array]:
    """``count`` buffers of ``size`` bytes, an iovec for each and an mmsghdr for each."""
    data = (ctypes.c_char * (count * size))()
    iovecs = (_IoVec * count)()
    headers = (_MMsgHdr * count)()
    base = ctypes.addressof(data)
    for i in range(count):
        iovecs[i].iov_base = base + i * size
        iovecs[i].iov_len = size
        headers[i].msg_hdr.msg_iov = ctypes.addressof(iovecs[i])
        headers[i].msg_hdr.msg_iovlen = 1
    return data, iovecs, headers


def _words(array: ctypes.Array, width: int, offset: int, stride: int) -> tuple[memoryview, int]:
    """A memoryview of ``array`` as unsigned words of ``width`` bytes, and the index step
    between the field at ``offset`` of one element (``stride`` bytes) and the next."""
    if offset % width or stride % width:
        raise ValueError("misaligned field")  # never on Linux's ABIs; checked all the same
    return memoryview(array).cast("B").cast("I" if width == 4 else "Q"), stride // width


class Batcher:
    """The preallocated buffers and headers of one socket, and its two batched calls.

    Used by one reader thread only (the buffers are reused by every call)."""

    def __init__(self, sock: socket.socket, calls: _Calls, vlen: int = VLEN) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        self._recvmmsg = calls.recvmmsg
        self._sendmmsg: Callable[..., int] | None = calls.sendmmsg
        self.vlen = vlen
        self._rdata, self._riov, self._rhdr = _ring(vlen, RECV_SIZE)
        self._sdata, self._siov, self._shdr = _ring(vlen, SEND_SIZE)
        self._rview = memoryview(self._rdata).cast("B")
        self._sview = memoryview(self._sdata).cast("B")
        self._rhdr_at = ctypes.addressof(self._rhdr)
        self._shdr_at = ctypes.addressof(self._shdr)
        # msg_len of received message i: lens[i * step + first]
        self._rlens, self._rstep = _words(
            self._rhdr, 4, _MMsgHdr.msg_len.offset, ctypes.sizeof(_MMsgHdr)
        )
        self._rfirst = _MMsgHdr.msg_len.offset // 4
        # iov_len of send slot i: slens[i * step + first]
        self._slens, self._sstep = _words(
            self._siov, ctypes.sizeof(ctypes.c_size_t), _IoVec.iov_len.offset, ctypes.sizeof(_IoVec)
        )
        self._sfirst = _IoVec.iov_len.offset // ctypes.sizeof(ctypes.c_size_t)

    def receive(self) -> list[bytes]:
        """Block until a frame arrives, then take every frame already queued (up to ``vlen``).

        Raises OSError as ``recv`` would (``BlockingIOError`` when ``SO_RCVTIMEO`` passes)."""
        count = self._recvmmsg(self._fd, self._rhdr_at, self.vlen, WAITFORONE, None)
        if count < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        view, lens, step, first = self._rview, self._rlens, self._rstep, self._rfirst
        if count == 1:
            return [bytes(view[: lens[first]])]
        frames = []
        for i in range(count):
            at = i * RECV_SIZE
            frames.append(bytes(view[at : at + lens[i * step + first]]))
        return frames

    def send(self, frames: Sequence[bytes]) -> list[int]:
        """Send ``frames`` (at most ``vlen``, each at most ``SEND_SIZE`` bytes) without
        blocking, in as few ``sendmmsg`` calls as the kernel allows. Returns the indexes of
        the frames the kernel refused (buffer full, link down): each is skipped and the rest
        still sent, as one ``send`` each would."""
        if self._sendmmsg is None:
            return self._send_each(frames, 0)
        view, lens, step, first = self._sview, self._slens, self._sstep, self._sfirst
        for i, frame in enumerate(frames):
            at = i * SEND_SIZE
            view[at : at + len(frame)] = frame
            lens[i * step + first] = len(frame)
        refused: list[int] = []
        done, total, size = 0, len(frames), ctypes.sizeof(_MMsgHdr)
        while done < total:
            count = self._sendmmsg(self._fd, self._shdr_at + done * size, total - done, DONTWAIT)
            if count > 0:
                done += count
                continue
            code = ctypes.get_errno() if count < 0 else 0
            if code == errno.EINTR:
                continue
            if code in UNSUPPORTED:
                refused_once(OSError(code, os.strerror(code)))
                self._sendmmsg = None
                return refused + self._send_each(frames, done)
            refused.append(done)  # the kernel refused this one; go on with the next
            done += 1
        return refused

    def _send_each(self, frames: Sequence[bytes], start: int) -> list[int]:
        """``frames[start:]`` one ``send`` each (where ``sendmmsg`` is refused)."""
        refused = []
        for i in range(start, len(frames)):
            try:
                self._sock.send(frames[i], socket.MSG_DONTWAIT)
            except OSError:
                refused.append(i)
        return refused


def batcher(sock: socket.socket, vlen: int = VLEN) -> Batcher | None:
    """A :class:`Batcher` for ``sock``, or None if this system lacks the calls (logged once)."""
    calls = _libc()
    return Batcher(sock, calls, vlen) if calls is not None else None
