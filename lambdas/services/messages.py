"""Actions and selectors on messages: send, edit, delete, typing, and pages of history."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import timedelta
from itertools import islice

from pynamodb.exceptions import PutError, UpdateError

from lambdas.errors import (
    Forbidden,
    HereNotAllowed,
    HereTooLarge,
    InvalidMention,
    InvalidRequest,
    MessageNotFound,
    MessageTooLarge,
    TooManyMentions,
)
from lambdas.ids import new_ulid
from lambdas.management import ManagementApi
from lambdas.metrics import metric_count
from lambdas.models import (
    ITEM_BUDGET_BYTES,
    ClientMessage,
    Edit,
    Member,
    Message,
    Room,
    condition_failed,
    item_bytes,
    utcnow,
)
from lambdas.protocol import message_deleted_frame, message_frame, reply_frame, typing_frame
from lambdas.services.batches import publish
from lambdas.services.broadcast import (
    BroadcastResult,
    broadcast_shard,
    room_connection_ids,
)
from lambdas.services.changes import (
    NO_FILES,
    Change,
    Changes,
    Stored,
    change_number,
    changes_since,
    numbered,
    room_storage_add,
    settled_position,
)
from lambdas.services.connections import connection_get
from lambdas.services.indexing import search_index_enqueue
from lambdas.services.members import reader_count, readers_named
from lambdas.services.rooms import room_get_open
from lambdas.services.threads import (
    thread_get,
    thread_parent_check,
    thread_reply_note,
    thread_reply_number,
)
from lambdas.services.unread import unread_note
from lambdas.services.uploads import uploads_attach, uploads_delete, uploads_sent
from lambdas.tokens import User

logger = logging.getLogger(__name__)

RECEIPT_LIFETIME = timedelta(days=1)  # how long a clientMessageId protects against a resend
MAX_EDIT_VERSIONS = 5  # earlier texts an edited message keeps; older ones are dropped
EDIT_ATTEMPTS = 3  # conditional updates lost to a concurrent edit before giving up


def _fits(message: Message) -> None:
    """MessageTooLarge unless the item stays within ITEM_BUDGET_BYTES (UTF-8, as DynamoDB
    counts): checked before anything is written."""
    size = item_bytes(message)
    if size > ITEM_BUDGET_BYTES:
        raise MessageTooLarge(
            f"this message would take {size:,} bytes stored; at most {ITEM_BUDGET_BYTES:,}"
        )


@dataclass(frozen=True)
class Sent:
    message: Message
    duplicate: bool  # a retry of a send already stored: nothing was stored or broadcast again
    delivery: BroadcastResult | None


def _reserve(sender: User, room: str, client_message_id: str) -> tuple[str, str, bool]:
    """The (room, message id) a client's send owns, and whether an earlier attempt took it."""
    receipt = ClientMessage(
        sender.user_id,
        client_message_id,
        room=room,
        message_id=new_ulid(),
        expires_at=utcnow() + RECEIPT_LIFETIME,
    )
    try:
        receipt.save(condition=ClientMessage.user_id.does_not_exist())
        return receipt.room, receipt.message_id, False
    except PutError as error:
        if not condition_failed(error):
            raise
    earlier = ClientMessage.get(sender.user_id, client_message_id)
    return earlier.room, earlier.message_id, True


def message_send(
    *,
    api: ManagementApi,
    connection_id: str,
    sender: User,
    text: str,
    client_message_id: str | None = None,
    thread: str | None = None,
    also_in_room: bool = False,
    files: tuple[str, ...] = (),
) -> Sent:
    """Store a message in the sender's room and fan it out to the room, sender included; with
    `thread`, a reply to that message of the room (lambdas/services/threads.py), shown in the
    room too if `also_in_room`.

    With a clientMessageId the send is idempotent: a retry finds its receipt and the stored
    message, and nothing is stored or broadcast twice. Without transactions the receipt is
    written first, so a retry after a crash between the two writes completes the send.
    """
    joined = connection_get(connection_id=connection_id, user=sender).room
    found = room_get_open(name=joined, create_default=False)  # (deleted since $connect?)
    room = found.name
    # Checked before anything is stored: a refused @here or mention stores nothing.
    here = here_check(text=text, room=found, sender=sender)
    mentioned = mentions_check(text=text, room=found)
    parent = thread_parent_check(room=room, parent_id=thread) if thread else None
    message = Message(
        room,
        new_ulid(),
        user_id=sender.user_id,
        username=sender.username,
        text=text,
        sent_at=utcnow(),
        client_message_id=client_message_id,
        thread=thread,
        in_room=True if thread and also_in_room else None,
    )
    _fits(message)
    if client_message_id:
        room, message_id, retried = _reserve(sender, room, client_message_id)
        message.room, message.message_id = room, message_id
        if retried:
            try:
                return Sent(Message.get(room, message_id), duplicate=True, delivery=None)
            except Message.DoesNotExist:
                pass  # the first attempt stopped after its receipt: finish it now
    if files:
        # Checked once the id is final: a retry whose first attempt already claimed the files
        # for this id claims them again. Claimed (and their objects untagged, so the lifecycle
        # rule keeps them) before the message is stored: a crash in between leaves files kept
        # for a message that a retry stores, never a message whose files expire.
        message.files = uploads_attach(
            ids=list(files), user_id=sender.user_id, room=room, message_id=message.message_id
        )
        _fits(message)
        uploads_sent(ids=list(files), message_id=message.message_id)
    # Its files join the room's storage in the update that takes its number: no write more.
    stored = Stored.of(message.files)
    if parent is None:
        # Taken last: a refused send wastes none.
        change = change_number(room=room, message=True, stored=stored)
    else:  # the parent's summary is written first, under the reply's number
        change, parent = thread_reply_number(
            parent=parent,
            replier=sender,
            mentioned=mentioned,
            in_room=also_in_room,
            stored=stored,
        )
        message.tn = parent.reply_count
    message.seq, message.rev, message.rev_at = change.rev, change.rev, change.at
    message.n = change.n
    try:
        message.save(condition=Message.message_id.does_not_exist())
    except PutError as error:
        # Not stored by this attempt: its files are counted by the one that stores it (a
        # concurrent retry's) or by the client's retry of this send.
        room_storage_add(room=room, stored=-stored)
        if not condition_failed(error):
            raise
        # A concurrent retry of the same send stored it first.
        return Sent(Message.get(room, message_id), duplicate=True, delivery=None)
    metric_count("MessagesStored")
    # The sender's own copy, posted first, is its acknowledgement: it never waits behind a
    # large room's shards.
    payload = message_frame(message) if parent is None else reply_frame(message, parent)
    delivery = publish(api=api, change=change, payload=payload, first=connection_id)
    try:
        if message.n is not None:  # a reply only in its thread is no room message
            # The room as the update left it (ALL_NEW): its `posted` and `here_n` are current.
            counted = change.room or found
            unread_note(api=api, room=counted, message=message, mentioned=mentioned, here=here)
        if parent is not None:
            thread_reply_note(api=api, parent=parent, reply=message, mentioned=mentioned)
    except Exception:  # counts are best effort: the message is stored and delivered
        logger.exception("unread counts not updated", extra={"room": room})
    search_index_enqueue(message=message, rev=change.rev)  # after delivery; never raises
    return Sent(message, duplicate=False, delivery=delivery)


MENTION_RE = re.compile(r"(?<![\w@.+-])@([\w.+-]*[\w+-])")
HERE = "here"  # `@here`: the room's readers (lambdas/services/unread.py)
MAX_MENTIONS = 20  # distinct people one message may notify
MAX_HERE_READERS = 1000  # no @here pings a room larger than this, whoever sends it


def mentions_check(*, text: str, room: Room) -> dict[str, Member]:
    """The readers `@username` names in the text, by user id (a Query of one key each,
    however large the room). In a public room a name that is not a reader's notifies
    nobody (as Zulip does with non-subscribers); in a private room it is an InvalidMention
    (nothing stored). More than MAX_MENTIONS distinct names: TooManyMentions."""
    named = [name for name in dict.fromkeys(MENTION_RE.findall(text)) if name != HERE]
    if len(named) > MAX_MENTIONS:
        raise TooManyMentions(f"a message may mention at most {MAX_MENTIONS} people")
    if not named:
        return {}
    found = readers_named(room=room, usernames=named)
    if room.private:
        known = {member.username for member in found.values()}
        strangers = [name for name in named if name not in known]
        if strangers:
            raise InvalidMention(f"@{strangers[0]} is not a member of this room")
    return found


def here_check(*, text: str, room: Room, sender: User) -> bool:
    """Whether the text announces to the room (`@here`): only staff or the room's creator
    may (HereNotAllowed), and not in a room of more than MAX_HERE_READERS (HereTooLarge,
    counted through the keys-only by-name index, only for such a message)."""
    if HERE not in MENTION_RE.findall(text):
        return False
    if not (sender.is_staff or sender.username == room.created_by):
        raise HereNotAllowed("only staff or the room's creator may announce with @here")
    if reader_count(room=room.name, limit=MAX_HERE_READERS + 1) > MAX_HERE_READERS:
        raise HereTooLarge(f"@here reaches at most {MAX_HERE_READERS} readers; this room has more")
    return True


def _own_message(*, room: str, message_id: str) -> Message:
    try:
        message = Message.get(room, message_id)
    except Message.DoesNotExist:
        raise MessageNotFound("there is no such message in this room") from None
    if message.deleted:
        raise MessageNotFound("that message was deleted")
    return message


def message_edit(
    *, api: ManagementApi, connection_id: str, editor: User, message_id: str, text: str
) -> Message:
    """Replace the text of one's own message; the room gets `message_updated`."""
    room = connection_get(connection_id=connection_id, user=editor).room
    for _ in range(EDIT_ATTEMPTS):
        message = _own_message(room=room, message_id=message_id)
        if message.user_id != editor.user_id:
            raise Forbidden("you can only edit your own messages")
        change = _edited(message, text)
        if change:
            break
    else:
        raise MessageNotFound("that message keeps changing; try again")
    publish(api=api, change=change, payload=message_frame(message, "message_updated"))
    search_index_enqueue(message=message, rev=change.rev)
    return message


def _edited(message: Message, text: str) -> Change | None:
    """Store the new text, keeping the last MAX_EDIT_VERSIONS earlier ones (fewer if the item
    would pass its budget; MessageTooLarge if even the text alone would); False if someone else
    changed the message since it was read (None)."""
    now, read_edited_at = utcnow(), message.edited_at
    versions = [*(message.edits or []), Edit(text=message.text, replaced_at=now)]
    versions = versions[-MAX_EDIT_VERSIONS:]
    message.text, message.edited_at, message.edits = text, now, versions
    while versions and item_bytes(message) > ITEM_BUDGET_BYTES:
        versions.pop(0)  # the oldest version goes first
    _fits(message)
    unchanged = (
        Message.edited_at == read_edited_at
        if read_edited_at is not None
        else Message.edited_at.does_not_exist()
    )
    change = change_number(room=message.room)
    numbering, newer = numbered(change)
    try:
        message.update(
            actions=[
                Message.text.set(text),
                Message.edited_at.set(now),
                Message.edits.set(versions),
                *numbering,
            ],
            # Checked again at write time: deleted, or edited elsewhere, since we read it.
            condition=(Message.user_id == message.user_id)
            & (Message.deleted == False)  # noqa: E712
            & unchanged
            & newer,
        )
    except UpdateError as error:
        if condition_failed(error):
            return None
        raise
    return change


MAX_REACTION_EMOJI = 20  # distinct emoji on one message
MAX_REACTIONS_PER_USER = 10  # emoji one person puts on one message


def message_react(
    *,
    api: ManagementApi,
    connection_id: str,
    reactor: User,
    message_id: str,
    emoji: str,
    remove: bool = False,
) -> Message:
    """Add (or remove) the reactor's `emoji` on a message of their room; each person counts
    once per emoji. A change is broadcast as `message_updated`; one that changes nothing (a
    second add, a remove of nothing) is not."""
    room = connection_get(connection_id=connection_id, user=reactor).room
    for _ in range(EDIT_ATTEMPTS):
        message = _own_message(room=room, message_id=message_id)  # of this room, not deleted
        reactions = message.reactions.as_dict() if message.reactions else {}
        people = reactions.setdefault(emoji, {})
        if remove == (reactor.user_id not in people):
            return message  # already as asked
        if remove:
            del people[reactor.user_id]
            if not people:
                del reactions[emoji]
        else:
            if len(reactions) > MAX_REACTION_EMOJI:
                raise InvalidRequest(f"a message has at most {MAX_REACTION_EMOJI} different emoji")
            mine = sum(reactor.user_id in who for who in reactions.values())
            if mine >= MAX_REACTIONS_PER_USER:
                raise InvalidRequest(
                    f"you can put at most {MAX_REACTIONS_PER_USER} emoji on one message"
                )
            people[reactor.user_id] = reactor.username
        change = _reacted(message, reactions)
        if change:
            break
    else:
        raise MessageNotFound("that message keeps changing; try again")
    publish(api=api, change=change, payload=message_frame(message, "message_updated"))
    return message


def _reacted(message: Message, reactions: dict[str, dict[str, str]]) -> Change | None:
    """Store the reactions if nobody else changed them (or deleted the message) since read:
    the change, or None."""
    version = message.reactions_version
    message.reactions = reactions or None
    _fits(message)
    unchanged = (
        Message.reactions_version == version
        if version is not None
        else Message.reactions_version.does_not_exist()
    )
    actions = [Message.reactions_version.set((version or 0) + 1)]
    actions.append(Message.reactions.set(reactions) if reactions else Message.reactions.remove())
    change = change_number(room=message.room)
    numbering, newer = numbered(change)
    try:
        message.update(
            actions=[*actions, *numbering],
            condition=(Message.deleted == False) & unchanged & newer,  # noqa: E712
        )
    except UpdateError as error:
        if condition_failed(error):
            return None
        raise
    return change


def message_delete(
    *, api: ManagementApi, connection_id: str, deleter: User, message_id: str
) -> None:
    """Delete a message of the deleter's room."""
    room = connection_get(connection_id=connection_id, user=deleter).room
    message_remove(api=api, room=room, message_id=message_id, deleter=deleter)


def message_remove(*, api: ManagementApi, room: str, message_id: str, deleter: User) -> None:
    """Delete one's own message (staff: any); the room gets `message_deleted`.

    The item stays, without its text, so history can show "message deleted" in its place.
    Its files leave the room's storage in the update that takes the deletion's number, once:
    an attempt that loses a race keeps them off for the next, and a delete that does not
    happen (someone else's did, or the message kept changing) gives them back.
    """
    taken = NO_FILES  # what this call's numbers took off the room's storage
    try:
        for _ in range(EDIT_ATTEMPTS):
            message = _own_message(room=room, message_id=message_id)
            if message.user_id != deleter.user_id and not deleter.is_staff:
                raise Forbidden("you can only delete your own messages")
            stored = NO_FILES if taken else Stored.of(message.files)
            change = change_number(room=room, stored=-stored)
            taken = taken or stored
            numbering, newer = numbered(change)
            files = [file.id for file in message.files or ()]
            try:
                message.update(
                    actions=[
                        Message.deleted.set(True),
                        Message.text.set(""),
                        Message.edits.remove(),
                        Message.files.remove(),
                        *numbering,
                    ],
                    condition=(Message.deleted == False) & newer,  # noqa: E712
                )
                break
            except UpdateError as error:
                if not condition_failed(error):
                    raise
                # Deleted meanwhile (the next read says so), or changed under a later number.
        else:
            raise MessageNotFound("that message keeps changing; try again")
    except Exception:
        room_storage_add(room=room, stored=taken)
        raise
    publish(api=api, change=change, payload=message_deleted_frame(message))
    search_index_enqueue(message=message, rev=change.rev, deleted=True)
    if files:
        try:
            uploads_delete(ids=files)
        except Exception:  # the message is gone for everyone; its objects only cost storage
            logger.exception("files of a deleted message not deleted", extra={"files": files})


# Rooms with more open connections than this hear no typing notices: each notice is one API
# Gateway message to every other connection, as much as the message it announces, so it would
# double the cost of every room it is shown in (bench/COST.md: $77 a month of the team
# scenario's $179 with notices in its rooms of 50). Conversations and small groups keep them.
# The page does not send them there either (static/chat/typing.js).
TYPING_MAX_RECIPIENTS = 20


def typing_send(*, api: ManagementApi, connection_id: str, typist: User) -> None:
    """Tell the room, except the typist's own connection, that someone is typing; nothing in a
    room of more than TYPING_MAX_RECIPIENTS other connections (one Query, of at most that
    many ids, decides it)."""
    room = connection_get(connection_id=connection_id, user=typist).room
    others = (c for c in room_connection_ids(room=room) if c != connection_id)
    recipients = list(islice(others, TYPING_MAX_RECIPIENTS + 1))
    if len(recipients) > TYPING_MAX_RECIPIENTS:
        return
    broadcast_shard(
        api=api, connection_ids=recipients, payload=typing_frame(room=room, typist=typist)
    )


@dataclass(frozen=True)
class HistoryPage:
    room: str
    messages: list[Message]  # oldest first
    has_more: bool
    rev: int | None = None  # the newest page: the change number it brings its reader up to


# The room's own timeline: its messages but replies shown only in their thread. A filter, not
# a key: the replies it drops are read and paid for (their size, ~0.1 read unit each at 500
# bytes) but the room's messages and in-room replies write nothing more; threads are read
# through their own sparse index instead (Message.thread_index).
ROOM_TIMELINE = Message.thread.does_not_exist() | (Message.in_room == True)  # noqa: E712


def message_page(
    *,
    room: str,
    before: str | None,
    after: str | None,
    limit: int,
    consistent: bool = False,
    thread: str | None = None,
) -> HistoryPage:
    """Up to `limit` messages, oldest first, and whether more exist (with `thread`: that
    thread's replies, from its index, whose reads are eventually consistent).

    With `after`, the page starts just after that id (catching up after a reconnect); otherwise
    it holds the newest messages before `before` (or the newest of all).
    """
    if before and after:
        condition = Message.message_id.between(after, before)
    elif after:
        condition = Message.message_id > after
    elif before:
        condition = Message.message_id < before
    else:
        condition = None
    forward = after is not None
    # BETWEEN includes both ends; read two extra so dropping them still fills the page.
    extra = 2 if before and after else 0
    if thread is None:
        found = Message.query(
            room,
            condition,
            filter_condition=ROOM_TIMELINE,
            scan_index_forward=forward,
            limit=limit + 1 + extra,
            consistent_read=consistent,
        )
    else:
        found = Message.thread_index.query(
            thread, condition, scan_index_forward=forward, limit=limit + 1 + extra
        )
    items = [m for m in found if m.message_id not in (before, after)]
    has_more = len(items) > limit
    items = items[:limit]
    if not forward:
        items.reverse()
    return HistoryPage(room=room, messages=items, has_more=has_more)


def history_read(
    *, connection_id: str, reader: User, before: str | None, after: str | None, limit: int
) -> HistoryPage:
    """A page of the caller's room; the newest page also says up to which change number it
    brings the reader (`rev`), taken before the page is read."""
    room = connection_get(connection_id=connection_id, user=reader).room
    newest = before is None and after is None
    rev = settled_position(room=room) if newest else None
    # Strongly consistent: what settled_position counted as written is in the page.
    page = message_page(room=room, before=before, after=after, limit=limit, consistent=newest)
    return replace(page, rev=rev)


def thread_history_read(
    *,
    connection_id: str,
    reader: User,
    thread: str,
    before: str | None,
    after: str | None,
    limit: int,
) -> tuple[Message, HistoryPage]:
    """A thread of the caller's room: its parent (deleted or not) and a page of its replies."""
    room = connection_get(connection_id=connection_id, user=reader).room
    parent = thread_get(room=room, thread=thread)
    page = message_page(room=room, before=before, after=after, limit=limit, thread=thread)
    return parent, page


def changes_read(*, connection_id: str, reader: User, since: int) -> Changes:
    """What changed in the caller's room after change number `since`."""
    room = connection_get(connection_id=connection_id, user=reader).room
    return changes_since(room=room, since=since)
