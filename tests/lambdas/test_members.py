"""Private rooms: their creator is the first member, members are items read both ways, and
removing one closes their sockets in that room; bad requests change nothing."""

from __future__ import annotations

import uuid

import pytest

from chat.selectors.members import member_list
from chat.selectors.rooms import room_list_private, room_page
from chat.services import moderation
from chat.services.members import member_add, member_remove
from chat.services.rooms import room_create
from lambdas.errors import AlreadyAMember, InvalidRequest, NotAMember
from lambdas.models import ARCHIVED, PRIVATE, Connection, Member, Room, utcnow
from lambdas.services.members import member_check
from lambdas.services.rooms import room_get
from lambdas.tokens import User
from tests.lambdas.fakes import FakeManagementApi


def uid() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


@pytest.fixture
def private_room(dynamodb):
    """A private room made by a user of its own; returns (room, creator)."""
    creator = User(uid(), "ada", False)
    name = f"priv-{uuid.uuid4().hex[:10]}"
    room = room_create(
        name=name,
        title="Plans",
        description="",
        created_by=creator.username,
        private=True,
        creator_id=creator.user_id,
    )
    return room, creator


def connection(room: str, user_id: str) -> str:
    now = utcnow()
    item = Connection(
        uuid.uuid4().hex,
        user_id=user_id,
        username="x",
        room=room,
        connected_at=now,
        expires_at=now.replace(year=now.year + 1),
    )
    item.save()
    return item.connection_id


def test_a_private_room_has_its_creator_as_first_member_and_is_not_listed_publicly(
    private_room,
):
    room, creator = private_room
    assert (room.status, room.private) == (PRIVATE, True)
    assert [(m.user_id, m.username, m.added_by) for m in member_list(room=room.name)] == [
        (creator.user_id, "ada", "ada")
    ]
    assert room_page(prefix=room.name).items == []  # the public list
    assert [r.name for r in room_page(status=PRIVATE, prefix=room.name).items] == [room.name]
    assert [r.name for r in room_list_private(user_id=creator.user_id)] == [room.name]
    assert room_list_private(user_id=uid()) == []


def test_only_members_and_staff_may_use_it(private_room):
    room, creator = private_room
    member_check(room=room.name, user=creator)
    member_check(room=room.name, user=User(uid(), "root", True))
    with pytest.raises(NotAMember):
        member_check(room=room.name, user=User(uid(), "eve", False))


def test_members_are_added_once(private_room):
    room, _ = private_room
    bob = uid()
    member_add(room=room, user_id=bob, username="bob", added_by="ada")
    with pytest.raises(AlreadyAMember):
        member_add(room=room, user_id=bob, username="bobby", added_by="eve")
    assert Member.get(room.name, bob).username == "bob"  # unchanged
    assert [r.name for r in room_list_private(user_id=bob)] == [room.name]


def test_a_public_room_has_no_members(dynamodb, make_room):
    room = room_get(name=make_room())
    with pytest.raises(InvalidRequest):
        member_add(room=room, user_id=uid(), username="bob", added_by="ada")
    assert Member.count(room.name) == 0


def test_a_private_room_needs_its_creator(dynamodb):
    name = f"priv-{uuid.uuid4().hex[:10]}"
    with pytest.raises(InvalidRequest):
        room_create(name=name, title="", description="", created_by="ada", private=True)
    assert Room.count(name) == 0


def test_removing_a_member_closes_their_sockets_in_that_room_only(private_room, make_room):
    room, _ = private_room
    bob = uid()
    member_add(room=room, user_id=bob, username="bob", added_by="ada")
    inside = [connection(room.name, bob), connection(room.name, bob)]
    elsewhere = connection(make_room(), bob)
    api = FakeManagementApi(gone={inside[1]})  # gone already, or still opening: forgotten too
    assert member_remove(api=api, room=room, user_id=bob) == 1
    assert api.deleted == [inside[0]]
    assert Connection.count(inside[1]) == 0 and Connection.count(elsewhere) == 1
    assert room_list_private(user_id=bob) == []
    with pytest.raises(NotAMember):
        member_check(room=room.name, user=User(bob, "bob", False))
    with pytest.raises(NotAMember):
        member_remove(api=api, room=room, user_id=bob)


def test_an_archived_private_room_is_unlisted_and_comes_back_private(private_room):
    room, creator = private_room
    moderation.room_archive(api=FakeManagementApi(), name=room.name)
    assert room_get(name=room.name).status == ARCHIVED
    assert room_list_private(user_id=creator.user_id) == []
    assert moderation.room_unarchive(name=room.name).status == PRIVATE
    assert [r.name for r in room_list_private(user_id=creator.user_id)] == [room.name]
