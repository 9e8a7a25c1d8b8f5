"""Login throttling for the site: failures counted in the `limits` table (chat.services.limits).

The counters live in DynamoDB, so every site instance sees the same ones: per (username,
caller) a hard limit, per username and per caller a growing delay, never a lock-out. Only
failures count; a refused attempt is not even checked against the password.

When the table cannot be reached or throttles, the limits still hold, in this process's memory
(`_Fallback`, the same hard limit per pair and per username): an outage must neither open the
door to guessing nor lock everyone out.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from django.conf import settings
from django.http import HttpRequest

from chat.edge import EDGE_HEADER, VIEWER_HEADER, edge_verified
from chat.services.limits import ip_group, login_check, login_failure_record
from lambdas.config import get_config
from lambdas.errors import RateLimited, is_unavailable

logger = logging.getLogger(__name__)


def client_ip(request: HttpRequest | None) -> str | None:
    """The caller's address as API Gateway saw it.

    Deployed, Zappa copies the request context's `identity.sourceIp` into the header
    CLIENT_IP_HEADER names (its `context_header_mappings`, which overwrite whatever a client
    sent under that name); Zappa's own REMOTE_ADDR comes from X-Forwarded-For, whose first
    entries are the client's to forge. Locally REMOTE_ADDR is the socket's peer.
    """
    if request is None:
        return None
    if settings.BEHIND_CLOUDFRONT:
        viewer = _cloudfront_viewer(request)
        if viewer:
            return viewer
    header = settings.CLIENT_IP_HEADER
    if header:
        return _header(request, header)
    return request.META.get("REMOTE_ADDR") or None


def _header(request: HttpRequest, name: str) -> str | None:
    return request.META.get("HTTP_" + name.upper().replace("-", "_")) or None


def _cloudfront_viewer(request: HttpRequest) -> str | None:
    """Behind CloudFront (a custom domain, DEPLOY.md) API Gateway's sourceIp is CloudFront's
    edge, so the viewer's address is CloudFront's header, believed only with the edge header
    CloudFront adds (a caller going around CloudFront to the API's own host could send the
    first, not the second): else None, and the caller is API Gateway's sourceIp as before."""
    if not edge_verified(secret_key=settings.SECRET_KEY, sent=_header(request, EDGE_HEADER)):
        return None
    viewer = _header(request, VIEWER_HEADER)
    # "198.51.100.10:46532" or "2001:db8::1:46532": always with the port.
    return viewer.rpartition(":")[0] or None if viewer else None


class _Fallback:
    """Failures per (username, caller) and per username, in memory, while DynamoDB is away."""

    def __init__(self) -> None:
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, username: str, ip: str | None) -> list[str]:
        name = username.strip().lower()
        return [f"user:{name}"] + ([f"pair:{name}|{ip_group(ip)}"] if ip_group(ip) else [])

    def check(self, username: str, ip: str | None) -> None:
        config, now = get_config(), time.monotonic()
        window = config.login_failure_window_seconds
        with self._lock:
            for key in self._keys(username, ip):
                recent = [t for t in self._failures.get(key, []) if t > now - window]
                self._failures[key] = recent
                if len(recent) >= config.login_failures_allowed:
                    retry_after = max(1, math.ceil(recent[0] + window - now))
                    raise RateLimited(
                        "too many failed logins; try again later", retry_after=retry_after
                    )

    def failed(self, username: str, ip: str | None) -> None:
        with self._lock:
            for key in self._keys(username, ip):
                self._failures.setdefault(key, []).append(time.monotonic())


fallback = _Fallback()


def login_throttle_check(*, request: HttpRequest | None, username: str) -> None:
    """Raise RateLimited while this caller may not try this username
    (chat.services.limits.login_check)."""
    ip = client_ip(request)
    try:
        login_check(username=username, ip=ip)
    except Exception as error:
        if not is_unavailable(error):
            raise
        logger.warning("login throttle table unavailable; in memory", extra={"error": repr(error)})
        fallback.check(username, ip)


def login_throttle_failed(*, request: HttpRequest | None, username: str) -> None:
    """Count one failed login against the username, the caller, and the pair."""
    ip = client_ip(request)
    try:
        login_failure_record(username=username, ip=ip)
    except Exception as error:
        if not is_unavailable(error):
            raise
        logger.warning("login throttle table unavailable; in memory", extra={"error": repr(error)})
        fallback.failed(username, ip)
