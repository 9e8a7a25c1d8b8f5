"""Change numbers: every change in a room takes its next number, a message's `rev` never goes
back, `since` answers each changed message once as it is now, and a number taken but never
written is pending until it cannot be written any more, then empty."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest

from lambdas.models import Message, Room, utcnow
from lambdas.protocol import message_frame
from lambdas.services.changes import change_number, changes_since, settled_position
from lambdas.services.connections import connection_open
from lambdas.services.messages import (
    message_edit,
    message_react,
    message_remove,
    message_send,
)
from lambdas.tokens import User
from tests.lambdas.fakes import FakeManagementApi


@pytest.fixture
def chat(dynamodb, room, configure):
    """Ada connected in the room: `say(text)` sends, and the fake @connections."""
    configure(RATE_REACTIONS_PER_SECOND=100, RATE_REACTIONS_BURST=100, CHANGE_SETTLE_SECONDS=2)
    api = FakeManagementApi()
    ada = User(f"u{uuid.uuid4().hex[:10]}", "ada", False)
    connection_open(api=api, connection_id=f"c-{room}", user=ada, room=room, connected_at=utcnow())

    def say(text: str) -> Message:
        return message_send(api=api, connection_id=f"c-{room}", sender=ada, text=text).message

    return api, ada, f"c-{room}", say


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """Time as change numbers see it (when one is taken, how long ago): tests move now[0]
    instead of sleeping, so "just now" and "long enough ago" hold however slow the machine."""
    now = [time.time()]
    monkeypatch.setattr("lambdas.services.changes.time", SimpleNamespace(time=lambda: now[0]))
    return now


def test_every_change_takes_the_rooms_next_number_and_frames_carry_it(chat, room):
    api, ada, connection_id, say = chat
    first, second = say("one"), say("two")
    assert (first.seq, first.rev, second.seq, second.rev) == (1, 1, 2, 2)
    edited = message_edit(
        api=api, connection_id=connection_id, editor=ada, message_id=first.message_id, text="1"
    )
    reacted = message_react(
        api=api, connection_id=connection_id, reactor=ada, message_id=second.message_id, emoji="👍"
    )
    assert (edited.seq, edited.rev, reacted.seq, reacted.rev) == (1, 3, 2, 4)
    api.posts.clear()
    message_remove(api=api, room=room, message_id=first.message_id, deleter=ada)
    (deleted,) = [frame for frames in api.posts.values() for frame in frames]
    assert (deleted["type"], deleted["rev"]) == ("message_deleted", 5)
    assert Room.get(room).seq == 5
    stored = Message.get(room, first.message_id)
    assert (stored.seq, stored.rev, stored.deleted) == (1, 5, True)
    assert message_frame(stored)["seq"] == 1


def test_since_answers_each_changed_message_once_as_it_is_now(chat, room, clock):
    api, ada, connection_id, say = chat
    old, new = say("old"), say("new")
    message_edit(
        api=api, connection_id=connection_id, editor=ada, message_id=old.message_id, text="OLD"
    )
    changes = changes_since(room=room, since=1)
    assert [(m.message_id, m.text, m.rev) for m in changes.messages] == [
        (new.message_id, "new", 2),
        (old.message_id, "OLD", 3),
    ]
    assert (changes.since, changes.to, changes.latest, changes.has_more) == (1, 3, 3, False)
    # Number 1 is nobody's now (the message moved on to 3), but it was taken just now.
    assert changes_since(room=room, since=0).empty == []
    assert changes_since(room=room, since=3).messages == []


def test_a_number_taken_and_never_written_is_pending_then_empty(chat, room, clock):
    """A send that died between taking its number and storing its message: clients are told
    the number is empty once no write can still come (CHANGE_SETTLE_SECONDS, 2 s here)."""
    _, _, _, say = chat
    say("before")
    change_number(room=room)  # the dead send's number: 2
    after = say("after")  # 3
    changes = changes_since(room=room, since=1)
    assert [m.rev for m in changes.messages] == [3] and changes.empty == []
    assert settled_position(room=room) == 1  # a page read now brings its reader to 1 only
    clock[0] += 2.1
    changes = changes_since(room=room, since=1)
    assert changes.empty == [(2, 2)] and changes.to == 3
    assert settled_position(room=room) == 3
    change_number(room=room)  # another dead one, the newest number of all: 4
    assert changes_since(room=room, since=3).empty == []
    assert settled_position(room=room) == 3
    clock[0] += 2.1
    changes = changes_since(room=room, since=3)
    assert (changes.empty, changes.to, changes.latest) == ([(4, 4)], 4, 4)
    assert after.rev == 3


def test_a_reader_far_behind_gets_the_changes_a_page_at_a_time(chat, room):
    _, _, _, say = chat
    for n in range(7):
        say(f"m{n}")
    first = changes_since(room=room, since=0, limit=3)
    assert [m.rev for m in first.messages] == [1, 2, 3] and first.has_more and first.to == 3
    rest = changes_since(room=room, since=first.to, limit=10)
    assert [m.rev for m in rest.messages] == [4, 5, 6, 7] and not rest.has_more


def test_a_slower_change_never_moves_a_message_back(chat, room):
    """A change whose number is older than the message's loses its write (and tries again
    with a new number): `rev` only moves forward."""
    api, ada, connection_id, say = chat
    message = say("hi")
    stale = change_number(room=room)  # taken by a change that is slow to write
    message_react(
        api=api, connection_id=connection_id, reactor=ada, message_id=message.message_id, emoji="🎉"
    )
    from pynamodb.exceptions import UpdateError

    from lambdas.services.changes import numbered

    actions, newer = numbered(stale)
    with pytest.raises(UpdateError):
        Message(room, message.message_id).update(actions=actions, condition=newer)
    assert Message.get(room, message.message_id).rev == 3
