"""Actions and selectors on rooms: names, the default room, creating, listing, who is online."""

from __future__ import annotations

import re
from collections.abc import Collection

from pynamodb.exceptions import PutError

from lambdas.errors import InvalidRequest, InvalidRoom, RoomArchived, RoomExists, RoomNotFound
from lambdas.models import Connection, Room, utcnow

ROOM_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DEFAULT_ROOM = "general"
MAX_TITLE = 100
MAX_DESCRIPTION = 500


def room_check(name: str | None) -> str:
    """The room a client asked for (default `general`), or InvalidRoom."""
    if name is None or name == "":
        return DEFAULT_ROOM
    if not isinstance(name, str) or not ROOM_RE.fullmatch(name):  # `$` would allow a final "\n"
        raise InvalidRoom(
            "room names are 1-64 characters: lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    return name


def _condition_failed(error: PutError) -> bool:
    return error.cause_response_code == "ConditionalCheckFailedException"


def _default_room() -> Room:
    """`general` exists on every deployment: created the first time anyone asks for it."""
    room = Room(
        DEFAULT_ROOM,
        title="General",
        description="Everyone's room.",
        created_by="system",
        created_at=utcnow(),
    )
    try:
        room.save(condition=Room.name.does_not_exist())
    except PutError as error:
        if not _condition_failed(error):
            raise
        return Room.get(DEFAULT_ROOM)  # someone else created it a moment ago
    return room


def room_get(*, name: str | None, create_default: bool = True) -> Room:
    """The room; `general` is created on first use unless `create_default` is false (the
    routes of a connected socket: its $connect found or made the room; only $connect may)."""
    name = room_check(name)
    try:
        return Room.get(name)
    except Room.DoesNotExist:
        if name == DEFAULT_ROOM and create_default:
            return _default_room()
        raise RoomNotFound(f"there is no room #{name}") from None


def room_get_open(*, name: str | None, create_default: bool = True) -> Room:
    """The room, if people may join it: not unknown, not archived."""
    room = room_get(name=name, create_default=create_default)
    if room.archived:
        raise RoomArchived(f"#{room.name} is archived")
    return room


def room_create(*, name: str, title: str, description: str, created_by: str) -> Room:
    name = room_check(name)
    title, description = title.strip() or name, description.strip()
    if len(title) > MAX_TITLE:
        raise InvalidRequest(f"titles are at most {MAX_TITLE} characters")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidRequest(f"descriptions are at most {MAX_DESCRIPTION} characters")
    room = Room(
        name, title=title, description=description, created_by=created_by, created_at=utcnow()
    )
    try:
        room.save(condition=Room.name.does_not_exist())  # never overwrite someone's room
    except PutError as error:
        if _condition_failed(error):
            raise RoomExists(f"#{name} already exists") from None
        raise
    return room


def room_list(*, include_archived: bool = False) -> list[Room]:
    rooms = {room.name: room for room in Room.scan()}
    if DEFAULT_ROOM not in rooms:
        rooms[DEFAULT_ROOM] = _default_room()
    return sorted(
        (room for room in rooms.values() if include_archived or not room.archived),
        key=lambda room: room.name,
    )


def room_presence(*, room: str, without: Collection[str] = ()) -> list[dict[str, str]]:
    """The distinct users with a live connection in the room, by username.

    A user with several tabs appears once; expired connections (a lost $disconnect) are not
    counted, fan-out deletes unreachable ones (410), and `without` leaves out connections just
    found gone that are not deleted yet, so ghosts do not linger.
    """
    users: dict[str, str] = {}
    now = utcnow()
    for connection in Connection.room_index.query(
        room, filter_condition=Connection.expires_at > now
    ):
        if connection.connection_id not in without:
            users[connection.user_id] = connection.username
    return [
        {"id": uid, "username": name} for uid, name in sorted(users.items(), key=lambda u: u[1])
    ]


def room_online_counts(*, names: list[str]) -> dict[str, int]:
    return {name: len(room_presence(room=name)) for name in names}
