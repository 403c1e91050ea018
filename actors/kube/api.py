"""The Kubernetes API as lbtui calls it: :class:`KubeApi` over the official ``kubernetes``
client, and what every caller shares.

:class:`KubeApi` makes the few calls lbtui makes, over the client's typed API classes, always
returning the API's own JSON (camelCase dicts, exactly what the YAML files hold), so the
objects go through the same loader (:func:`actors.config.loader.load_documents`) and the same
validation as files do. Beside it: reading a failed call (:func:`transient`,
:func:`api_error`, :func:`short_error`) and the API's timestamp and key formats. The backoff of a
writer that retries is in :mod:`actors.kube.writer`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from actors.kube.direct import direct_writer
from actors.kube.kubeconfig import KubeconfigSource, find_kubeconfig, load_into
from actors.kube.resources import METALLB_GROUP, Resource

# -- failed calls ----------------------------------------------------------------------------


def transient(exc: BaseException) -> bool:
    """Whether a failed call is worth retrying (the API away or overloaded, not a refusal)."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        return exc.status in (0, 408, 429) or exc.status >= 500
    return True


def api_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the ``Status`` body of a failed call (0 and {} if none)."""
    from kubernetes.client.exceptions import ApiException

    if not isinstance(exc, ApiException):
        return 0, {}
    body: dict[str, Any] = {}
    if exc.body:
        with contextlib.suppress(ValueError, TypeError):
            parsed = json.loads(exc.body)
            body = parsed if isinstance(parsed, dict) else {}
    return int(exc.status or 0), body


def short_error(exc: BaseException) -> str:
    """The first line of a failure, at most 200 characters (for logs and issues)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


# -- formats ---------------------------------------------------------------------------------


def rfc3339(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def split_key(key: str) -> tuple[str, str]:
    namespace, _, name = key.partition("/")
    return namespace, name


# -- the client ------------------------------------------------------------------------------

JSON = "application/json"
AUTH_TTL = 30.0  # seconds the per-Service writes reuse the credentials they read


class KubeApi:
    """The official client, configured from a kubeconfig file or from inside a pod."""

    def __init__(self, api_client: Any, *, request_timeout: float = 10.0) -> None:
        from kubernetes import client

        self.api_client = api_client
        self.request_timeout = request_timeout
        self.core = client.CoreV1Api(api_client)
        self.discovery = client.DiscoveryV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.host = str(api_client.configuration.host)
        self._auth: tuple[float, dict[str, str]] | None = None
        self._writer = direct_writer(api_client.configuration, request_timeout)

    @classmethod
    def connect(
        cls,
        kubeconfig: str | KubeconfigSource | None = None,
        context: str | None = None,
        **kw: Any,
    ) -> KubeApi:
        """The kubeconfig kubectl would use (:mod:`actors.kube.kubeconfig`: ``kubeconfig``
        if given, else ``$KUBECONFIG``, else in-cluster inside a pod, else
        ``~/.kube/config``) and ``context`` (else its current context)."""
        from kubernetes import client

        if not isinstance(kubeconfig, KubeconfigSource):
            kubeconfig = find_kubeconfig(kubeconfig)
        configuration = client.Configuration()
        load_into(configuration, kubeconfig, context)
        # One long-lived connection per watched resource, plus the writes.
        configuration.connection_pool_maxsize = 32
        # lbtui retries with its own backoff (reflectors, writers, leader election): urllib3's
        # own retries would only hide an outage for a while and fill the log with "Retrying".
        configuration.retries = 0
        return cls(client.ApiClient(configuration), **kw)

    # -- list and watch ----------------------------------------------------------------------
    def _list_call(
        self, resource: Resource, namespace: str
    ) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
        kwargs: dict[str, Any] = {}
        if resource.field_selector:
            kwargs["field_selector"] = resource.field_selector
        if resource.group == METALLB_GROUP:
            args = (resource.group, resource.version, namespace, resource.plural)
            return self.custom.list_namespaced_custom_object, args, kwargs
        table: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
            "services": (self.core.list_service_for_all_namespaces, ()),
            "endpointslices": (self.discovery.list_endpoint_slice_for_all_namespaces, ()),
            "nodes": (self.core.list_node, ()),
            "namespaces": (self.core.list_namespace, ()),
            "secrets": (self.core.list_namespaced_secret, (namespace,)),
            "configmaps": (self.core.list_namespaced_config_map, (namespace,)),
        }
        func, args = table[resource.plural]
        return func, args, kwargs

    def list(self, resource: Resource, namespace: str) -> tuple[list[dict[str, Any]], str]:
        func, args, kwargs = self._list_call(resource, namespace)
        response = func(
            *args, _preload_content=False, _request_timeout=self.request_timeout, **kwargs
        )
        body = json.loads(response.data)
        return list(body.get("items") or []), str(body["metadata"].get("resourceVersion", ""))

    def watch(
        self, resource: Resource, namespace: str, resource_version: str, timeout: int
    ) -> tuple[Any, Any]:
        """(the stream of the API's ``{"type", "object"}`` events, the same stream to stop):
        read as raw JSON lines (:mod:`actors.kube.watchstream`)."""
        from actors.kube.watchstream import open_watch

        func, args, kwargs = self._list_call(resource, namespace)
        stream = open_watch(
            func,
            *args,
            resource_version=resource_version,
            timeout=timeout,
            request_timeout=self.request_timeout,
            **kwargs,
        )
        return stream, stream

    # -- writes ------------------------------------------------------------------------------
    def _json(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call one client method for the raw JSON: lbtui reads plain dicts, not models."""
        response = call(
            *args, _preload_content=False, _request_timeout=self.request_timeout, **kwargs
        )
        data = response.data
        return json.loads(data) if data else None

    def _custom(
        self, method: str, version: str, namespace: str, plural: str, *args: Any, **kwargs: Any
    ) -> Any:
        call = getattr(self.custom, method)
        return self._json(call, METALLB_GROUP, version, namespace, plural, *args, **kwargs)

    def _direct(self, method: str, path: str, body: Any, content_type: str) -> Any:
        """One call made straight (the client's TLS settings and credentials), for the
        controller's per-Service writes: the typed methods validate their arguments with
        pydantic and look up proxy settings in the environment on every call, milliseconds of
        CPU each, which 10,000 Services pay twice; the REST layer's urllib3 costs twice what
        ``http.client`` does (:mod:`actors.kube.direct`, used unless the configuration asks
        for what it does not do). Fails as the typed methods do (:class:`ApiException` for a
        non-2xx answer)."""
        from kubernetes.client.exceptions import ApiException

        headers = {**self._auth_headers(), "Content-Type": content_type}
        if self._writer is not None:  # http.client, a connection per writer thread
            return self._writer.request(method, path, body, headers)
        client = self.api_client
        response = client.rest_client.request(
            method,
            self.host.rstrip("/") + path,
            headers=headers,
            body=body,  # serialised by the REST layer (a JSON content type)
            _request_timeout=self.request_timeout,
        )
        data = response.read()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return json.loads(data) if data else None

    def _auth_headers(self) -> dict[str, str]:
        """The client's headers and credentials, read again every ``AUTH_TTL`` seconds: the
        kubeconfig loader's refresh hook re-reads the whole kubeconfig on every call (~2 ms),
        and a token (a projected ServiceAccount token, an exec plugin's) outlives minutes."""
        now = time.monotonic()
        cached = self._auth
        if cached is not None and now < cached[0]:
            return cached[1]
        client = self.api_client
        headers = {**client.default_headers, "Accept": "application/json"}
        for auth in client.configuration.auth_settings().values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        self._auth = (now + AUTH_TTL, headers)
        return headers

    def patch_service_status(self, namespace: str, name: str, body: dict[str, Any]) -> dict:
        """A strategic merge patch of the Service's status subresource, as MetalLB's."""
        path = f"/api/v1/namespaces/{quote(namespace)}/services/{quote(name)}/status"
        return self._direct("PATCH", path, body, "application/strategic-merge-patch+json")

    def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        self._direct("POST", f"/api/v1/namespaces/{quote(namespace)}/events", body, JSON)

    def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        body = self._json(self.core.list_namespaced_pod, namespace, label_selector=label_selector)
        return list(body.get("items") or [])

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        return self._json(self.core.read_namespaced_pod, name, namespace)

    def custom_list(
        self, plural: str, namespace: str, label_selector: str = "", version: str = "v1beta1"
    ) -> list[dict[str, Any]]:
        body = self._custom(
            "list_namespaced_custom_object",
            version,
            namespace,
            plural,
            label_selector=label_selector or None,
        )
        return list(body.get("items") or [])

    def custom_create(
        self, plural: str, namespace: str, body: dict[str, Any], version: str = "v1beta1"
    ) -> dict[str, Any]:
        return self._custom("create_namespaced_custom_object", version, namespace, plural, body)

    def custom_get(
        self, plural: str, namespace: str, name: str, version: str = "v1beta1"
    ) -> dict[str, Any]:
        return self._custom("get_namespaced_custom_object", version, namespace, plural, name)

    def custom_replace(
        self, plural: str, namespace: str, name: str, body: dict[str, Any], version: str = "v1beta1"
    ) -> dict[str, Any]:
        return self._custom(
            "replace_namespaced_custom_object", version, namespace, plural, name, body
        )

    def custom_patch_status(
        self, plural: str, namespace: str, name: str, body: dict[str, Any], version: str = "v1beta1"
    ) -> dict[str, Any]:
        return self._custom(
            "patch_namespaced_custom_object_status", version, namespace, plural, name, body
        )

    def custom_delete(
        self, plural: str, namespace: str, name: str, version: str = "v1beta1"
    ) -> None:
        self._custom("delete_namespaced_custom_object", version, namespace, plural, name)

    def get_lease(self, namespace: str, name: str) -> dict[str, Any]:
        return self._json(self.coordination.read_namespaced_lease, name, namespace)

    def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self.coordination.create_namespaced_lease, namespace, body)

    def replace_lease(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self.coordination.replace_namespaced_lease, name, namespace, body)
