"""Actions and selectors on connections: open, close, and the live connections of a room."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from lambdas.config import get_config
from lambdas.errors import InvalidRoom, NotConnected
from lambdas.models import Connection, connection_expiry, utcnow
from lambdas.tokens import User

ROOM_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DEFAULT_ROOM = "general"


def room_check(room: str | None) -> str:
    """The room a client asked for (default `general`), or InvalidRoom."""
    if room is None or room == "":
        return DEFAULT_ROOM
    if not ROOM_RE.fullmatch(room):
        raise InvalidRoom(
            "room names are 1-64 characters: lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    return room


def connection_open(
    *,
    connection_id: str,
    user: User,
    room: str | None,
    connected_at: datetime,
    source_ip: str | None = None,
    user_agent: str | None = None,
) -> Connection:
    connection = Connection(
        connection_id,
        user_id=user.user_id,
        username=user.username,
        room=room_check(room),
        connected_at=connected_at,
        expires_at=connection_expiry(connected_at, get_config().connection_ttl_seconds),
        source_ip=source_ip or None,
        user_agent=(user_agent or "")[:512] or None,
    )
    connection.save()
    return connection


def connection_close(*, connection_id: str) -> None:
    """Forget a connection; closing one that is already gone is not an error."""
    Connection(connection_id).delete()


def connection_get(*, connection_id: str) -> Connection:
    """The live connection behind a socket, or NotConnected."""
    try:
        connection = Connection.get(connection_id)
    except Connection.DoesNotExist:
        raise NotConnected("this connection is not registered; reconnect") from None
    if not connection.is_live(utcnow()):
        raise NotConnected("this connection has expired; reconnect")
    return connection


def connection_ids_in_room(*, room: str, page_size: int = 500) -> Iterator[str]:
    """Ids of the room's live connections, read page by page from the room index.

    Expired items are filtered here because nothing guarantees TTL has removed them (DynamoDB
    deletes within days; dynalite never does).
    """
    query = Connection.room_index.query(
        room,
        filter_condition=Connection.expires_at > utcnow(),
        page_size=page_size,
    )
    for connection in query:
        yield connection.connection_id
