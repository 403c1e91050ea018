"""A TCP forwarder from this process's namespace into a network namespace.

The control plane lives in a namespace of its own (so the webhook and speaker addresses it
calls are real, non-loopback addresses inside namespaces the tests created); the test process,
the official client and kubectl stay in the root namespace and reach the API server through
``127.0.0.1:<port>`` here. Each accepted connection gets a socket opened inside the namespace
(by a thread that entered it) and two pump threads; connections are bounded.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from lbtui.lab.netns import entered

MAX_CONNECTIONS = 256


class Forwarder:
    """Listens on 127.0.0.1 (an ephemeral port) and forwards to ``(host, port)`` in ``netns``."""

    def __init__(self, netns: str, host: str, port: int) -> None:
        self.netns, self.target = netns, (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="forward-accept", daemon=True).start()

    def _connect_inside(self) -> socket.socket:
        result: dict[str, object] = {}

        def connect() -> None:
            try:
                with entered(self.netns):
                    result["sock"] = socket.create_connection(self.target, timeout=5)
            except OSError as exc:
                result["error"] = exc

        thread = threading.Thread(target=connect, name="forward-connect")
        thread.start()
        thread.join()
        if "error" in result:
            raise result["error"]  # type: ignore[misc]
        sock = result["sock"]
        assert isinstance(sock, socket.socket)
        sock.settimeout(None)
        return sock

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                client.close()  # bounded: a runaway client cannot exhaust threads
                continue
            try:
                upstream = self._connect_inside()
            except OSError:
                client.close()
                self._slots.release()
                continue
            with self._lock:
                self._open.update((client, upstream))
            done = threading.Barrier(2, action=lambda c=client, u=upstream: self._finish(c, u))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(src, dst, done), name="forward-pump", daemon=True
                ).start()

    def _pump(self, src: socket.socket, dst: socket.socket, done: threading.Barrier) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        with contextlib.suppress(threading.BrokenBarrierError):
            done.wait()

    def _finish(self, client: socket.socket, upstream: socket.socket) -> None:
        with self._lock:
            self._open.difference_update((client, upstream))
        client.close()
        upstream.close()
        self._slots.release()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
