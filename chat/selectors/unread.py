"""What the site shows of a user's reading: the sidebar's rooms with their unread counts and
mentions. How counts are kept and derived: lambdas/services/unread.py."""

from __future__ import annotations

from dataclasses import dataclass

from lambdas.models import Member, Room
from lambdas.services.unread import (
    DIRECT,
    PRIVATE,
    PUBLIC,
    Counts,
    counts_of,
    room_kind,
    room_label,
)


def reader_counts(*, member: Member, room: Room) -> Counts:
    """Counts that still mean something: a join of a room made private since counts nothing."""
    if member.joined and room.private:
        return Counts(0, 0)
    return counts_of(member=member, room=room)


def sidebar_counts(
    *, user_id: str, username: str, positions: dict[str, Member] | None = None
) -> list[tuple[Member, Room, Counts]]:
    """Every room the user reads, with counts: one Query of their items (by-user projects
    them whole; none if the caller has `positions`, member_positions' answer) and one
    BatchGetItem of those rooms (per 100). Archived rooms and public joins of rooms made
    private since are left out."""
    if positions is None:
        positions = {m.room: m for m in Member.user_index.query(user_id)}
    members = positions
    if not members:
        return []
    found = []
    for room in Room.batch_get(list(members)):
        member = members[room.name]
        if room.archived or (member.joined and room.private):
            continue
        found.append((member, room, counts_of(member=member, room=room)))
    return found


@dataclass(frozen=True)
class SidebarEntry:
    """One room of a user's sidebar: the room, what to call it, its counts."""

    room: Room
    kind: str
    label: str
    counts: Counts
    muted: bool
    joined: bool  # the user has an item in it (a member, or a reader who joined)


KIND_ORDER = {PUBLIC: 0, PRIVATE: 1, DIRECT: 2}


def sidebar_list(
    *,
    user_id: str,
    username: str,
    current: Room | None = None,
    positions: dict[str, Member] | None = None,
) -> list[SidebarEntry]:
    """The user's rooms for the sidebar: joined public rooms, private rooms, conversations
    (none archived), and `current` (the room being opened) even if not joined yet; public,
    private, then direct, each by name. Costs what sidebar_counts does."""
    entries = {
        room.name: SidebarEntry(
            room=room,
            kind=room_kind(room),
            label=room_label(room, username),
            counts=counts,
            muted=bool(member.muted),
            joined=True,
        )
        for member, room, counts in sidebar_counts(
            user_id=user_id, username=username, positions=positions
        )
    }
    if current is not None and current.name not in entries and not current.archived:
        entries[current.name] = SidebarEntry(
            room=current,
            kind=room_kind(current),
            label=room_label(current, username),
            counts=Counts(0, 0),
            muted=False,
            joined=False,
        )
    return sorted(entries.values(), key=lambda e: (KIND_ORDER[e.kind], e.label, e.room.name))
