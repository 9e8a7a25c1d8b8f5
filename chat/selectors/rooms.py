"""Rooms as the site lists them: the directory a page at a time, a user's private rooms, all
of them for staff figures."""

from __future__ import annotations

import re
from datetime import datetime

from chat.selectors.members import member_rooms
from lambdas.errors import InvalidRequest, InvalidRoom
from lambdas.models import ARCHIVED, OPEN, PRIVATE, Room, utcnow
from lambdas.services.pages import Page, page_read

ROOM_PREFIX_RE = re.compile(r"^[a-z0-9_-]{0,64}$")
ROOM_PAGE_KEYS = frozenset({"name", "status"})


def room_page(
    *,
    status: str = OPEN,
    prefix: str = "",
    token: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
    storage: bool = False,
) -> Page[Room]:
    """A page of the rooms of one status whose names start with `prefix`, in name order, with
    their online counts (and, for staff, `storage`: their files' bytes and number): one Query
    of the by-status index and one BatchGetItem, however many rooms there are. `token` is the
    previous page's `next_token`."""
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
    _online_counts(page.items, now=now, storage=storage)
    return page


# What the rooms' items add to the index's projection on a page. The storage costs nothing
# more: a BatchGetItem is billed by the items' whole size whatever it asks for.
ONLINE = ("name", "online", "online_until")
STORAGE = ("file_bytes", "file_count")


def _online_counts(rooms: list[Room], *, now: datetime | None, storage: bool = False) -> None:
    """Set each room's `online` to its stored count (and with `storage`, its files' bytes and
    number): one BatchGetItem per 100 rooms."""
    if not rooms:
        return
    now = now or utcnow()
    wanted = [*ONLINE, *(STORAGE if storage else ())]
    found = {
        room.name: room
        for room in Room.batch_get([room.name for room in rooms], attributes_to_get=wanted)
    }
    for room in rooms:
        item = found.get(room.name)
        room.online = item.online_now(now) if item else 0
        if storage:
            room.file_bytes = int(item.file_bytes or 0) if item else 0
            room.file_count = int(item.file_count or 0) if item else 0


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
