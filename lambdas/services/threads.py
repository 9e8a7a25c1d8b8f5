"""Threads: replies to a room's message, kept beside the room, with their followers' counts.

A reply is a Message in its room's partition with `thread` (the parent's id) and, when it is
also shown in the room, `in_room`. It takes the room's next change number like any message, and
its parent's new summary (`reply_count`, `last_reply_at`, the last MAX_REPLIERS distinct
`repliers`, `followers`) is written under the *same* number first: one change, two items, one
frame per reader (`message` with `parent`), and `since` repair returns both. Without
transactions (they write each item twice) the parent's update is conditional on the count it
read and on its number being older; a concurrent reply or reaction that wins makes this one
read again and take a new number (the first stays unused: "empty" once settled).

Followers (the parent's author, each replier, each reader mentioned in a reply; at most
MAX_THREAD_FOLLOWERS, listed on the parent) get an unread count per thread, derived as rooms
derive theirs: a `Follow` item per (user, thread) keeps the reply ordinal read up to, and
unread is the parent's `reply_count` less it. A reply writes the replier's item (their own
reply is read) and one per person it mentions (the parent's author's, once, at the first
reply), then tells every other follower's connections (`thread_unread`: one BatchGetItem of
their items, one Query of the by-user index each, a POST per connection).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from pynamodb.exceptions import UpdateError

from lambdas.errors import MessageNotFound, NotAThread
from lambdas.management import ManagementApi
from lambdas.models import Follow, Member, Message, Replier, condition_failed, utcnow
from lambdas.protocol import thread_unread_frame
from lambdas.services.changes import (
    NO_FILES,
    Change,
    Stored,
    change_number,
    numbered,
    room_storage_add,
)
from lambdas.services.unread import MAX_COUNTED, user_tell
from lambdas.tokens import User

logger = logging.getLogger(__name__)

MAX_REPLIERS = 3  # shown on the parent, newest first
MAX_THREAD_FOLLOWERS = 50  # told live of each reply; more followers keep counts, unannounced
REPLY_ATTEMPTS = 3  # parent updates lost to concurrent changes before giving up
MAX_THREADS_LISTED = 50  # a user's followed threads in one room, in one answer


def follow_key(room: str, thread: str) -> str:
    return f"{room}#{thread}"


def thread_parent_check(*, room: str, parent_id: str) -> Message:
    """The message a reply answers: of this room (a parent in another room is as unknown as a
    missing one: MessageNotFound), not itself a reply (NotAThread), not deleted. A strongly
    consistent read: its summary is the base of the conditional update that follows."""
    try:
        parent = Message.get(room, parent_id, consistent_read=True)
    except Message.DoesNotExist:
        raise MessageNotFound("there is no such message in this room to reply to") from None
    if parent.thread:
        raise NotAThread("that message is a reply: reply in its thread")
    if parent.deleted:
        raise MessageNotFound("that message was deleted")
    return parent


def thread_reply_number(
    *,
    parent: Message,
    replier: User,
    mentioned: dict[str, Member],
    in_room: bool,
    stored: Stored = NO_FILES,
) -> tuple[Change, Message]:
    """Take a reply's change number and write its parent's new summary under it; returns the
    change (with the room ordinal of an `in_room` reply) and the parent as now stored. The
    reply's files (`stored`) join the room's storage with the first number, and leave it
    again if no summary could be written (no reply is stored then)."""
    ordinal, counted = None, NO_FILES
    try:
        for attempt in range(REPLY_ATTEMPTS):
            if attempt:
                parent = thread_parent_check(room=parent.room, parent_id=parent.message_id)
            # An in-room reply is a room message: counted once in `posted`, by the first
            # number; its files too.
            change = change_number(
                room=parent.room,
                message=in_room and attempt == 0,
                stored=stored if attempt == 0 else NO_FILES,
            )
            if attempt == 0:
                ordinal, counted = change.n, stored
            if _summarized(parent, change=change, replier=replier, mentioned=mentioned):
                return replace(change, n=ordinal), parent
        raise MessageNotFound("that thread keeps changing; try again")
    except Exception:
        room_storage_add(room=parent.room, stored=-counted)
        raise


def _summarized(
    parent: Message, *, change: Change, replier: User, mentioned: dict[str, Member]
) -> bool:
    count = int(parent.reply_count or 0)
    repliers = [Replier(user_id=replier.user_id, username=replier.username)]
    repliers += [r for r in parent.repliers or [] if r.user_id != replier.user_id]
    followers = parent.followers.as_dict() if parent.followers else {}
    joining = {parent.user_id: parent.username, replier.user_id: replier.username}
    joining |= {user_id: member.username for user_id, member in mentioned.items()}
    for user_id, username in joining.items():
        if user_id not in followers and len(followers) < MAX_THREAD_FOLLOWERS:
            followers[user_id] = username
    numbering, newer = numbered(change)
    unchanged = Message.reply_count == count if count else Message.reply_count.does_not_exist()
    try:
        parent.update(  # ALL_NEW: `parent` is the item as stored now
            actions=[
                Message.reply_count.add(1),
                Message.last_reply_at.set(utcnow()),
                Message.repliers.set(repliers[:MAX_REPLIERS]),
                # The whole map: its writers are serialized by the count's condition.
                Message.followers.set(followers),
                *numbering,
            ],
            condition=Message.thread.does_not_exist()
            & (Message.deleted == False)  # noqa: E712
            & unchanged
            & newer,
        )
    except UpdateError as error:
        if condition_failed(error):
            return False
        raise
    return True


@dataclass(frozen=True)
class ThreadCounts:
    unread: int
    mentions: int


def _counts(follow: Follow | None, reply_count: int) -> ThreadCounts:
    read = int(follow.read_tn or 0) if follow else 0
    unread = min(max(reply_count - read, 0), MAX_COUNTED)
    mentions = int(follow.mentions or 0) if follow else 0
    return ThreadCounts(unread=unread, mentions=min(mentions, unread) if unread else 0)


def _follow(user_id: str, parent: Message) -> Follow:
    return Follow(user_id, follow_key(parent.room, parent.message_id))


def _joining(parent: Message, username: str):
    """What every write of a Follow item sets: it may be the first."""
    return [
        Follow.room.set(parent.room),
        Follow.thread.set(parent.message_id),
        Follow.username.set(username),
    ]


def thread_reply_note(
    *, api: ManagementApi, parent: Message, reply: Message, mentioned: dict[str, Member]
) -> None:
    """What a stored reply means for its thread's followers (module docstring)."""
    tn = int(reply.tn)
    known: dict[str, Follow] = {}
    # The replier has read up to their own reply.
    mine = _follow(reply.user_id, parent)
    try:
        mine.update(
            actions=[*_joining(parent, reply.username), Follow.read_tn.set(tn)],
            condition=Follow.read_tn.does_not_exist() | (Follow.read_tn < tn),
        )
    except UpdateError as error:
        if not condition_failed(error):
            raise
    if tn == 1 and parent.user_id != reply.user_id:
        author = _follow(parent.user_id, parent)
        author.update(
            actions=[*_joining(parent, parent.username), Follow.read_tn.set(Follow.read_tn | 0)]
        )
        known[parent.user_id] = author
    for user_id, member in mentioned.items():
        if user_id == reply.user_id:
            continue
        named = _follow(user_id, parent)
        named.update(
            actions=[
                *_joining(parent, member.username),
                Follow.read_tn.set(Follow.read_tn | 0),
                Follow.mentions.add(1),
                Follow.mention_tn.set(tn),
            ]
        )
        known[user_id] = named
    followers = set(parent.followers.as_dict() if parent.followers else {})
    followers.discard(reply.user_id)
    unknown = [
        (user_id, follow_key(parent.room, parent.message_id))
        for user_id in sorted(followers - set(known))
    ]
    if unknown:
        known |= {f.user_id: f for f in Follow.batch_get(unknown)}
    count = int(parent.reply_count or 0)
    for user_id in sorted(followers):
        counts = _counts(known.get(user_id), count)
        frame = thread_unread_frame(
            room=parent.room,
            thread=parent.message_id,
            unread=counts.unread,
            mentions=counts.mentions,
            reply=reply,
        )
        user_tell(api=api, user_id=user_id, frame=frame, outside=None)


def thread_read(
    *, api: ManagementApi, room: str, user_id: str, thread: str, message_id: str
) -> Follow | None:
    """Move the user's read position in a thread they follow forward to a reply of it (or, with
    the parent's id, to nothing read: no move); their connections are told. None when nothing
    moved (not a follower, not a reply of that thread, or not forward)."""
    try:
        reply = Message.get(room, message_id, attributes_to_get=["message_id", "thread", "tn"])
    except Message.DoesNotExist:
        return None
    if reply.thread != thread or reply.tn is None:
        return None
    tn = int(reply.tn)
    follow = Follow(user_id, follow_key(room, thread))
    forward = Follow.read_tn.does_not_exist() | (Follow.read_tn < tn)
    seen = Follow.mention_tn.does_not_exist() | (Follow.mention_tn <= tn)
    moved = False
    for actions, condition in (
        ([Follow.read_tn.set(tn), Follow.mentions.remove()], forward & seen),
        ([Follow.read_tn.set(tn)], forward),
    ):
        try:
            follow.update(actions=actions, condition=Follow.user_id.exists() & condition)
            moved = True
            break
        except UpdateError as error:
            if not condition_failed(error):
                raise
    if not moved:
        return None
    try:
        parent = Message.get(room, thread, attributes_to_get=["message_id", "reply_count"])
    except Message.DoesNotExist:
        return follow
    counts = _counts(follow, int(parent.reply_count or 0))
    frame = thread_unread_frame(
        room=room, thread=thread, unread=counts.unread, mentions=counts.mentions
    )
    user_tell(api=api, user_id=user_id, frame=frame, outside=None)
    return follow


def threads_followed(*, room: str, user_id: str) -> list[tuple[Message, int, int]]:
    """The user's followed threads in the room, last reply first, each parent with the
    user's (unread, mentions): one Query of their Follow items, one BatchGetItem of parents."""
    follows = list(
        Follow.query(user_id, Follow.key.startswith(f"{room}#"), limit=MAX_THREADS_LISTED)
    )
    if not follows:
        return []
    parents = {m.message_id: m for m in Message.batch_get([(room, f.thread) for f in follows])}
    listed = []
    for follow in follows:
        parent = parents.get(follow.thread)
        if parent is None:
            continue
        counts = _counts(follow, int(parent.reply_count or 0))
        listed.append((parent, counts.unread, counts.mentions))
    listed.sort(key=lambda t: t[0].last_reply_at or t[0].sent_at, reverse=True)
    return listed


def thread_get(*, room: str, thread: str) -> Message:
    """A thread's parent, to page its replies: of this room (MessageNotFound), not a reply
    (NotAThread). A deleted parent is found: its thread stays readable."""
    try:
        parent = Message.get(room, thread)
    except Message.DoesNotExist:
        raise MessageNotFound("there is no such thread in this room") from None
    if parent.thread:
        raise NotAThread("that message is a reply, not a thread")
    return parent
