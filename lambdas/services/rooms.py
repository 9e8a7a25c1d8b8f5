"""Rooms as the functions need them: names, the default room, opening one, who is online.

Creating rooms and listing them are the site's (chat/services/rooms.py, chat/selectors/rooms.py)."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import PutError, UpdateError

from lambdas.errors import InvalidRoom, RoomArchived, RoomNotFound
from lambdas.models import ARCHIVED, OPEN, Connection, Room, condition_failed, utcnow

ROOM_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DEFAULT_ROOM = "general"
DIRECT_PREFIX = "dm-"  # direct conversations' names (chat/services/direct.py)


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
        if not condition_failed(error):
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


@dataclass(frozen=True)
class Presence:
    room: str
    users: list[tuple[str, str]]  # (user id, username), by username
    until: datetime | None  # the last expiry of their connections (None: nobody)


def room_presence(*, room: str, without: Collection[str] = ()) -> Presence:
    """The distinct users with a live connection in the room, by username.

    A user with several tabs appears once; expired connections (a lost $disconnect) are not
    counted, fan-out deletes unreachable ones (410), and `without` leaves out connections just
    found gone that are not deleted yet, so ghosts do not linger.
    """
    users: dict[str, str] = {}
    until: datetime | None = None
    now = utcnow()
    for connection in Connection.room_index.query(
        room, filter_condition=Connection.expires_at > now
    ):
        if connection.connection_id not in without:
            users[connection.user_id] = connection.username
            until = max(until or connection.expires_at, connection.expires_at)
    listed = sorted(users.items(), key=lambda user: user[1])
    return Presence(room=room, users=listed, until=until)


def room_online_record(*, room: str, presence: Presence, read_at: float) -> None:
    """Store how many are online in the room (for the rooms list), as of `read_at` (epoch
    seconds, when the list was read): a write from an older reading never replaces a newer
    one, and a room deleted meanwhile is not written back."""
    at = int(read_at * 1000)
    try:
        Room(room).update(
            actions=[
                Room.online.set(len(presence.users)),
                Room.online_until.set(presence.until)
                if presence.until
                else Room.online_until.remove(),
                Room.online_at.set(at),
            ],
            condition=Room.name.exists()
            & (Room.online_at.does_not_exist() | (Room.online_at < at)),
        )
    except UpdateError as error:
        if not condition_failed(error):
            raise


def rooms_backfill() -> int:
    """Bring rooms stored before the by-status index into it (`status` from the old boolean,
    which is then removed) and make sure `general` exists; how many rooms were changed.

    A Scan, once per deploy: only rooms still lacking `status` or keeping the boolean are
    returned, and each write is conditional, so a room archived meanwhile keeps its status.
    """
    changed = 0
    legacy = Room.status.does_not_exist() | Room.legacy_archived.exists()
    # Rooms only: every room has a title; the fence's active-Region marker (models.ActiveRegion)
    # shares the table, without a status, and must never become an open room.
    legacy &= Room.title.exists()
    for room in Room.scan(filter_condition=legacy):
        status = ARCHIVED if room.legacy_archived else OPEN
        for actions, condition in (
            (
                [Room.status.set(status), Room.legacy_archived.remove()],
                Room.status.does_not_exist(),
            ),
            ([Room.legacy_archived.remove()], Room.status.exists()),  # has a status already
        ):
            try:
                room.update(actions=actions, condition=Room.name.exists() & condition)
            except UpdateError as error:
                if not condition_failed(error):
                    raise
            else:
                changed += 1
                break
    room_get(name=DEFAULT_ROOM)
    return changed
