"""Who is in a room, as the site lists them: a private room's members, a room's readers' names
(the @-completer)."""

from __future__ import annotations

import itertools

from lambdas.models import Member, Room

MAX_MEMBERS = 1000  # a private room is a team's, not a town's: its member list is one read


def member_list(*, room: str) -> list[Member]:
    """A private room's members, by username (joins from when it was public left out)."""
    query = Member.query(room, filter_condition=Member.kind.does_not_exist())
    members = list(itertools.islice(query, MAX_MEMBERS))
    return sorted(members, key=lambda member: member.username)


MAX_NAMES = 500  # usernames a page's @-completer gets


def reader_names(*, room: Room, limit: int = MAX_NAMES) -> list[str]:
    """The first `limit` usernames of the room's readers, in name order (keys only)."""
    names = [m.username for m in Member.name_index.query(room.name, limit=limit)]
    if room.private:  # names of joins from when it was public: one GetItem would not tell
        return [m.username for m in member_list(room=room.name)][:limit]
    return names


def member_rooms(*, user_id: str) -> list[str]:
    """The names of the private rooms a user is a member of, in name order."""
    return [room for room, m in member_positions(user_id=user_id).items() if not m.joined]


def member_positions(*, user_id: str) -> dict[str, Member]:
    """A user's memberships and joins by room, in room order, with their read positions (the
    by-user index projects whole items): one Query for every badge of a list."""
    return {member.room: member for member in Member.user_index.query(user_id)}
