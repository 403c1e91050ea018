"""MetalLB's authn/authz filter in front of the HTTPS ``/metrics`` (controller-runtime's).

A bearer token is checked with a TokenReview, its user with a SubjectAccessReview
(nonResourceURL ``/metrics``, verb ``get``); 401 without a valid token, 403 when not allowed.
Reviews are cached briefly (:class:`MetricsAuth`), as controller-runtime caches them, so a
scrape costs no API call most of the time. The API calls go through a :class:`Reviewer`
(:class:`KubeReviewer` with the official client; tests pass their own).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

log = logging.getLogger(__name__)


class Reviewer(Protocol):
    """The two API calls of the filter (raw ``status`` dicts of the review objects)."""

    def token_review(self, token: str) -> dict[str, Any]: ...

    def access_review(self, user: dict[str, Any], path: str, verb: str) -> dict[str, Any]: ...


class KubeReviewer:
    """TokenReview and SubjectAccessReview through the official client."""

    def __init__(self, api_client: Any, timeout: float = 10.0) -> None:
        from kubernetes import client

        self.authentication = client.AuthenticationV1Api(api_client)
        self.authorization = client.AuthorizationV1Api(api_client)
        self.timeout = timeout

    def _create(self, call: Any, body: dict[str, Any]) -> dict[str, Any]:
        response = call(body, _preload_content=False, _request_timeout=self.timeout)
        return dict(json.loads(response.data).get("status") or {})

    def token_review(self, token: str) -> dict[str, Any]:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        return self._create(self.authentication.create_token_review, body)

    def access_review(self, user: dict[str, Any], path: str, verb: str) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "user": user.get("username", ""),
            "groups": list(user.get("groups") or []),
            "nonResourceAttributes": {"path": path, "verb": verb},
        }
        if user.get("uid"):
            spec["uid"] = user["uid"]
        if user.get("extra"):
            spec["extra"] = user["extra"]
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        }
        return self._create(self.authorization.create_subject_access_review, body)


class Decision(msgspec.Struct, frozen=True):
    """What the filter answers: ``code`` 200 (serve), 401, 403 or 500, and why."""

    code: int
    reason: str


class MetricsAuth:
    """The authn/authz filter, with controller-runtime's caches: a token's review for
    ``token_ttl``, an allow for ``allow_ttl``, a deny for ``deny_ttl`` (seconds of ``now``).
    Tokens are kept only as their SHA-256 and never logged."""

    def __init__(
        self,
        reviewer: Reviewer,
        now: Callable[[], float],
        *,
        token_ttl: float = 60.0,
        allow_ttl: float = 300.0,
        deny_ttl: float = 30.0,
    ) -> None:
        self.reviewer = reviewer
        self.now = now
        self.token_ttl = token_ttl
        self.allow_ttl = allow_ttl
        self.deny_ttl = deny_ttl
        self._lock = threading.Lock()
        self._users: dict[bytes, tuple[float, dict[str, Any] | None]] = {}
        self._access: dict[tuple[str, str, str, str], tuple[float, bool]] = {}
        self.reviews = 0

    def check(self, authorization: str | None, path: str, verb: str = "get") -> Decision:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return Decision(401, "Unauthorized")
        try:
            user = self._authenticate(token)
        except Exception as exc:
            log.warning("metrics: TokenReview failed: %s", exc.__class__.__name__)
            return Decision(401, "Unauthorized")
        if user is None:
            return Decision(401, "Unauthorized")
        try:
            allowed = self._authorize(user, path, verb)
        except Exception as exc:
            log.warning("metrics: SubjectAccessReview failed: %s", exc.__class__.__name__)
            return Decision(500, "Authorization error")
        if not allowed:
            name = user.get("username", "")
            return Decision(403, f'Authorization denied for user "{name}" ({verb} {path})')
        return Decision(200, "ok")

    def _authenticate(self, token: str) -> dict[str, Any] | None:
        key = hashlib.sha256(token.encode()).digest()
        now = self.now()
        with self._lock:
            cached = self._users.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        status = self.reviewer.token_review(token)
        self.reviews += 1
        user = dict(status.get("user") or {}) if status.get("authenticated") else None
        with self._lock:
            self._prune(self._users, now)
            self._users[key] = (now + self.token_ttl, user)
        return user

    def _authorize(self, user: dict[str, Any], path: str, verb: str) -> bool:
        groups = ",".join(sorted(user.get("groups") or []))
        key = (str(user.get("username", "")), groups, path, verb)
        now = self.now()
        with self._lock:
            cached = self._access.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        allowed = bool(self.reviewer.access_review(user, path, verb).get("allowed"))
        self.reviews += 1
        ttl = self.allow_ttl if allowed else self.deny_ttl
        with self._lock:
            self._prune(self._access, now)
            self._access[key] = (now + ttl, allowed)
        return allowed

    @staticmethod
    def _prune(cache: dict[Any, tuple[float, Any]], now: float) -> None:
        if len(cache) > 1024:  # a flood of bad tokens must not grow memory without end
            for key in [k for k, (until, _) in cache.items() if until <= now]:
                del cache[key]
            while len(cache) > 1024:
                del cache[next(iter(cache))]
