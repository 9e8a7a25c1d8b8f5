"""Every route handler accepts the captured API Gateway events and answers in AWS's shape."""

import json
from datetime import timedelta

import pytest

from emulator.events import LambdaContext
from lambdas.handlers import connect, default, disconnect, history, ping, sendmessage
from lambdas.models import Connection, Message, utcnow
from lambdas.protocol import message_frame
from lambdas.services.connections import connection_open
from lambdas.services.limits import ROUTE_BUCKETS
from lambdas.tokens import User
from tests.helpers import load_event, with_user
from tests.lambdas.fakes import FakeManagementApi

CONTEXT = LambdaContext(function_name="test", aws_request_id="req-1")


@pytest.fixture
def api(monkeypatch) -> FakeManagementApi:
    """Handlers talk to an in-memory @connections instead of AWS."""
    fake = FakeManagementApi()
    monkeypatch.setattr("lambdas.handlers._route.management_api", lambda endpoint: fake)
    return fake


def body(response: dict) -> dict:
    return json.loads(response["body"])


def message_event(frame: object, connection_id: str | None = None, **user) -> dict:
    """The frame as API Gateway hands it to a route's function: `routeKey` is the route its
    selection expression ($request.body.action) chose, `$default` when none matched."""
    event = with_user(load_event("websocket-message"), **user)
    event["body"] = frame if isinstance(frame, str) else json.dumps(frame)
    action = frame.get("action") if isinstance(frame, dict) else None
    event["requestContext"]["routeKey"] = action if action in ROUTE_BUCKETS else "$default"
    if connection_id:
        event["requestContext"]["connectionId"] = connection_id
    return event


ALICE = User("1", "alice", False)


def joined(room: str, connection_id: str, user: User = ALICE) -> str:
    """A connection registered in the room, as $connect leaves it."""
    connection_open(
        api=FakeManagementApi(),
        connection_id=connection_id,
        user=user,
        room=room,
        connected_at=utcnow(),
    )
    return connection_id


def messages_in(room: str) -> list[Message]:
    return list(Message.query(room))


# -- $connect ----------------------------------------------------------------------------------


def test_connect_stores_the_connection_from_the_captured_event(dynamodb, api):
    """The captured $connect event, as authorized, registers its connection in `general`."""
    event = with_user(load_event("websocket-connect"), user_id="7", username="carol")
    response = connect.handler(event, CONTEXT)
    assert response == {"statusCode": 200}
    item = Connection.get("BFHPhfCWIAMCKlQ=")
    assert (item.user_id, item.username, item.room, item.source_ip) == (
        "7",
        "carol",
        "general",
        "166.90.225.1",
    )
    assert int(item.connected_at.timestamp() * 1000) == 1731324924553
    # TTL is stored in whole seconds.
    assert abs(item.expires_at - item.connected_at - timedelta(hours=2)) < timedelta(seconds=1)


def test_connect_without_authorizer_context_is_refused(dynamodb, api):
    """The captured event unchanged (no authorizer ran) is refused with 401 and stores nothing."""
    event = load_event("websocket-connect")
    event["requestContext"]["connectionId"] = "unauthorized-1"
    response = connect.handler(event, CONTEXT)
    assert response["statusCode"] == 401 and body(response)["code"] == "unauthorized"
    with pytest.raises(Connection.DoesNotExist):
        Connection.get("unauthorized-1")


@pytest.mark.parametrize("room", ["Bad", "-x", "a" * 65, "a b", "ä", "../x", "general\n"])
def test_connect_with_a_bad_room_is_refused(dynamodb, api, room):
    """A room name outside ^[a-z0-9][a-z0-9_-]{0,63}$ gets 400 and nothing is stored."""
    event = with_user(load_event("websocket-connect"))
    event["requestContext"]["connectionId"] = "badroom-1"
    event["queryStringParameters"] = {"room": room}
    response = connect.handler(event, CONTEXT)
    assert response["statusCode"] == 400 and body(response)["code"] == "invalid_room"
    with pytest.raises(Connection.DoesNotExist):
        Connection.get("badroom-1")


# -- $disconnect -------------------------------------------------------------------------------


def test_disconnect_deletes_and_is_idempotent(dynamodb, api, room):
    """The captured $disconnect event removes its connection; a second delivery is harmless."""
    joined(room, "BFaT_fALIAMCKug=")
    event = load_event("websocket-disconnect")
    assert disconnect.handler(event, CONTEXT) == {"statusCode": 200}
    assert disconnect.handler(event, CONTEXT) == {"statusCode": 200}
    with pytest.raises(Connection.DoesNotExist):
        Connection.get("BFaT_fALIAMCKug=")


# -- sendmessage -------------------------------------------------------------------------------


def test_sendmessage_stores_and_fans_out(dynamodb, api, room):
    """A valid frame is stored once and posted to every connection of the room, sender included."""
    sender, other = joined(room, "send-1"), joined(room, "send-2")
    event = message_event(
        {"action": "sendmessage", "message": "hello, everyone!", "clientMessageId": "c-1"}, sender
    )
    assert sendmessage.handler(event, CONTEXT) == {"statusCode": 200}
    (stored,) = messages_in(room)
    assert (stored.text, stored.username, stored.client_message_id) == (
        "hello, everyone!",
        "alice",
        "c-1",
    )
    assert api.posts[sender] == api.posts[other] == [message_frame(stored)]
    assert message_frame(stored)["user"] == {"id": "1", "username": "alice"}


def test_sendmessage_captured_event_unchanged_is_refused(dynamodb, api):
    """The captured message event has no authorizer context: an error frame, nothing stored."""
    response = sendmessage.handler(load_event("websocket-message"), CONTEXT)
    assert body(response) == {
        "type": "error",
        "code": "unauthorized",
        "message": "this connection was not authorized",
        "action": "chat",
    }
    assert api.posts == {}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_json"),
        ({"action": "sendmessage"}, "empty_message"),
        ({"action": "sendmessage", "message": "   \n"}, "empty_message"),
        ({"action": "sendmessage", "message": 42}, "invalid_request"),
        ({"action": "sendmessage", "message": ["a"]}, "invalid_request"),
        ({"action": "sendmessage", "message": "x" * 4001}, "message_too_long"),
        (
            {"action": "sendmessage", "message": "hi", "clientMessageId": "x" * 65},
            "invalid_request",
        ),
        ({"action": "sendmessage", "message": "hi", "clientMessageId": 5}, "invalid_request"),
    ],
)
def test_bad_sendmessage_frames_get_error_frames_and_write_nothing(
    dynamodb, api, room, frame, code
):
    """Each malformed frame gets an error frame with its code; no message is stored or posted."""
    if code == "invalid_json" and frame == "[1, 2]":
        code = "invalid_request"
    sender = joined(room, f"bad-{room}")
    response = sendmessage.handler(message_event(frame, sender), CONTEXT)
    reply = body(response)
    assert reply["type"] == "error" and reply["code"] == code and reply["message"]
    assert messages_in(room) == [] and api.posts == {}


def test_exactly_4000_characters_are_accepted(dynamodb, api, room):
    """The limit is inclusive: 4,000 characters are a valid message."""
    sender = joined(room, f"long-{room}")
    sendmessage.handler(
        message_event({"action": "sendmessage", "message": "é" * 4000}, sender), CONTEXT
    )
    assert [m.text for m in messages_in(room)] == ["é" * 4000]


def test_sendmessage_from_an_unknown_connection_is_refused(dynamodb, api):
    """A socket whose item is gone is told to reconnect; nothing is stored."""
    response = sendmessage.handler(message_event({"message": "hi"}, "nobody"), CONTEXT)
    assert body(response)["code"] == "not_connected"
    assert api.posts == {}


# -- $default, history, ping -------------------------------------------------------------------


def test_default_route_answers_unknown_actions_with_help(dynamodb, api):
    """The captured frame's action `chat` is unknown: an error frame that explains the actions."""
    response = default.handler(with_user(load_event("websocket-message")), CONTEXT)
    reply = body(response)
    assert reply["code"] == "unknown_action" and "sendmessage" in reply["message"]


def test_default_route_gives_help_and_connection_info(dynamodb, api):
    """A frame without an action gets the help text, the connection id and GetConnection's data."""
    response = default.handler(message_event({"hello": "there"}), CONTEXT)
    reply = body(response)
    assert reply["type"] == "info" and "sendmessage" in reply["message"]
    assert reply["connectionId"] == "BFaT_fALIAMCKug="
    assert reply["connection"] == {
        "connectedAt": "2026-01-01T00:00:00.000Z",
        "identity": {"sourceIp": "1.2.3.4", "userAgent": "test"},
        "lastActiveAt": "2026-01-01T00:00:00.000Z",
    }


def test_default_route_with_invalid_json(dynamodb, api):
    """Text that is not JSON gets an invalid_json error frame."""
    reply = body(default.handler(message_event("hello"), CONTEXT))
    assert reply["code"] == "invalid_json"


def test_history_returns_the_rooms_messages(dynamodb, api, room):
    """A history frame on a connection returns its room's messages, oldest first."""
    sender = joined(room, f"hist-{room}")
    for text in ["one", "two", "three"]:
        sendmessage.handler(
            message_event({"action": "sendmessage", "message": text}, sender), CONTEXT
        )
    reply = body(history.handler(message_event({"action": "history"}, sender), CONTEXT))
    assert reply["type"] == "history" and reply["room"] == room and reply["has_more"] is False
    assert [m["text"] for m in reply["messages"]] == ["one", "two", "three"]


def test_ping_answers_pong(dynamodb):
    """The captured message event routed to ping gets a pong frame."""
    assert body(ping.handler(with_user(load_event("websocket-message")), CONTEXT)) == {
        "type": "pong"
    }


def test_expired_connection_cannot_send(dynamodb, api, room):
    """A connection past its TTL is treated as gone even before DynamoDB deletes it."""
    past = utcnow() - timedelta(hours=3)
    connection_open(
        api=api,
        connection_id=f"old-{room}",
        user=User("1", "alice", False),
        room=room,
        connected_at=past,
    )
    response = sendmessage.handler(message_event({"message": "hi"}, f"old-{room}"), CONTEXT)
    assert body(response)["code"] == "not_connected"
    assert messages_in(room) == []


def test_presence_leaves_out_a_ghost_still_inside_the_grace(dynamodb, api, room):
    """A connection answering 410 is in nobody's list, even before it may be deleted."""
    from lambdas.handlers import presence

    alice = joined(room, f"a-{room}", User("1", "alice", False))
    bob = joined(room, f"b-{room}", User("2", "bob", False))
    ghost = joined(room, f"g-{room}", User("3", "ghost", False))
    api.gone.add(ghost)  # vanished a moment ago: its item stays for the grace
    reply = body(presence.handler(message_event({"action": "presence"}, alice), CONTEXT))
    assert [u["username"] for u in reply["users"]] == ["alice", "bob"]
    # Bob was told twice: first with the ghost (not known gone yet), then without it.
    assert [[u["username"] for u in f["users"]] for f in api.posts[bob]] == [
        ["alice", "bob", "ghost"],
        ["alice", "bob"],
    ]
    assert Connection.get(ghost)  # inside the grace: not deleted


def test_a_refused_send_names_its_action_and_client_message_id(dynamodb, api, room):
    """An error frame echoes the refused frame's `action` and `clientMessageId`, so the page
    knows which of its sends failed; nothing is stored."""
    sender = joined(room, f"echo-{room}")
    frame = {"action": "sendmessage", "message": "x" * 4001, "clientMessageId": "c-9"}
    reply = body(sendmessage.handler(message_event(frame, sender), CONTEXT))
    assert (reply["code"], reply["action"], reply["client_message_id"]) == (
        "message_too_long",
        "sendmessage",
        "c-9",
    )
    # Malformed values are not echoed: they could be anything.
    frame = {"action": "sendmessage", "message": "hi", "clientMessageId": "x" * 65}
    reply = body(sendmessage.handler(message_event(frame, sender), CONTEXT))
    assert reply["code"] == "invalid_request" and "client_message_id" not in reply
    reply = body(sendmessage.handler(message_event("not json", sender), CONTEXT))
    assert reply["code"] == "invalid_json" and "action" not in reply
    assert messages_in(room) == [] and api.posts == {}
