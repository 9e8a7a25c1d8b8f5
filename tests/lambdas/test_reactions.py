"""Reactions: each person counts once per emoji, changes reach the room as `message_updated`,
and bad reactions (another room's message, a deleted one, not an emoji, too many) change
nothing."""

from __future__ import annotations

import uuid

import pytest

from lambdas.errors import InvalidRequest, MessageNotFound
from lambdas.models import Message, utcnow
from lambdas.protocol import React, message_frame
from lambdas.services.connections import connection_open
from lambdas.services.messages import message_react, message_remove, message_send
from lambdas.tokens import User
from tests.lambdas.fakes import FakeManagementApi


@pytest.fixture
def scene(dynamodb, room, configure):
    """Ada and Bob connected in the room, one message of Ada's; the fake @connections."""
    configure(RATE_REACTIONS_PER_SECOND=100, RATE_REACTIONS_BURST=100)
    api = FakeManagementApi()
    people = {}
    for name in ("ada", "bob"):
        user = User(f"u{uuid.uuid4().hex[:10]}", name, False)
        connection_id = f"c-{name}-{room}"
        connection_open(
            api=api, connection_id=connection_id, user=user, room=room, connected_at=utcnow()
        )
        people[name] = (user, connection_id)
    user, connection_id = people["ada"]
    sent = message_send(api=api, connection_id=connection_id, sender=user, text="ship it?")
    api.posts.clear()
    return api, people, sent.message


def react(scene, who: str, emoji: str, *, remove: bool = False, message_id: str | None = None):
    api, people, message = scene
    user, connection_id = people[who]
    return message_react(
        api=api,
        connection_id=connection_id,
        reactor=user,
        message_id=message_id or message.message_id,
        emoji=emoji,
        remove=remove,
    )


def shown(scene) -> list[tuple[str, int, list[str]]]:
    _, _, message = scene
    stored = Message.get(message.room, message.message_id)
    frame = message_frame(stored)
    return [
        (r["emoji"], r["count"], [u["username"] for u in r["users"]])
        for r in frame.get("reactions", [])
    ]


def test_reactions_count_each_person_once_and_toggle(scene):
    api, people, message = scene
    react(scene, "ada", "👍")
    react(scene, "bob", "👍")
    react(scene, "bob", "👍")  # again: nothing changes, nothing is sent
    react(scene, "bob", "🎉")
    assert shown(scene) == [("👍", 2, ["ada", "bob"]), ("🎉", 1, ["bob"])]
    _, bob_connection = people["bob"]
    updates = api.posts[bob_connection]
    assert len(updates) == 3 and all(u["type"] == "message_updated" for u in updates)
    assert updates[-1]["reactions"][0] == {
        "emoji": "👍",
        "count": 2,
        "users": [{"id": people[n][0].user_id, "username": n} for n in ("ada", "bob")],
    }
    react(scene, "bob", "👍", remove=True)
    react(scene, "bob", "🎉", remove=True)
    react(scene, "bob", "🎉", remove=True)  # nothing to remove: nothing sent
    assert shown(scene) == [("👍", 1, ["ada"])]
    assert len(api.posts[bob_connection]) == 5


def test_reactions_survive_an_edit(scene):
    from lambdas.services.messages import message_edit

    api, people, message = scene
    react(scene, "bob", "❤️")
    user, connection_id = people["ada"]
    message_edit(
        api=api,
        connection_id=connection_id,
        editor=user,
        message_id=message.message_id,
        text="shipped",
    )
    assert shown(scene) == [("❤️", 1, ["bob"])]


def test_bad_reactions_change_nothing(scene, make_room):
    api, people, message = scene
    with pytest.raises(InvalidRequest):
        React.parse({"id": message.message_id, "emoji": "lol"})
    with pytest.raises(InvalidRequest):
        React.parse({"id": message.message_id, "emoji": "👍👍"})
    with pytest.raises(InvalidRequest):
        React.parse({"id": message.message_id, "emoji": "👍", "remove": "yes"})
    elsewhere = Message(
        make_room(), message.message_id, user_id="9", username="zed", text="x", sent_at=utcnow()
    )
    elsewhere.save()  # the same id in another room: not reachable from this one
    react(scene, "bob", "👍", message_id=message.message_id)
    assert Message.get(elsewhere.room, elsewhere.message_id).reactions is None
    with pytest.raises(MessageNotFound):
        react(scene, "bob", "👍", message_id="01JABCDEFGHJKMNPQRSTVWXYZ0")
    user, _ = people["ada"]
    message_remove(api=api, room=message.room, message_id=message.message_id, deleter=user)
    with pytest.raises(MessageNotFound):
        react(scene, "bob", "🎉")


def test_one_person_puts_at_most_ten_emoji_on_a_message(scene):
    palette = ["😀", "😃", "😄", "😁", "😆", "😅", "🤣", "😊", "😇", "🙂", "🙃"]
    for emoji in palette[:10]:
        react(scene, "bob", emoji)
    with pytest.raises(InvalidRequest):
        react(scene, "bob", palette[10])
    assert len(shown(scene)) == 10
