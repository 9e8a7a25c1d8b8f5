"""Threads through the real gateway and dynalite: two people reply, everyone hears the reply and
its parent's new summary in one frame, followers are told their counts, edit/react/delete work
in a thread, a deleted parent keeps its thread, bad parents are refused with a code and write
nothing, and a lost reply is repaired through `since`."""

from __future__ import annotations

import json
import uuid

import pytest

from emulator.settings import PostFaults
from lambdas.ids import new_ulid
from lambdas.models import Message, Room, utcnow
from tests.helpers import recv_json


def send(client, **frame) -> None:
    client.send(json.dumps(frame))


def until(client, predicate, *, skip: tuple[str, ...] = ("presence",)) -> dict:
    """The first frame that satisfies predicate, passing over any other."""
    while True:
        frame = recv_json(client, skip=skip)
        if predicate(frame):
            return frame


def of_type(kind: str, **fields):
    return lambda f: f["type"] == kind and all(f.get(k) == v for k, v in fields.items())


@pytest.fixture
def people(connect, room, configure):
    """Ada, Bob and Cy in the room (ids of this test only, so buckets never carry over)."""
    configure(RATE_MESSAGES_PER_SECOND=100, RATE_MESSAGES_BURST=100)
    tag = uuid.uuid4().hex[:6]
    return {
        name: connect(room, user_id=f"{name}-{tag}", username=name) for name in ("ada", "bob", "cy")
    }


def post(client, text: str, **extra) -> dict:
    """Send and wait for one's own copy."""
    send(client, action="sendmessage", message=text, **extra)
    return until(client, lambda f: f["type"] == "message" and f["text"] == text)


def test_two_people_reply_and_the_room_hears_the_summary_and_followers_their_counts(people, room):
    ada, bob, cy = people["ada"], people["bob"], people["cy"]
    parent = post(ada, "ship it?")
    # Bob replies: everyone gets one frame with the reply and the parent's summary.
    mine = post(bob, "yes", thread=parent["id"])
    assert mine["thread"] == parent["id"] and mine["parent"]["rev"] == mine["rev"]
    heard = until(cy, of_type("message", text="yes"))
    assert heard["parent"]["replies"]["count"] == 1
    told = until(ada, of_type("thread_unread", thread=parent["id"]))
    assert (told["unread"], told["mentions"], told["reply"]["text"]) == (1, 0, "yes")
    # Cy replies, also in the room, naming Ada: Bob (a follower now) hears of it too.
    post(cy, "agreed @ada", thread=parent["id"], also_in_room=True)
    told = until(ada, of_type("thread_unread", thread=parent["id"]))
    assert (told["unread"], told["mentions"]) == (2, 1)
    told = until(bob, of_type("thread_unread", thread=parent["id"]))
    assert (told["unread"], told["mentions"]) == (1, 0)
    # The summary: two replies, repliers newest first.
    send(ada, action="history", thread=parent["id"])
    page = until(ada, of_type("history", thread=parent["id"]))
    assert page["parent"]["replies"]["count"] == 2
    assert [u["username"] for u in page["parent"]["replies"]["users"]] == ["cy", "bob"]
    assert [m["text"] for m in page["messages"]] == ["yes", "agreed @ada"]
    # The room shows the parent and the in-room reply only.
    send(ada, action="history")
    room_page = until(ada, lambda f: f["type"] == "history" and "thread" not in f)
    assert [m["text"] for m in room_page["messages"]] == ["ship it?", "agreed @ada"]
    # Ada's threads, then she reads the thread: her count goes to 0 in every tab.
    send(ada, action="history", threads=True)
    listed = until(ada, of_type("threads"))["threads"]
    assert [(t["thread"], t["unread"], t["mentions"]) for t in listed] == [(parent["id"], 2, 1)]
    send(ada, action="markread", id=page["messages"][-1]["id"], thread=parent["id"])
    told = until(ada, of_type("thread_unread", thread=parent["id"]))
    assert (told["unread"], told["mentions"]) == (0, 0)


def test_edit_react_and_delete_work_in_a_thread_and_a_deleted_parent_keeps_it(people, room):
    ada, bob = people["ada"], people["bob"]
    parent = post(ada, "question")
    reply = post(bob, "answr", thread=parent["id"])
    send(bob, action="editmessage", id=reply["id"], message="answer")
    edited = until(ada, of_type("message_updated", id=reply["id"]))
    assert edited["text"] == "answer" and edited["thread"] == parent["id"]
    send(ada, action="react", id=reply["id"], emoji="👍")
    reacted = until(bob, lambda f: f["type"] == "message_updated" and "reactions" in f)
    assert reacted["thread"] == parent["id"]
    send(ada, action="deletemessage", id=parent["id"])
    until(bob, of_type("message_deleted", id=parent["id"]))
    send(bob, action="history", thread=parent["id"])
    page = until(bob, of_type("history", thread=parent["id"]))
    assert page["parent"]["deleted"] is True and page["parent"]["replies"]["count"] == 1
    assert [m["text"] for m in page["messages"]] == ["answer"]
    send(bob, action="deletemessage", id=reply["id"])
    assert until(ada, of_type("message_deleted", id=reply["id"]))["rev"] > reacted["rev"]


def test_bad_parents_are_refused_with_a_code_and_nothing_is_written(people, room, make_room):
    ada, bob = people["ada"], people["bob"]
    parent = post(ada, "root")
    reply = post(bob, "a reply", thread=parent["id"])
    elsewhere = Message(
        make_room(), new_ulid(), user_id="x", username="x", text="there", sent_at=utcnow()
    )
    elsewhere.save()
    rev, stored = int(Room.get(room).seq), len(list(Message.query(room)))
    cases = [
        ("not-an-id", "invalid_request"),
        (new_ulid(), "message_not_found"),
        (elsewhere.message_id, "message_not_found"),
        (reply["id"], "not_a_thread"),
    ]
    for thread, code in cases:
        send(bob, action="sendmessage", message="hello", thread=thread, clientMessageId=thread)
        error = until(bob, of_type("error"))
        assert (error["code"], error["action"]) == (code, "sendmessage"), thread
    send(bob, action="history", thread=reply["id"])
    assert until(bob, of_type("error"))["code"] == "not_a_thread"
    assert int(Room.get(room).seq) == rev and len(list(Message.query(room))) == stored


def test_a_lost_reply_is_repaired_through_since(people, room, gateway):
    """Cy's copy of a reply is dropped (POST answered 200, nothing delivered): the next change
    shows the gap, and `since` brings the reply and its parent's summary."""
    ada, bob, cy = people["ada"], people["bob"], people["cy"]
    parent = post(ada, "root")
    position = until(cy, of_type("message", id=parent["id"]))["rev"]
    saved = gateway.settings.post_faults
    cy_user = next(c.user_id for c in _connections(room) if c.username == "cy")
    gateway.settings.post_faults = PostFaults(drop=1.0, users=frozenset({cy_user}))
    try:
        lost = post(bob, "you will miss this", thread=parent["id"])
    finally:
        gateway.settings.post_faults = saved
    after = post(ada, "next")
    heard = until(cy, of_type("message", id=after["id"]))
    assert heard["rev"] > position + 1  # a gap: the reply's number
    send(cy, action="history", since=position)
    repair = until(cy, lambda f: f["type"] == "history" and f.get("since") == position)
    by_id = {m["id"]: m for m in repair["messages"]}
    assert by_id[lost["id"]]["thread"] == parent["id"]
    assert by_id[parent["id"]]["replies"]["count"] == 1
    assert by_id[parent["id"]]["rev"] == lost["rev"]


def _connections(room: str):
    from lambdas.models import Connection

    return list(Connection.room_index.query(room))
