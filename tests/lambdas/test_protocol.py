"""The wire protocol: client frames parse into commands or clean errors, server frames keep the
shapes the README documents, and no other module builds a frame."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lambdas.errors import EmptyMessage, InvalidJson, InvalidRequest, MessageTooLong, RateLimited
from lambdas.models import Message
from lambdas.protocol import (
    PRESENCE_LIST_MAX,
    DeleteMessage,
    EditMessage,
    History,
    SendMessage,
    Typing,
    changes_frame,
    error_frame,
    frame_decode,
    history_frame,
    message_deleted_frame,
    message_frame,
    pong_frame,
    presence_frame,
    typing_frame,
)
from lambdas.services.changes import Changes
from lambdas.tokens import User

ID = "01JABCDEFGHJKMNPQRSTVWXYZ0"
LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"


@pytest.mark.parametrize(
    ("body", "error"),
    [("", InvalidJson), ("{", InvalidJson), ("[1]", InvalidRequest), ('"hi"', InvalidRequest)],
)
def test_a_frame_is_a_json_object(body, error):
    with pytest.raises(error):
        frame_decode(body)


def test_commands_carry_the_fields_services_take():
    assert SendMessage.parse({"message": "hi", "clientMessageId": "c1"}) == SendMessage(
        text="hi", client_message_id="c1"
    )
    assert SendMessage.parse({"message": "hi"}).client_message_id is None
    assert EditMessage.parse({"id": ID, "message": "new"}) == EditMessage(message_id=ID, text="new")
    assert DeleteMessage.parse({"id": ID}) == DeleteMessage(message_id=ID)
    assert Typing.parse({"action": "typing"}) == Typing()
    assert History.parse({"before": ID, "limit": 5}) == History(before=ID, after=None, limit=5)
    assert History.parse({}).limit == 50


@pytest.mark.parametrize(
    ("kind", "frame", "error"),
    [
        (SendMessage, {}, EmptyMessage),
        (SendMessage, {"message": "   "}, EmptyMessage),
        (SendMessage, {"message": 5}, InvalidRequest),
        (SendMessage, {"message": "x" * 4001}, MessageTooLong),
        (SendMessage, {"message": "hi", "clientMessageId": ""}, InvalidRequest),
        (SendMessage, {"message": "hi", "clientMessageId": "c" * 65}, InvalidRequest),
        (SendMessage, {"message": "hi", "clientMessageId": 7}, InvalidRequest),
        (EditMessage, {"message": "x"}, InvalidRequest),
        (EditMessage, {"id": ID}, EmptyMessage),
        (DeleteMessage, {"id": "not-an-id"}, InvalidRequest),
        (Typing, {"action": "typing", "text": "spam"}, InvalidRequest),
        (History, {"after": ID, "before": ID}, InvalidRequest),
        (History, {"limit": 0}, InvalidRequest),
        (History, {"since": -1}, InvalidRequest),
        (History, {"since": "3"}, InvalidRequest),
        (History, {"since": True}, InvalidRequest),
        (History, {"since": 3, "after": ID}, InvalidRequest),
    ],
)
def test_bad_frames_are_clean_errors(kind, frame, error):
    with pytest.raises(error):
        kind.parse(frame)


def test_server_frames_keep_their_documented_shapes():
    """The README's shapes, which outside clients depend on."""
    sent = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    message = Message(
        "lobby", ID, user_id="1", username="alice", text="hi", sent_at=sent, client_message_id="c1"
    )
    assert message_frame(message) == {
        "type": "message",
        "id": ID,
        "room": "lobby",
        "user": {"id": "1", "username": "alice"},
        "text": "hi",
        "sent_at": "2026-01-02T03:04:05.678Z",
        "client_message_id": "c1",
    }
    message.edited_at, message.deleted = sent, True
    updated = message_frame(message, "message_updated")
    assert updated == message_frame(message) | {"type": "message_updated"}
    assert message_frame(message)["text"] == "" and message_frame(message)["deleted"] is True
    assert message_frame(message)["edited_at"] == "2026-01-02T03:04:05.678Z"
    assert message_deleted_frame(message) == {"type": "message_deleted", "id": ID, "room": "lobby"}
    # Numbered (issue 13): a message's place and its last change, on every frame of it.
    message.seq, message.rev = 7, 9
    assert (message_frame(message)["seq"], message_frame(message)["rev"]) == (7, 9)
    assert message_deleted_frame(message)["rev"] == 9
    assert typing_frame(room="lobby", typist=User("1", "alice", False)) == {
        "type": "typing",
        "room": "lobby",
        "user": {"id": "1", "username": "alice"},
    }
    assert presence_frame(room="lobby", users=[("1", "alice")]) == {
        "type": "presence",
        "room": "lobby",
        "online": 1,
        "users": [{"id": "1", "username": "alice"}],
    }
    # A large room's list names the first PRESENCE_LIST_MAX and counts everyone.
    crowd = presence_frame(room="lobby", users=[(str(n), f"u{n:04}") for n in range(1200)])
    assert crowd["online"] == 1200 and len(crowd["users"]) == PRESENCE_LIST_MAX
    assert crowd["users"][0] == {"id": "0", "username": "u0000"}
    assert history_frame(room="lobby", messages=[], has_more=False) == {
        "type": "history",
        "room": "lobby",
        "messages": [],
        "has_more": False,
    }
    assert history_frame(room="lobby", messages=[], has_more=False, rev=12)["rev"] == 12
    changes = Changes(room="lobby", since=3, to=9, latest=9, empty=[(4, 5)])
    assert changes_frame(changes) == {
        "type": "history",
        "room": "lobby",
        "messages": [],
        "has_more": False,
        "since": 3,
        "to": 9,
        "latest": 9,
        "empty": [[4, 5]],
    }
    assert pong_frame() == {"type": "pong"} and pong_frame(9) == {"type": "pong", "rev": 9}
    assert error_frame(RateLimited("slow down", retry_after=0.5)) == {
        "type": "error",
        "code": "rate_limited",
        "message": "slow down",
        "retry_after": 0.5,
    }


def test_only_the_protocol_module_builds_frames():
    """No dict literal with a "type" key outside lambdas/protocol.py (the local gateway, which
    speaks API Gateway's own messages, aside): every frame is built in one place."""
    builders = []
    for path in sorted(LAMBDAS.rglob("*.py")):
        if path.name == "protocol.py" or "local" in path.relative_to(LAMBDAS).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict) and any(
                isinstance(key, ast.Constant) and key.value == "type" for key in node.keys
            ):
                builders.append(f"{path.relative_to(LAMBDAS)}:{node.lineno}")
    assert builders == []
