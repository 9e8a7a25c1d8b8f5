"""What the staff dashboard reads: pages of connections and messages, a connection's
activity, a browser session's connections, the overview's figures."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from chat.selectors.rooms import room_list
from lambdas.errors import InvalidRequest, MessageNotFound
from lambdas.ids import ulid_floor
from lambdas.management import ConnectionGone, ManagementApi
from lambdas.models import Connection, Message, utcnow
from lambdas.protocol import message_id_check
from lambdas.services.pages import Page, page_read
from lambdas.services.rooms import room_check, room_get

CONNECTION_KEYS = frozenset({"connection_id"})
MESSAGE_KEYS = frozenset({"room", "message_id"})
MAX_PAGE = 100


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"pages hold 1 to {MAX_PAGE} items")
    return limit


def connection_list(
    *,
    room: str | None = None,
    user_id: str | None = None,
    page_token: str | None = None,
    limit: int = 50,
) -> Page[Connection]:
    """Live connections, filtered by room or by user, a page at a time."""
    live = Connection.expires_at > utcnow()
    limit = _limit(limit)
    if room:
        room = room_check(room)
        return _full_items(
            page_read(
                lambda start: Connection.room_index.query(
                    room, filter_condition=live, limit=limit, last_evaluated_key=start
                ),
                token=page_token,
                key_names=CONNECTION_KEYS | {"room"},
            )
        )
    if user_id:
        return _full_items(
            page_read(
                lambda start: Connection.user_index.query(
                    user_id, filter_condition=live, limit=limit, last_evaluated_key=start
                ),
                token=page_token,
                key_names=CONNECTION_KEYS | {"user_id"},
            )
        )
    return page_read(
        lambda start: Connection.scan(filter_condition=live, limit=limit, last_evaluated_key=start),
        token=page_token,
        key_names=CONNECTION_KEYS,
    )


def _full_items(page: Page[Connection]) -> Page[Connection]:
    """The indexes project only what fan-out and presence need: read the rest of each item."""
    full = {c.connection_id: c for c in Connection.batch_get([c.connection_id for c in page.items])}
    return Page(
        items=[full[c.connection_id] for c in page.items if c.connection_id in full],
        next_token=page.next_token,
    )


def connection_activity(*, api: ManagementApi, connection_ids: list[str]) -> dict[str, dict]:
    """GET @connections for each id, in parallel; ids that are gone are left out."""

    def describe(connection_id: str) -> tuple[str, dict | None]:
        try:
            return connection_id, api.get(connection_id)
        except ConnectionGone:
            return connection_id, None

    with ThreadPoolExecutor(max_workers=8) as pool:
        return {cid: info for cid, info in pool.map(describe, connection_ids) if info}


def session_connection_ids(*, user_id: str, session_id: str) -> list[str]:
    """The user's live connections opened with tokens of one browser session (their `sid`).

    by-user does not project `sid` (changing an index's projection recreates it in AWS): the
    user's live connections, a handful, are read whole by one BatchGetItem after the Query.
    """
    ids = [
        c.connection_id
        for c in Connection.user_index.query(
            user_id, filter_condition=Connection.expires_at > utcnow()
        )
    ]
    if not ids:
        return []
    items = Connection.batch_get(ids, attributes_to_get=["connection_id", "sid"])
    return [c.connection_id for c in items if c.sid == session_id]


def message_list(
    *,
    room: str,
    user_id: str | None = None,
    text: str | None = None,
    page_token: str | None = None,
    limit: int = 50,
) -> Page[Message]:
    """A room's messages, newest first, optionally only one user's or those containing `text`."""
    room = room_get(name=room).name
    condition = None
    if user_id:
        condition = Message.user_id == user_id
    if text:
        contains = Message.text.contains(text)
        condition = contains if condition is None else condition & contains
    limit = _limit(limit)
    return page_read(
        lambda start: Message.query(
            room,
            filter_condition=condition,
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=start,
        ),
        token=page_token,
        key_names=MESSAGE_KEYS,
    )


def message_get(*, room: str, message_id: str) -> Message:
    message_id_check(message_id)
    try:
        return Message.get(room_check(room), message_id)
    except Message.DoesNotExist:
        raise MessageNotFound("there is no such message in this room") from None


@dataclass(frozen=True)
class RoomStats:
    name: str
    title: str
    archived: bool
    connections: int
    users: int
    messages_hour: int
    messages_day: int


@dataclass(frozen=True)
class Overview:
    connections: int
    users: int
    rooms: list[RoomStats]
    top_users_today: list[tuple[str, int]]  # (username, messages), most active first


def _since(moment: datetime) -> str:
    return ulid_floor(int(moment.timestamp() * 1000))


def stats_overview(*, now: datetime | None = None) -> Overview:
    """Figures read from DynamoDB now: live connections by room, message counts, top posters.

    Message ids are ULIDs, so "since a time" is a key condition, not a scan of the history.
    """
    now = now or utcnow()
    room_users: dict[str, set[str]] = {}
    room_connections: Counter[str] = Counter()
    for connection in Connection.scan(filter_condition=Connection.expires_at > now):
        if connection.room is None:
            continue  # a rooms-list connection, in no room
        room_connections[connection.room] += 1
        room_users.setdefault(connection.room, set()).add(connection.user_id)
    hour, day = _since(now - timedelta(hours=1)), _since(now - timedelta(days=1))
    midnight = _since(now.replace(hour=0, minute=0, second=0, microsecond=0))
    posters: Counter[str] = Counter()
    rooms = []
    for room in room_list(include_archived=True):
        for message in Message.query(
            room.name, Message.message_id >= midnight, attributes_to_get=["username"]
        ):
            posters[message.username] += 1
        rooms.append(
            RoomStats(
                name=room.name,
                title=room.title,
                archived=room.archived,
                connections=room_connections[room.name],
                users=len(room_users.get(room.name, ())),
                messages_hour=Message.count(room.name, Message.message_id >= hour),
                messages_day=Message.count(room.name, Message.message_id >= day),
            )
        )
    everyone = set().union(*room_users.values()) if room_users else set()
    return Overview(
        connections=sum(room_connections.values()),
        users=len(everyone),
        rooms=rooms,
        top_users_today=posters.most_common(10),
    )
