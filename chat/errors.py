"""The site's client-facing errors (the token endpoint's, search's), in the same family as the
Lambda side's."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from lambdas.errors import ChatError, InvalidRequest, RateLimited

if TYPE_CHECKING:
    from django.http import JsonResponse

__all__ = [
    "AccountSuspended",
    "BadQuery",
    "ChatError",
    "CsrfFailed",
    "InvalidCredentials",
    "InvalidRequest",
    "MethodNotAllowed",
    "NotAuthenticated",
    "QueryTooLong",
    "error_response",
]


class InvalidCredentials(ChatError):
    code = "invalid_credentials"
    status = 401


class NotAuthenticated(ChatError):
    code = "not_authenticated"
    status = 401


class AccountSuspended(ChatError):
    """An inactive user, told so whether or not the password (or session) was right."""

    code = "account_suspended"
    status = 403


class CsrfFailed(ChatError):
    code = "csrf_failed"
    status = 403


class MethodNotAllowed(ChatError):
    code = "method_not_allowed"
    status = 405


class QueryTooLong(ChatError):
    """A search longer than the limit (its `limit` field), refused before it is parsed."""

    code = "query_too_long"


class BadQuery(ChatError):
    """A search whose operators cannot be read (a date that is not YYYY-MM-DD, say)."""

    code = "bad_query"


def error_response(error: ChatError) -> JsonResponse:
    """The site's JSON answer to a ChatError: its code, message and fields, at its status; a
    rate limit says when to come back (Retry-After)."""
    from django.http import JsonResponse  # here: chat.selectors import this module without Django

    response = JsonResponse(
        {"error": error.code, "message": error.message, **error.fields}, status=error.status
    )
    if isinstance(error, RateLimited):
        response["Retry-After"] = str(math.ceil(error.retry_after))
    return response
