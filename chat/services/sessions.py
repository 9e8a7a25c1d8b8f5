"""Ending sessions for good, from the site: all of a user's (a ban, a deactivation, a
demotion) or one browser session's (a logout). How the item is kept and checked at `$connect`:
lambdas/services/sessions.py."""

from __future__ import annotations

import time

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from lambdas.models import Revocation, condition_failed
from lambdas.services.sessions import MAX_ENDED, revocation_expiry, revocation_key


def sessions_revoke(*, user_id: str, now: float | None = None) -> None:
    """Void every token of the user issued up to now.

    The ended sessions the item held go: their tokens were all issued before now.
    """
    now = time.time() if now is None else now
    Revocation(revocation_key(user_id)).update(
        actions=[
            Revocation.not_before.set(now),
            Revocation.ended.remove(),
            Revocation.expires_at.set(revocation_expiry(now)),
        ]
    )


def session_revoke(*, user_id: str, session_id: str, now: float | None = None) -> None:
    """Void every token of one browser session of the user (their `sid`), whenever issued.

    A session id is never handed out again once its session is over (the site forgets it with
    the session), so the tokens to refuse are those issued until now: the item lives until
    they have expired, and each logout pushes that further.
    """
    now = time.time() if now is None else now
    expires_at = revocation_expiry(now)
    try:
        # One write, creating the item if there is none. An item past its expiry that TTL has
        # not removed yet (it may take days) keeps its old ids and moment:
        # harmless, as their tokens have expired, but the ids count towards the cap.
        Revocation(revocation_key(user_id)).update(
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
        Revocation(revocation_key(user_id)).update(
            actions=[
                Revocation.not_before.set(now),
                Revocation.ended.set({session_id}),
                Revocation.expires_at.set(expires_at),
            ]
        )
