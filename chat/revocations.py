"""Ending a user's chat sessions until it holds: recorded with the change, attempted, retried.

A user who loses access (deactivated, demoted) must lose it on the WebSocket side too: their
tokens revoked, so `$connect` refuses them, and their live sockets closed. Either can fail (a
throttled or missing table, an unreachable @connections, a shell without credentials). So the
change that takes access away also writes a PendingRevocation, in that change's transaction; the
attempt after the commit deletes it once both steps held, or keeps it and raises
SessionsNotEnded where the change was made (the admin's message, a command's exit status). The
scheduled retry (`manage.py revocations_retry`, Zappa's `events`, runstack's loop) repeats each
kept one until it holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import F
from django.utils import timezone

from chat.models import PendingRevocation
from lambdas.errors import ChatError

logger = logging.getLogger(__name__)

RETRY_EVERY = "every minute"  # zappa_settings.json's rate(1 minute); runstack retries sooner


class SessionsNotEnded(ChatError):
    """The user's access is gone from the site, but not yet from the chat: kept and retried."""

    code = "sessions_not_ended"
    status = 503


def revocation_record(*, user: AbstractBaseUser, reason: Iterable[str]) -> PendingRevocation:
    """Note that the user's sessions must end (in the caller's transaction, if any)."""
    pending, _ = PendingRevocation.objects.update_or_create(
        user_id=str(user.pk),
        defaults={"username": user.get_username(), "reason": ", ".join(reason)},
    )
    return pending


def revocation_attempt(*, user_id: str) -> int:
    """End the sessions of a user whose revocation is pending; how many sockets were closed.

    Raises SessionsNotEnded, keeping the row with the error, unless the revocation is written
    and every socket closed. Attempts may overlap (the one after a save, a scheduled retry):
    both steps can be repeated without harm.
    """
    pending = PendingRevocation.objects.filter(user_id=user_id).first()
    if pending is None:
        return 0  # ended by another attempt already
    # Imported here: PynamoDB and boto3 load when sessions end, not with every command.
    from chat.moderation import user_sessions_end

    try:
        closed = user_sessions_end(user_id=user_id)
    except Exception as exc:
        # Whatever failed (storage, @connections, credentials, configuration), the sessions
        # are not ended: keep the row for the retry and say so where the change was made.
        error = _describe(exc)
        PendingRevocation.objects.filter(pk=pending.pk).update(
            attempts=F("attempts") + 1, attempted_at=timezone.now(), last_error=error[:2000]
        )
        logger.warning(
            "chat sessions of user %s (%s, lost %s) not ended, attempt %d: %s",
            user_id,
            pending.username,
            pending.reason,
            pending.attempts + 1,
            error,
        )
        raise SessionsNotEnded(
            f"{pending.username}'s chat sessions are not ended yet ({error}): their tokens "
            f"may still connect. It is retried {RETRY_EVERY} until it holds.",
            user_id=user_id,
        ) from exc
    # Only the version this attempt started from: a loss of access recorded meanwhile (its
    # tokens perhaps issued after the revocation above) is left for its own attempt.
    PendingRevocation.objects.filter(pk=pending.pk, recorded_at=pending.recorded_at).delete()
    logger.info(
        "chat sessions of user %s (%s, lost %s) ended: %d connection(s) closed",
        user_id,
        pending.username,
        pending.reason,
        closed,
    )
    return closed


def _describe(exc: Exception) -> str:
    """The failure in one line for a staff member: the operation and DynamoDB's reason, not the
    request ids and table names of PynamoDB's whole message."""
    code = getattr(exc, "cause_response_code", None)
    if code:
        operation = str(getattr(exc, "msg", "") or type(exc).__name__).split(":")[0]
        text = f"{operation}: {code}: {exc.cause_response_message}"
    else:
        text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


@dataclass
class RetryReport:
    ended: list[str] = field(default_factory=list)  # usernames
    failed: list[SessionsNotEnded] = field(default_factory=list)


def revocations_retry() -> RetryReport:
    """Attempt every pending revocation once, oldest first."""
    report = RetryReport()
    for user_id, username in PendingRevocation.objects.values_list("user_id", "username"):
        try:
            revocation_attempt(user_id=user_id)
        except SessionsNotEnded as error:
            report.failed.append(error)
        else:
            report.ended.append(username)
    return report


def revocations_retry_event(event: dict, context: object) -> dict:
    """The deployed site's schedule (zappa_settings.json `events`): retry, and fail the
    invocation while any is left, so Lambda's Errors metric shows it as well as the log."""
    try:
        report = revocations_retry()
    finally:
        _connections_release()
    if report.failed:
        raise SessionsNotEnded(
            f"{len(report.failed)} revocation(s) still pending: "
            + "; ".join(error.message for error in report.failed)
        )
    return {"ended": len(report.ended)}


def _connections_release() -> None:
    """Close the database connections, as Django does after each request (CONN_MAX_AGE 0): a
    scheduled run is no request, and a connection left open in the warm container between runs
    would keep an idle Aurora cluster from ever pausing (DEPLOY.md, The database). Never one
    inside a caller's transaction."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()
