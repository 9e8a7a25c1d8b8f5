"""The token endpoint's client-facing errors: each carries its JSON `code` and HTTP status."""

from __future__ import annotations


class ApiError(Exception):
    code = "invalid_request"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(ApiError):
    code = "invalid_request"
    status = 400


class InvalidCredentials(ApiError):
    code = "invalid_credentials"
    status = 401


class NotAuthenticated(ApiError):
    code = "not_authenticated"
    status = 401


class CsrfFailed(ApiError):
    code = "csrf_failed"
    status = 403


class MethodNotAllowed(ApiError):
    code = "method_not_allowed"
    status = 405
