"""`typing`: told to the rest of the room, never to the typist's own connection, and to nobody in
a room too large for it (lambdas/services/messages.py TYPING_MAX_RECIPIENTS)."""

from __future__ import annotations

import uuid

from lambdas.models import utcnow
from lambdas.services import messages as messages_service
from lambdas.services.connections import connection_open
from lambdas.services.messages import typing_send
from lambdas.tokens import User
from tests.lambdas.fakes import FakeManagementApi


def opened(api, room: str, name: str) -> tuple[User, str]:
    user = User(f"u{uuid.uuid4().hex[:10]}", name, False)
    connection_id = f"c-{uuid.uuid4().hex[:8]}"
    connection_open(
        api=api, connection_id=connection_id, user=user, room=room, connected_at=utcnow()
    )
    return user, connection_id


def test_the_others_in_the_room_are_told(dynamodb, room):
    api = FakeManagementApi()
    (alice, mine), (_, bobs), (_, carols) = (
        opened(api, room, n) for n in ("alice", "bob", "carol")
    )
    api.posts.clear()
    typing_send(api=api, connection_id=mine, typist=alice)
    assert sorted(api.posts) == sorted([bobs, carols])
    assert [frame["type"] for frame in api.posts[bobs]] == ["typing"]
    assert api.posts[bobs][0]["user"]["username"] == "alice"


def test_a_room_with_more_recipients_than_the_limit_hears_nothing(dynamodb, room, monkeypatch):
    monkeypatch.setattr(messages_service, "TYPING_MAX_RECIPIENTS", 2)
    api = FakeManagementApi()
    (alice, mine), *_ = (opened(api, room, n) for n in ("alice", "bob", "carol", "dave"))
    api.posts.clear()
    typing_send(api=api, connection_id=mine, typist=alice)  # 3 others: more than 2
    assert api.posts == {}
    monkeypatch.setattr(messages_service, "TYPING_MAX_RECIPIENTS", 3)
    typing_send(api=api, connection_id=mine, typist=alice)
    assert len(api.posts) == 3
