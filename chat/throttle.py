"""Login throttling for the site: failures per username and per IP, counted in the `limits` table.

The counters live in DynamoDB through the Lambdas' limits service, so every site instance sees
the same ones. Only failures count; a refused attempt is not even checked against the password.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest

from lambdas.errors import is_unavailable
from lambdas.services.limits import login_check, login_failure_record

logger = logging.getLogger(__name__)


def _ip(request: HttpRequest | None) -> str | None:
    # REMOTE_ADDR is the caller as API Gateway saw it (Zappa copies sourceIp there); headers
    # such as X-Forwarded-For are the caller's to forge, so they are not trusted here.
    return (request.META.get("REMOTE_ADDR") or None) if request is not None else None


def login_throttle_check(*, request: HttpRequest | None, username: str) -> None:
    """Raise RateLimited while the username or the caller's IP has used up its failures.

    If DynamoDB cannot be reached the attempt goes ahead (logged): an outage of the chat's
    storage must not lock everyone out of the site, and the password is still checked.
    """
    try:
        login_check(username=username, ip=_ip(request))
    except Exception as error:
        if not is_unavailable(error):
            raise
        logger.warning("login throttle unavailable; not checked", extra={"error": repr(error)})


def login_throttle_failed(*, request: HttpRequest | None, username: str) -> None:
    """Count one failed login against the username and the caller's IP."""
    try:
        login_failure_record(username=username, ip=_ip(request))
    except Exception as error:
        if not is_unavailable(error):
            raise
        logger.warning("login throttle unavailable; not counted", extra={"error": repr(error)})
