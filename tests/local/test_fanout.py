"""Sharded fan-out through the real gateway: async Invoke shards, retries, a prompt sendmessage."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from datetime import timedelta
from urllib.parse import urlencode

import boto3
import pytest
from botocore.exceptions import ClientError
from websockets.sync.client import connect as ws_connect

from emulator.gateway import LocalGateway, _json
from lambdas.models import Connection, utcnow
from tests.helpers import (
    DEADLINE,
    bind_config,
    share_thread_variables,
    thread_variables,
    wait_for,
)

ROOM_SIZE = 10


class RecordingGateway(LocalGateway):
    """The local gateway, plus what these tests need to watch and disturb.

    `events`: payloads of asynchronous invocations; `gate`: while clear, asynchronous invocations
    wait before running; `fail_once`: connection ids whose next POST answers 500.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.events: list[dict] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_once: set[str] = set()
        self.posts: dict[str, int] = {}

    async def _invoke_event(self, handler: str, event: dict) -> None:
        self.events.append(event)
        await asyncio.to_thread(self.gate.wait, 20)
        await super()._invoke_event(handler, event)

    async def post_to_connection(self, request):
        connection_id = request.match_info["connection_id"]
        self.posts[connection_id] = self.posts.get(connection_id, 0) + 1
        if connection_id in self.fail_once:
            self.fail_once.discard(connection_id)
            return _json(
                500, {"message": "Internal server error"}, error_type="InternalServerError"
            )
        return await super().post_to_connection(request)


@pytest.fixture
def sharding_gateway(dynamodb, keys):
    """A gateway of this test's own, with FANOUT_SHARD_SIZE=3, its functions run as the suite
    runs them (GATEWAY_MODE: execution environments, each under its role); the functions'
    configuration is the session's again afterwards."""
    from tests.helpers import gateway_thread

    shared = thread_variables()
    bind_config(FANOUT_SHARD_SIZE=3)
    runner = gateway_thread()
    runner.gateway = RecordingGateway(runner.gateway.api, runner.gateway.settings)
    gateway = runner.start()
    try:
        yield gateway
    finally:
        runner.stop()
        share_thread_variables(shared)
        bind_config()


@pytest.fixture
def room_of_ten(sharding_gateway, keys, room):
    """Ten real WebSocket clients in one room, once every presence fan-out has settled."""
    with contextlib.ExitStack() as opened:
        clients = []
        for n in range(ROOM_SIZE):
            query = urlencode({"token": keys.token(user_id=str(n), username=f"u{n}"), "room": room})
            url = f"{sharding_gateway.websocket_url}?{query}"
            connection = ws_connect(url, open_timeout=DEADLINE, close_timeout=2)
            clients.append(opened.enter_context(connection))
        settle(sharding_gateway, clients)
        yield clients


def settle(gateway: RecordingGateway, clients) -> None:
    """Wait until no asynchronous invocation runs, then drop the frames received so far.

    Every post has been answered by then, so the frames are already on their way: a short
    quiet period per client is enough.
    """
    assert wait_for(lambda: not gateway._events)
    for client in clients:
        with contextlib.suppress(TimeoutError):
            while True:
                client.recv(timeout=0.05)


def messages(client, *, first: float = DEADLINE, quiet: float = 0.05) -> list[dict]:
    """The `message` frames of a client: waits up to `first` seconds for one, then collects
    more until the client has been quiet for `quiet` seconds (a duplicate would show here)."""
    found: list[dict] = []
    with contextlib.suppress(TimeoutError):
        while True:
            frame = json.loads(client.recv(timeout=quiet if found else first))
            if frame.get("type") == "message":
                found.append(frame)
    return found


def received_by(gateway: RecordingGateway, clients) -> list[list[dict]]:
    """The `message` frames each client got, once every shard has finished posting."""
    first = [messages(client, quiet=0.01) for client in clients]
    assert wait_for(lambda: not gateway._events)
    return [
        found + messages(client, first=0.05) for found, client in zip(first, clients, strict=True)
    ]


def room_ids(room: str) -> set[str]:
    return {c.connection_id for c in Connection.room_index.query(room)}


def test_message_reaches_every_client_once_through_several_async_shards(
    sharding_gateway, room_of_ten, room
):
    """Ten clients, shards of 3: the sender's copy in-process, nine others in three shards."""
    sender = room_of_ten[0]
    sender.send(json.dumps({"action": "sendmessage", "message": "to everyone"}))
    received = received_by(sharding_gateway, room_of_ten)
    assert all(len(frames) == 1 for frames in received), [len(f) for f in received]
    frame = received[0][0]
    assert frame["text"] == "to everyone" and all(f == [frame] for f in received)
    shards = [e for e in sharding_gateway.events if e.get("message_id") == frame["id"]]
    assert sorted(len(s["connection_ids"]) for s in shards) == [3, 3, 3]
    sharded = [c for s in shards for c in s["connection_ids"]]
    assert len(sharded) == len(set(sharded)) == ROOM_SIZE - 1
    assert set(sharded) < room_ids(room)  # everyone but the sender


def test_a_failing_post_is_retried_and_delivered_once(sharding_gateway, room_of_ten, room):
    """Every connection's first POST answers 500: each is retried and receives the frame once."""
    everyone = room_ids(room)
    sharding_gateway.fail_once = set(everyone)
    before = dict(sharding_gateway.posts)
    room_of_ten[3].send(json.dumps({"action": "sendmessage", "message": "despite errors"}))
    received = received_by(sharding_gateway, room_of_ten)
    assert [len(frames) for frames in received] == [1] * ROOM_SIZE
    assert sharding_gateway.fail_once == set()
    assert {c: sharding_gateway.posts[c] - before.get(c, 0) for c in everyone} == dict.fromkeys(
        everyone, 2
    )


def test_sendmessage_returns_before_the_shards_run(sharding_gateway, room_of_ten):
    """With every shard held back, the sender has its copy and its next frame is answered."""
    sender, others = room_of_ten[0], room_of_ten[1:]
    sharding_gateway.gate.clear()
    before = len(sharding_gateway.events)

    def shards_held() -> int:
        # (The message's search index invocation is held at the gate too: not a shard.)
        return sum("connection_ids" in e for e in sharding_gateway.events[before:])

    try:
        sender.send(json.dumps({"action": "sendmessage", "message": "prompt"}))
        # Frames of one connection are handled in order: the pong proves sendmessage returned.
        sender.send(json.dumps({"action": "ping"}))
        replies = [json.loads(sender.recv(timeout=DEADLINE)) for _ in range(2)]
        assert [r["type"] for r in replies] == ["message", "pong"]
        assert wait_for(lambda: shards_held() == 3)
        assert all(messages(client, first=0.05) == [] for client in others)
    finally:
        sharding_gateway.gate.set()
    assert all(len(frames) == 1 for frames in received_by(sharding_gateway, others))


def test_invoke_api_answers_like_lambda(sharding_gateway):
    """boto3's lambda client, unchanged: Event is 202, RequestResponse 200, unknown 404."""
    client = boto3.client(
        "lambda", endpoint_url=sharding_gateway.lambda_url, region_name="us-east-1"
    )
    shard = {"endpoint": sharding_gateway.management_url, "message_id": None, "room": "r"}
    shard |= {"data": "{}", "connection_ids": ["nobody"]}
    queued = client.invoke(
        FunctionName="FanoutFunction", InvocationType="Event", Payload=json.dumps(shard)
    )
    assert queued["StatusCode"] == 202
    answered = client.invoke(
        FunctionName="arn:aws:lambda:us-east-1:000000000000:function:FanoutFunction:live",
        Payload=json.dumps(shard),
    )
    assert answered["StatusCode"] == 200 and "FunctionError" not in answered
    assert json.loads(answered["Payload"].read()) == {"delivered": 0, "gone": 1, "failed": []}
    with pytest.raises(ClientError) as missing:
        client.invoke(FunctionName="NoSuchFunction", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_gone_connection_in_a_shard_is_forgotten_and_only_it(sharding_gateway, room_of_ten, room):
    """Two ghosts among the shards: the settled one is deleted, the opening one and the
    ten live connections stay, and each live client gets the frame once."""
    live = room_ids(room)
    now = utcnow()
    ghosts = {}
    for name, connected_at in (("settled", now - timedelta(minutes=5)), ("opening", now)):
        ghosts[name] = f"ghost-{name}-{room}="
        Connection(
            ghosts[name],
            user_id="ghost",
            username="ghost",
            room=room,
            connected_at=connected_at,
            expires_at=now + timedelta(hours=1),
        ).save()
    room_of_ten[0].send(json.dumps({"action": "sendmessage", "message": "who is here"}))
    received = received_by(sharding_gateway, room_of_ten)
    assert [len(frames) for frames in received] == [1] * ROOM_SIZE
    sharded = {c for e in sharding_gateway.events for c in e.get("connection_ids", [])}
    assert set(ghosts.values()) <= sharded  # posted by the fan-out function, not the caller
    assert room_ids(room) == live | {ghosts["opening"]}


def test_a_departure_in_a_large_room_is_announced_through_the_shards(sharding_gateway, room_of_ten):
    """One leaves a room of ten: $disconnect's presence list reaches the nine through shards."""
    leaving, staying = room_of_ten[0], room_of_ten[1:]
    before = len(sharding_gateway.events)
    leaving.close()
    for client in staying:
        frame = {}
        while frame.get("type") != "presence":
            frame = json.loads(client.recv(timeout=DEADLINE))
        assert "u0" not in [user["username"] for user in frame["users"]]
    assert len(sharding_gateway.events) > before  # asynchronous shards carried the list
