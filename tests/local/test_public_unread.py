"""Unread counts and mentions in public rooms through the real gateway and dynalite, under the
functions' roles: opening a room joins it; messages count for its readers elsewhere; `@name`
notifies a joined reader; `markread` clears every tab; `@here` is refused to a non-creator
with nothing stored."""

from __future__ import annotations

import uuid

from lambdas.models import JOINED, Member, Message, Room
from tests.helpers import recv_json
from tests.local.test_private_rooms import recv_type, send


def uid() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


def test_a_public_room_counts_for_its_readers_and_mentions_reach_them(connect, make_room):
    room = make_room(created_by="ada")
    ada, bob = uid(), uid()
    ada_socket = connect(room, user_id=ada, username="ada")
    bob_here = connect(room, user_id=bob, username="bob")
    assert Member.get(room, bob).kind == JOINED  # opening it joined it
    bob_lobby = connect(lobby=True, user_id=bob, username="bob")
    send(ada_socket, action="sendmessage", message="morning")
    recv_type(ada_socket, "message")
    told = recv_type(bob_lobby, "unread")
    assert (told["room"], told["unread"], told["mentions"], told["kind"], told["label"]) == (
        room,
        1,
        0,
        "public",
        f"#{room}",
    )
    send(ada_socket, action="sendmessage", message="@bob and @carol: standup")
    sent = recv_type(ada_socket, "message")
    told = recv_type(bob_lobby, "unread")
    assert (told["unread"], told["mentions"], told["mention"]["id"]) == (2, 1, sent["id"])
    while recv_type(bob_here, "message")["id"] != sent["id"]:
        pass  # the first message came before it
    send(bob_here, action="markread", id=sent["id"])
    for socket in (bob_here, bob_lobby):
        cleared = recv_type(socket, "unread")
        assert (cleared["room"], cleared["unread"], cleared["mentions"]) == (room, 0, 0)
    assert Member.get(room, bob).read_n == 2 and Room.get(room).posted == 2


def test_the_keep_alive_carries_the_read_position(connect, make_room):
    """A page reading along sends no `markread`: its keep-alive `ping` carries `read`, answered
    by the pong; the reader's pages in other rooms are told, the one that pinged is not."""
    room = make_room(created_by="ada")
    ada, bob = uid(), uid()
    ada_socket = connect(room, user_id=ada, username="ada")
    bob_here = connect(room, user_id=bob, username="bob")
    bob_lobby = connect(lobby=True, user_id=bob, username="bob")
    for text in ("one", "two"):
        send(ada_socket, action="sendmessage", message=text)
    sent = [recv_type(bob_here, "message") for _ in range(2)]
    assert recv_type(bob_lobby, "unread")["unread"] == 1
    assert recv_type(bob_lobby, "unread")["unread"] == 2
    send(bob_here, action="ping", read=sent[0]["id"])
    assert recv_type(bob_here, "pong")["rev"] == sent[1]["rev"]
    told = recv_type(bob_lobby, "unread")
    assert (told["room"], told["unread"], told["mentions"]) == (room, 1, 0)
    assert Member.get(room, bob).read_n == 1
    # Bad input changes nothing: a read that is no message id is refused with a code.
    send(bob_here, action="ping", read="../etc")
    refused = recv_type(bob_here, "error")
    assert (refused["code"], refused["action"]) == ("invalid_request", "ping")
    send(bob_here, action="ping")  # a plain keep-alive moves nothing
    recv_type(bob_here, "pong")
    assert Member.get(room, bob).read_n == 1
    send(bob_here, action="ping", read=sent[1]["id"])
    # The others are told before the pong is answered: what this page got until then shows
    # whether it was told too.
    before_pong = []
    while (frame := recv_json(bob_here, skip=()))["type"] != "pong":
        before_pong.append(frame["type"])
    assert "unread" not in before_pong, before_pong
    assert recv_type(bob_lobby, "unread")["unread"] == 0


def test_here_from_someone_else_is_refused_and_stores_nothing(connect, make_room):
    room = make_room(created_by="ada")
    bob = connect(room, user_id=uid(), username="bob")
    send(bob, action="sendmessage", message="@here free pizza")
    assert recv_type(bob, "error")["code"] == "here_not_allowed"
    assert list(Message.query(room)) == [] and Room.get(room).here_n is None


def test_markread_forgets_a_gone_tab_of_the_reader_under_its_role(connect, make_room):
    """The reader's other tabs are told of the read (one `unread` each); a tab whose socket is
    gone without its $disconnect answers 410, and the markread function may delete its item
    (a grant it lacked: the 410 rule failed with AccessDenied and left the ghost)."""
    import json
    from datetime import timedelta

    from lambdas.models import Connection, utcnow
    from tests.helpers import wait_for

    room = make_room(created_by="ada")
    ada, bob = uid(), uid()
    ada_socket = connect(room, user_id=ada, username="ada")
    bob_here = connect(room, user_id=bob, username="bob")
    bob_lobby = connect(lobby=True, user_id=bob, username="bob")
    send(ada_socket, action="sendmessage", message="morning")
    sent = recv_type(ada_socket, "message")
    recv_type(bob_here, "message")
    recv_type(bob_lobby, "unread")  # sendmessage has told bob's tabs: the ghost comes after
    # A lobby tab of bob's whose socket is gone and whose item stayed, past the $connect grace
    now = utcnow()
    ghost = Connection(
        f"ghost{uuid.uuid4().hex[:8]}=",
        user_id=bob,
        username="bob",
        connected_at=now - timedelta(minutes=5),
        expires_at=now + timedelta(hours=1),
    )
    ghost.save()
    bob_here.send(json.dumps({"action": "markread", "id": sent["id"]}))
    assert recv_type(bob_lobby, "unread")["unread"] == 0  # told by markread, as the ghost was
    assert wait_for(lambda: not list(Connection.query(ghost.connection_id)))
