"""The local gateway behaves like API Gateway: real sockets, real handlers, real dynalite."""

import json
import logging
import time
from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus

from lambdas.models import Connection, Message, utcnow
from tests.helpers import DEADLINE, recv_json, wait_for


def room_connections(room: str) -> set[str]:
    return {c.connection_id for c in Connection.room_index.query(room)}


def assert_silent(client, seconds: float = 0.3) -> None:
    """Nothing arrives on this client within a short wait."""
    with pytest.raises(TimeoutError):
        client.recv(timeout=seconds)


def handshake_status(connect, *args, **kwargs) -> int:
    with pytest.raises(InvalidStatus) as refused:
        connect(*args, **kwargs)
    return refused.value.response.status_code


# -- handshake ---------------------------------------------------------------------------------


def test_connect_with_a_token_registers_the_connection(connect, room):
    """A valid token opens the socket and stores the connection with its user and room."""
    client = connect(room, user_id="5", username="dora")
    client.send('{"action": "ping"}')
    assert recv_json(client) == {"type": "pong", "rev": 0}  # in a room: its last change number
    (item,) = list(Connection.room_index.query(room))
    full = Connection.get(item.connection_id)
    assert (full.user_id, full.username, full.room, full.source_ip) == (
        "5",
        "dora",
        room,
        "127.0.0.1",
    )


def test_missing_token_is_401(connect, room):
    """Without the identity source API Gateway answers 401 (the authorizer is not invoked)."""
    assert handshake_status(connect, room, token="") == 401


@pytest.mark.parametrize("claims", [{"exp": 1}, {"aud": "other"}, {"iss": "other"}])
def test_bad_tokens_are_403(connect, room, keys, claims):
    """Expired, wrong-audience and wrong-issuer tokens are denied by the authorizer: 403."""
    assert handshake_status(connect, room, token=keys.token(**claims)) == 403
    assert room_connections(room) == set()


def test_tampered_token_is_403(connect, room, keys):
    """A token whose signature does not match its content is refused."""
    token = keys.token()
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert handshake_status(connect, room, token=tampered) == 403


def test_bad_room_is_400(connect):
    """$connect's 400 for a bad room name refuses the handshake with that status."""
    assert handshake_status(connect, "Not A Room") == 400


# -- messages and fan-out ----------------------------------------------------------------------


def test_message_reaches_every_client_of_the_room_and_no_other(connect, room, make_room):
    """The AWS tutorial's frame reaches the three clients of the room, sender included."""
    alice, bob, carol = (
        connect(room, user_id=str(n), username=name)
        for n, name in enumerate(["alice", "bob", "carol"], 1)
    )
    elsewhere = connect(make_room(), user_id="9", username="eve")
    alice.send('{"action":"sendmessage","message":"hello, everyone!"}')
    frames = [recv_json(client) for client in (alice, bob, carol)]
    assert frames[0] == frames[1] == frames[2]
    frame = frames[0]
    assert frame["type"] == "message" and frame["text"] == "hello, everyone!"
    assert frame["room"] == room and frame["user"] == {"id": "1", "username": "alice"}
    assert_silent(elsewhere)
    (stored,) = list(Message.query(room))
    assert stored.message_id == frame["id"]


def test_gone_connection_is_removed_and_only_it(connect, room):
    """A connection item without a socket answers 410 on fan-out and is deleted; others stay."""
    alice, bob = connect(room, username="alice"), connect(room, username="bob")
    now = utcnow()
    Connection(
        "stale-id",
        user_id="3",
        username="ghost",
        room=room,
        connected_at=now - timedelta(minutes=5),  # long past its $connect
        expires_at=now.replace(year=now.year + 1),
    ).save()
    live = room_connections(room) - {"stale-id"}
    bob.send(json.dumps({"action": "sendmessage", "message": "anyone?"}))
    assert recv_json(alice)["text"] == recv_json(bob)["text"] == "anyone?"
    assert wait_for(lambda: room_connections(room) == live)


def test_closing_a_socket_runs_disconnect(connect, room):
    """When a client closes, $disconnect removes its item."""
    client = connect(room)
    assert len(room_connections(room)) == 1
    client.close()
    assert wait_for(lambda: room_connections(room) == set())


def test_a_client_gone_during_the_upgrade_is_disconnected(gateway, keys, room, caplog):
    """A client that closes its socket right after asking for the upgrade: `$connect` runs (and
    stores the connection), then `$disconnect` removes it, with no traceback in the log."""
    import socket
    from base64 import b64encode
    from urllib.parse import urlencode, urlsplit

    caplog.set_level(logging.INFO, logger="emulator.gateway")
    url = urlsplit(gateway.websocket_url)
    query = urlencode({"token": keys.token(), "room": room})
    request = (
        f"GET {url.path or '/'}?{query} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: {b64encode(b'0123456789abcdef').decode()}\r\n\r\n"
    )
    caplog.clear()  # the session's gateway has logged other tests' sockets
    with socket.create_connection((url.hostname, url.port)) as raw:
        raw.sendall(request.encode())

    def logged(what: str) -> list[str]:
        return [m.split()[1] for r in caplog.records if (m := r.getMessage()).startswith(what)]

    assert wait_for(lambda: logged("connect "))
    [connection_id] = logged("connect ")
    assert wait_for(lambda: connection_id in logged("disconnect "))
    assert room_connections(room) == set()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_history_pages_through_the_gateway(connect, room):
    """History returns pages oldest first and pages back with `before` to the first message."""
    client = connect(room)
    for n in range(5):
        client.send(json.dumps({"action": "sendmessage", "message": f"m{n}"}))
        recv_json(client)
    client.send(json.dumps({"action": "history", "limit": 2}))
    page = recv_json(client)
    assert [m["text"] for m in page["messages"]] == ["m3", "m4"] and page["has_more"]
    client.send(json.dumps({"action": "history", "limit": 3, "before": page["messages"][0]["id"]}))
    page = recv_json(client)
    assert [m["text"] for m in page["messages"]] == ["m0", "m1", "m2"] and not page["has_more"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("hello", "invalid_json"),
        ('{"action": "dance"}', "unknown_action"),
        ('{"action": "sendmessage", "message": ""}', "empty_message"),
        (json.dumps({"action": "sendmessage", "message": "x" * 4001}), "message_too_long"),
        ('{"action": "history", "limit": 1000}', "invalid_request"),
    ],
)
def test_bad_frames_get_error_frames_and_write_nothing(connect, room, frame, code):
    """Malformed frames get an error frame with a code; the socket stays open; nothing is stored."""
    client = connect(room)
    client.send(frame)
    reply = recv_json(client)
    assert reply["type"] == "error" and reply["code"] == code
    assert "Internal server error" not in json.dumps(reply)
    client.send('{"action": "ping"}')
    assert recv_json(client)["type"] == "pong"
    assert list(Message.query(room)) == []


def test_default_route_shows_connection_info(connect, room):
    """A frame without an action gets help and this connection's GetConnection data."""
    client = connect(room)
    client.send("{}")
    info = recv_json(client)
    assert info["type"] == "info" and "sendmessage" in info["message"]
    (connection_id,) = room_connections(room)
    assert info["connectionId"] == connection_id
    assert info["connection"]["identity"]["sourceIp"] == "127.0.0.1"
    assert info["connection"]["connectedAt"].endswith("Z")


# -- the Management API through boto3 ----------------------------------------------------------


@pytest.fixture
def management(gateway):
    """boto3's own apigatewaymanagementapi client, pointed at the gateway, unchanged."""
    return boto3.client(
        "apigatewaymanagementapi", endpoint_url=gateway.management_url, region_name="us-east-1"
    )


def test_boto3_post_get_delete(connect, room, management):
    """POST reaches the socket, GET describes it, DELETE closes it and $disconnect runs."""
    client = connect(room, username="frank")
    (connection_id,) = room_connections(room)
    management.post_to_connection(ConnectionId=connection_id, Data=b'{"type": "hi"}')
    assert recv_json(client) == {"type": "hi"}
    described = management.get_connection(ConnectionId=connection_id)
    assert described["Identity"]["SourceIp"] == "127.0.0.1"
    assert described["ConnectedAt"].tzinfo is not None
    assert described["LastActiveAt"] >= described["ConnectedAt"]
    management.delete_connection(ConnectionId=connection_id)
    with pytest.raises(ConnectionClosed):
        client.recv(timeout=DEADLINE)
    assert wait_for(lambda: room_connections(room) == set())


@pytest.mark.parametrize("call", ["post_to_connection", "get_connection", "delete_connection"])
def test_boto3_gone_exception_for_unknown_ids(management, call):
    """An unknown connection id raises boto3's typed GoneException with HTTP 410."""
    kwargs = {"ConnectionId": "no-such-connection"}
    if call == "post_to_connection":
        kwargs["Data"] = b"x"
    with pytest.raises(management.exceptions.GoneException) as gone:
        getattr(management, call)(**kwargs)
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_post_over_128_kb_is_413(connect, room, management):
    """Posting more than 131,072 bytes is refused with 413; exactly 131,072 goes through."""
    client = connect(room)
    (connection_id,) = room_connections(room)
    with pytest.raises(ClientError) as too_big:
        management.post_to_connection(ConnectionId=connection_id, Data=b"x" * 131_073)
    assert too_big.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    management.post_to_connection(ConnectionId=connection_id, Data=b"y" * 131_072)
    assert client.recv(timeout=DEADLINE) == "y" * 131_072


# -- API Gateway's limits ----------------------------------------------------------------------


def close_code(client, timeout: float = DEADLINE) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            client.recv(timeout=timeout)
    return closed.value.rcvd.code


def test_message_over_128_kb_closes_with_1009(connect, room):
    """A frame over 128 KB closes the connection with 1009 and $disconnect runs."""
    client = connect(room)
    client.send("x" * (128 * 1024 + 1))
    assert close_code(client) == 1009
    assert wait_for(lambda: room_connections(room) == set())


def test_binary_frame_closes_with_1003(connect, room):
    """A binary frame closes the connection with 1003."""
    client = connect(room)
    client.send(b"\x00\x01")
    assert close_code(client) == 1003


@pytest.mark.parametrize("setting", ["idle_timeout", "max_lifetime"])
def test_idle_and_lifetime_limits_close_with_1001(gateway, connect, room, setting):
    """Past the idle timeout or the maximum lifetime the gateway closes with 1001."""
    original = getattr(gateway.settings, setting)
    setattr(gateway.settings, setting, 0.5)
    try:
        client = connect(room)
        started = time.monotonic()
        if setting == "max_lifetime":
            client.send('{"action": "ping"}')  # activity does not extend the maximum lifetime
        assert close_code(client) == 1001
        assert time.monotonic() - started >= 0.4
    finally:
        setattr(gateway.settings, setting, original)


def test_handler_exception_gives_aws_internal_server_error(gateway, connect, room, monkeypatch):
    """If a function raises, the caller gets API Gateway's Internal server error frame."""
    import dataclasses

    from emulator.gateway import LocalGateway

    original = LocalGateway.function

    def broken(self, logical_id, handler=""):
        function = original(self, logical_id, handler)
        if function.handler.endswith("ping.handler"):  # a handler that raises, in either mode
            return dataclasses.replace(function, handler="tests.local.functions.handlers.fail")
        return function

    client = connect(room)
    monkeypatch.setattr(LocalGateway, "function", broken)
    client.send('{"action": "ping"}')
    reply = recv_json(client)
    (connection_id,) = room_connections(room)
    assert reply["message"] == "Internal server error"
    assert reply["connectionId"] == connection_id and reply["requestId"]
