"""Direct conversations: the same people always get the same private room, whose members are
exactly them; bad requests change nothing."""

from __future__ import annotations

import uuid

import pytest

from chat.selectors.rooms import room_list_private
from chat.services.direct import direct_name, direct_open
from chat.services.members import member_add, member_remove
from chat.services.rooms import room_create
from lambdas.errors import InvalidRequest, InvalidRoom, NotAMember
from lambdas.models import PRIVATE, Member, Room
from lambdas.services.members import member_check
from lambdas.tokens import User
from tests.lambdas.fakes import FakeManagementApi


def person(name: str) -> tuple[str, str]:
    return (f"u{uuid.uuid4().hex[:10]}", name)


def members(room: str) -> list[str]:
    return sorted(member.username for member in Member.query(room))


def test_the_same_people_always_get_the_same_conversation(dynamodb):
    ada, bob, cy = person("ada"), person("bob"), person("cy")
    first = direct_open(people=[ada, bob], opened_by="ada")
    again = direct_open(people=[bob, ada, bob], opened_by="bob")  # any order, any opener
    assert first.name == again.name and first.name.startswith("dm-")
    assert (again.status, again.private, again.direct) == (PRIVATE, True, True)
    assert members(first.name) == ["ada", "bob"]
    assert again.others("bob") == ["ada"]
    group = direct_open(people=[ada, bob, cy], opened_by="cy")
    assert group.name not in (first.name,) and members(group.name) == ["ada", "bob", "cy"]
    listed = {room.name for room in room_list_private(user_id=ada[0])}
    assert {first.name, group.name} <= listed
    assert Room.count(first.name) == 1


def test_only_its_people_may_use_it(dynamodb):
    ada, bob = person("ada"), person("bob")
    room = direct_open(people=[ada, bob], opened_by="ada")
    member_check(room=room.name, user=User(*bob, False))
    with pytest.raises(NotAMember):
        member_check(room=room.name, user=User(*person("eve"), False))


def test_an_interrupted_first_opening_is_completed_by_the_next(dynamodb):
    ada, bob = person("ada"), person("bob")
    room = direct_open(people=[ada, bob], opened_by="ada")
    Member(room.name, bob[0]).delete()  # as if the first opening stopped after ada's write
    direct_open(people=[ada, bob], opened_by="ada")
    assert members(room.name) == ["ada", "bob"]


@pytest.mark.parametrize("count", [1, 9])
def test_alone_or_more_than_eight_is_refused(dynamodb, count):
    people = [person(f"p{n}") for n in range(count)]
    with pytest.raises(InvalidRequest):
        direct_open(people=people, opened_by="p0")
    assert Room.count(direct_name([uid for uid, _ in people])) == 0


def test_its_people_are_fixed_and_its_names_reserved(dynamodb):
    ada, bob = person("ada"), person("bob")
    room = direct_open(people=[ada, bob], opened_by="ada")
    with pytest.raises(InvalidRequest):
        member_add(room=room, user_id=person("eve")[0], username="eve", added_by="ada")
    with pytest.raises(InvalidRequest):
        member_remove(api=FakeManagementApi(), room=room, user_id=bob[0])
    assert members(room.name) == ["ada", "bob"]
    with pytest.raises(InvalidRoom):
        room_create(name="dm-mine", title="", description="", created_by="eve")
    assert Room.count("dm-mine") == 0
