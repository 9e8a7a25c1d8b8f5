"""Sessions ended for good, as `$connect` checks them: a user's (all their tokens issued before a
moment) or one browser session's (every token carrying its id).

The site ends them (chat/services/sessions.py): a ban, a deactivation or a demotion closes the
user's live sockets (chat.services.moderation.user_disconnect) and revokes what they could
reconnect with: their tokens stay valid until they expire (minutes), so `$connect` refuses every
token issued before the revocation. Logging out of one browser does the same for that browser's
session only: its sockets are closed (chat.services.moderation.session_disconnect) and the
tokens carrying its id (`sid`) refused, while the user's other browsers keep theirs.

Both live in one item per user, the one `session_check` reads at `$connect` anyway: revoking a
session adds no read there. The item expires with the last token it can refuse
(TOKEN_MAX_LIFETIME_SECONDS later). A user cut off for flooding (limits.Flooding) is cooled
down in the same item, for the same reason: `$connect` refuses them until `cooldown_until`
without reading anything else. Every write here updates the attributes it is about and keeps
the others, so neither a logout nor a ban ends a cooldown.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from lambdas.config import get_config
from lambdas.errors import RateLimited, TokenRevoked
from lambdas.models import Revocation
from lambdas.tokens import LEEWAY_SECONDS, User

# The ended sessions kept in the item, at most: 32 ids of 22 characters keep it under 1 KB, so
# `$connect` still reads it for half a read unit and a logout writes one unit.
MAX_ENDED = 32


def revocation_key(user_id: str) -> str:
    return f"revoked#{user_id}"


def revocation_expiry(now: float) -> datetime:
    """When the last token issued up to `now` has expired: the item is no longer needed."""
    return datetime.fromtimestamp(
        now + get_config().token_max_lifetime_seconds + LEEWAY_SECONDS, UTC
    )


def sessions_cool_down(*, user_id: str, until: float, now: float | None = None) -> None:
    """Refuse the user's new connections until `until` (epoch seconds): they were cut off for
    flooding (connections.connection_cut_off). One write; what the item holds stays."""
    now = time.time() if now is None else now
    # Never shortens the item's life: every expiry written here is revocation_expiry() of an
    # earlier now.
    expires_at = max(revocation_expiry(now), datetime.fromtimestamp(until, UTC))
    Revocation(revocation_key(user_id)).update(
        actions=[Revocation.cooldown_until.set(until), Revocation.expires_at.set(expires_at)]
    )


def session_check(*, user: User, now: float | None = None) -> None:
    """TokenRevoked if the user's token was issued before their sessions were revoked, or to a
    browser session that has ended since; RateLimited (429) while the user is cooled down."""
    now = time.time() if now is None else now
    try:
        revocation = Revocation.get(revocation_key(user.user_id))
    except Revocation.DoesNotExist:
        return
    # Past its expiry, every token it refused has expired (TTL removes the item within days).
    if revocation.expires_at.timestamp() > now:
        if revocation.not_before is not None and user.issued_at < revocation.not_before:
            raise TokenRevoked("this session was ended; sign in again")
        if user.session_id is not None and user.session_id in (revocation.ended or ()):
            raise TokenRevoked("this browser session was logged out; log in again")
    # Whatever the expiry: a logout may have set one earlier than a long cooldown's end.
    if revocation.cooldown_until is not None and revocation.cooldown_until > now:
        raise RateLimited(
            "this account was cut off for sending too fast; connect again later",
            retry_after=max(1, math.ceil(revocation.cooldown_until - now)),
        )
