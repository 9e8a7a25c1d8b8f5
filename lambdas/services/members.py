"""Actions and selectors on the members of private rooms: add, remove, check, list both ways.

A public room has no members (everyone may join); a private one has an item per member in
the `members` table, read by room (its members) or by user (their rooms), never scanned.
Staff may see and manage every room without being a member.
"""

from __future__ import annotations

from pynamodb.exceptions import DeleteError, PutError

from lambdas.errors import AlreadyAMember, InvalidRequest, NotAMember
from lambdas.management import ConnectionGone, ManagementApi
from lambdas.models import Connection, Member, Room, condition_failed, utcnow
from lambdas.tokens import User

MAX_MEMBERS = 1000  # a private room is a team's, not a town's: its member list is one read


def member_add(*, room: Room, user_id: str, username: str, added_by: str) -> Member:
    """Make a user a member of a private room (AlreadyAMember if they are)."""
    if not room.private:
        raise InvalidRequest(f"#{room.name} is public: everyone may join it")
    if room.direct:
        raise InvalidRequest("a conversation's people are fixed: start another one")
    if Member.count(room.name, limit=MAX_MEMBERS) >= MAX_MEMBERS:
        raise InvalidRequest(f"a private room has at most {MAX_MEMBERS} members")
    return member_put(room=room.name, user_id=user_id, username=username, added_by=added_by)


def member_put(*, room: str, user_id: str, username: str, added_by: str) -> Member:
    """Store a membership unless it exists (AlreadyAMember), without member_add's checks."""
    member = Member(room, user_id, username=username, added_by=added_by, added_at=utcnow())
    try:
        member.save(condition=Member.user_id.does_not_exist())
    except PutError as error:
        if condition_failed(error):
            raise AlreadyAMember(f"{username} is already a member of #{room}") from None
        raise
    return member


def member_remove(*, api: ManagementApi | None, room: Room, user_id: str) -> int:
    """End a membership and close the user's sockets in that room at once; how many were
    closed. NotAMember if they were not one. Without an API (a site without its stack) the
    sockets stay open, but every route of theirs checks the membership again and refuses."""
    if room.direct:
        raise InvalidRequest("a conversation's people are fixed: start another one")
    try:
        Member(room.name, user_id).delete(condition=Member.user_id.exists())
    except DeleteError as error:
        if condition_failed(error):
            raise NotAMember("they are not a member of this room") from None
        raise
    if api is None:
        return 0
    closed = 0
    for connection in Connection.user_index.query(user_id):
        if connection.room != room.name:
            continue
        try:
            api.delete(connection.connection_id)
            closed += 1
        except ConnectionGone:
            pass  # gone already, or its $connect is still running: forgotten below either way
        # Forgotten now, not by its $disconnect: a socket whose $connect was running answers
        # 410 and would otherwise stay in the room's fan-out once it opens.
        Connection(connection.connection_id).delete()
    return closed


def member_check(*, room: str, user: User) -> None:
    """NotAMember unless the user may use the private room (a member, or staff)."""
    if user.is_staff:
        return
    try:
        Member.get(room, user.user_id)
    except Member.DoesNotExist:
        raise NotAMember(f"#{room} is private: only its members may join it") from None


def member_list(*, room: str) -> list[Member]:
    """A private room's members, by username."""
    members = list(Member.query(room, limit=MAX_MEMBERS))
    return sorted(members, key=lambda member: member.username)


def member_rooms(*, user_id: str) -> list[str]:
    """The names of the private rooms a user is a member of, in name order."""
    return list(member_positions(user_id=user_id))


def member_positions(*, user_id: str) -> dict[str, Member]:
    """A user's memberships by room, in room order, with their read positions and unread
    counts (the by-user index projects whole items): one Query for every badge of a list."""
    return {member.room: member for member in Member.user_index.query(user_id)}
