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
