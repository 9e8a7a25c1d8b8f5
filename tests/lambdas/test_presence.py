"""Presence is told to the room only when a person arrives or leaves: not for a second
connection of theirs (another tab, the socket a page hands over to), whose order is exact even
within one second, where the stored expiry (whole seconds) cannot tell two connections apart."""

from __future__ import annotations

import uuid
from datetime import timedelta

from lambdas.config import get_config
from lambdas.models import Connection, utcnow
from lambdas.services import connections
from lambdas.services.connections import connection_close, connection_open, presence_join
from lambdas.tokens import User
from tests.lambdas.fakes import FakeManagementApi


def open_as(api, room: str, user: User, connection_id: str, at) -> str:
    connection_open(api=api, connection_id=connection_id, user=user, room=room, connected_at=at)
    return connection_id


def window() -> float:
    """Presence's coalescing window, in seconds (PRESENCE_COALESCE_MS; tests/conftest.py)."""
    return get_config().presence_coalesce_ms / 1000


def test_a_second_connection_within_the_same_second_is_no_arrival_and_its_first_no_departure(
    dynamodb, room, presence_waits
):
    api = FakeManagementApi()
    alice = User(f"a{uuid.uuid4().hex[:8]}", "alice", False)
    bob = User(f"b{uuid.uuid4().hex[:8]}", "bob", False)
    tag = uuid.uuid4().hex[:6]
    bobs = open_as(api, room, bob, f"bob-{tag}", utcnow())
    second = utcnow().replace(microsecond=100_000) + timedelta(seconds=1)
    # The later connection has the smaller id: only the connecting time can order them.
    first = open_as(api, room, alice, f"z-first-{tag}", second)
    later = open_as(api, room, alice, f"a-later-{tag}", second + timedelta(milliseconds=200))
    stored = {c.connection_id: c.expires_at for c in Connection.user_index.query(alice.user_id)}
    assert stored[first] == stored[later]  # whole seconds: the expiry cannot tell them apart
    presence_join(api=api, connection_id=first, user=alice)
    assert [f["type"] for f in api.posts.pop(bobs)] == ["presence"]  # she arrived
    assert presence_waits == [window()]  # ... told once the window had passed
    assert presence_join(api=api, connection_id=later, user=alice).users  # answered...
    assert bobs not in api.posts  # ... and nobody told: she was here already
    connection_close(api=api, connection_id=first)
    assert bobs not in api.posts  # her newer connection keeps her here
    connection_close(api=api, connection_id=later)
    (told,) = api.posts.pop(bobs)
    assert [u["username"] for u in told["users"]] == ["bob"]  # she left
    assert presence_waits == [window(), window()]


def test_an_arrival_within_the_window_joins_the_pending_announcement(
    dynamodb, room, clock, presence_waits, monkeypatch
):
    """Arrivals within one window cost one list to the room, sent when the window closes to
    everyone, the first newcomer too (the list it had is older than the others' arrival)."""
    api = FakeManagementApi()
    tag = uuid.uuid4().hex[:6]
    alice, bob, carol = (User(f"{name[0]}{tag}", name, False) for name in ("alice", "bob", "carol"))
    alices = open_as(api, room, alice, f"alice-{tag}", utcnow())
    bobs = open_as(api, room, bob, f"bob-{tag}", utcnow())
    carols = open_as(api, room, carol, f"carol-{tag}", utcnow())
    answers = {}

    def carol_arrives_meanwhile(seconds: float) -> None:
        # The clock stands still (`clock`): carol's announcement finds bob's window open.
        answers["carol"] = presence_join(api=api, connection_id=carols, user=carol)
        assert not api.posts  # she joined bob's announcement, which has sent nothing yet
        presence_waits.append(seconds)

    monkeypatch.setattr(connections, "sleep", carol_arrives_meanwhile)
    answers["bob"] = presence_join(api=api, connection_id=bobs, user=bob)

    assert presence_waits == [window()]  # one window waited, by bob's announcement
    everyone = ["alice", "bob", "carol"]
    for connection_id in (alices, bobs, carols):
        (told,) = api.posts.pop(connection_id)
        assert (told["type"], [u["username"] for u in told["users"]]) == ("presence", everyone)
    assert not api.posts
    assert [name for _, name in answers["bob"].users] == everyone  # by username
