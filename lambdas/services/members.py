"""Actions and selectors on the members of private rooms (add, remove, check, list both ways)
and on the readers of public rooms (join, leave, mute, find by name).

A public room has no members (everyone may join); a private one has an item per member in
the `members` table, read by room (its members) or by user (their rooms), never scanned.
Staff may see and manage every room without being a member. A user who opens a public room
joins it: an item of kind JOINED in the same table, holding their read position, which
grants nothing: a room made private keeps only its members (member_check, member_list and
member_rooms ignore joins).
"""

from __future__ import annotations

import itertools

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from lambdas.errors import AlreadyAMember, InvalidRequest, NotAMember, NotJoined
from lambdas.management import ConnectionGone, ManagementApi
from lambdas.models import JOINED, Connection, Member, Room, condition_failed, utcnow
from lambdas.tokens import User

MAX_MEMBERS = 1000  # a private room is a team's, not a town's: its member list is one read


def member_add(*, room: Room, user_id: str, username: str, added_by: str) -> Member:
    """Make a user a member of a private room (AlreadyAMember if they are)."""
    if not room.private:
        raise InvalidRequest(f"#{room.name} is public: everyone may join it")
    if room.direct:
        raise InvalidRequest("a conversation's people are fixed: start another one")
    # Joins from when the room was public are not members (member_list leaves them out too).
    members = Member.count(
        room.name, filter_condition=Member.kind.does_not_exist(), limit=MAX_MEMBERS
    )
    if members >= MAX_MEMBERS:
        raise InvalidRequest(f"a private room has at most {MAX_MEMBERS} members")
    return member_put(room=room.name, user_id=user_id, username=username, added_by=added_by)


def member_put(*, room: str, user_id: str, username: str, added_by: str) -> Member:
    """Store a membership unless it exists (AlreadyAMember), without member_add's checks."""
    member = Member(room, user_id, username=username, added_by=added_by, added_at=utcnow())
    try:
        # A join from when the room was public is replaced (its read position with it).
        member.save(condition=Member.user_id.does_not_exist() | (Member.kind == JOINED))
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
        Member(room.name, user_id).delete(
            condition=Member.user_id.exists() & Member.kind.does_not_exist()
        )
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
        member = Member.get(room, user.user_id, attributes_to_get=["room", "user_id", "kind"])
    except Member.DoesNotExist:
        member = None
    if member is None or member.joined:  # a join of the room when it was public: nothing
        raise NotAMember(f"#{room} is private: only its members may join it")


def member_list(*, room: str) -> list[Member]:
    """A private room's members, by username (joins from when it was public left out)."""
    query = Member.query(room, filter_condition=Member.kind.does_not_exist())
    members = list(itertools.islice(query, MAX_MEMBERS))
    return sorted(members, key=lambda member: member.username)


def member_rooms(*, user_id: str) -> list[str]:
    """The names of the private rooms a user is a member of, in name order."""
    return [room for room, m in member_positions(user_id=user_id).items() if not m.joined]


def member_positions(*, user_id: str) -> dict[str, Member]:
    """A user's memberships and joins by room, in room order, with their read positions (the
    by-user index projects whole items): one Query for every badge of a list."""
    return {member.room: member for member in Member.user_index.query(user_id)}


MAX_NAMES = 500  # usernames a page's @-completer gets


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


def reader_leave(*, room: Room, user_id: str) -> None:
    """Stop reading a public room (its join deleted: it leaves their sidebar until they open
    it again); NotJoined for a member of a private room (they leave through the members
    page) or someone who has not joined."""
    if room.private:
        raise NotJoined(f"#{room.name} is private: leave it from its members page")
    try:
        Member(room.name, user_id).delete(condition=Member.kind == JOINED)
    except DeleteError as error:
        if condition_failed(error):
            raise NotJoined(f"you have not joined #{room.name}") from None
        raise


def reader_mute(*, room: Room, user_id: str, muted: bool) -> Member:
    """Mute a room the user reads, or unmute it: counted and shown, never notified (but for
    mentions). NotJoined if they have no item in it (a public room's join counts only while
    it is public)."""
    member = Member(room.name, user_id)
    condition = Member.user_id.exists()
    if room.private:
        condition &= Member.kind.does_not_exist()
    try:
        member.update(
            actions=[Member.muted.set(True) if muted else Member.muted.remove()],
            condition=condition,
        )
    except UpdateError as error:
        if condition_failed(error):
            raise NotJoined(f"you have not joined #{room.name}") from None
        raise
    return member


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


def reader_names(*, room: Room, limit: int = MAX_NAMES) -> list[str]:
    """The first `limit` usernames of the room's readers, in name order (keys only)."""
    names = [m.username for m in Member.name_index.query(room.name, limit=limit)]
    if room.private:  # names of joins from when it was public: one GetItem would not tell
        return [m.username for m in member_list(room=room.name)][:limit]
    return names
