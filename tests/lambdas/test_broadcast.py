"""Fan-out reaches every live connection of the room and forgets exactly the gone ones."""

import uuid
from datetime import timedelta

from lambdas.models import Connection, utcnow
from lambdas.services.broadcast import broadcast
from tests.lambdas.fakes import FakeManagementApi


def add_connection(room: str, *, expired: bool = False, opening: bool = False) -> str:
    """A connection item; `opening`: its $connect is still running (it connected just now)."""
    connection_id = uuid.uuid4().hex[:16]
    now = utcnow()
    Connection(
        connection_id,
        user_id="1",
        username="alice",
        room=room,
        connected_at=now if opening else now - timedelta(minutes=5),
        expires_at=now - timedelta(minutes=1) if expired else now + timedelta(hours=2),
    ).save()
    return connection_id


def test_every_live_connection_of_the_room_gets_the_frame(dynamodb, room):
    """All live connections of the room receive the payload once; other rooms none."""
    members = [add_connection(room) for _ in range(5)]
    outsider = add_connection(room + "-other")
    api = FakeManagementApi()
    result = broadcast(api=api, room=room, payload={"type": "message", "text": "hi"})
    assert result.delivered == 5
    assert api.posts == {cid: [{"type": "message", "text": "hi"}] for cid in members}
    assert outsider not in api.posts


def test_gone_connection_is_deleted_and_only_it(dynamodb, room):
    """A 410 deletes the connection that answered it; the sender's and others' items stay."""
    members = [add_connection(room) for _ in range(6)]
    stale = members[3]
    api = FakeManagementApi(gone={stale})
    result = broadcast(api=api, room=room, payload={"type": "message"})
    assert result.gone == [stale]
    assert result.delivered == 5
    remaining = {c.connection_id for c in Connection.room_index.query(room)}
    assert remaining == set(members) - {stale}


def test_expired_connections_are_skipped(dynamodb, room):
    """Connections past their TTL are not posted to, even though dynalite never expires them."""
    live = add_connection(room)
    expired = add_connection(room, expired=True)
    api = FakeManagementApi()
    broadcast(api=api, room=room, payload={"type": "message"})
    assert set(api.posts) == {live}
    assert expired not in api.posts


def test_one_failing_delivery_does_not_drop_the_rest(dynamodb, room):
    """An error other than 410 is reported and the rest of the room still receives the frame."""
    good = [add_connection(room) for _ in range(3)]
    bad = add_connection(room)
    api = FakeManagementApi(failing={bad})
    result = broadcast(api=api, room=room, payload={"type": "message"})
    assert result.failed == [bad] and result.delivered == 3
    assert set(api.posts) == set(good)
    assert Connection.get(bad)  # a timeout is not a reason to forget the connection


def test_room_of_several_pages_is_read_completely(dynamodb, room, monkeypatch):
    """A room larger than one index page is fanned out to every member."""
    from lambdas.services import broadcast as module

    members = {add_connection(room) for _ in range(7)}
    original = module.room_connection_ids
    monkeypatch.setattr(
        module, "room_connection_ids", lambda room: original(room=room, page_size=2)
    )
    api = FakeManagementApi()
    assert broadcast(api=api, room=room, payload={"type": "m"}).delivered == 7
    assert set(api.posts) == members


def test_a_connection_still_opening_is_not_forgotten(dynamodb, room):
    """A 410 from a connection whose $connect has not returned yet does not delete its item."""
    opening = add_connection(room, opening=True)
    stale = add_connection(room)
    result = broadcast(api=FakeManagementApi(gone={opening, stale}), room=room, payload={"t": 1})
    assert sorted(result.gone) == sorted([opening, stale])
    assert {c.connection_id for c in Connection.room_index.query(room)} == {opening}
