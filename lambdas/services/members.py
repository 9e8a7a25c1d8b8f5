"""Members of private rooms and readers of public rooms, as the functions need them: checking a
membership, joining a public room, finding and counting readers. Adding, removing, leaving,
muting and listing are the site's (chat/services/members.py, chat/selectors/members.py).

A public room has no members (everyone may join); a private one has an item per member in
the `members` table, read by room (its members) or by user (their rooms), never scanned.
Staff may see and manage every room without being a member. A user who opens a public room
joins it: an item of kind JOINED in the same table, holding their read position, which
grants nothing: a room made private keeps only its members (member_check, member_list and
member_rooms ignore joins).
"""

from __future__ import annotations

from pynamodb.exceptions import PutError

from lambdas.errors import NotAMember
from lambdas.models import JOINED, Member, Room, condition_failed, utcnow
from lambdas.tokens import User


def member_check(*, room: str, user: User) -> None:
    """NotAMember unless the user may use the private room (a member, or staff)."""
    if user.is_staff:
        return
    try:
        member = Member.get(room, user.user_id, attributes_to_get=["room", "user_id", "kind"])
    except Member.DoesNotExist:
        member = None
    if member is None or member.joined:  # a join of the room when it was public: nothing
        raise NotAMember(f"#{room} is private: only its members may join it")


def reader_join(*, room: Room, user_id: str, username: str) -> bool:
    """Record that the user reads a public room, unless they do (one conditional PutItem: a
    write unit whether or not it stores, three with the two indexes when it does). They
    start having read everything posted so far. Whether it was stored."""
    if room.private:
        return False  # a private room's readers are its members
    member = Member(
        room.name,
        user_id,
        username=username,
        added_by=username,
        added_at=utcnow(),
        kind=JOINED,
        read_n=int(room.posted or 0),
    )
    try:
        member.save(condition=Member.user_id.does_not_exist())
    except PutError as error:
        if condition_failed(error):
            return False
        raise
    return True


def readers_named(*, room: Room, usernames: list[str]) -> dict[str, Member]:
    """The room's readers among `usernames`, by user id: one Query of one key of the by-name
    index each (however large the room), then one BatchGetItem of their items. A private
    room's public joins are not readers."""
    keys = []
    for username in usernames:
        keys.extend(
            (m.room, m.user_id)
            for m in Member.name_index.query(room.name, Member.username == username, limit=1)
        )
    found = {m.user_id: m for m in Member.batch_get(keys)} if keys else {}
    if room.private:
        found = {user_id: m for user_id, m in found.items() if not m.joined}
    return found


def reader_count(*, room: str, limit: int) -> int:
    """How many read the room, counted up to `limit` (keys only, through by-name)."""
    return Member.name_index.count(room, limit=limit)
