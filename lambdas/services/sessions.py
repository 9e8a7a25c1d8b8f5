"""Ending a user's sessions for good: tokens issued before the moment no longer connect.

A ban, a deactivation or a demotion closes the user's live sockets (moderation.user_disconnect)
and revokes what they could reconnect with: their tokens stay valid until they expire (minutes),
so `$connect` refuses every token issued before the revocation. The item expires with the last
token it can refuse (TOKEN_MAX_LIFETIME_SECONDS later).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from lambdas.config import get_config
from lambdas.errors import TokenRevoked
from lambdas.models import Revocation
from lambdas.tokens import LEEWAY_SECONDS, User


def _key(user_id: str) -> str:
    return f"revoked#{user_id}"


def sessions_revoke(*, user_id: str, now: float | None = None) -> None:
    """Void every token of the user issued up to now."""
    now = time.time() if now is None else now
    lasts = get_config().token_max_lifetime_seconds + LEEWAY_SECONDS
    expires_at = datetime.fromtimestamp(now + lasts, UTC)
    Revocation(_key(user_id), not_before=now, expires_at=expires_at).save()


def session_check(*, user: User) -> None:
    """TokenRevoked if the user's token was issued before their sessions were revoked."""
    try:
        revocation = Revocation.get(_key(user.user_id))
    except Revocation.DoesNotExist:
        return
    if revocation.expires_at.timestamp() > time.time() and user.issued_at < revocation.not_before:
        raise TokenRevoked("this session was ended; sign in again")
