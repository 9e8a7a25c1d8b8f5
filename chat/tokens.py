"""Issuing the short-lived Ed25519 JWTs a browser presents to open the chat WebSocket."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from lambdas.config import get_config
from lambdas.tokens import ALGORITHM

NO_KEY_HELP = (
    "run `python manage.py devkeys` to create a development key pair, "
    "or set TOKEN_SIGNING_KEY (PEM text) or TOKEN_SIGNING_KEY_FILE"
)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


@lru_cache(maxsize=4)
def _private_key(pem: str) -> Ed25519PrivateKey:
    # Cached by content: rotating the key file takes effect on the next token, parsing does not
    # happen on every request.
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"the token signing key is not a usable PEM: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured("the token signing key must be an Ed25519 private key")
    return key


def signing_key_pem() -> str:
    """The signing key's PEM from settings, read now; ImproperlyConfigured when there is none."""
    if settings.TOKEN_SIGNING_KEY:
        return settings.TOKEN_SIGNING_KEY
    path = Path(settings.TOKEN_SIGNING_KEY_FILE or "")
    try:
        return path.read_text()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"no token signing key ({path}: {exc.strerror or exc}): {NO_KEY_HELP}"
        ) from None


def signing_key_load() -> Ed25519PrivateKey:
    return _private_key(signing_key_pem())


def token_issue(*, user, session_id: str | None = None, now: datetime | None = None) -> IssuedToken:
    """A token for `user` that the Lambda authorizer accepts for TOKEN_TTL_SECONDS; with the
    browser session's `session_id` (chat/sessions.py) as its `sid`, so that logging out of that
    session refuses it and closes the sockets it opened."""
    key = signing_key_load()
    config = get_config()  # iss and aud must be what lambdas.tokens.token_verify expects
    # `iat` to the millisecond: a token issued a moment after a ban, in the same second, must
    # still connect ($connect compares it with the revocation's time). `exp` in whole seconds,
    # so the `expires_at` we report is exactly the one inside the token.
    moment = (now or datetime.now(UTC)).timestamp()
    issued_at, expires_at = round(moment, 3), int(moment) + settings.TOKEN_TTL_SECONDS
    claims = {
        "sub": str(user.pk),
        "username": user.get_username(),
        "staff": bool(user.is_staff),
        "iss": config.token_issuer,
        "aud": config.token_audience,
        "iat": issued_at,
        "nbf": int(moment),
        "exp": expires_at,
        "jti": secrets.token_urlsafe(16),
    }
    if session_id is not None:
        claims["sid"] = session_id
    token = jwt.encode(claims, key, algorithm=ALGORITHM)
    return IssuedToken(token=token, expires_at=datetime.fromtimestamp(expires_at, UTC))


def expiry_format(moment: datetime) -> str:
    """ISO-8601 UTC with a Z and whole seconds, e.g. 2026-11-28T18:40:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
