"""Actions and selectors on rooms: names, the default room, creating, listing, who is online."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import PutError, UpdateError

from lambdas.errors import InvalidRequest, InvalidRoom, RoomArchived, RoomExists, RoomNotFound
from lambdas.models import ARCHIVED, OPEN, PRIVATE, Connection, Room, condition_failed, utcnow
from lambdas.services.members import member_add, member_rooms
from lambdas.services.pages import Page, page_read

ROOM_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DEFAULT_ROOM = "general"
DIRECT_PREFIX = "dm-"  # direct conversations' names (lambdas/services/direct.py)
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


def room_create(
    *,
    name: str,
    title: str,
    description: str,
    created_by: str,
    private: bool = False,
    creator_id: str | None = None,
) -> Room:
    """A new room; a private one has its creator (`creator_id`) as its first member."""
    name = room_check(name)
    if name.startswith(DIRECT_PREFIX):
        raise InvalidRoom(f"names starting with {DIRECT_PREFIX} are for direct conversations")
    title, description = title.strip() or name, description.strip()
    if len(title) > MAX_TITLE:
        raise InvalidRequest(f"titles are at most {MAX_TITLE} characters")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidRequest(f"descriptions are at most {MAX_DESCRIPTION} characters")
    if private and not creator_id:
        raise InvalidRequest("a private room needs its creator as its first member")
    room = Room(
        name,
        title=title,
        description=description,
        created_by=created_by,
        created_at=utcnow(),
        status=PRIVATE if private else OPEN,
        private=True if private else None,
    )
    try:
        room.save(condition=Room.name.does_not_exist())  # never overwrite someone's room
    except PutError as error:
        if condition_failed(error):
            raise RoomExists(f"#{name} already exists") from None
        raise
    if private:
        # Second, so a taken name never gains a member; should this write fail, the room is
        # only staff's until they add someone.
        member_add(room=room, user_id=creator_id, username=created_by, added_by=created_by)
    return room


ROOM_PREFIX_RE = re.compile(r"^[a-z0-9_-]{0,64}$")
ROOM_PAGE_KEYS = frozenset({"name", "status"})


def room_page(
    *,
    status: str = OPEN,
    prefix: str = "",
    token: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> Page[Room]:
    """A page of the rooms of one status whose names start with `prefix`, in name order, with
    their online counts: one Query of the by-status index and one BatchGetItem, however many
    rooms there are. `token` is the previous page's `next_token`."""
    if status not in (OPEN, PRIVATE, ARCHIVED):
        raise InvalidRequest("rooms are open, private or archived")
    prefix = prefix.strip().lower()
    if not ROOM_PREFIX_RE.fullmatch(prefix):
        raise InvalidRoom("room names have only lowercase letters, digits, '-' and '_'")
    condition = Room.name.startswith(prefix) if prefix else None
    page = page_read(
        lambda start: Room.status_index.query(
            status, condition, limit=limit, last_evaluated_key=start
        ),
        token=token,
        key_names=ROOM_PAGE_KEYS,
    )
    _online_counts(page.items, now=now)
    return page


def _online_counts(rooms: list[Room], *, now: datetime | None) -> None:
    """Set each room's `online` to its stored count: one BatchGetItem per 100 rooms."""
    if not rooms:
        return
    now = now or utcnow()
    counts = {
        room.name: room.online_now(now)
        for room in Room.batch_get(
            [room.name for room in rooms], attributes_to_get=["name", "online", "online_until"]
        )
    }
    for room in rooms:
        room.online = counts.get(room.name, 0)


MAX_PRIVATE_LISTED = 200


def room_list_private(
    *, user_id: str, names: list[str] | None = None, now: datetime | None = None
) -> list[Room]:
    """The private rooms a user is a member of and may open (not archived), in name order,
    with their online counts: their memberships (or `names`, read from them already), then
    the rooms by BatchGetItem."""
    names = (member_rooms(user_id=user_id) if names is None else names)[:MAX_PRIVATE_LISTED]
    rooms = [room for room in Room.batch_get(names) if not room.archived]
    rooms.sort(key=lambda room: room.name)
    now = now or utcnow()
    for room in rooms:  # whole items: their counts came with them
        room.online = room.online_now(now)
    return rooms


def room_list(*, include_archived: bool = False) -> list[Room]:
    """Every room (open, private, then archived), a page at a time through the index: for staff
    figures that need them all, never for a page every visitor loads."""
    rooms: list[Room] = []
    for status in (OPEN, PRIVATE, ARCHIVED) if include_archived else (OPEN, PRIVATE):
        rooms.extend(Room.status_index.query(status))
    return rooms


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
