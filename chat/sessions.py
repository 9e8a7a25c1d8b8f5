"""Logging out ends the chat too: a browser session's tokens are revoked and its sockets closed.

Each browser session (Django's) gets a chat session id the first time it asks for a token; the
token carries it (`sid`), `$connect` stores it with the connection. Logging out of that session
(Django's `user_logged_out`, from any logout view) revokes the id, so no token of the session
connects again, and closes the sockets opened with it: the user's other browsers keep theirs.
"Log out everywhere" ends every session of the user: the site's and the chat's.

A page whose socket is closed asks for a new token, gets 401 (its login is gone) and says that
the session has ended.
"""

from __future__ import annotations

import base64
import logging
import secrets
from importlib import import_module

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY as USER_SESSION_KEY
from django.contrib.auth import logout, user_logged_out
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.decorators import login_required
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.views.decorators.http import require_POST

from chat.moderation import ManagementUnavailable, management_unless_idle, user_sessions_end
from chat.selectors.moderation import session_connection_ids
from chat.services.moderation import session_disconnect
from chat.services.sessions import session_revoke
from lambdas.errors import ChatError, is_unavailable

logger = logging.getLogger(__name__)

CHAT_SESSION_KEY = "chat_sid"  # in request.session: it survives the key's rotation at login
ENDED = "_chat_sessions_ended"  # set on a request whose logout has ended the chat already
NOT_CLOSED = "You are logged out, but your open chat tabs could not be closed: {reason}."


def browser_session_id(*, request: HttpRequest, user: AbstractBaseUser) -> str | None:
    """The chat id of the browser session a token for `user` is issued in, stored with its
    first token (one session save, once); None when the request is not that user's session
    (the token API's credentials path): such tokens last minutes and no logout can end them."""
    if not request.user.is_authenticated or request.user.pk != user.pk:
        return None
    session = request.session
    if CHAT_SESSION_KEY not in session:
        # Derived from the session key, not drawn: tabs asking for their first token at once
        # each save the session, and must all save the same id. Keyed with SECRET_KEY: the id
        # travels in tokens and is stored with connections, the session key must not be.
        # Stored, not derived again later: the key changes (a password change), the id stays.
        key = session.session_key or secrets.token_urlsafe(16)
        digest = salted_hmac(CHAT_SESSION_KEY, key, algorithm="sha256").digest()
        session[CHAT_SESSION_KEY] = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    return session[CHAT_SESSION_KEY]


def browser_session_end(*, user_id: str, session_id: str) -> int:
    """Void every token of the browser session, then close its sockets; how many were closed.

    In this order: a page whose socket closes asks for a new token at once, and whatever it
    gets in the moment before the logout is complete is refused.
    """
    session_revoke(user_id=user_id, session_id=session_id)
    api = management_unless_idle(
        lambda: bool(session_connection_ids(user_id=user_id, session_id=session_id))
    )
    if api is None:
        return 0
    return session_disconnect(api=api, user_id=user_id, session_id=session_id)


def user_browser_sessions_delete(*, user: AbstractBaseUser, keep: str | None) -> int | None:
    """Delete the user's Django sessions but `keep`: their browsers are logged out at their next
    request (the chat page's token request answers 401). How many; None when the session
    engine cannot list sessions (signed cookies, the cache alone).

    Sessions do not store their user in a column of their own, so every unexpired one is read
    and decoded: one pass over the session table, for an action people take rarely, rather
    than a write at every login to keep sessions by user.
    """
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store, "get_model_class"):
        return None
    user_id = user._meta.pk.value_to_string(user)  # as `login` stores it
    decoder = store()
    rows = (
        store.get_model_class()
        .objects.filter(expire_date__gt=timezone.now())
        .values_list("session_key", "session_data")
    )
    keys = [
        key
        for key, data in rows.iterator(chunk_size=1000)
        if key != keep and decoder.decode(data).get(USER_SESSION_KEY) == user_id
    ]
    for key in keys:
        store(session_key=key).delete()  # through the store: a cached_db one forgets its cache
    return len(keys)


def _reason(error: Exception) -> str:
    """Why the chat could not be reached, in words for the person logging out."""
    if isinstance(error, ManagementUnavailable):
        return "this site cannot reach the chat's connections"
    if is_unavailable(error):
        return "the chat's storage could not be reached"
    if isinstance(error, ChatError):
        return error.message
    return "something went wrong on our side"


@receiver(user_logged_out)
def _end_browser_session(sender, request: HttpRequest | None, user, **kwargs) -> None:
    """Sent before the session is flushed, so its chat id can still be read."""
    if request is None or user is None or getattr(request, ENDED, False):
        return
    session_id = request.session.get(CHAT_SESSION_KEY)
    if not session_id:
        return  # this browser never opened the chat: nothing to end
    try:
        closed = browser_session_end(user_id=str(user.pk), session_id=session_id)
    except Exception as error:
        # The logout itself goes on (the site's session is the person's to end); the chat part
        # is told, on the page they land on, not only logged.
        logger.exception("ending the chat session of user %s at logout failed", user.pk)
        # Silently only where no page follows: a logout outside a request (the test client's).
        messages.error(request, NOT_CLOSED.format(reason=_reason(error)), fail_silently=True)
        return
    logger.info("user %s logged out: %d chat connection(s) closed", user.pk, closed)


@login_required
@require_POST
def logout_everywhere(request: HttpRequest) -> HttpResponse:
    """Log the user out of every browser, the chat's sockets and tokens included."""
    user = request.user
    # The other browsers' sessions first: a page whose socket closes below asks for a token at
    # once, and must find its login gone rather than connect again.
    others = user_browser_sessions_delete(user=user, keep=request.session.session_key)
    failure = None
    try:
        closed = user_sessions_end(user_id=str(user.pk))  # tokens until now refused, sockets closed
    except Exception as error:
        logger.exception("ending the chat sessions of user %s everywhere failed", user.pk)
        failure = error
    setattr(request, ENDED, True)  # the logout signal has nothing left to end
    logout(request)
    if others is None:
        messages.error(
            request,
            "You are logged out here, but your other browsers stay logged in: this site's "
            "sessions cannot be listed.",
        )
    if failure is not None:
        messages.error(request, NOT_CLOSED.format(reason=_reason(failure)))
    if others is not None and failure is None:
        messages.success(
            request,
            f"You are logged out everywhere: {others} other browser session(s) ended, "
            f"{closed} chat connection(s) closed.",
        )
    return redirect(settings.LOGOUT_REDIRECT_URL)
