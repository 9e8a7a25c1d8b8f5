"""Selectors telling a suspended (inactive) account from wrong credentials or no session."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare

SUSPENDED_MESSAGE = (
    "This account is suspended. Ask an administrator if you think this is a mistake."
)


def _suspended(user: AbstractBaseUser) -> bool:
    # ModelBackend.user_can_authenticate's rule: a user model without is_active is never inactive.
    return not getattr(user, "is_active", True)


def account_suspended(*, username: str) -> bool:
    """Whether `username` names an existing user who may not log in because they are inactive.

    Ask it after a login failed, whatever the password was: the answer must not depend on it,
    so it tells nobody whether the password was right. The lookup is ModelBackend's (exact
    `get_by_natural_key`), so it finds the user the login looked for; the one extra query is
    made for every failed login, of known and unknown usernames alike.
    """
    user_model = get_user_model()
    try:
        user = user_model._default_manager.get_by_natural_key(username)
    except user_model.DoesNotExist:
        return False
    return _suspended(user)


def session_suspended(*, request: HttpRequest) -> bool:
    """Whether the request's session is a valid login of a user since suspended.

    Django reads such a session as anonymous (ModelBackend.get_user refuses inactive users), as
    it does an expired or forged one; this repeats `django.contrib.auth.get_user`'s checks (a
    configured backend, the session's password hash, with the fallback secrets) but the active
    one, so a session that is no longer valid for another reason still reads as no session.
    """
    session = request.session
    user_id, backend = session.get(SESSION_KEY), session.get(BACKEND_SESSION_KEY)
    if user_id is None or backend not in settings.AUTHENTICATION_BACKENDS:
        return False
    user_model = get_user_model()
    try:
        user = user_model._default_manager.get(pk=user_model._meta.pk.to_python(user_id))
    except (user_model.DoesNotExist, ValidationError, ValueError):
        return False
    if not _suspended(user):
        return False
    session_hash = session.get(HASH_SESSION_KEY)
    if not session_hash:
        return False
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(constant_time_compare(session_hash, known) for known in hashes)
