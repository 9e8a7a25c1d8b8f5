"""The token endpoint's client-facing errors, in the same family as the Lambda side's."""

from __future__ import annotations

from lambdas.errors import ChatError, InvalidRequest

__all__ = [
    "AccountSuspended",
    "ChatError",
    "CsrfFailed",
    "InvalidCredentials",
    "InvalidRequest",
    "MethodNotAllowed",
    "NotAuthenticated",
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
