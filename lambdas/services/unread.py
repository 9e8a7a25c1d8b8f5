"""Unread counts of the members of private rooms and conversations: each member's read position
(the last message id they have seen) and the number of messages since, kept on their
membership item, so a user's rooms list reads them with the memberships (one Query).

A message sent adds one to every other member's count (conditional updates in parallel, a
write per member, as Zulip keeps a row per recipient) and tells those of them connected in
another room (`unread` frames through the by-user index); reading moves the position forward
and tells the reader's other connections, so a badge clears in every tab.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from pynamodb.exceptions import UpdateError

from lambdas.management import ManagementApi
from lambdas.models import Connection, Member, Message, condition_failed, utcnow
from lambdas.protocol import unread_frame
from lambdas.services.broadcast import broadcast_shard

logger = logging.getLogger(__name__)

MAX_COUNTED = 100  # "99+": counting further is reading for nothing
LIVE_UNREAD_MEMBERS = 50  # rooms up to this size tell members in other rooms at once
WRITERS = 16


def _counted(member: Member) -> tuple[int, int]:
    return int(member.unread or 0), int(member.mentions or 0)


def unread_note(
    *,
    api: ManagementApi,
    room: str,
    members: list[Member],
    message: Message,
    mentioned: frozenset[str] = frozenset(),
) -> None:
    """Count a message stored in a private room for every member but its sender (whose read
    position moves to it), and tell the members connected in other rooms; a mentioned member
    is told however large the room, with the message itself."""
    others = [m for m in members if m.user_id != message.user_id]

    def count(member: Member) -> Member | None:
        actions = [Member.unread.add(1)]
        if member.user_id in mentioned:
            actions.append(Member.mentions.add(1))
        try:
            member.update(actions=actions, condition=Member.user_id.exists())
        except UpdateError as error:
            if not condition_failed(error):
                raise
            return None  # removed meanwhile
        return member

    with ThreadPoolExecutor(max_workers=max(1, min(WRITERS, len(others)))) as pool:
        counted = [m for m in pool.map(count, others) if m is not None]
    _read_to(room=room, user_id=message.user_id, message_id=message.message_id, unread=0)
    live = len(members) <= LIVE_UNREAD_MEMBERS
    for member in counted:
        if live or member.user_id in mentioned:
            unread, mentions = _counted(member)
            frame = unread_frame(
                room=room,
                unread=unread,
                mentions=mentions,
                mention=message if member.user_id in mentioned else None,
            )
            _tell(api=api, user_id=member.user_id, frame=frame, outside=room)


def unread_read(*, api: ManagementApi, room: str, user_id: str, message_id: str) -> Member | None:
    """Move the user's read position in the room forward to `message_id`: what remains unread
    is what came after it (counted up to MAX_COUNTED), and mentions are seen. Every one of the
    user's connections is told, so each tab's badge agrees. None for a public room (no
    membership) or a position that would move back."""
    after = Message.count(room, Message.message_id > message_id, limit=MAX_COUNTED)
    member = _read_to(room=room, user_id=user_id, message_id=message_id, unread=after)
    if member is not None:
        unread, mentions = _counted(member)
        frame = unread_frame(room=room, unread=unread, mentions=mentions)
        _tell(api=api, user_id=user_id, frame=frame, outside=None)
    return member


def _read_to(*, room: str, user_id: str, message_id: str, unread: int) -> Member | None:
    member = Member(room, user_id)
    forward = Member.last_read.does_not_exist() | (Member.last_read < message_id)
    try:
        member.update(
            actions=[
                Member.last_read.set(message_id),
                Member.unread.set(unread),
                Member.mentions.set(0),
            ],
            condition=Member.user_id.exists() & forward,
        )
    except UpdateError as error:
        if not condition_failed(error):
            raise
        return None
    return member


def _tell(*, api: ManagementApi, user_id: str, frame: dict, outside: str | None) -> None:
    """Post to the user's live connections (those in `outside` excepted: they have the
    message itself)."""
    now = utcnow()
    ids = [
        c.connection_id
        for c in Connection.user_index.query(user_id, filter_condition=Connection.expires_at > now)
        if outside is None or c.room != outside  # a lobby connection's room is None too
    ]
    if ids:
        broadcast_shard(api=api, connection_ids=ids, payload=frame)
