"""The staff dashboard's selectors and actions (chat/selectors/moderation.py,
chat/services/moderation.py): pages of connections and messages, disconnects, archives, stats."""

import base64
import json
from datetime import timedelta

import pytest

from chat.selectors import moderation as selectors
from chat.services import moderation
from lambdas.errors import ConnectionNotFound, InvalidPageToken, RoomNotFound
from lambdas.ids import new_ulid
from lambdas.models import Connection, Message, Room, utcnow
from lambdas.services.pages import page_token_encode
from lambdas.tokens import User
from tests.lambdas.fakes import FakeManagementApi

STAFF = User("99", "staff", True)


def add_connection(
    room: str | None,
    user_id: str = "1",
    *,
    hours: float = 2,
    sid: str | None = None,
    opening: bool = False,
) -> str:
    """A connection item; `opening`: its $connect is still running (it connected just now)."""
    now = utcnow()
    cid = f"{room}-{new_ulid()}"
    Connection(
        cid,
        user_id=user_id,
        username=f"user{user_id}",
        room=room,
        connected_at=now if opening else now - timedelta(minutes=5),
        expires_at=now + timedelta(hours=hours),
        sid=sid,
    ).save()
    return cid


def add_message(room: str, text: str, user_id: str = "1", *, at=None) -> str:
    message_id = new_ulid(int((at or utcnow()).timestamp() * 1000))
    Message(
        room,
        message_id,
        user_id=user_id,
        username=f"user{user_id}",
        text=text,
        sent_at=at or utcnow(),
    ).save()
    return message_id


def all_pages(read) -> list:
    items, token, pages = [], None, 0
    while True:
        page = read(token)
        items += page.items
        pages += 1
        token = page.next_token
        if token is None:
            return items, pages


def test_connection_pages_return_every_live_connection_exactly_once(dynamodb, room):
    """Three and more pages of a room's connections hold each live one once, no expired ones."""
    live = {add_connection(room, str(n % 3)) for n in range(7)}
    add_connection(room, hours=-1)
    items, pages = all_pages(
        lambda token: selectors.connection_list(room=room, page_token=token, limit=2)
    )
    ids = [c.connection_id for c in items]
    assert sorted(ids) == sorted(live) and pages >= 3


def test_connections_filter_by_user(dynamodb, room):
    """Filtering by user lists that user's connections only."""
    mine = {add_connection(room, "u-filter"), add_connection(room, "u-filter")}
    add_connection(room, "someone-else")
    items, _ = all_pages(
        lambda token: selectors.connection_list(user_id="u-filter", page_token=token, limit=1)
    )
    assert {c.connection_id for c in items} == mine


def test_message_pages_are_newest_first_and_complete(dynamodb, room):
    """Paging a room's messages newest first visits each once; filters narrow them."""
    ids = [add_message(room, f"text {n}", user_id=str(n % 2)) for n in range(7)]
    items, pages = all_pages(
        lambda token: selectors.message_list(room=room, page_token=token, limit=3)
    )
    assert [m.message_id for m in items] == list(reversed(ids)) and pages >= 3
    by_user, _ = all_pages(
        lambda token: selectors.message_list(room=room, user_id="1", page_token=token, limit=2)
    )
    assert [m.text for m in by_user] == ["text 5", "text 3", "text 1"]
    found, _ = all_pages(
        lambda token: selectors.message_list(room=room, text="xt 4", page_token=token)
    )
    assert [m.text for m in found] == ["text 4"]


@pytest.mark.parametrize(
    "token",
    [
        "garbage!!",
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        page_token_encode({"connection_id": {"S": "x"}, "evil": {"S": "y"}}),
        page_token_encode({"connection_id": {"B": "eA=="}}),
        page_token_encode({"connection_id": {"S": 5}}),
        "A" * 5000,
    ],
)
def test_tampered_page_tokens_are_refused(dynamodb, token):
    """A page token we did not make is a clean InvalidPageToken, never a DynamoDB error."""
    with pytest.raises(InvalidPageToken):
        selectors.connection_list(page_token=token)


def test_a_token_of_another_list_is_refused(dynamodb, room):
    """A room-index token handed to the messages list does not reach DynamoDB."""
    token = page_token_encode({"connection_id": {"S": "a"}, "room": {"S": room}})
    with pytest.raises(InvalidPageToken):
        selectors.message_list(room=room, page_token=token)


def test_disconnect_deletes_through_the_api_or_removes_a_stale_item(dynamodb, room):
    """A live connection is closed through @connections; a gone one just loses its item."""
    live, stale = add_connection(room), add_connection(room)
    api = FakeManagementApi(gone={stale})
    assert moderation.connection_disconnect(api=api, connection_id=live) is True
    assert api.deleted == [live]
    assert moderation.connection_disconnect(api=api, connection_id=stale) is False
    assert not list(Connection.query(stale))
    assert list(Connection.query(live))  # its $disconnect removes it, not us
    with pytest.raises(ConnectionNotFound):
        moderation.connection_disconnect(api=api, connection_id="never-was")


def test_a_410_from_a_connection_still_opening_keeps_its_item(dynamodb, room):
    """A 410 means what it means to broadcast: a connection whose $connect may still be running
    (API Gateway answers 410 until it returns) keeps its item; an older one loses it."""
    opening, stale = add_connection(room, opening=True), add_connection(room)
    api = FakeManagementApi(gone={opening, stale})
    assert moderation.connection_disconnect(api=api, connection_id=opening) is False
    assert moderation.connection_disconnect(api=api, connection_id=stale) is False
    assert list(Connection.query(opening))
    assert not list(Connection.query(stale))


def test_a_browser_sessions_disconnect_closes_only_its_own_live_connections(dynamodb, room):
    """Of the user's connections, those of the session (in a room or the lobby) are closed,
    the one gone already loses its item and is not counted; the user's other sessions, their
    tokens without a session, an expired item and another user's same session id are left."""
    user, other = f"u-{new_ulid()}", f"u-{new_ulid()}"
    mine = {add_connection(room, user, sid="s1"), add_connection(None, user, sid="s1")}
    gone = add_connection(room, user, sid="s1")
    kept = {
        add_connection(room, user, sid="s2"),
        add_connection(room, user),
        add_connection(room, user, sid="s1", hours=-1),
        add_connection(room, other, sid="s1"),
    }
    api = FakeManagementApi(gone={gone})
    assert moderation.session_disconnect(api=api, user_id=user, session_id="s1") == 2
    assert set(api.deleted) == mine and not set(api.deleted) & kept
    assert not list(Connection.query(gone))
    assert moderation.session_disconnect(api=api, user_id=f"u-{new_ulid()}", session_id="s1") == 0


def test_archive_closes_the_rooms_connections(dynamodb, room):
    """Archiving marks the room and closes each of its connections."""
    ids = {add_connection(room) for _ in range(3)}
    api = FakeManagementApi()
    assert moderation.room_archive(api=api, name=room) == 3
    assert set(api.deleted) == ids and Room.get(room).archived
    assert not moderation.room_unarchive(name=room).archived
    with pytest.raises(RoomNotFound):
        moderation.room_archive(api=api, name="not-a-room")


def test_overview_counts(dynamodb, make_room):
    """Connections, distinct users and message counts per room come from the tables."""
    room = make_room()
    now = utcnow()
    for user in ("1", "1", "2"):
        add_connection(room, user)
    add_connection(room, "3", hours=-1)
    add_message(room, "old", at=now - timedelta(hours=5))
    for _ in range(3):
        add_message(room, "new", user_id="7")
    overview = selectors.stats_overview(now=now + timedelta(seconds=1))
    (stats,) = [r for r in overview.rooms if r.name == room]
    assert (stats.connections, stats.users, stats.messages_hour, stats.messages_day) == (3, 2, 3, 4)
    assert overview.connections >= 3 and overview.users >= 2
    assert ("user7", 3) in overview.top_users_today or overview.top_users_today[0][1] >= 3
    json.dumps([r.__dict__ for r in overview.rooms])
