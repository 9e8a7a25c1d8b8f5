"""Unread counts and mentions of every room a user reads: private rooms, conversations and the
public rooms they joined, derived rather than counted per reader.

A room counts its messages (`Room.posted`, ADDed by the same UpdateItem that takes a new
message's change number, so counting costs no write of its own) and each message stores its
ordinal (`Message.n`). A reader's item (their membership, or their join of a public room)
keeps the ordinal they have read up to (`read_n`), so

    unread = min(posted - read_n, MAX_COUNTED)

is computed when counts are read: a message costs O(1) writes however many read the room. A
mention costs one write per person named (`mentions`, ADD 1, on their item); an `@here`
costs one (`Room.here_n`, the ordinal of the room's last one), and counts as a mention for
every reader whose `read_n` is below it.

Items from before ordinals have no `read_n`: their old `unread` counter (frozen, as the
messages it counted have no ordinal) is added to what the room has posted since, until their
next read replaces both with a position.

Live: a room of at most LIVE_UNREAD_MEMBERS readers tells those connected in other rooms (or
the rooms list) at once (`unread` frames, one Query of the by-user index each); a mentioned
reader is told however large the room. Readers of larger rooms hear nothing live: their page
reads `/api/unread/` again on reconnect, when shown again, and periodically. An execution
environment that found a room too large to tell remembers it for LARGE_FOR seconds and skips
the readers' Query meanwhile (in `make bench`, 4 % of the stack's CPU went to reading and
decoding the 51 items that only said "too many"): a room that shrinks below the limit is told
live again after at most that long.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pynamodb.exceptions import UpdateError

from lambdas.management import ManagementApi
from lambdas.models import Connection, Member, Message, Room, condition_failed, utcnow
from lambdas.protocol import unread_frame
from lambdas.services.broadcast import broadcast_shard

logger = logging.getLogger(__name__)

MAX_COUNTED = 100  # "99+": counting further is reading for nothing
LIVE_UNREAD_MEMBERS = 50  # rooms up to this many readers tell them in other rooms at once
LARGE_FOR = 60.0  # seconds an environment remembers that a room has more readers than that
LARGE_KEPT = 10_000  # rooms remembered at most; forgotten all at once past it
_large: dict[str, float] = {}  # room -> time.monotonic() until which it counts as too large

PUBLIC, PRIVATE, DIRECT = "public", "private", "direct"
# What counting and labelling read of a room (the rest of the item is not needed).
READ_ATTRIBUTES = ["name", "posted", "here_n", "private", "direct", "people"]


def room_kind(room: Room) -> str:
    """What the sidebar calls a room: "public", "private" or "direct"."""
    if room.direct:
        return DIRECT
    return PRIVATE if room.private else PUBLIC


def room_label(room: Room, username: str) -> str:
    """ "#name", or a conversation's other people ("alice, bob")."""
    return ", ".join(room.others(username)) if room.direct else f"#{room.name}"


@dataclass(frozen=True)
class Counts:
    unread: int
    mentions: int


def counts_of(*, member: Member, room: Room) -> Counts:
    """A reader's counts in a room, from their item and the room's (nothing else is read)."""
    posted = int(room.posted or 0)
    read_n = member.read_n
    legacy = 0 if read_n is not None else int(member.unread or 0)
    unread = min(legacy + max(posted - int(read_n or 0), 0), MAX_COUNTED)
    mentions = int(member.mentions or 0)
    if room.here_n is not None and int(room.here_n) > int(read_n or 0):
        mentions += 1  # the room's last @here, not read yet
    return Counts(unread=unread, mentions=min(mentions, unread) if unread else 0)


def unread_note(
    *,
    api: ManagementApi,
    room: Room,
    message: Message,
    mentioned: dict[str, Member] | None = None,
    here: bool = False,
) -> None:
    """Record what a stored message means for the room's readers, in O(1) writes: the sender
    has read it (one conditional update); each mentioned reader's `mentions` (one update
    each); an `@here` (one update of the room). Then tell readers connected elsewhere, as the
    module says: all of them in a small room (or for an allowed `@here`), the mentioned ones
    in any room. Muted readers' frames say so: their pages show the count and never notify."""
    n = int(message.n)
    room.posted = max(int(room.posted or 0), n)
    _read_to(room=room.name, user_id=message.user_id, n=n, message_id=message.message_id)
    named: dict[str, Member] = {}
    for user_id, member in (mentioned or {}).items():
        if user_id == message.user_id:
            continue
        counted = _mention(member=member, n=n)
        if counted is not None:
            named[user_id] = counted
    if here:
        _here(room=room, n=n)
    # Who hears at once: a small room's readers (as their items say now), the named ones.
    recipients: dict[str, Member] = {}
    limit = None if here else LIVE_UNREAD_MEMBERS
    readers = _readers_live(room=room, limit=limit)
    if readers is not None:
        recipients.update({m.user_id: m for m in readers})
    recipients.update(named)
    recipients.pop(message.user_id, None)
    for user_id, member in recipients.items():
        counts = counts_of(member=member, room=room)
        mention = message if user_id in named or here else None
        frame = unread_frame(
            room=room.name,
            unread=counts.unread,
            mentions=counts.mentions,
            mention=mention,
            kind=room_kind(room),
            label=room_label(room, member.username),
            muted=bool(member.muted),
        )
        user_tell(api=api, user_id=user_id, frame=frame, outside=room.name)


def _readers_live(*, room: Room, limit: int | None) -> list[Member] | None:
    """The room's readers if at most `limit` (all, for an @here: its cap was checked), else
    None; a private room's public joins (from before it was private) are left out."""
    if limit is not None and _large.get(room.name, 0.0) > time.monotonic():
        return None
    query_limit = None if limit is None else limit + 1
    readers = list(Member.query(room.name, limit=query_limit))
    if limit is not None and len(readers) > limit:
        if len(_large) >= LARGE_KEPT:
            _large.clear()
        _large[room.name] = time.monotonic() + LARGE_FOR
        return None
    if room.private:
        readers = [m for m in readers if not m.joined]
    return readers


def _mention(*, member: Member, n: int) -> Member | None:
    """Count a mention on the reader's item (None if they left meanwhile); the item as now."""
    try:
        member.update(
            actions=[Member.mentions.add(1), Member.mention_n.set(n)],
            condition=Member.user_id.exists(),
        )
    except UpdateError as error:
        if not condition_failed(error):
            raise
        return None
    return member


def _here(*, room: Room, n: int) -> None:
    try:
        Room(room.name).update(
            actions=[Room.here_n.set(n)],
            condition=Room.name.exists() & (Room.here_n.does_not_exist() | (Room.here_n < n)),
        )
    except UpdateError as error:
        if not condition_failed(error):
            raise
    room.here_n = max(int(room.here_n or 0), n)


def unread_read(
    *, api: ManagementApi, room: str, user_id: str, message_id: str, outside: str | None = None
) -> Member | None:
    """Move the user's read position in the room forward to `message_id` (its ordinal: one
    GetItem of the message, one conditional UpdateItem, never back): mentions up to it are
    seen. Every one of the user's connections is told (those in room `outside` excepted), so
    each tab's badge agrees. None if
    the user has no item in the room (not joined) or the position would move back.

    A message from before ordinals reads as ordinal 0: reading it clears the old count."""
    try:
        found = Message.get(room, message_id, attributes_to_get=["message_id", "n"])
        n = int(found.n or 0)
    except Message.DoesNotExist:
        return None
    member = _read_to(room=room, user_id=user_id, n=n, message_id=message_id)
    if member is not None:
        try:
            item = Room.get(room, attributes_to_get=READ_ATTRIBUTES)
        except Room.DoesNotExist:
            return member
        counts = counts_of(member=member, room=item)
        frame = unread_frame(
            room=room,
            unread=counts.unread,
            mentions=counts.mentions,
            kind=room_kind(item),
            label=room_label(item, member.username),
            muted=bool(member.muted),
        )
        user_tell(api=api, user_id=user_id, frame=frame, outside=outside)
    return member


def _read_to(*, room: str, user_id: str, n: int, message_id: str) -> Member | None:
    """Set the read position to ordinal `n` if it moves forward. Mentions are cleared unless
    one came after `n` (a mention written between the reader's view and this write): then the
    position moves and the mentions stay counted, at worst a few too many until the next read.
    """
    member = Member(room, user_id)
    forward = Member.read_n.does_not_exist() | (Member.read_n < n)
    position = [Member.read_n.set(n), Member.last_read.set(message_id), Member.unread.remove()]
    seen = Member.mention_n.does_not_exist() | (Member.mention_n <= n)
    for actions, condition in (
        ([*position, Member.mentions.remove()], forward & seen),
        (position, forward),
    ):
        try:
            member.update(actions=actions, condition=Member.user_id.exists() & condition)
            return member
        except UpdateError as error:
            if not condition_failed(error):
                raise
    return None


def user_tell(*, api: ManagementApi, user_id: str, frame: dict, outside: str | None) -> None:
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
