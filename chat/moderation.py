"""Staff actions from the dashboard: each calls the lambdas service and writes the audit log."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from chat.models import AuditEntry
from chat.revocations import SessionsNotEnded, revocation_attempt, revocation_record
from chat.services import moderation, sessions
from chat.services.rooms import room_create
from lambdas.config import get_config
from lambdas.errors import ChatError
from lambdas.management import ManagementApi, management_api
from lambdas.models import Connection, Room
from lambdas.tokens import User

Action = AuditEntry.Action


class ManagementUnavailable(ChatError):
    code = "management_unavailable"
    status = 503


def management() -> ManagementApi:
    """The @connections client of the WebSocket API the site belongs to."""
    url = get_config().management_endpoint_url
    if not url:
        raise ManagementUnavailable(
            "MANAGEMENT_ENDPOINT_URL is not set, so live connections cannot be reached"
        )
    return management_api(url)


def management_unless_idle(has_sockets: Callable[[], bool]) -> ManagementApi | None:
    """The @connections client; None when there is none and no socket needs closing (a site run
    without its gateway): ManagementUnavailable only when one does."""
    try:
        return management()
    except ManagementUnavailable:
        if has_sockets():
            raise
        return None


def audit_record(*, actor: AbstractBaseUser, action: str, target: str, detail: str = "") -> None:
    AuditEntry.objects.create(actor=actor, action=action, target=target[:200], detail=detail)


def chat_user(user: AbstractBaseUser) -> User:
    """The site's user as lambdas' services know users (the token's identity)."""
    return User(user_id=str(user.pk), username=user.get_username(), is_staff=user.is_staff)


def connections_disconnect(
    *, actor: AbstractBaseUser, connection_ids: list[str]
) -> tuple[int, int]:
    """Close the chosen connections; (closed, already gone)."""
    api = management()
    closed = stale = 0
    for connection_id in connection_ids:
        if moderation.connection_disconnect(api=api, connection_id=connection_id):
            closed += 1
        else:
            stale += 1
        audit_record(actor=actor, action=Action.DISCONNECT, target=connection_id)
    return closed, stale


def message_delete(*, actor: AbstractBaseUser, room: str, message_id: str) -> None:
    moderation.message_moderate(
        api=management(), room=room, message_id=message_id, staff=chat_user(actor)
    )
    audit_record(actor=actor, action=Action.DELETE_MESSAGE, target=f"#{room}/{message_id}")


def room_add(*, actor: AbstractBaseUser, name: str, title: str, description: str) -> Room:
    room = room_create(
        name=name, title=title, description=description, created_by=actor.get_username()
    )
    audit_record(actor=actor, action=Action.CREATE_ROOM, target=f"#{room.name}")
    return room


def room_edit(*, actor: AbstractBaseUser, name: str, title: str, description: str) -> Room:
    room = moderation.room_update(name=name, title=title, description=description)
    audit_record(
        actor=actor, action=Action.EDIT_ROOM, target=f"#{room.name}", detail=f"title: {room.title}"
    )
    return room


def room_archive(*, actor: AbstractBaseUser, name: str) -> int:
    closed = moderation.room_archive(api=management(), name=name)
    audit_record(
        actor=actor,
        action=Action.ARCHIVE_ROOM,
        target=f"#{name}",
        detail=f"{closed} connection(s) closed",
    )
    return closed


def room_unarchive(*, actor: AbstractBaseUser, name: str) -> None:
    moderation.room_unarchive(name=name)
    audit_record(actor=actor, action=Action.UNARCHIVE_ROOM, target=f"#{name}")


def user_disconnect(*, actor: AbstractBaseUser, user: AbstractBaseUser) -> int:
    closed = moderation.user_disconnect(api=management(), user_id=str(user.pk))
    audit_record(
        actor=actor,
        action=Action.DISCONNECT_USER,
        target=user.get_username(),
        detail=f"{closed} connection(s) closed",
    )
    return closed


def user_sessions_end(*, user_id: str) -> int:
    """Revoke the user's tokens ($connect refuses any issued until now), then close their live
    connections; how many there were. Raises if either fails: only both together end sessions
    (chat/revocations.py keeps trying until they do)."""
    sessions.sessions_revoke(user_id=user_id)
    api = management_unless_idle(
        lambda: next(iter(Connection.user_index.query(user_id, limit=1)), None) is not None
    )
    return 0 if api is None else moderation.user_disconnect(api=api, user_id=user_id)


class ModeratorForbidden(ChatError):
    code = "forbidden"
    status = 403


def user_ban(*, actor: AbstractBaseUser, user: AbstractBaseUser) -> int:
    """Deactivate the user (no more tokens, no more logins), void the tokens they hold and close
    every live connection. Staff and superusers are banned by superusers only. SessionsNotEnded
    if the user is banned but their sessions are not ended yet (it is retried until they are)."""
    if (user.is_staff or user.is_superuser) and not actor.is_superuser:
        raise ModeratorForbidden("only a superuser may ban a staff member or a superuser")
    management()  # before any change: a ban that cannot close sockets is not done
    with transaction.atomic():
        user.is_active = False
        # Ended here, at once, for the count the staff member is told, rather than by the
        # signal's attempt after the commit; recorded with the change all the same.
        user._sessions_ended = True
        try:
            user.save(update_fields=["is_active"])
        finally:
            del user._sessions_ended  # a later save of this object is the signal's again
        revocation_record(user=user, reason=["is_active"])
    target = user.get_username()
    try:
        closed = revocation_attempt(user_id=str(user.pk))
    except SessionsNotEnded as error:
        audit_record(actor=actor, action=Action.BAN, target=target, detail=error.message)
        raise
    audit_record(
        actor=actor, action=Action.BAN, target=target, detail=f"{closed} connection(s) closed"
    )
    return closed
