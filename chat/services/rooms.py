"""Creating rooms, and the rule for a room's title and description (creating or editing)."""

from __future__ import annotations

from pynamodb.exceptions import PutError

from chat.services.members import member_add
from lambdas.errors import InvalidRequest, InvalidRoom, RoomExists
from lambdas.models import OPEN, PRIVATE, Room, condition_failed, utcnow
from lambdas.services.rooms import DIRECT_PREFIX, room_check

MAX_TITLE = 100
MAX_DESCRIPTION = 500


def room_text_check(*, name: str, title: str, description: str) -> tuple[str, str]:
    """A room's title (its name if left empty) and description, stripped; InvalidRequest if
    either is too long."""
    title, description = title.strip() or name, description.strip()
    if len(title) > MAX_TITLE:
        raise InvalidRequest(f"titles are at most {MAX_TITLE} characters")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidRequest(f"descriptions are at most {MAX_DESCRIPTION} characters")
    return title, description


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
    title, description = room_text_check(name=name, title=title, description=description)
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
