"""Rooms, presence, typing, edit/delete and idempotent sends, through the real gateway."""

import json
import uuid
from datetime import timedelta

import pytest

from lambdas.models import ClientMessage, Connection, Message, Room, utcnow
from tests.helpers import recv_json, wait_for
from tests.local.test_gateway import handshake_status


def send(client, **frame) -> None:
    client.send(json.dumps(frame))


def presence_names(frame: dict) -> list[str]:
    assert frame["type"] == "presence"
    return [user["username"] for user in frame["users"]]


def ask_presence(client) -> list[str]:
    send(client, action="presence")
    return presence_names(recv_json(client, skip=()))


def drain(client, seconds: float = 0.3, *, skip: tuple[str, ...] = ("presence",)) -> list[dict]:
    """Every frame that arrives within a short quiet period, passing over `presence`
    announcements (as recv_json does: one from a $disconnect may land at any time)."""
    frames = []
    while True:
        try:
            frame = json.loads(client.recv(timeout=seconds))
        except TimeoutError:
            return frames
        if frame.get("type") not in skip:
            frames.append(frame)


# -- rooms -------------------------------------------------------------------------------------


def test_unknown_room_is_refused_with_404(connect, dynamodb):
    """Connecting to a room nobody created is refused at $connect."""
    assert handshake_status(connect, "no-such-room-here") == 404


def test_archived_room_is_refused_with_410(connect, room):
    """Connecting to an archived room is refused at $connect."""
    stored = Room.get(room)
    stored.update(actions=[Room.status.set("archived")])
    assert handshake_status(connect, room) == 410


def test_general_exists_without_anyone_creating_it(connect, dynamodb):
    """The default room accepts connections on a fresh deployment."""
    client = connect()  # no ?room= at all
    send(client, action="ping")
    assert recv_json(client)["type"] == "pong"
    assert Room.get("general").title == "General"


# -- presence ----------------------------------------------------------------------------------


def test_presence_lists_each_user_once_and_follows_joins_and_leaves(connect, room):
    """Two tabs of one user count once; others are told when people arrive and leave, and only
    then: a second tab, or the socket a page hands over to before API Gateway's 2-hour limit,
    changes nobody's list, so it costs the room no broadcast.

    A newcomer arrives by asking for presence once open (as the page does): $connect stays quick.
    """
    alice = f"a{uuid.uuid4().hex[:8]}"  # her connections in this test only
    bob = connect(room, user_id="2", username="bob")
    assert ask_presence(bob) == ["bob"]
    alice_1 = connect(room, user_id=alice, username="alice")
    assert ask_presence(alice_1) == ["alice", "bob"]
    assert presence_names(recv_json(bob, skip=())) == ["alice", "bob"]
    alice_2 = connect(room, user_id=alice, username="alice")  # her second tab, or a hand-over
    assert ask_presence(alice_2) == ["alice", "bob"]
    alice_1.close()  # the first one goes: she is still here
    assert wait_for(lambda: len(list(Connection.user_index.query(alice))) == 1)
    carol = connect(room, user_id="3", username="carol")
    assert ask_presence(carol) == ["alice", "bob", "carol"]
    # The next list bob hears is carol's arrival: none came for alice's tabs in between.
    assert presence_names(recv_json(bob, skip=())) == ["alice", "bob", "carol"]
    alice_2.close()  # her last one: she leaves
    assert presence_names(recv_json(bob, skip=())) == ["bob", "carol"]


def online(room: str) -> int:
    from chat.selectors.rooms import room_page

    (listed,) = room_page(prefix=room).items
    return listed.online


def test_the_rooms_list_counts_what_presence_last_said(connect, room):
    """The count on the rooms page is stored with each presence list sent (the presence route
    and $disconnect, under their roles): people, not tabs, and 0 after the last one leaves."""
    assert online(room) == 0
    bob = connect(room, user_id="2", username="bob")
    ask_presence(bob)
    alice_1 = connect(room, user_id="1", username="alice")
    alice_2 = connect(room, user_id="1", username="alice")
    ask_presence(alice_1)
    assert ask_presence(alice_2) == ["alice", "bob"]
    assert wait_for(lambda: online(room) == 2)
    alice_1.close()
    alice_2.close()
    assert wait_for(lambda: online(room) == 1)
    bob.close()
    assert wait_for(lambda: online(room) == 0)


def test_ghosts_do_not_count(connect, room):
    """Expired items and connections without a socket (lost $disconnect) are not online."""
    now = utcnow()
    Connection(
        "ghost-live-item",
        user_id="8",
        username="ghost",
        room=room,
        connected_at=now - timedelta(minutes=5),  # long past its $connect
        expires_at=now + timedelta(hours=1),
    ).save()
    Connection(
        "expired-item",
        user_id="9",
        username="expired",
        room=room,
        connected_at=now - timedelta(hours=3),
        expires_at=now - timedelta(hours=1),
    ).save()
    alice = connect(room, username="alice")
    assert ask_presence(alice) == ["alice"]  # her arrival is announced: the ghost answers 410
    assert wait_for(lambda: not list(Connection.query("ghost-live-item")))


def test_a_burst_of_arrivals_and_departures_is_one_presence_broadcast(connect, room):
    """Six people asking for presence at once (arriving), then leaving at once: the one who
    was there hears one list for each burst (not six), the last one right."""
    from tests.helpers import bind_config

    bind_config(PRESENCE_COALESCE_MS=2000)  # wide: cold starts spread the burst
    try:
        bob = connect(room, user_id="2", username="bob")
        assert ask_presence(bob) == ["bob"]
        drain(bob)
        arrivals = [connect(room, user_id=f"7{n}", username=f"n{n}") for n in range(6)]
        for newcomer in arrivals:
            send(newcomer, action="presence")
        for newcomer in arrivals:
            assert "bob" in presence_names(recv_json(newcomer, skip=()))
        heard = [f for f in drain(bob, 3.0, skip=()) if f["type"] == "presence"]
        assert len(heard) == 1, [presence_names(f) for f in heard]
        assert presence_names(heard[0]) == ["bob"] + [f"n{n}" for n in range(6)]
        for newcomer in arrivals:
            newcomer.close()
        # The first list comes once the departures' window has passed, however slowly their
        # $disconnects start; any second one would follow within the quiet period.
        heard = [recv_json(bob, skip=()), *drain(bob, 3.0, skip=())]
        heard = [f for f in heard if f["type"] == "presence"]
        assert len(heard) == 1, [presence_names(f) for f in heard]
        assert presence_names(heard[0]) == ["bob"]
    finally:
        bind_config()


@pytest.mark.parametrize("route", ["editmessage", "react", "deletemessage", "typing", "presence"])
def test_every_broadcast_forgets_the_ghosts_it_meets(connect, room, route):
    """A connection that answers 410 to any route's broadcast is deleted, not kept forever."""
    alice = connect(room, username="alice")
    bob = connect(room, user_id="2", username="bob")
    send(alice, action="sendmessage", message="hello")
    message = recv_json(alice)
    assert recv_json(bob)["id"] == message["id"]  # the send's broadcast has read the room
    ghost = f"ghost-of-{route}"
    now = utcnow()
    Connection(  # appears after the send's broadcast: only this route's can meet it
        ghost,
        user_id="8",
        username="ghost",
        room=room,
        connected_at=now - timedelta(minutes=5),
        expires_at=now + timedelta(hours=1),
    ).save()
    frames = {
        "editmessage": {"id": message["id"], "message": "edited"},
        "deletemessage": {"id": message["id"]},
        "react": {"id": message["id"], "emoji": "👍"},
    }
    send(alice, action=route, **frames.get(route, {}))
    assert wait_for(lambda: not list(Connection.query(ghost)))


def test_a_send_to_a_general_deleted_since_connect_does_not_recreate_it(connect, dynamodb):
    """Only $connect creates `general`: a send after an operator deleted it is refused."""
    alice = connect()  # general
    Room.get("general").delete()
    send(alice, action="sendmessage", message="anyone?")
    frame = recv_json(alice)
    assert frame["type"] == "error" and frame["code"] == "room_not_found", frame
    assert not Room.count("general")
    connect()  # and the next $connect makes it again
    assert Room.get("general").title == "General"


# -- typing ------------------------------------------------------------------------------------


def test_typing_reaches_the_others_but_not_the_sender(connect, room):
    """A typing frame is broadcast to the room except the typist's own connection."""
    alice = connect(room, user_id="1", username="alice")
    bob = connect(room, user_id="2", username="bob")
    drain(alice)
    send(alice, action="typing")
    assert recv_json(bob) == {
        "type": "typing",
        "room": room,
        "user": {"id": "1", "username": "alice"},
    }
    assert drain(alice) == []


@pytest.mark.parametrize(
    "frame", [{"action": "typing", "text": "x" * 5000}, {"action": "typing", "state": True}]
)
def test_malformed_typing_frames_are_refused(connect, room, frame):
    """Typing frames carry nothing else: extra or oversized content gets an error frame."""
    alice = connect(room, username="alice")
    bob = connect(room, username="bob")
    drain(alice)
    drain(bob)
    alice.send(json.dumps(frame))
    assert recv_json(alice)["code"] == "invalid_request"
    assert drain(bob) == []


# -- edit and delete ---------------------------------------------------------------------------


@pytest.fixture
def chat(connect, room):
    """Alice and Bob in a room, and Carol (staff); Alice has sent one message."""
    alice = connect(room, user_id="1", username="alice")
    bob = connect(room, user_id="2", username="bob")
    carol = connect(room, user_id="3", username="carol", staff=True)
    send(alice, action="sendmessage", message="first draft")
    message = recv_json(alice)
    for client in (bob, carol):
        assert recv_json(client)["id"] == message["id"]
    return alice, bob, carol, message


def stored(room: str, message_id: str) -> Message:
    return Message.get(room, message_id)


def test_edit_own_message_is_broadcast_and_kept(chat, room):
    """The author's edit reaches everyone as message_updated; the old text is kept as an edit."""
    alice, bob, carol, message = chat
    send(alice, action="editmessage", id=message["id"], message="final text")
    updates = [recv_json(client) for client in (alice, bob, carol)]
    assert all(u["type"] == "message_updated" and u["text"] == "final text" for u in updates)
    assert updates[0]["id"] == message["id"] and updates[0]["edited_at"]
    item = stored(room, message["id"])
    assert item.text == "final text"
    assert [edit.text for edit in item.edits] == ["first draft"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"message": "hijacked"}, "forbidden"),
        ({"message": ""}, "empty_message"),
        ({"message": "x" * 4001}, "message_too_long"),
        ({"message": "ok", "id": "not-an-id"}, "invalid_request"),
        ({"message": "ok", "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "message_not_found"),
    ],
)
def test_bad_edits_change_nothing(chat, room, frame, code):
    """Editing someone else's, missing or invalid messages gets an error frame; nothing changes."""
    alice, bob, carol, message = chat
    send(bob, **{"action": "editmessage", "id": message["id"], **frame})
    assert recv_json(bob)["code"] == code
    assert stored(room, message["id"]).text == "first draft"
    assert drain(alice) == [] and drain(carol) == []


def test_only_the_author_or_staff_may_delete(chat, room):
    """Bob cannot delete Alice's message; Carol (staff) can, and everyone is told."""
    alice, bob, carol, message = chat
    send(bob, action="deletemessage", id=message["id"])
    assert recv_json(bob)["code"] == "forbidden"
    assert not stored(room, message["id"]).deleted
    send(carol, action="deletemessage", id=message["id"])
    # The refused delete took no change number; the staff one the next.
    expected = {
        "type": "message_deleted",
        "id": message["id"],
        "room": room,
        "rev": message["rev"] + 1,
    }
    assert [recv_json(c) for c in (alice, bob, carol)] == [expected] * 3
    item = stored(room, message["id"])
    assert item.deleted and item.text == ""


def test_deleted_messages_show_as_deleted_in_history(chat, room):
    """History keeps the deleted message's place, marked deleted and without its text."""
    alice, bob, carol, message = chat
    send(alice, action="deletemessage", id=message["id"])
    recv_json(alice)
    send(alice, action="deletemessage", id=message["id"])
    assert recv_json(alice)["code"] == "message_not_found"  # deleting twice: nothing to delete
    send(alice, action="editmessage", id=message["id"], message="back?")
    assert recv_json(alice)["code"] == "message_not_found"
    assert recv_json(bob)["type"] == "message_deleted"
    send(bob, action="history")
    (entry,) = recv_json(bob)["messages"]
    assert entry["id"] == message["id"] and entry["deleted"] is True and entry["text"] == ""


# -- idempotent sends and recovery -------------------------------------------------------------


def test_retried_send_is_stored_and_broadcast_once(connect, room):
    """The same clientMessageId sent twice (even over a new connection) stores one message."""
    alice = connect(room, user_id="1", username="alice")
    bob = connect(room, user_id="2", username="bob")
    drain(alice)
    send(alice, action="sendmessage", message="only once", clientMessageId="c-42")
    first = recv_json(alice)
    assert recv_json(bob)["id"] == first["id"]
    alice.close()
    again = connect(room, user_id="1", username="alice")
    drain(bob)
    send(again, action="sendmessage", message="only once", clientMessageId="c-42")
    echo = recv_json(again)
    assert echo == first  # the stored message, to the sender only
    assert drain(bob) == []
    assert [m.message_id for m in Message.query(room)] == [first["id"]]


def test_another_user_may_reuse_a_client_message_id(connect, room):
    """clientMessageId is scoped to its user: two users' ids never collide."""
    alice = connect(room, user_id="1", username="alice")
    bob = connect(room, user_id="2", username="bob")
    send(alice, action="sendmessage", message="from alice", clientMessageId="same")
    send(bob, action="sendmessage", message="from bob", clientMessageId="same")
    texts = {recv_json(alice)["text"], recv_json(alice)["text"]}
    assert texts == {"from alice", "from bob"}
    assert ClientMessage.get("1", "same").message_id != ClientMessage.get("2", "same").message_id


def test_history_after_returns_exactly_the_missed_messages(connect, room):
    """A client that reconnects asks for history after its last id and gets only what it missed."""
    alice = connect(room, user_id="1", username="alice")
    bob = connect(room, user_id="2", username="bob")
    send(alice, action="sendmessage", message="seen by both")
    last_seen = recv_json(bob)["id"]
    bob.close()
    for n in range(3):
        send(alice, action="sendmessage", message=f"missed {n}")
    sent = [recv_json(alice) for _ in range(4)][1:]
    bob = connect(room, user_id="2", username="bob")
    send(bob, action="history", after=last_seen, limit=100)
    page = recv_json(bob)
    assert [m["id"] for m in page["messages"]] == [m["id"] for m in sent]
    assert [m["text"] for m in page["messages"]] == ["missed 0", "missed 1", "missed 2"]
    assert page["has_more"] is False
