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
from tests.helpers import recv_json, wait_for


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


def _sends(snapshot: dict) -> float:
    """The sendmessage function's requests: the route's own. The indexing function's one
    asynchronous request a message (README, "What it costs") lands whenever its invocation
    runs, so it is not counted in any one action's window."""
    return snapshot["lambda"]["functions"].get("SendMessageFunction", {}).get("requests", 0)


def _spent(meter, action) -> dict:
    """What `action` cost, by the meter: API Gateway messages, Lambda requests, DynamoDB
    read and write units by table."""
    before = meter.snapshot()
    action()
    after = meter.snapshot()
    tables = {
        name: (
            round(
                t["read_units"] - before["dynamodb"]["tables"].get(name, {}).get("read_units", 0), 2
            ),
            round(
                t["write_units"] - before["dynamodb"]["tables"].get(name, {}).get("write_units", 0),
                2,
            ),
        )
        for name, t in after["dynamodb"]["tables"].items()
    }
    return {
        "messages": after["apigateway"]["messages"] - before["apigateway"]["messages"],
        "requests": _sends(after) - _sends(before),
        "tables": {name: units for name, units in tables.items() if any(units)},
    }


@pytest.fixture
def metered_gateway(dynamodb):
    """A gateway of this test's own whose functions' DynamoDB calls are metered."""
    from tests.helpers import gateway_thread

    runner = gateway_thread(mode="process", meter_dynamodb=True)
    yield runner.start()
    runner.stop()


def test_what_a_reply_costs_against_a_room_message(metered_gateway, keys, room, configure):
    """Measured by the meter in a room of three: a reply in a thread of two followers costs
    the room message's API Gateway messages and Lambda request plus one `thread_unread` per
    other follower connection, and a bounded number of DynamoDB units more (README, "What
    it costs")."""
    from tests.helpers import room_clients

    configure(RATE_MESSAGES_PER_SECOND=100, RATE_MESSAGES_BURST=100)
    meter = metered_gateway.meter
    with room_clients(metered_gateway, keys, room, ("ada", "bob", "cy")) as (ada, bob, cy):

        def heard_by_all(sender, text, **extra):
            def act():
                send(sender, action="sendmessage", message=text, **extra)
                for client in (ada, bob, cy):
                    until(client, lambda f: f["type"] == "message" and f["text"] == text)
                # The sender's function returns after telling followers: wait for its request.
                wait_for(lambda: _sends(meter.snapshot()) > start[0])

            start = [_sends(meter.snapshot())]
            return act

        parent_text = "a room message"
        plain = _spent(meter, heard_by_all(ada, parent_text))
        send(ada, action="history")
        parent = until(ada, lambda f: f["type"] == "history")["messages"][-1]
        first = _spent(meter, heard_by_all(bob, "first reply", thread=parent["id"]))
        until(ada, of_type("thread_unread"))
        steady = _spent(meter, heard_by_all(cy, "another reply", thread=parent["id"]))
        until(ada, of_type("thread_unread"))
        until(bob, of_type("thread_unread"))
    print("\nroom message:", plain, "\nfirst reply:", first, "\nlater reply:", steady)
    assert plain["messages"] == 4 and plain["requests"] == 1  # 1 in, 3 out
    assert first["messages"] == 5 and first["requests"] == 1  # + ada's thread_unread
    assert steady["messages"] == 6 and steady["requests"] == 1  # + ada's and bob's
    # Written: a room message 6 units (README); a reply 9: no room read position (members and
    # by-user: -2), the parent's summary (messages: +1, its by-rev entry moved: +2), the
    # reply's by-thread entry (+1), the replier's thread position (follows: +1); the first
    # reply also starts the parent's author following (follows: +1).
    # (Connections are left out: telling a follower deletes any stale connection of theirs
    # that answers 410, which earlier tests' users 1-3 may have left behind.)
    writes = [
        sum(w for table, (_, w) in spent["tables"].items() if "-connections" not in table)
        for spent in (plain, first, steady)
    ]
    assert writes == [6, 10, 9]
