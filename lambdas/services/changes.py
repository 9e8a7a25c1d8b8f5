"""Change numbers: every change in a room (a message stored, edited, reacted to or deleted)
takes the room's next number (a reply's number also numbers its parent's new thread summary:
one change, two items), so a client that holds everything up to n and then sees n+2 knows
it missed n+1, and asks what changed since n (`changes_since`, one Query on the `by-rev` index).

Without transactions a number is taken first (an atomic ADD on the room item) and written with
the change second, conditionally on the message's number being older: a change that then loses
a race, fails or dies leaves its number unused. History calls an unused number "empty" once it
cannot be written any more — taken longer ago than CHANGE_SETTLE_SECONDS, more than a
function's timeout — so a client never waits forever for a hole; until then it is "pending".

Across Regions (docs/multi-region.md: active-passive over MREC global tables) the room's item
names the Region that took its last number (`seq_region`). The first number a Region takes
after another Region's jumps TAKEOVER_JUMP past the last one it can see: the other Region may
have taken numbers its replica never received, and a number must never be given twice.
The numbers jumped over are a gap like any other: empty once settled. Only the stage's active
Region takes numbers at all (the fence, lambdas/services/fence.py); in the seconds both may
(replication lag + FENCE_TTL_SECONDS), the jump also starts above the highest number this
Region's own table holds for the room, because last-writer-wins can bring the room's item back
to a lower number the other Region wrote later.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from pynamodb.exceptions import UpdateError

from lambdas.config import get_config
from lambdas.errors import RoomNotFound
from lambdas.models import Message, Room, condition_failed
from lambdas.services.fence import fence_check

logger = logging.getLogger(__name__)

MAX_CHANGES = 100  # changes in one answer: a client further behind asks again (`has_more`)
# How far a Region taking over a room jumps past the last number it sees: more than the old
# Region can have taken and not replicated (MREC lag, typically under a second, times a room's
# change rate; 10^6 is 1,000 changes a second for over 16 minutes). Small enough for a page,
# which notes the numbers of an `empty` range one by one (static/chat/changes.js): ~10 ms.
TAKEOVER_JUMP = 1_000_000
TAKEOVER_ATTEMPTS = 5


@dataclass(frozen=True)
class Stored:
    """What files take in a room (Room.file_bytes, Room.file_count): their bytes and number."""

    bytes: int = 0
    files: int = 0

    @classmethod
    def of(cls, files) -> Stored:
        """The files a message carries (its UploadFile list, or None)."""
        files = files or ()
        return cls(sum(int(file.size) for file in files), len(files))

    def __neg__(self) -> Stored:
        return Stored(-self.bytes, -self.files)

    def __bool__(self) -> bool:
        return bool(self.files)


NO_FILES = Stored()


@dataclass(frozen=True)
class Change:
    rev: int
    at: int  # epoch ms when the number was taken
    n: int | None = None  # a new message's ordinal (Room.posted)
    room: Room | None = None  # the room's item as the update left it (ALL_NEW)


def change_number(*, room: str, message: bool = False, stored: Stored = NO_FILES) -> Change:
    """The room's next change number (never recreating a deleted room: RoomNotFound); for a
    new `message`, also its ordinal, ADDed to `posted` by the same UpdateItem: unread counts
    (lambdas/services/unread.py) cost no write of their own. So are the files a change adds
    to the room's storage (`stored`; negative: removes), which then costs no request either:
    a caller whose change is then not written takes them back (room_storage_add).
    One UpdateItem while the room's last number was taken in this Region (or before Regions
    were recorded); after another Region's, a read and the jump (_take_over). In a Region that
    is not the stage's active one: RegionMoved, nothing taken (the fence; no request on a warm
    container but one GetItem per FENCE_TTL_SECONDS)."""
    fence_check()
    at = int(time.time() * 1000)
    here = get_config().region
    item = Room(room)
    counted = []
    if message:
        counted.append(Room.posted.add(1))
    if stored:
        counted += [Room.file_bytes.add(stored.bytes), Room.file_count.add(stored.files)]
    mine = Room.seq_region.does_not_exist() | (Room.seq_region == here)
    for _ in range(TAKEOVER_ATTEMPTS):
        try:
            item.update(
                actions=[Room.seq.add(1), Room.seq_at.set(at), Room.seq_region.set(here), *counted],
                condition=Room.name.exists() & mine,
            )
            break
        except UpdateError as error:
            if not condition_failed(error):
                raise
        if _take_over(item=item, here=here, at=at, counted=counted):
            break
    else:  # every attempt lost a race with another writer of the room's number
        raise RuntimeError(f"room #{room}: no change number after {TAKEOVER_ATTEMPTS} attempts")
    n = int(item.posted) if message else None
    return Change(rev=int(item.seq), at=at, n=n, room=item)


def _take_over(*, item: Room, here: str, at: int, counted: list) -> bool:
    """Take the room's number in this Region after another Region's: TAKEOVER_JUMP past the
    last one this replica holds, conditionally on that Region's number being still the last
    (False: something changed meanwhile, try again). RoomNotFound if there is no room.

    The last one held is the room's `seq` or the highest number on the room's messages here,
    whichever is higher: if both Regions wrote the room (split brain, before the fence closes),
    last-writer-wins may have replaced this Region's item, numbered far above by an earlier
    takeover, with the other Region's later one, numbered below it; jumping from that `seq`
    alone would give this Region's numbers again. (The by-rev index lags its table by a
    fraction of a second: a number taken here just before may be missed, but the jump from any
    number this Region's earlier takeover gave passes all it can have given since.)"""
    try:
        # With its key: an item none of whose asked attributes exist reads as no item at all.
        seen = Room.get(
            item.name, consistent_read=True, attributes_to_get=["name", "seq", "seq_region"]
        )
    except Room.DoesNotExist:
        raise RoomNotFound(f"there is no room #{item.name}") from None
    if seen.seq_region is None or seen.seq_region == here:
        return False  # taken over here meanwhile: the plain ADD holds again
    last = max(int(seen.seq or 0), _highest_rev(room=item.name))
    try:
        item.update(
            actions=[
                Room.seq.set(last + TAKEOVER_JUMP),
                Room.seq_at.set(at),
                Room.seq_region.set(here),
                *counted,
            ],
            condition=(Room.seq_region == seen.seq_region)
            & (Room.seq == seen.seq if seen.seq is not None else Room.seq.does_not_exist()),
        )
    except UpdateError as error:
        if condition_failed(error):
            return False
        raise
    logger.warning(
        "change numbers taken over",
        extra={"room": item.name, "from_region": seen.seq_region, "last": last, "rev": item.seq},
    )
    return True


def _highest_rev(*, room: str) -> int:
    """The highest change number on the room's messages in this Region's table (0: none): one
    Query of the by-rev index, newest first, one key (0.5 RRU), on a takeover only."""
    for message in Message.change_index.query(
        room, scan_index_forward=False, limit=1, attributes_to_get=["rev"]
    ):
        return int(message.rev)
    return 0


def room_storage_add(*, room: str, stored: Stored) -> None:
    """Add files to the room's storage (negative: take them off) outside a change number: only
    to give back what a change number counted for a change that was then not written (a rare
    race: one UpdateItem). Best effort: a failure is logged, the count stays off by it."""
    if not stored:
        return
    try:
        Room(room).update(
            actions=[Room.file_bytes.add(stored.bytes), Room.file_count.add(stored.files)],
            condition=Room.name.exists(),
        )
    except UpdateError:
        logger.exception("room storage not corrected", extra={"room": room})


def numbered(change: Change):
    """The actions and the condition that write a change's number on a message: only over an
    older one, so a message's `rev` never goes back (a slower writer loses and tries again)."""
    actions = [Message.rev.set(change.rev), Message.rev_at.set(change.at)]
    condition = Message.rev.does_not_exist() | (Message.rev < change.rev)
    return actions, condition


@dataclass
class Changes:
    """What changed after `since`, up to `to` (inclusive): each message changed in that span
    once, in its state now, by `rev`; the numbers with nothing stored for good in `empty`
    (ranges `[first, last]`); any other number up to `to` is pending: ask again later."""

    room: str
    since: int
    to: int
    latest: int  # the room's last number taken
    messages: list[Message] = field(default_factory=list)
    empty: list[tuple[int, int]] = field(default_factory=list)
    has_more: bool = False


def room_latest(*, room: str) -> tuple[int, int]:
    """The room's last change number and when it was taken (0, 0 before any)."""
    try:
        # With its key: an item none of whose asked attributes exist reads as no item at all.
        found = Room.get(room, consistent_read=True, attributes_to_get=["name", "seq", "seq_at"])
    except Room.DoesNotExist:
        raise RoomNotFound(f"there is no room #{room}") from None
    return int(found.seq or 0), int(found.seq_at or 0)


def changes_since(*, room: str, since: int, limit: int = MAX_CHANGES) -> Changes:
    """The messages changed after number `since`, and which numbers between are empty."""
    latest, latest_at = room_latest(room=room)  # read first: anything it counts is below
    found = list(Message.change_index.query(room, Message.rev > since, limit=limit + 1))
    has_more = len(found) > limit
    if has_more:
        # A reply and its parent's summary share one number (lambdas/services/threads.py): a
        # page never ends between the items of one number, or the next `since` would skip one.
        cut = int(found[limit].rev)
        kept = [m for m in found[:limit] if int(m.rev) < cut]
        found = kept or found[:limit]
    else:
        found = found[:limit]
    to = int(found[-1].rev) if has_more else max([latest, *(int(m.rev) for m in found)])
    answer = Changes(room=room, since=since, to=to, latest=latest, messages=found)
    answer.has_more = has_more
    answer.empty = _empty(since=since, to=to, found=found, latest_at=latest_at)
    return answer


def _settled_before() -> int:
    """Numbers taken before this moment (epoch ms) can no longer be written."""
    return int(time.time() * 1000) - get_config().change_settle_seconds * 1000


def _empty(*, since: int, to: int, found: list[Message], latest_at: int) -> list[tuple[int, int]]:
    """The unused numbers in (since, to] that can no longer be written. Each gap's numbers
    were taken before the number just above it (numbers are taken in order), so they are
    settled once that one was taken more than CHANGE_SETTLE_SECONDS ago."""
    settled_before = _settled_before()
    empty = []
    below = since
    numbers = [(int(m.rev), int(m.rev_at or 0)) for m in found]
    for above, taken_at in [*numbers, (to + 1, latest_at)]:
        if above - below > 1 and taken_at < settled_before:
            empty.append((below + 1, above - 1))
        below = above
    return empty


def settled_position(*, room: str) -> int:
    """The highest number up to which nothing is pending: where a client that has just read
    the room's newest page stands (all it holds is current, and nothing older can still be
    written). Only numbers taken in the last CHANGE_SETTLE_SECONDS can be pending, so a quiet
    room answers from its item alone; an active one also reads its newest changes' numbers
    (the newest MAX_CHANGES: a room changing faster than that in the window counts only them).
    """
    latest, latest_at = room_latest(room=room)
    settled_before = _settled_before()
    if latest_at < settled_before:
        return latest
    recent = Message.change_index.query(
        room,
        Message.rev <= latest,
        scan_index_forward=False,
        limit=MAX_CHANGES,
        attributes_to_get=["rev", "rev_at"],
    )
    position, above, above_at, read = latest, latest + 1, latest_at, 0
    for message in recent:
        read += 1
        rev, taken_at = int(message.rev), int(message.rev_at or 0)
        if above - rev > 1 and above_at >= settled_before:
            position = rev  # the numbers between it and `above` may still be written
        if taken_at < settled_before:
            return position  # every number below it was taken even earlier: settled
        above, above_at = rev, taken_at
    if read < MAX_CHANGES:
        # Nothing is stored below `above`, whose number is recent: any below may be pending.
        return 0 if above > 1 else position
    return min(position, above - 1)
