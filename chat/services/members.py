"""Managing who may use a private room (add, remove) and a reader's own public rooms (leave,
mute). lambdas/services/members.py holds what the functions check and write on every route."""

from __future__ import annotations

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chat.selectors.members import MAX_MEMBERS
from lambdas.errors import AlreadyAMember, InvalidRequest, NotAMember, NotJoined
from lambdas.management import ConnectionGone, ManagementApi
from lambdas.models import JOINED, Connection, Member, Room, condition_failed, utcnow


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
