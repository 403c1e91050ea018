"""A TLS server's certificate pair, reloaded when it changes: :class:`TlsFiles`.

``tls.crt``/``tls.key`` in a directory (the webhooks' ``--cert-dir``, the metrics endpoint's
certificate directory), read into an ``ssl.SSLContext`` for a server, and read again as soon
as the files change (a rotator renewed them, or whoever provides them), without a restart.
Imports nothing of ours: the Kubernetes adapter uses it, never the other way round.
"""

from __future__ import annotations

import ssl
import threading
from pathlib import Path


class TlsFiles:
    """An SSL context for ``tls.crt``/``tls.key`` in a directory, reloaded when they change."""

    def __init__(self, cert_dir: str | Path) -> None:
        self.cert = Path(cert_dir) / "tls.crt"
        self.key = Path(cert_dir) / "tls.key"
        self._lock = threading.Lock()
        self._stamp: tuple[float, float, int, int] | None = None
        self._context: ssl.SSLContext | None = None
        self.loads = 0

    def present(self) -> bool:
        return self.cert.is_file() and self.key.is_file()

    def _file_stamp(self) -> tuple[float, float, int, int]:
        c, k = self.cert.stat(), self.key.stat()
        return (c.st_mtime, k.st_mtime, c.st_size, k.st_size)

    def context(self) -> ssl.SSLContext:
        """The current context; a new one if the files changed since the last call."""
        with self._lock:
            try:
                stamp = self._file_stamp()
            except OSError:
                stamp = None
            if self._context is not None and (stamp is None or stamp == self._stamp):
                return self._context
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.set_alpn_protocols(["http/1.1"])  # MetalLB serves HTTP/2 only if asked
            try:
                context.load_cert_chain(str(self.cert), str(self.key))
            except (OSError, ssl.SSLError):
                if self._context is None:
                    raise
                # Caught half-written (key new, certificate old): keep the last good one.
                return self._context
            self._context = context
            self._stamp = stamp
            self.loads += 1
            return context
