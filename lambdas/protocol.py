"""The wire protocol: each client frame becomes a typed command (or a clean ChatError), and
every frame the server sends is built here, so its shape is written down in one place.

Naming (README, Protocol): client frames name their route in `action`, one lowercase word as
API Gateway's route selection expression reads it (`sendmessage`, `editmessage`); server frames
have a snake_case `type`, a noun for a thing (`message`, `presence`) or `<noun>_<past participle>`
for a change to one (`message_updated`, `message_deleted`); fields are snake_case. Two older
spellings stay because clients depend on them: `clientMessageId` in `sendmessage`, and
`connectionId` with API Gateway's own camelCase in `info`.

Services take the commands' fields as keyword arguments and return domain objects; handlers
parse with this module and shape the reply with it.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lambdas.config import get_config
from lambdas.errors import (
    ChatError,
    EmptyMessage,
    InvalidJson,
    InvalidRequest,
    MessageTooLong,
)
from lambdas.ids import is_ulid
from lambdas.models import Message, iso
from lambdas.tokens import User

if TYPE_CHECKING:
    from lambdas.services.changes import Changes

MAX_CLIENT_MESSAGE_ID = 64
MAX_HISTORY_LIMIT = 100


# -- client frames ------------------------------------------------------------------------------


def frame_decode(body: str | None) -> dict:
    """A client frame: a JSON object (InvalidJson, InvalidRequest otherwise)."""
    try:
        frame = json.loads(body or "")
    except ValueError:
        raise InvalidJson(
            'frames are JSON, e.g. {"action": "sendmessage", "message": "hello"}'
        ) from None
    if not isinstance(frame, dict):
        raise InvalidRequest("a frame is a JSON object with an `action`")
    return frame


def text_check(text: object) -> str:
    """A message text: a non-blank string of at most MAX_MESSAGE_CHARS characters."""
    if text is None or (isinstance(text, str) and not text.strip()):
        raise EmptyMessage("the message is empty")
    if not isinstance(text, str):
        raise InvalidRequest("`message` must be a string")
    limit = get_config().max_message_chars
    if len(text) > limit:
        raise MessageTooLong(f"messages are at most {limit} characters; this one has {len(text)}")
    return text


def message_id_check(value: object, name: str = "id") -> str:
    if not is_ulid(value):
        raise InvalidRequest(f"`{name}` must be a message id")
    return value


@dataclass(frozen=True)
class SendMessage:
    """`{"action": "sendmessage", "message", "clientMessageId"?, "thread"?, "also_in_room"?}`
    (`clientMessageId`: the AWS tutorial's spelling); `thread`: the id of the room's message
    replied to; `also_in_room`: the reply is shown in the room too."""

    text: str
    client_message_id: str | None
    thread: str | None = None
    also_in_room: bool = False
    files: tuple[str, ...] = ()  # upload ids (lambdas/services/uploads.py)

    @classmethod
    def parse(cls, frame: dict) -> SendMessage:
        files = files_check(frame.get("files"))
        # With files the text is a caption: optional.
        message = frame.get("message")
        text = "" if files and (message is None or message == "") else text_check(message)
        client_message_id = frame.get("clientMessageId")
        if client_message_id is not None and (
            not isinstance(client_message_id, str)
            or not 0 < len(client_message_id) <= MAX_CLIENT_MESSAGE_ID
        ):
            raise InvalidRequest(
                f"`clientMessageId` must be a string of 1-{MAX_CLIENT_MESSAGE_ID} characters"
            )
        thread = frame.get("thread")
        if thread is not None:
            message_id_check(thread, "thread")
        also_in_room = frame.get("also_in_room", False)
        if not isinstance(also_in_room, bool):
            raise InvalidRequest("`also_in_room` must be true or false")
        if also_in_room and thread is None:
            raise InvalidRequest("`also_in_room` is for replies: send it with `thread`")
        return cls(
            text=text,
            client_message_id=client_message_id,
            thread=thread,
            also_in_room=also_in_room,
            files=files,
        )


MAX_FILES = 10  # lambdas.services.uploads.MAX_FILES_PER_MESSAGE
MAX_UPLOAD_ID = 64


def files_check(files: object) -> tuple[str, ...]:
    """`files`: absent, or a list of at most MAX_FILES upload ids, each once."""
    if files is None:
        return ()
    if (
        not isinstance(files, list)
        or len(files) > MAX_FILES
        or not all(isinstance(f, str) and 0 < len(f) <= MAX_UPLOAD_ID for f in files)
        or len(set(files)) != len(files)
    ):
        raise InvalidRequest(f"`files` is a list of at most {MAX_FILES} distinct upload ids")
    return tuple(files)


def file_frame(file) -> dict:
    """A file of a message: what its card or thumbnail needs; the page links to
    `/api/files/<id>/?variant=original|thumb` for the bytes."""
    frame = {"id": file.id, "name": file.name, "size": int(file.size), "type": file.type}
    if file.width is not None:
        frame |= {"width": int(file.width), "height": int(file.height)}
    frame["thumb"] = bool(file.thumb)
    return frame


@dataclass(frozen=True)
class EditMessage:
    """`{"action": "editmessage", "id", "message"}`."""

    message_id: str
    text: str

    @classmethod
    def parse(cls, frame: dict) -> EditMessage:
        message_id = message_id_check(frame.get("id"))
        return cls(message_id=message_id, text=text_check(frame.get("message")))


@dataclass(frozen=True)
class DeleteMessage:
    """`{"action": "deletemessage", "id"}`."""

    message_id: str

    @classmethod
    def parse(cls, frame: dict) -> DeleteMessage:
        return cls(message_id=message_id_check(frame.get("id")))


PALETTE = ("👍", "❤️", "😂", "🎉", "😮", "😢")  # offered first; any single emoji is accepted
MAX_EMOJI_CHARS = 16  # code points: the longest family and flag sequences fit

_JOINERS = {"\u200d"}  # ZWJ: one emoji made of several
_MODIFIERS = {"\ufe0f", "\ufe0e", "\u20e3"} | {chr(c) for c in range(0x1F3FB, 0x1F400)}
_TAGS = {chr(c) for c in range(0xE0020, 0xE0080)}  # subdivision flags (🏴 + tags)
_KEYCAP_BASES = set("0123456789#*")


def _is_regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def emoji_check(value: object) -> str:
    """One emoji: a pictograph with its modifiers and ZWJ joins, a flag (two regional
    indicators, or a tag sequence), or a keycap; InvalidRequest for anything else (text, two
    emoji, an empty string)."""
    error = InvalidRequest("`emoji` must be one emoji")
    if not isinstance(value, str) or not 0 < len(value) <= MAX_EMOJI_CHARS:
        raise error
    for part in value.split("\u200d"):
        bases = [c for c in part if c not in _MODIFIERS and c not in _TAGS]
        if len(bases) == 2 and all(_is_regional(c) for c in bases):
            continue  # a country flag
        if len(bases) != 1:
            raise error
        base = bases[0]
        if base in _KEYCAP_BASES:
            if "\u20e3" not in part:
                raise error
        elif unicodedata.category(base) != "So" or _is_regional(base):
            raise error
    return value


@dataclass(frozen=True)
class React:
    """`{"action": "react", "id", "emoji", "remove"?}`: add (or remove) one's reaction."""

    message_id: str
    emoji: str
    remove: bool

    @classmethod
    def parse(cls, frame: dict) -> React:
        message_id = message_id_check(frame.get("id"))
        remove = frame.get("remove", False)
        if not isinstance(remove, bool):
            raise InvalidRequest("`remove` must be true or false")
        return cls(message_id=message_id, emoji=emoji_check(frame.get("emoji")), remove=remove)


@dataclass(frozen=True)
class MarkRead:
    """`{"action": "markread", "id", "thread"?}`: the caller has seen the room (with `thread`:
    that thread) up to this message."""

    message_id: str
    thread: str | None = None

    @classmethod
    def parse(cls, frame: dict) -> MarkRead:
        thread = frame.get("thread")
        return cls(
            message_id=message_id_check(frame.get("id")),
            thread=None if thread is None else message_id_check(thread, "thread"),
        )


@dataclass(frozen=True)
class Ping:
    """`{"action": "ping", "read"?}`: the keep-alive; `read` (a message id) carries the caller's
    read position in their room, so a page reading along sends no `markread` of its own."""

    read: str | None

    @classmethod
    def parse(cls, frame: dict) -> Ping:
        read = frame.get("read")
        return cls(read=None if read is None else message_id_check(read, "read"))


@dataclass(frozen=True)
class Typing:
    """`{"action": "typing"}`: nothing else, so a typing frame cannot carry a payload."""

    @classmethod
    def parse(cls, frame: dict) -> Typing:
        if set(frame) - {"action"}:
            raise InvalidRequest('typing frames carry nothing but {"action": "typing"}')
        return cls()


@dataclass(frozen=True)
class History:
    """`{"action": "history", "before"?, "after"?, "limit"?, "thread"?}`: message ids, limit ≤
    100 (with `thread`: that thread's replies); `{"action": "history", "since": n}`: what
    changed after change number n (gap repair); `{"action": "history", "threads": true}`: the
    caller's followed threads in the room, with their unread counts."""

    before: str | None
    after: str | None
    limit: int
    since: int | None = None
    thread: str | None = None
    threads: bool = False

    @classmethod
    def parse(cls, frame: dict) -> History:
        thread = frame.get("thread")
        if thread is not None:
            message_id_check(thread, "thread")
            if "since" in frame or "threads" in frame:
                raise InvalidRequest("`thread` pages one thread: no `since` or `threads` with it")
        if "threads" in frame:
            if frame["threads"] is not True or set(frame) - {"action", "threads"}:
                raise InvalidRequest(
                    'ask for followed threads as {"action": "history", "threads": true}'
                )
            return cls(before=None, after=None, limit=MAX_HISTORY_LIMIT, threads=True)
        if "since" in frame:
            since = frame["since"]
            if isinstance(since, bool) or not isinstance(since, int) or not 0 <= since < 2**53:
                raise InvalidRequest("`since` must be a change number (a whole number ≥ 0)")
            if any(name in frame for name in ("before", "after")):
                raise InvalidRequest("`since` asks for changes: no `before` or `after` with it")
            return cls(before=None, after=None, limit=MAX_HISTORY_LIMIT, since=since)
        before, after = frame.get("before"), frame.get("after")
        for name, value in (("before", before), ("after", after)):
            if value is not None:
                message_id_check(value, name)
        if before is not None and after is not None and after >= before:
            # Found by tests/lambdas/test_fuzz_routes.py: DynamoDB refuses a BETWEEN whose
            # bounds are reversed with a ValidationException, which was a 500.
            raise InvalidRequest("`after` must be an older message id than `before`")
        limit = frame.get("limit", get_config().history_page_size)
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_HISTORY_LIMIT
        ):
            raise InvalidRequest(f"`limit` must be a whole number from 1 to {MAX_HISTORY_LIMIT}")
        return cls(before=before, after=after, limit=limit, thread=thread)


# -- server frames ------------------------------------------------------------------------------


def user_frame(user_id: str, username: str) -> dict:
    return {"id": user_id, "username": username}


def message_frame(message: Message, type_: str = "message") -> dict:
    """`message` (fan-out and history pages), or `message_updated` after an edit."""
    frame = {
        "type": type_,
        "id": message.message_id,
        "room": message.room,
        "user": user_frame(message.user_id, message.username),
        "text": message.text,
        "sent_at": iso(message.sent_at),
    }
    if message.seq is not None:
        frame["seq"], frame["rev"] = int(message.seq), int(message.rev)
    if message.client_message_id:
        frame["client_message_id"] = message.client_message_id
    if message.edited_at:
        frame["edited_at"] = iso(message.edited_at)
    if message.deleted:
        frame["deleted"] = True
        frame["text"] = ""
    else:
        if message.reactions:
            frame["reactions"] = reactions_frame(message.reactions.as_dict())
        if message.files:
            frame["files"] = [file_frame(file) for file in message.files]
    if message.thread:
        frame["thread"] = message.thread
        if message.in_room:
            frame["in_room"] = True
    if message.reply_count:  # kept when the parent is deleted: its thread stays readable
        frame["replies"] = replies_frame(message)
    return frame


def replies_frame(parent: Message) -> dict:
    """A parent's thread summary: how many replies, the last one's time, its last few distinct
    repliers (newest first)."""
    frame = {"count": int(parent.reply_count or 0)}
    if parent.last_reply_at:
        frame["last_at"] = iso(parent.last_reply_at)
    frame["users"] = [user_frame(r.user_id, r.username) for r in parent.repliers or []]
    return frame


def reply_frame(reply: Message, parent: Message) -> dict:
    """A new reply's `message` frame, with `parent`: the parent's new summary under its own
    change number (usually the reply's: one change, two items), so one frame per reader
    carries both. Clients that know no threads ignore `parent` (and show the reply inline)."""
    frame = message_frame(reply)
    parent_frame = {"id": parent.message_id, "replies": replies_frame(parent)}
    if parent.rev is not None:
        parent_frame["rev"] = int(parent.rev)
    frame["parent"] = parent_frame
    return frame


def thread_history_frame(
    *, room: str, parent: Message, replies: Iterable[Message], has_more: bool
) -> dict:
    """A page of one thread: its parent (as it is now, "deleted" included) and replies."""
    return {
        "type": "history",
        "room": room,
        "thread": parent.message_id,
        "parent": message_frame(parent),
        "messages": [message_frame(reply) for reply in replies],
        "has_more": has_more,
    }


def thread_unread_frame(
    *, room: str, thread: str, unread: int, mentions: int, reply: Message | None = None
) -> dict:
    """A follower's counts in one thread; with `reply`, the new reply that brought them (a
    page notifies of it: `mentions` says whether it named them)."""
    frame = {
        "type": "thread_unread",
        "room": room,
        "thread": thread,
        "unread": unread,
        "mentions": mentions,
    }
    if reply is not None:
        frame["reply"] = message_frame(reply)
    return frame


def threads_frame(*, room: str, threads: Iterable[tuple[Message, int, int]]) -> dict:
    """The caller's followed threads in a room: each parent with the caller's counts."""
    return {
        "type": "threads",
        "room": room,
        "threads": [
            {
                "thread": parent.message_id,
                "unread": unread,
                "mentions": mentions,
                "parent": message_frame(parent),
            }
            for parent, unread, mentions in threads
        ],
    }


def reactions_frame(reactions: dict[str, dict[str, str]]) -> list[dict]:
    """Each emoji once with its count and who reacted, most reactions first."""
    listed = [
        {
            "emoji": emoji,
            "count": len(people),
            "users": [
                user_frame(uid, name) for uid, name in sorted(people.items(), key=lambda u: u[1])
            ],
        }
        for emoji, people in reactions.items()
        if people
    ]
    return sorted(listed, key=lambda reaction: (-reaction["count"], reaction["emoji"]))


def message_deleted_frame(message: Message) -> dict:
    frame = {"type": "message_deleted", "id": message.message_id, "room": message.room}
    if message.rev is not None:
        frame["rev"] = int(message.rev)
    return frame


def typing_frame(*, room: str, typist: User) -> dict:
    return {"type": "typing", "room": room, "user": user_frame(typist.user_id, typist.username)}


PRESENCE_LIST_MAX = 500  # people named in one list (≈ 30 KB, one API Gateway unit)


def presence_frame(*, room: str, users: Iterable[tuple[str, str]]) -> dict:
    """Who is online: (user id, username) pairs, each person once; `online` counts them all,
    `users` names the first PRESENCE_LIST_MAX (a route's answer is at most 128 KB)."""
    listed = list(users)
    return {
        "type": "presence",
        "room": room,
        "online": len(listed),
        "users": [user_frame(*user) for user in listed[:PRESENCE_LIST_MAX]],
    }


def history_frame(
    *, room: str, messages: Iterable[Message], has_more: bool, rev: int | None = None
) -> dict:
    """A page of history; `rev`: the change number the page brings its reader up to."""
    frame = {
        "type": "history",
        "room": room,
        "messages": [message_frame(message) for message in messages],
        "has_more": has_more,
    }
    if rev is not None:
        frame["rev"] = rev
    return frame


def changes_frame(changes: Changes) -> dict:
    """The answer to `since`: a `history` frame of the messages changed in (since, to], each
    once as it is now, by `rev`, and the numbers in that span empty for good."""
    return {
        **history_frame(room=changes.room, messages=changes.messages, has_more=changes.has_more),
        "since": changes.since,
        "to": changes.to,
        "latest": changes.latest,
        "empty": [list(span) for span in changes.empty],
    }


FRAME_UNIT = 32 * 1024  # API Gateway bills messages per 32 KB: a batch frame stays within one


def batch_frames(changes: Changes) -> list[dict]:
    """`changes` frames carrying the answer's messages (each as it is now, with its `rev`) and
    its empty numbers, each frame within FRAME_UNIT bytes unless one message alone is larger."""
    frames: list[dict] = []
    base = {"type": "changes", "room": changes.room, "messages": []}
    size = len(json.dumps(base)) + 40
    current: list[dict] = []
    used = size
    for message in changes.messages:
        item = message_frame(message)
        length = len(json.dumps(item)) + 2
        if current and used + length > FRAME_UNIT:
            frames.append({**base, "messages": current})
            current, used = [], size
        current.append(item)
        used += length
    last = {**base, "messages": current}
    if changes.empty:
        last["empty"] = [list(span) for span in changes.empty]
    if current or changes.empty:
        frames.append(last)
    return frames


def unread_frame(
    *,
    room: str,
    unread: int,
    mentions: int,
    mention: Message | None = None,
    kind: str | None = None,
    label: str | None = None,
    muted: bool = False,
) -> dict:
    """A reader's counts in one of their rooms; with `mention`, the message that named them
    (or an @here); `kind` ("public", "private", "direct") and `label` ("#name", "alice, bob")
    let a page add a room it does not list yet; `muted`: show the count, never notify (unless
    it brings a mention)."""
    frame = {"type": "unread", "room": room, "unread": unread, "mentions": mentions}
    if kind is not None:
        frame["kind"] = kind
    if label is not None:
        frame["label"] = label
    if muted:
        frame["muted"] = True
    if mention is not None:
        frame["mention"] = message_frame(mention)
    return frame


def pong_frame(rev: int | None = None) -> dict:
    """`ping`'s answer; in a room, with its last change number: a client behind it asks."""
    return {"type": "pong"} if rev is None else {"type": "pong", "rev": rev}


def info_frame(*, help_text: str, connection_id: str, connection: dict) -> dict:
    """`$default`'s answer: help, and the connection as GetConnection describes it."""
    return {
        "type": "info",
        "message": help_text,
        "connectionId": connection_id,
        "connection": connection,
    }


def error_frame(error: ChatError, **refused: str) -> dict:
    """`{"type": "error", "code", "message", ...}` with the error's extra fields
    (`retry_after`) and what it says of the refused frame (`action`, `client_message_id`)."""
    return {
        "type": "error",
        "code": error.code,
        "message": error.message,
        **error.fields,
        **refused,
    }


def upload_frame(upload) -> dict:
    """The page's view of an upload (`GET /api/uploads/<id>/`): a lambdas.models.Upload."""
    shown = {
        "id": upload.id,
        "state": upload.state,
        "name": upload.name,
        "size": int(upload.size),
        "type": upload.type,
    }
    if upload.reason:
        shown["reason"] = upload.reason
    if upload.width is not None:
        shown |= {"width": int(upload.width), "height": int(upload.height)}
    shown["thumb"] = bool(upload.thumb_key)
    return shown
