"""Actions and selectors on messages: validate and send one, read a page of history."""

from __future__ import annotations

from dataclasses import dataclass

from lambdas.config import get_config
from lambdas.errors import EmptyMessage, InvalidRequest, MessageTooLong
from lambdas.ids import is_ulid, new_ulid
from lambdas.management import ManagementApi
from lambdas.models import Message, utcnow
from lambdas.services.broadcast import BroadcastResult, broadcast
from lambdas.services.connections import connection_get
from lambdas.tokens import User

MAX_CLIENT_MESSAGE_ID = 64
MAX_HISTORY_LIMIT = 100


@dataclass(frozen=True)
class Outgoing:
    text: str
    client_message_id: str | None


def message_check(frame: dict) -> Outgoing:
    """Validate a `sendmessage` frame (the AWS tutorial's `message` field) before any write."""
    text = frame.get("message")
    if text is None or (isinstance(text, str) and not text.strip()):
        raise EmptyMessage("the message is empty")
    if not isinstance(text, str):
        raise InvalidRequest("`message` must be a string")
    limit = get_config().max_message_chars
    if len(text) > limit:
        raise MessageTooLong(f"messages are at most {limit} characters; this one has {len(text)}")
    client_message_id = frame.get("clientMessageId")
    if client_message_id is not None and (
        not isinstance(client_message_id, str)
        or not 0 < len(client_message_id) <= MAX_CLIENT_MESSAGE_ID
    ):
        raise InvalidRequest(
            f"`clientMessageId` must be a string of 1-{MAX_CLIENT_MESSAGE_ID} characters"
        )
    return Outgoing(text=text, client_message_id=client_message_id)


def message_send(
    *, api: ManagementApi, connection_id: str, sender: User, frame: dict
) -> tuple[Message, BroadcastResult]:
    """Store a message in the sender's room and fan it out to the room, sender included."""
    outgoing = message_check(frame)
    room = connection_get(connection_id=connection_id).room
    message = Message(
        room,
        new_ulid(),
        user_id=sender.user_id,
        username=sender.username,
        text=outgoing.text,
        sent_at=utcnow(),
        client_message_id=outgoing.client_message_id,
    )
    message.save()
    return message, broadcast(api=api, room=room, payload=message.frame())


@dataclass(frozen=True)
class HistoryQuery:
    before: str | None
    after: str | None
    limit: int


def history_check(frame: dict) -> HistoryQuery:
    """Validate a `history` frame: optional `before`/`after` message ids and `limit` ≤ 100."""
    before, after = frame.get("before"), frame.get("after")
    for name, value in (("before", before), ("after", after)):
        if value is not None and not is_ulid(value):
            raise InvalidRequest(f"`{name}` must be a message id")
    limit = frame.get("limit", get_config().history_page_size)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY_LIMIT:
        raise InvalidRequest(f"`limit` must be a whole number from 1 to {MAX_HISTORY_LIMIT}")
    return HistoryQuery(before=before, after=after, limit=limit)


def message_page(*, room: str, before: str | None, after: str | None, limit: int) -> dict:
    """A `history` frame: up to `limit` messages, oldest first, and whether more exist.

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
    items = [
        m
        for m in Message.query(room, condition, scan_index_forward=forward, limit=limit + 1 + extra)
        if m.message_id not in (before, after)
    ]
    has_more = len(items) > limit
    items = items[:limit]
    if not forward:
        items.reverse()
    return {
        "type": "history",
        "room": room,
        "messages": [m.frame() for m in items],
        "has_more": has_more,
    }


def history_read(*, connection_id: str, frame: dict) -> dict:
    query = history_check(frame)
    room = connection_get(connection_id=connection_id).room
    return message_page(room=room, before=query.before, after=query.after, limit=query.limit)
