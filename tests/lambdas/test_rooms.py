"""Rooms: names are checked, `general` always exists, names are never taken twice, and lists
are read a page at a time through the by-status index, with online counts stored per room."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

import pytest

from chat.selectors.rooms import room_page
from chat.services.rooms import room_create
from lambdas.errors import (
    InvalidPageToken,
    InvalidRequest,
    InvalidRoom,
    RoomArchived,
    RoomExists,
    RoomNotFound,
)
from lambdas.models import ARCHIVED, Connection, Room, utcnow
from lambdas.services.rooms import (
    Presence,
    room_get,
    room_get_open,
    room_online_record,
    room_presence,
    rooms_backfill,
)


def prefix() -> str:
    """A name prefix of this test's own: the session's table holds every test's rooms."""
    return f"p{uuid.uuid4().hex[:8]}-"


def archive(name: str) -> None:
    Room(name).update(actions=[Room.status.set(ARCHIVED)])


@pytest.fixture
def dynamodb_calls():
    """Counts the DynamoDB operations made through the models' shared client."""
    client = Room._get_connection().connection.client
    calls: Counter[str] = Counter()

    def count(model, params, **kwargs):
        calls[model.name] += 1

    client.meta.events.register("before-call.dynamodb", count)
    yield calls
    client.meta.events.unregister("before-call.dynamodb", count)


def test_general_is_created_on_first_use(dynamodb):
    """Asking for `general` on an empty table creates it once, open."""
    Room("general").delete()
    assert room_get(name="general").title == "General"
    assert room_get(name=None).name == "general"
    assert [r.name for r in room_page(prefix="general").items] == ["general"]


def test_create_refuses_a_taken_name_without_overwriting(dynamodb, room):
    """A second room with the same name is refused and the first keeps its title."""
    with pytest.raises(RoomExists):
        room_create(name=room, title="Hijack", description="", created_by="mallory")
    assert room_get(name=room).created_by == "test"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"name": "Big Room"}, InvalidRoom),
        ({"name": "ok-name", "title": "t" * 101}, InvalidRequest),
        ({"name": "ok-name", "description": "d" * 501}, InvalidRequest),
    ],
)
def test_create_validates(dynamodb, fields, error):
    """Bad names, titles and descriptions are refused before anything is written."""
    values = {"title": "", "description": "", "created_by": "x"} | fields
    with pytest.raises(error):
        room_create(**values)
    with pytest.raises((RoomNotFound, InvalidRoom)):
        room_get(name=fields["name"])


def test_unknown_and_archived_rooms_are_not_open(dynamodb, room):
    """An unknown room is not found; an archived one is found but not open, and is listed
    with the archived rooms only."""
    with pytest.raises(RoomNotFound):
        room_get_open(name="never-created")
    archive(room)
    with pytest.raises(RoomArchived):
        room_get_open(name=room)
    assert room_page(prefix=room).items == []
    assert [r.name for r in room_page(status=ARCHIVED, prefix=room).items] == [room]


def test_pages_follow_name_order_and_end(dynamodb, make_room):
    """Pages of 2 walk the rooms in name order; the last page has no next token."""
    start = prefix()
    names = sorted(make_room(f"{start}{letter}") for letter in "ecabd")
    seen, token, pages = [], None, 0
    while True:
        page = room_page(prefix=start, token=token, limit=2)
        seen += [r.name for r in page.items]
        pages += 1
        token = page.next_token
        if token is None:
            break
    assert seen == names
    assert pages in (3, 4)  # DynamoDB may hand out a token for an empty last page


def test_a_page_of_open_rooms_is_not_eaten_by_archived_ones(dynamodb, make_room):
    """30 archived rooms that sort first do not shrink a page of open ones: they are under
    another key of the index, not filtered out of what was read (as a Scan would)."""
    start = prefix()
    for i in range(30):
        archive(make_room(f"{start}a{i:02}"))
    open_rooms = [make_room(f"{start}z{i}") for i in range(3)]
    page = room_page(prefix=start, limit=2)
    assert [r.name for r in page.items] == open_rooms[:2]
    assert [r.name for r in room_page(prefix=start, token=page.next_token).items] == open_rooms[2:]
    assert len(room_page(status=ARCHIVED, prefix=start, limit=100).items) == 30


def test_a_page_costs_one_query_and_one_batch_read(dynamodb, make_room, dynamodb_calls):
    """Online counts of a page of 20 rooms come from one BatchGetItem, not a query per room."""
    start = prefix()
    for i in range(20):
        make_room(f"{start}{i:02}")
    dynamodb_calls.clear()
    assert len(room_page(prefix=start, limit=50).items) == 20
    assert dynamodb_calls == {"Query": 1, "BatchGetItem": 1}


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"prefix": "Big Room"}, InvalidRoom),
        ({"prefix": "x" * 65}, InvalidRoom),
        ({"status": "deleted"}, InvalidRequest),
        ({"token": "not-a-token"}, InvalidPageToken),
        ({"token": "eyJhIjoxfQ"}, InvalidPageToken),  # {"a":1}: not one of our keys
    ],
)
def test_bad_list_requests_are_refused(dynamodb, arguments, error):
    with pytest.raises(error):
        room_page(**arguments)


def connection(room: str, user: str, *, hours: float = 1) -> Connection:
    now = utcnow()
    item = Connection(
        uuid.uuid4().hex,
        user_id=user,
        username=f"u{user}",
        room=room,
        connected_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    item.save()
    return item


def test_presence_counts_people_not_tabs_until_their_connections_expire(dynamodb, room):
    """Two tabs are one person; an expired connection is nobody; `until` is the last expiry."""
    connection(room, "1", hours=1)
    latest = connection(room, "1", hours=2)
    connection(room, "2", hours=1)
    connection(room, "3", hours=-1)
    presence = room_presence(room=room)
    assert presence.users == [("1", "u1"), ("2", "u2")]
    assert presence.until == latest.expires_at


def test_the_stored_count_is_the_latest_reading_and_expires(dynamodb, make_room):
    """An older reading never replaces a newer one; a count ends with its connections."""
    name, now = make_room(), utcnow()
    two = Presence(room=name, users=[("1", "a"), ("2", "b")], until=now + timedelta(minutes=5))
    nobody = Presence(room=name, users=[], until=None)
    room_online_record(room=name, presence=two, read_at=1000.0)
    room_online_record(room=name, presence=nobody, read_at=999.0)
    (listed,) = room_page(prefix=name).items
    assert listed.online == 2
    assert room_page(prefix=name, now=now + timedelta(minutes=6)).items[0].online == 0
    room_online_record(room=name, presence=nobody, read_at=1001.0)
    assert room_page(prefix=name).items[0].online == 0


def test_a_count_never_recreates_a_deleted_room(dynamodb, make_room):
    name = make_room()
    Room(name).delete()
    one = Presence(room=name, users=[("1", "a")], until=utcnow())
    room_online_record(room=name, presence=one, read_at=1)
    assert Room.count(name) == 0


def test_backfill_lists_rooms_stored_before_the_index(dynamodb):
    """Items without `status` (the old boolean instead) are moved into the index, archived
    ones as archived; a second run changes nothing; `general` exists afterwards."""
    start = prefix()
    client = Room._get_connection().connection.client
    for name, archived in [(f"{start}old-open", False), (f"{start}old-closed", True)]:
        client.put_item(
            TableName=Room.Meta.table_name,
            Item={
                "name": {"S": name},
                "title": {"S": name},
                "created_by": {"S": "test"},
                "created_at": {"S": "2025-01-01T00:00:00.000000+0000"},
                "archived": {"BOOL": archived},
            },
        )
    assert room_page(prefix=start).items == []  # not in the index yet
    Room("general").delete()
    assert rooms_backfill() >= 2
    assert [r.name for r in room_page(prefix=start).items] == [f"{start}old-open"]
    assert [r.name for r in room_page(status=ARCHIVED, prefix=start).items] == [
        f"{start}old-closed"
    ]
    stored = client.get_item(
        TableName=Room.Meta.table_name, Key={"name": {"S": f"{start}old-closed"}}
    )
    assert "archived" not in stored["Item"] and stored["Item"]["status"] == {"S": "archived"}
    assert room_get(name="general", create_default=False).name == "general"
    assert rooms_backfill() == 0
