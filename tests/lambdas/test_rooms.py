"""Rooms: names are checked, `general` always exists, names are never taken twice."""

import pytest

from lambdas.errors import InvalidRequest, InvalidRoom, RoomArchived, RoomExists, RoomNotFound
from lambdas.models import Connection, Room, utcnow
from lambdas.services.rooms import (
    room_create,
    room_get,
    room_get_open,
    room_list,
    room_online_counts,
)


def test_general_is_created_on_first_use(dynamodb):
    """Asking for `general` on an empty table creates it once."""
    Room("general").delete()
    assert room_get(name="general").title == "General"
    assert room_get(name=None).name == "general"
    assert [r.name for r in room_list()].count("general") == 1


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
    """An unknown room is not found; an archived one is found but not open."""
    with pytest.raises(RoomNotFound):
        room_get_open(name="never-created")
    Room.get(room).update(actions=[Room.archived.set(True)])
    with pytest.raises(RoomArchived):
        room_get_open(name=room)
    assert room not in [r.name for r in room_list()]
    assert room in [r.name for r in room_list(include_archived=True)]


def test_online_counts_are_distinct_users(dynamodb, make_room):
    """Counts are of people, not tabs, and ignore expired connections."""
    from datetime import timedelta

    busy, empty = make_room(), make_room()
    now = utcnow()
    for cid, user, expires in [("t1", "1", 1), ("t2", "1", 1), ("t3", "2", 1), ("t4", "3", -1)]:
        Connection(
            f"{cid}-{busy}",
            user_id=user,
            username=f"u{user}",
            room=busy,
            connected_at=now,
            expires_at=now + timedelta(hours=expires),
        ).save()
    assert room_online_counts(names=[busy, empty]) == {busy: 2, empty: 0}
