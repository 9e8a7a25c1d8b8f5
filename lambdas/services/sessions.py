"""Ending sessions for good: a user's (all their tokens issued before a moment) or one browser
session's (every token carrying its id), so that `$connect` refuses them.

A ban, a deactivation or a demotion closes the user's live sockets (moderation.user_disconnect)
and revokes what they could reconnect with: their tokens stay valid until they expire (minutes),
so `$connect` refuses every token issued before the revocation. Logging out of one browser does
the same for that browser's session only: its sockets are closed
(moderation.session_disconnect) and the tokens carrying its id (`sid`) refused, while the
user's other browsers keep theirs.

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

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from lambdas.config import get_config
from lambdas.errors import RateLimited, TokenRevoked
from lambdas.models import Revocation, condition_failed
from lambdas.tokens import LEEWAY_SECONDS, User

# The ended sessions kept in the item, at most: 32 ids of 22 characters keep it under 1 KB, so
# `$connect` still reads it for half a read unit and a logout writes one unit.
MAX_ENDED = 32


def _key(user_id: str) -> str:
    return f"revoked#{user_id}"


def _expiry(now: float) -> datetime:
    """When the last token issued up to `now` has expired: the item is no longer needed."""
    return datetime.fromtimestamp(
        now + get_config().token_max_lifetime_seconds + LEEWAY_SECONDS, UTC
    )


def sessions_revoke(*, user_id: str, now: float | None = None) -> None:
    """Void every token of the user issued up to now.

    The ended sessions the item held go: their tokens were all issued before now.
    """
    now = time.time() if now is None else now
    Revocation(_key(user_id)).update(
        actions=[
            Revocation.not_before.set(now),
            Revocation.ended.remove(),
            Revocation.expires_at.set(_expiry(now)),
        ]
    )


def session_revoke(*, user_id: str, session_id: str, now: float | None = None) -> None:
    """Void every token of one browser session of the user (their `sid`), whenever issued.

    A session id is never handed out again once its session is over (the site forgets it with
    the session), so the tokens to refuse are those issued until now: the item lives until
    they have expired, and each logout pushes that further.
    """
    now = time.time() if now is None else now
    expires_at = _expiry(now)
    try:
        # One write, creating the item if there is none. An item past its expiry that TTL has
        # not removed yet (it may take days; dynalite never does) keeps its old ids and moment:
        # harmless, as their tokens have expired, but the ids count towards the cap.
        Revocation(_key(user_id)).update(
            actions=[Revocation.ended.add({session_id}), Revocation.expires_at.set(expires_at)],
            condition=Revocation.ended.does_not_exist() | (size(Revocation.ended) < MAX_ENDED),
        )
    except UpdateError as error:
        if not condition_failed(error):
            raise
        # Full (MAX_ENDED logouts, each within minutes of the last or before TTL removed the
        # item): start the set again, and void every token of the user issued until now in
        # place of the ids dropped. The user's other browsers lose nothing: their sockets
        # stay, and the token each asks for next is newer.
        Revocation(_key(user_id)).update(
            actions=[
                Revocation.not_before.set(now),
                Revocation.ended.set({session_id}),
                Revocation.expires_at.set(expires_at),
            ]
        )


def sessions_cool_down(*, user_id: str, until: float, now: float | None = None) -> None:
    """Refuse the user's new connections until `until` (epoch seconds): they were cut off for
    flooding (connections.connection_cut_off). One write; what the item holds stays."""
    now = time.time() if now is None else now
    # Never shortens the item's life: every expiry written here is _expiry() of an earlier now.
    expires_at = max(_expiry(now), datetime.fromtimestamp(until, UTC))
    Revocation(_key(user_id)).update(
        actions=[Revocation.cooldown_until.set(until), Revocation.expires_at.set(expires_at)]
    )


def session_check(*, user: User, now: float | None = None) -> None:
    """TokenRevoked if the user's token was issued before their sessions were revoked, or to a
    browser session that has ended since; RateLimited (429) while the user is cooled down."""
    now = time.time() if now is None else now
    try:
        revocation = Revocation.get(_key(user.user_id))
    except Revocation.DoesNotExist:
        return
    # Past its expiry, every token it refused has expired (dynalite never removes items).
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
