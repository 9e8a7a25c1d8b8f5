"""Unread counts and mentions in private rooms: counted per member on send, moved forward by
reading, told to the member's other connections; mentions only of members."""

from __future__ import annotations

import uuid

import pytest

from lambdas.errors import InvalidMention
from lambdas.models import Member, Message, utcnow
from lambdas.services.connections import connection_open
from lambdas.services.members import member_add, member_positions
from lambdas.services.messages import message_send
from lambdas.services.rooms import room_create
from lambdas.services.unread import unread_read
from lambdas.tokens import User
from tests.lambdas.fakes import FakeManagementApi


@pytest.fixture
def team(dynamodb, make_room):
    """A private room of ada, bob and cy; ada and bob connected in it, bob also in a public
    room elsewhere (another tab); returns (api, room, users, connections)."""
    users = {n: User(f"u{uuid.uuid4().hex[:10]}", n, False) for n in ("ada", "bob", "cy")}
    room = room_create(
        name=f"team-{uuid.uuid4().hex[:8]}",
        title="",
        description="",
        created_by="ada",
        private=True,
        creator_id=users["ada"].user_id,
    )
    for name in ("bob", "cy"):
        member_add(room=room, user_id=users[name].user_id, username=name, added_by="ada")
    api = FakeManagementApi()
    tabs = {}
    for name, where in (("ada", room.name), ("bob", room.name), ("bob-elsewhere", make_room())):
        user = users[name.split("-")[0]]
        tabs[name] = f"c-{uuid.uuid4().hex[:8]}"
        connection_open(
            api=api, connection_id=tabs[name], user=user, room=where, connected_at=utcnow()
        )
    return api, room.name, users, tabs


def counts(room: str, user: User) -> tuple[int, int]:
    member = Member.get(room, user.user_id)
    return int(member.unread or 0), int(member.mentions or 0)


def send(team, who: str, text: str) -> Message:
    api, room, users, tabs = team
    return message_send(api=api, connection_id=tabs[who], sender=users[who], text=text).message


def test_messages_count_for_the_others_and_reach_their_other_tabs(team):
    api, room, users, tabs = team
    send(team, "ada", "one")
    last = send(team, "ada", "two")
    assert counts(room, users["bob"]) == (2, 0) and counts(room, users["cy"]) == (2, 0)
    assert counts(room, users["ada"]) == (0, 0)  # the sender has read what she sent
    assert Member.get(room, users["ada"].user_id).last_read == last.message_id
    told = [f for f in api.posts[tabs["bob-elsewhere"]] if f["type"] == "unread"]
    assert told[-1] == {"type": "unread", "room": room, "unread": 2, "mentions": 0}
    assert not [f for f in api.posts[tabs["bob"]] if f["type"] == "unread"]  # has the messages
    assert member_positions(user_id=users["bob"].user_id)[room].unread == 2


def test_reading_moves_forward_only_and_every_tab_hears(team):
    api, room, users, tabs = team
    first = send(team, "ada", "one")
    second = send(team, "ada", "two")
    send(team, "ada", "three")
    unread_read(api=api, room=room, user_id=users["bob"].user_id, message_id=second.message_id)
    assert counts(room, users["bob"]) == (1, 0)
    for tab in ("bob", "bob-elsewhere"):
        assert api.posts[tabs[tab]][-1] == {
            "type": "unread",
            "room": room,
            "unread": 1,
            "mentions": 0,
        }
    assert (
        unread_read(api=api, room=room, user_id=users["bob"].user_id, message_id=first.message_id)
        is None
    )  # backwards: nothing changes
    assert counts(room, users["bob"]) == (1, 0)
    send(team, "ada", "four")
    assert counts(room, users["bob"]) == (2, 0)  # kept in DynamoDB: a reconnect finds it


def test_mentions_are_counted_and_delivered_with_the_message(team):
    api, room, users, tabs = team
    sent = send(team, "ada", "@bob and @cy: lunch? (mail me at ada@example.com)")
    assert counts(room, users["bob"]) == (1, 1) and counts(room, users["cy"]) == (1, 1)
    told = api.posts[tabs["bob-elsewhere"]][-1]
    assert told["mentions"] == 1 and told["mention"]["id"] == sent.message_id
    send(team, "ada", "no names here")
    assert counts(room, users["bob"]) == (2, 1)


def test_mentioning_someone_who_is_not_a_member_is_refused(team):
    api, room, users, tabs = team
    with pytest.raises(InvalidMention):
        send(team, "ada", "hey @eve, join us")
    assert list(Message.query(room)) == []
    assert counts(room, users["bob"]) == (0, 0)
