"""The controller's per-Service writes over ``http.client``: :class:`DirectWriter`.

10,000 Services are 20,000 writes (a status PATCH and an Event each). Through the official
client's REST layer each one crosses urllib3's pool manager, connection pool, header
containers and retry bookkeeping: ~450 µs of the controller's CPU a request, on the same cores
as the API server it waits for; ``http.client`` alone, one kept-alive connection per writer
thread, costs ~190 (measured against the fake API, TLS aside, which both pay). The
connection is made as the client's configuration says (CA, client certificate, verification);
a configuration this cannot honour exactly (a proxy, a TLS server name or hostname to assert
other than the host's) is refused by :func:`direct_writer`, and the REST layer is used.

A failed call raises as the REST layer's does: :class:`ApiException` with the status and the
API's ``Status`` body for a non-2xx answer, the socket's error otherwise.
"""

from __future__ import annotations

import http.client
import json
import select
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit


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
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None and _dropped(conn.sock):
            conn.close()  # the server closed it while idle: a new one, as urllib3 does
        if conn is None:
            if self.tls is not None:
                conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=self.tls
                )
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def request(self, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
        """One call; the answer's JSON (None if empty)."""
        from kubernetes.client.exceptions import ApiException

        conn = self._connection()
        data = json.dumps(body).encode() if body is not None else None
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        if not 200 <= response.status <= 299:
            error = ApiException(status=response.status, reason=response.reason)
            error.body = payload.decode("utf-8", "replace")
            error.headers = dict(response.getheaders())
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
