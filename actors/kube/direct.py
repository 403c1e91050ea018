"""The controller's per-Service writes over a kept-alive socket: :class:`DirectWriter`.

10,000 Services are 20,000 writes (a status PATCH and an Event each). Through the official
client's REST layer each one crosses urllib3's pool manager, connection pool, header
containers and retry bookkeeping: ~450 µs of the controller's CPU a request, on the same cores
as the API server it waits for; ``http.client`` alone costs ~140-190 (most of it its header
checks and the email package's header parser); :class:`_Connection`, HTTP/1.1 written in one
``sendall`` and read with ``readline``/``read`` (Content-Length, chunked, or until closed),
~25 (TLS aside, which all pay). One kept-alive connection per writer thread. The connection
is made as the client's configuration says (CA, client certificate, verification); a
configuration this cannot honour exactly (a proxy, a TLS server name or hostname to assert
other than the host's) is refused by :func:`direct_writer`, and the REST layer is used.

A failed call raises as the REST layer's does: :class:`ApiException` with the status and the
API's ``Status`` body for a non-2xx answer, the socket's error otherwise.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

#: The largest answer read (a status PATCH's answer is one Service, a few KB): more is an
#: error, never a buffer grown without bound.
MAX_ANSWER = 16 << 20


class _Connection:
    """One kept-alive HTTP/1.1 connection: a request, then its whole answer."""

    def __init__(self, sock: socket.socket, host: str) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")
        self.host = host  # the Host header

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(OSError):
            self.sock.close()

    def exchange(
        self, method: str, path: str, headers: dict[str, str], data: bytes | None
    ) -> tuple[int, str, list[tuple[str, str]], bytes, bool]:
        """(status, reason, headers, body, whether the server closes the connection)."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", "Accept-Encoding: identity"]
        if data is not None:
            lines.append(f"Content-Length: {len(data)}")
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if " " in path or any(c in line for line in lines for c in "\0\r\n"):
            raise ValueError("a header or path with a line break, NUL or space")
        head = "\r\n".join(lines) + "\r\n\r\n"
        self.sock.sendall(head.encode("latin-1") + (data or b""))
        while True:
            version, status, reason = self._status_line()
            answer = self._headers()
            if not 100 <= status < 200:
                break  # (1xx: informational, the answer follows)
        fields = {name.lower(): value for name, value in answer}
        connection = fields.get("connection", "").lower()
        closes = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
        if status in (204, 304) or method == "HEAD":
            body = b""
        elif "chunked" in fields.get("transfer-encoding", "").lower():
            body = self._chunked()
        elif "content-length" in fields:
            length = int(fields["content-length"])
            if not 0 <= length <= MAX_ANSWER:
                raise ConnectionError(f"an answer of {length} bytes (at most {MAX_ANSWER})")
            body = self.file.read(length)
            if len(body) != length:
                raise ConnectionError(f"the answer ended after {len(body)} of {length} bytes")
        else:
            body, closes = self.file.read(MAX_ANSWER + 1), True
            if len(body) > MAX_ANSWER:
                raise ConnectionError(f"an answer longer than {MAX_ANSWER} bytes")
        return status, reason, answer, body, closes

    def _line(self) -> bytes:
        line = self.file.readline(65537)
        if not line:
            raise ConnectionResetError("the API server closed the connection")
        if len(line) > 65536:
            raise ConnectionError("an answer line longer than 64 KiB")
        return line

    def _status_line(self) -> tuple[str, int, str]:
        parts = self._line().decode("latin-1").rstrip("\r\n").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ConnectionError(f"not an HTTP answer: {' '.join(parts)[:80]!r}")
        return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""

    def _headers(self) -> list[tuple[str, str]]:
        out = []
        while True:
            line = self._line()
            if line in (b"\r\n", b"\n"):
                return out
            name, _, value = line.decode("latin-1").partition(":")
            out.append((name.strip(), value.strip()))
            if len(out) > 100:
                raise ConnectionError("an answer with more than 100 headers")

    def _chunked(self) -> bytes:
        chunks = []
        total = 0
        while True:
            size = int(self._line().split(b";", 1)[0].strip(), 16)
            total += size
            if size < 0 or total > MAX_ANSWER:
                raise ConnectionError(f"a chunked answer longer than {MAX_ANSWER} bytes")
            if size == 0:
                self._headers()  # trailers, up to the blank line
                return b"".join(chunks)
            chunk = self.file.read(size + 2)
            if len(chunk) != size + 2:
                raise ConnectionError("the answer ended inside a chunk")
            chunks.append(chunk[:size])


class DirectWriter:
    """Requests to one API server over kept-alive connections, one per calling thread."""

    def __init__(
        self, scheme: str, host: str, port: int, tls: ssl.SSLContext | None, timeout: float
    ):
        self.scheme = scheme
        self.host = host
        self.port = port
        self.tls = tls
        self.timeout = timeout
        default = 443 if scheme == "https" else 80
        name = f"[{host}]" if ":" in host else host
        self._host_header = name if port == default else f"{name}:{port}"
        self._local = threading.local()

    def _connection(self) -> _Connection:
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is not None and _dropped(conn.sock):
            conn.close()  # the server closed it while idle: a new one, as urllib3 does
            conn = None
        if conn is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.tls is not None:
                    sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
            conn = _Connection(sock, self._host_header)
        self._local.conn = conn
        return conn

    def request(self, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
        """One call; the answer's JSON (None if empty)."""
        from kubernetes.client.exceptions import ApiException

        conn = self._connection()
        data = json.dumps(body).encode() if body is not None else None
        try:
            status, reason, answer, payload, closes = conn.exchange(method, path, headers, data)
        except BaseException:
            conn.close()
            self._local.conn = None
            raise
        if closes:
            conn.close()
            self._local.conn = None
        if not 200 <= status <= 299:
            error = ApiException(status=status, reason=reason)
            error.body = payload.decode("utf-8", "replace")
            error.headers = dict(answer)
            raise error
        return json.loads(payload) if payload else None


def _dropped(sock: Any) -> bool:
    """Whether an idle kept-alive connection was closed by the server (readable: EOF)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def direct_writer(configuration: Any, timeout: float) -> DirectWriter | None:
    """A DirectWriter for the client's ``configuration``, or None when it asks for what
    ``http.client`` alone does not do the same way (then the REST layer is used)."""
    url = urlsplit(str(configuration.host))
    if url.scheme not in ("http", "https") or not url.hostname:
        return None
    if getattr(configuration, "proxy", None):
        return None
    if getattr(configuration, "tls_server_name", None):
        return None
    assert_hostname = getattr(configuration, "assert_hostname", None)
    if assert_hostname not in (None, True, url.hostname):
        return None
    if url.path not in ("", "/"):
        return None
    port = url.port or (443 if url.scheme == "https" else 80)
    tls = None
    if url.scheme == "https":
        if configuration.verify_ssl:
            tls = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
            tls.check_hostname = assert_hostname is not False
        else:
            tls = ssl.create_default_context()
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
        if configuration.cert_file:
            tls.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    return DirectWriter(url.scheme, url.hostname, port, tls, timeout)
