"""Threads: a reply is stored in its room under the room's next change number with its parent's
new summary, stays out of the room's history unless also sent there, is paged by thread, and
its followers' counts are derived; bad parents store nothing."""

from __future__ import annotations

import uuid

import pytest

from lambdas.errors import InvalidRequest, MessageNotFound, NotAThread
from lambdas.ids import new_ulid
from lambdas.models import Follow, Message, Room, utcnow
from lambdas.protocol import History, SendMessage, message_frame
from lambdas.services.changes import changes_since
from lambdas.services.connections import connection_open
from lambdas.services.messages import (
    message_edit,
    message_page,
    message_react,
    message_remove,
    message_send,
)
from lambdas.services.threads import thread_read, threads_followed
from lambdas.tokens import User
from tests.lambdas.fakes import FakeManagementApi


@pytest.fixture
def scene(dynamodb, room, configure):
    """Ada, Bob and Cy connected in the room; a message of Ada's to reply to."""
    configure(RATE_MESSAGES_PER_SECOND=100, RATE_MESSAGES_BURST=100)
    api = FakeManagementApi()
    people = {}
    for name in ("ada", "bob", "cy"):
        user = User(f"u{uuid.uuid4().hex[:10]}", name, False)
        connection_id = f"c-{name}-{room}"
        connection_open(
            api=api, connection_id=connection_id, user=user, room=room, connected_at=utcnow()
        )
        people[name] = (user, connection_id)
    parent = say(api, people, "ada", "ship it?").message
    api.posts.clear()
    return api, people, parent


def say(api, people, who: str, text: str, **thread):
    user, connection_id = people[who]
    return message_send(api=api, connection_id=connection_id, sender=user, text=text, **thread)


def frames(api, people, who: str, kind: str) -> list[dict]:
    return [f for f in api.posts.get(people[who][1], []) if f["type"] == kind]


def room_rev(room: str) -> int:
    return int(Room.get(room).seq)


def test_a_reply_takes_one_change_number_shared_with_its_parents_summary(scene):
    """The reply and its parent's summary are one change: one number, one frame per reader
    carrying both, and `since` returns both items."""
    api, people, parent = scene
    before = room_rev(parent.room)
    reply = say(api, people, "bob", "yes", thread=parent.message_id).message
    assert int(reply.rev) == int(reply.seq) == before + 1 == room_rev(parent.room)
    stored = Message.get(parent.room, parent.message_id)
    assert int(stored.rev) == int(reply.rev) and int(stored.reply_count) == 1
    assert int(reply.tn) == 1 and reply.thread == parent.message_id
    (heard,) = frames(api, people, "cy", "message")
    assert heard["thread"] == parent.message_id and "in_room" not in heard
    assert heard["parent"]["id"] == parent.message_id
    assert heard["parent"]["rev"] == heard["rev"]
    assert heard["parent"]["replies"]["count"] == 1
    assert [u["username"] for u in heard["parent"]["replies"]["users"]] == ["bob"]
    changes = changes_since(room=parent.room, since=before)
    assert {m.message_id for m in changes.messages} == {parent.message_id, reply.message_id}


def test_the_summary_counts_replies_and_lists_the_last_distinct_repliers(scene):
    api, people, parent = scene
    for who in ("bob", "cy", "bob", "ada"):
        say(api, people, who, f"from {who}", thread=parent.message_id)
    frame = message_frame(Message.get(parent.room, parent.message_id))
    assert frame["replies"]["count"] == 4
    assert [u["username"] for u in frame["replies"]["users"]] == ["ada", "bob", "cy"]
    assert frame["replies"]["last_at"].endswith("Z")


def test_room_history_leaves_out_replies_unless_also_sent_to_the_room(scene):
    api, people, parent = scene
    say(api, people, "bob", "only in the thread", thread=parent.message_id)
    shown = say(api, people, "cy", "also in room", thread=parent.message_id, also_in_room=True)
    say(api, people, "ada", "a room message")
    page = message_page(room=parent.room, before=None, after=None, limit=10)
    assert [m.text for m in page.messages] == ["ship it?", "also in room", "a room message"]
    assert message_frame(shown.message)["in_room"] is True
    thread = message_page(
        room=parent.room, before=None, after=None, limit=10, thread=parent.message_id
    )
    assert [m.text for m in thread.messages] == ["only in the thread", "also in room"]


def test_a_thread_pages_oldest_first_with_before_and_after(scene):
    api, people, parent = scene
    ids = [
        say(api, people, "bob", f"r{n}", thread=parent.message_id).message.message_id
        for n in range(5)
    ]
    page = message_page(
        room=parent.room, before=None, after=None, limit=2, thread=parent.message_id
    )
    assert [m.text for m in page.messages] == ["r3", "r4"] and page.has_more
    page = message_page(
        room=parent.room, before=ids[3], after=None, limit=2, thread=parent.message_id
    )
    assert [m.text for m in page.messages] == ["r1", "r2"] and page.has_more
    page = message_page(
        room=parent.room, before=None, after=ids[2], limit=10, thread=parent.message_id
    )
    assert [m.text for m in page.messages] == ["r3", "r4"] and not page.has_more


def test_only_an_in_room_reply_counts_as_a_room_message(scene):
    """Room unread counts (`posted`) follow what the room shows."""
    api, people, parent = scene
    posted = int(Room.get(parent.room).posted)
    say(api, people, "bob", "thread only", thread=parent.message_id)
    assert int(Room.get(parent.room).posted) == posted
    say(api, people, "bob", "shown", thread=parent.message_id, also_in_room=True)
    assert int(Room.get(parent.room).posted) == posted + 1


@pytest.mark.parametrize("case", ["missing", "other-room", "a-reply", "deleted"])
def test_a_bad_parent_is_refused_and_nothing_is_written(scene, make_room, case):
    api, people, parent = scene
    if case == "missing":
        target, error = new_ulid(), MessageNotFound
    elif case == "other-room":
        other = make_room()
        message = Message(other, new_ulid(), user_id="x", username="x", text="t", sent_at=utcnow())
        message.save()
        target, error = message.message_id, MessageNotFound
    elif case == "a-reply":
        target = say(api, people, "bob", "r", thread=parent.message_id).message.message_id
        error = NotAThread
    else:
        user, connection_id = people["ada"]
        message_remove(api=api, room=parent.room, message_id=parent.message_id, deleter=user)
        target, error = parent.message_id, MessageNotFound
    api.posts.clear()
    rev = room_rev(parent.room)
    count = len(list(Message.query(parent.room)))
    with pytest.raises(error):
        say(api, people, "cy", "hello", thread=target)
    assert room_rev(parent.room) == rev and len(list(Message.query(parent.room))) == count
    assert not api.posts


def test_frames_that_are_not_threads_are_refused_when_parsed():
    with pytest.raises(InvalidRequest):
        SendMessage.parse({"message": "hi", "thread": "not-an-id"})
    with pytest.raises(InvalidRequest):
        SendMessage.parse({"message": "hi", "also_in_room": True})
    with pytest.raises(InvalidRequest):
        SendMessage.parse({"message": "hi", "thread": new_ulid(), "also_in_room": "yes"})
    with pytest.raises(InvalidRequest):
        History.parse({"thread": new_ulid(), "since": 3})
    with pytest.raises(InvalidRequest):
        History.parse({"threads": True, "before": new_ulid()})
    assert History.parse({"thread": "0" * 26, "limit": 5}).thread == "0" * 26


def test_followers_get_unread_counts_and_the_reply_and_reading_clears_them(scene):
    """The parent's author follows from the first reply, each replier from theirs, a person
    mentioned from the mention; each other follower is told of each reply."""
    api, people, parent = scene
    say(api, people, "bob", "first", thread=parent.message_id)
    (told,) = frames(api, people, "ada", "thread_unread")
    assert (told["unread"], told["mentions"], told["reply"]["text"]) == (1, 0, "first")
    assert not frames(api, people, "bob", "thread_unread")  # his own reply
    assert not frames(api, people, "cy", "thread_unread")  # not following
    api.posts.clear()
    say(api, people, "ada", "second, @cy", thread=parent.message_id)
    bob = frames(api, people, "bob", "thread_unread")[-1]
    cy = frames(api, people, "cy", "thread_unread")[-1]
    assert (bob["unread"], bob["mentions"]) == (1, 0)
    assert (cy["unread"], cy["mentions"]) == (2, 1)
    listed = threads_followed(room=parent.room, user_id=people["cy"][0].user_id)
    assert [(p.message_id, u, m) for p, u, m in listed] == [(parent.message_id, 2, 1)]
    last = Message.get(parent.room, parent.message_id)
    reply_ids = [m.message_id for m in Message.thread_index.query(parent.message_id)]
    api.posts.clear()
    thread_read(
        api=api,
        room=parent.room,
        user_id=people["cy"][0].user_id,
        thread=parent.message_id,
        message_id=reply_ids[-1],
    )
    (cleared,) = frames(api, people, "cy", "thread_unread")
    assert (cleared["unread"], cleared["mentions"]) == (0, 0)
    assert int(last.reply_count) == 2
    follow = Follow.get(people["cy"][0].user_id, f"{parent.room}#{parent.message_id}")
    assert int(follow.read_tn) == 2 and follow.mentions is None


def test_edit_react_delete_work_on_replies_and_a_deleted_parent_keeps_its_thread(scene):
    api, people, parent = scene
    reply = say(api, people, "bob", "typo", thread=parent.message_id).message
    bob, bob_connection = people["bob"]
    edited = message_edit(
        api=api, connection_id=bob_connection, editor=bob, message_id=reply.message_id, text="ok"
    )
    assert message_frame(edited)["thread"] == parent.message_id
    cy, cy_connection = people["cy"]
    reacted = message_react(
        api=api, connection_id=cy_connection, reactor=cy, message_id=reply.message_id, emoji="👍"
    )
    assert message_frame(reacted)["reactions"][0]["count"] == 1
    ada, _ = people["ada"]
    message_remove(api=api, room=parent.room, message_id=parent.message_id, deleter=ada)
    gone = message_frame(Message.get(parent.room, parent.message_id))
    assert gone["deleted"] is True and gone["text"] == "" and gone["replies"]["count"] == 1
    page = message_page(
        room=parent.room, before=None, after=None, limit=10, thread=parent.message_id
    )
    assert [m.text for m in page.messages] == ["ok"]
    message_remove(api=api, room=parent.room, message_id=reply.message_id, deleter=bob)
    page = message_page(
        room=parent.room, before=None, after=None, limit=10, thread=parent.message_id
    )
    assert [message_frame(m).get("deleted") for m in page.messages] == [True]


def test_since_never_ends_a_page_between_the_items_of_one_number(scene):
    """A reply and its parent share a number: a page cut there would lose one for good."""
    api, people, parent = scene
    start = room_rev(parent.room)
    say(api, people, "ada", "a")  # start + 1
    say(api, people, "bob", "r", thread=parent.message_id)  # start + 2: two items
    answer = changes_since(room=parent.room, since=start, limit=2)
    assert answer.has_more and answer.to == start + 1
    assert [m.text for m in answer.messages] == ["a"]
    rest = changes_since(room=parent.room, since=answer.to, limit=2)
    assert sorted(m.text for m in rest.messages) == ["r", "ship it?"]
