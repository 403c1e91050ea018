"""The console's calls to the API server: GET requests to a speaker pod's status endpoint
through the pod proxy (:class:`ProxyClient`), and the Reflector's list/watch narrowed by label
or field selectors (:class:`SelectedLister`) with the cache it fills (:func:`core_watch`), and
how long both wait (:class:`WatchTiming`).

Both use the official client's configuration (host, TLS, credentials); the pod proxy has a
connection pool of its own, so the speakers' long-lived streams do not crowd the console's
watches out.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from actors.observability.status import TOKEN_HEADER
from lbtui.ports.kube.targets import SpeakerTarget

if TYPE_CHECKING:
    from actors.clock import Scheduler
    from actors.kube.cache import ObjectCache
    from actors.kube.reflector import Reflector
    from actors.kube.resources import Resource

# The status endpoint sends a blank line every 5 s: three missed ones mean the path is dead.
READ_TIMEOUT = 15.0
CONNECT_TIMEOUT = 5.0
STREAM_POOL = 256  # connections kept for the speakers' streams (one each)


@dataclass(frozen=True, slots=True)
class WatchTiming:
    """How the console's watches and speaker streams wait: the API watch's own timeout
    (seconds), and the backoff after failures, doubling from ``backoff_initial`` to
    ``backoff_max``."""

    watch_timeout: int = 300
    backoff_initial: float = 0.5
    backoff_max: float = 10.0


DEFAULT_TIMING = WatchTiming()


class SpeakerUnreachable(Exception):
    """The pod proxy answered with an error (pod gone, endpoint down, refused token...)."""


class ProxyClient:
    """GET requests to a pod's port through the API server (``pods/NAME:PORT/proxy/PATH``),
    with the official client's configuration: its host, TLS and credentials."""

    def __init__(self, api_client: Any, namespace: str, token: str = "") -> None:
        self.api_client = _streaming_client(api_client)
        self.namespace = namespace
        self.token = token

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.api_client.close()

    def open(
        self,
        target: SpeakerTarget,
        path: str,
        query: list[tuple[str, str]] | None = None,
        read_timeout: float = READ_TIMEOUT,
    ) -> Any:
        """The urllib3 response, unread (stream it, or ``.data``); SpeakerUnreachable if the
        answer is not 2xx."""
        resource = (
            f"/api/v1/namespaces/{quote(self.namespace, safe='')}/pods/"
            f"{quote(target.pod, safe='')}:{target.port}/proxy/{path}"
        )
        headers = {"Accept": "application/json, application/x-ndjson"}
        if self.token:
            headers[TOKEN_HEADER] = self.token  # Authorization is the API server's own
        request = self.api_client.param_serialize(
            "GET",
            resource,
            query_params=query or [],
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(
            *request, _request_timeout=(CONNECT_TIMEOUT, read_timeout)
        )
        raw = response.response
        if not 200 <= response.status < 300:
            body = raw.data or b""
            raw.release_conn()
            raise SpeakerUnreachable(f"HTTP {response.status}: {_message(body)}")
        return raw

    def get_json(self, target: SpeakerTarget, path: str) -> dict[str, Any]:
        raw = self.open(target, path, read_timeout=CONNECT_TIMEOUT * 2)
        try:
            body = json.loads(raw.data)
        finally:
            raw.release_conn()
        if not isinstance(body, dict):
            raise ValueError(f"{path}: not a JSON object")
        return body


def _streaming_client(api_client: Any) -> Any:
    """A client of its own, same host and credentials: one long-lived connection per speaker
    must not crowd the console's watches out of their connection pool."""
    from kubernetes import client

    configuration = copy.deepcopy(api_client.configuration)
    configuration.connection_pool_maxsize = max(
        STREAM_POOL, int(getattr(configuration, "connection_pool_maxsize", 0) or 0)
    )
    return client.ApiClient(configuration)


def _message(body: bytes) -> str:
    """The message of a kube ``Status`` or of the status endpoint's ``{"error": ...}``."""
    with contextlib.suppress(ValueError, TypeError):
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            return str(parsed.get("message") or parsed.get("error") or parsed)[:200]
    return body[:200].decode(errors="replace")


class SelectedLister:
    """The Reflector's list/watch calls for one list call of the client (for example the pods
    of one namespace, or Events in every namespace) narrowed by label or field selectors."""

    def __init__(
        self, api: Any, list_call: Callable[..., Any], *args: Any, **selectors: str
    ) -> None:
        self.api = api
        self.list_call = list_call
        self.args = args
        self.selectors = selectors

    def list(self, resource: Any, namespace: str) -> tuple[list[dict[str, Any]], str]:
        response = self.list_call(
            *self.args,
            **self.selectors,
            _preload_content=False,
            _request_timeout=self.api.request_timeout,
        )
        body = json.loads(response.data)
        return list(body.get("items") or []), str(body["metadata"].get("resourceVersion", ""))

    def watch(
        self, resource: Any, namespace: str, resource_version: str, timeout: int
    ) -> tuple[Any, Any]:
        from actors.kube.watchstream import open_watch

        stream = open_watch(
            self.list_call,
            *self.args,
            resource_version=resource_version,
            timeout=timeout,
            request_timeout=self.api.request_timeout,
            **self.selectors,
        )
        return stream, stream


def core_watch(
    plural: str,
    kind: str,
    lister: SelectedLister,
    namespace: str,
    scheduler: Scheduler,
    on_change: Callable[[Resource], None],
    on_health: Callable[[Resource, str | None], None],
    timing: WatchTiming,
) -> tuple[ObjectCache, Reflector]:
    """A core/v1 kind listed and watched through ``lister`` (in ``namespace``, or in every one
    for ''): an ObjectCache of its own and the Reflector that fills it, not started yet."""
    from actors.kube.cache import ObjectCache
    from actors.kube.reflector import Reflector
    from actors.kube.resources import Resource

    resource = Resource(plural, kind, "", "v1", "config" if namespace else "all", frozenset())
    cache = ObjectCache(resource)
    reflector = Reflector(
        resource,
        cache,
        lister,  # type: ignore[arg-type]
        namespace,
        scheduler,
        on_change,
        on_health,
        watch_timeout=timing.watch_timeout,
        backoff_initial=timing.backoff_initial,
        backoff_max=timing.backoff_max,
    )
    return cache, reflector
