"""Private rooms through the real gateway and dynalite, under the functions' roles: only members
(and staff) connect; every route of a member works; a removed member's socket is closed at once,
and one that outlived its closing can neither read nor write."""

from __future__ import annotations

import json
import uuid

import pytest
from websockets.exceptions import ConnectionClosed

from chat.services.members import member_add, member_remove
from chat.services.rooms import room_create
from lambdas.management import management_api
from lambdas.models import Connection, Message, Room
from tests.helpers import DEADLINE, recv_json, wait_for
from tests.local.test_gateway import handshake_status


def send(client, **frame) -> None:
    client.send(json.dumps(frame))


def recv_type(client, type_: str) -> dict:
    """The next frame of that type, passing over the room's other traffic."""
    while (frame := recv_json(client, skip=()))["type"] != type_:
        pass
    return frame


def uid() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


@pytest.fixture
def private(dynamodb):
    """A private room whose members are ada (its creator) and bob; returns (room, ada, bob)."""
    ada, bob = uid(), uid()
    room = room_create(
        name=f"priv-{uuid.uuid4().hex[:10]}",
        title="Plans",
        description="",
        created_by="ada",
        private=True,
        creator_id=ada,
    )
    member_add(room=room, user_id=bob, username="bob", added_by="ada")
    return room.name, ada, bob


def test_only_members_and_staff_connect(connect, private):
    room, ada, _ = private
    assert handshake_status(connect, room, user_id=uid(), username="eve") == 403
    connect(room, user_id=ada, username="ada")
    connect(room, user_id=uid(), username="root", staff=True)


def test_every_route_works_for_a_member(connect, private):
    """Each route checks the membership (its role's `Members` grant) and then does its work."""
    room, ada, bob = private
    bob_socket = connect(room, user_id=bob, username="bob")
    socket = connect(room, user_id=ada, username="ada")
    send(socket, action="presence")
    assert [u["username"] for u in recv_type(socket, "presence")["users"]] == ["ada", "bob"]
    send(socket, action="sendmessage", message="secret plans")
    sent = recv_type(socket, "message")
    assert sent["text"] == "secret plans" and recv_type(bob_socket, "message")["id"] == sent["id"]
    send(socket, action="editmessage", id=sent["id"], message="secret plans, v2")
    assert recv_type(bob_socket, "message_updated")["text"] == "secret plans, v2"
    send(bob_socket, action="react", id=sent["id"], emoji="🎉")
    while "reactions" not in (reacted := recv_type(socket, "message_updated")):
        pass  # the edit's own update comes first
    assert [(r["emoji"], r["count"]) for r in reacted["reactions"]] == [("🎉", 1)]
    send(socket, action="typing")
    assert recv_type(bob_socket, "typing")["user"]["username"] == "ada"
    send(socket, action="history")
    assert [m["text"] for m in recv_type(socket, "history")["messages"]] == ["secret plans, v2"]
    send(socket, action="deletemessage", id=sent["id"])
    assert recv_type(bob_socket, "message_deleted")["id"] == sent["id"]


def test_removing_a_member_closes_their_socket_at_once(connect, gateway, private):
    room, ada, bob = private
    socket = connect(room, user_id=bob, username="bob")
    send(socket, action="ping")
    assert recv_json(socket)["type"] == "pong"
    api = management_api(gateway.management_url)
    assert member_remove(api=api, room=Room.get(room), user_id=bob) == 1
    with pytest.raises(ConnectionClosed):
        while True:
            socket.recv(timeout=DEADLINE)
    assert handshake_status(connect, room, user_id=bob, username="bob") == 403


def test_a_socket_that_outlived_its_removal_can_neither_read_nor_write(connect, private):
    """The membership ends without its sockets being closed (a site without its stack): each
    route answers `not_a_member` and stores nothing."""
    room, ada, bob = private
    socket = connect(room, user_id=bob, username="bob")
    member_remove(api=None, room=Room.get(room), user_id=bob)
    frames = [
        {"action": "sendmessage", "message": "still here?"},
        {"action": "history"},
        {"action": "presence"},
        {"action": "typing"},
        {"action": "react", "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "emoji": "👍"},
    ]
    for frame in frames:
        send(socket, **frame)
        assert recv_type(socket, "error")["code"] == "not_a_member", frame
    assert list(Message.query(room)) == []


def test_unread_counts_and_mentions_reach_other_rooms_and_clear_in_every_tab(
    connect, private, make_room
):
    """Bob, in the room and in another room's tab: a message naming him reaches the other tab
    as `unread` with the message; reading in the room clears the badge in both."""
    room, ada, bob = private
    ada_socket = connect(room, user_id=ada, username="ada")
    bob_here = connect(room, user_id=bob, username="bob")
    bob_elsewhere = connect(make_room(), user_id=bob, username="bob")
    send(ada_socket, action="sendmessage", message="@bob the plans are in")
    sent = recv_type(ada_socket, "message")
    told = recv_type(bob_elsewhere, "unread")
    assert (told["room"], told["unread"], told["mentions"]) == (room, 1, 1)
    assert told["mention"]["id"] == sent["id"]
    assert recv_type(bob_here, "message")["id"] == sent["id"]
    send(bob_here, action="markread", id=sent["id"])
    for socket in (bob_here, bob_elsewhere):
        cleared = recv_type(socket, "unread")
        assert (cleared["room"], cleared["unread"], cleared["mentions"]) == (room, 0, 0)
    send(ada_socket, action="sendmessage", message="hello @eve")
    assert recv_type(ada_socket, "error")["code"] == "invalid_mention"


def test_a_lobby_connection_hears_of_its_users_rooms_and_nothing_else(connect, gateway, private):
    """The rooms list's socket (`?lobby=1`) is in no room: it is told each count change of the
    user's rooms, is nobody's presence, and every room route refuses it, storing nothing."""
    room, ada, bob = private
    lobby = connect(lobby=True, user_id=bob, username="bob")
    (stored,) = [c for c in Connection.user_index.query(bob)]
    assert stored.room is None
    ada_socket = connect(room, user_id=ada, username="ada")
    send(ada_socket, action="presence")
    assert [u["username"] for u in recv_type(ada_socket, "presence")["users"]] == ["ada"]
    send(ada_socket, action="sendmessage", message="hi")
    recv_type(ada_socket, "message")
    told = recv_type(lobby, "unread")
    assert (told["room"], told["unread"], told["mentions"], "mention" in told) == (
        room,
        1,
        0,
        False,
    )
    send(ada_socket, action="sendmessage", message="@bob look")
    mention = recv_type(ada_socket, "message")
    told = recv_type(lobby, "unread")
    assert (told["unread"], told["mentions"], told["mention"]["id"]) == (2, 1, mention["id"])
    bob_here = connect(room, user_id=bob, username="bob")
    send(bob_here, action="markread", id=mention["id"])
    cleared = recv_type(lobby, "unread")
    assert (cleared["room"], cleared["unread"], cleared["mentions"]) == (room, 0, 0)

    frames = [
        {"action": "sendmessage", "message": "from nowhere"},
        {"action": "history"},
        {"action": "presence"},
        {"action": "typing"},
        {"action": "markread", "id": mention["id"]},
        {"action": "editmessage", "id": mention["id"], "message": "x"},
        {"action": "deletemessage", "id": mention["id"]},
        {"action": "react", "id": mention["id"], "emoji": "👍"},
    ]
    for frame in frames:
        send(lobby, **frame)
        assert recv_type(lobby, "error")["code"] == "not_in_a_room", frame
    assert [m.text for m in Message.query(room)] == ["hi", "@bob look"]
    assert Message.get(room, mention["id"]).reactions is None
    send(lobby, action="ping")
    assert recv_type(lobby, "pong") == {"type": "pong"}
    lobby.close()
    assert wait_for(lambda: Connection.count(stored.connection_id) == 0)


def test_a_lobby_connection_names_no_room(connect, private):
    room, ada, _ = private
    assert handshake_status(connect, room, lobby=True, user_id=ada, username="ada") == 400
