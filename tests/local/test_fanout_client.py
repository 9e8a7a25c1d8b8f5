"""The lean @connections client: signed as botocore signs, bounded, retried, refreshed, exact."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

import boto3
import pytest
from aiohttp import ClientSession, web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials

from lambdas.fanout_client import FanoutClient
from lambdas.management import ManagementApi
from lambdas.models import Connection, utcnow
from lambdas.services import broadcast as broadcast_module
from lambdas.services.broadcast import broadcast, broadcast_shard
from tests.helpers import DEADLINE, recv_json

REGION = "eu-west-1"
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<day>\d{8})/(?P<region>[^/]+)/"
    r"execute-api/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)


@dataclass
class Received:
    """One request as the endpoint saw it on the wire."""

    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes

    @property
    def connection_id(self) -> str:
        return unquote(self.raw_path.rsplit("/", 1)[1])


Answer = Callable[[Received], Awaitable[web.Response]]


class Endpoint:
    """An @connections endpoint of a test's own, on its own loop and thread; `answer` decides."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.received: list[Received] = []
        self.in_flight = self.most_in_flight = 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def start(self) -> Endpoint:
        self._thread.start()
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/local/@connections/{connection_id}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        self.call(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.call(site.start())
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/local"
        self.session = self.call(_session())
        return self

    def stop(self) -> None:
        self.call(self.session.close())
        self.call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    async def _handle(self, request: web.Request) -> web.Response:
        received = Received(
            request.method, request.raw_path, dict(request.headers), await request.read()
        )
        self.received.append(received)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self.answer(received)
        finally:
            self.in_flight -= 1


async def _session() -> ClientSession:
    return ClientSession()


async def ok(received: Received) -> web.Response:
    return web.Response(status=200)


@pytest.fixture
def endpoint():
    """Start endpoints answering as told; each is stopped after the test."""
    started: list[Endpoint] = []

    def start(answer: Answer = ok) -> Endpoint:
        started.append(Endpoint(answer).start())
        return started[-1]

    yield start
    for one in started:
        one.stop()


@pytest.fixture
def clients():
    """Lean clients of the test's own (their pools are closed afterwards)."""
    made: list[FanoutClient] = []

    def make(url: str, *, concurrency: int = 8, credentials=None) -> FanoutClient:
        credentials = credentials or Credentials("AKIDTEST", "secret", "session-token")
        made.append(
            FanoutClient(url, region=REGION, concurrency=concurrency, credentials=credentials)
        )
        return made[-1]

    yield make
    for client in made:
        client.close()


def verify_signature(received: Received, credentials: Credentials) -> dict[str, str]:
    """Recompute the SigV4 signature from the request as received, as API Gateway would."""
    parts = AUTHORIZATION.fullmatch(received.headers["Authorization"])
    assert parts, received.headers["Authorization"]
    signed = parts["signed"].split(";")
    headers = {name: v for k, v in received.headers.items() if (name := k.lower()) in signed}
    assert set(headers) == set(signed)  # every signed header was sent
    request = AWSRequest(
        method=received.method,
        url=f"http://{received.headers['Host']}{received.raw_path}",
        data=received.body,
        headers=headers,
    )
    request.context["timestamp"] = received.headers["X-Amz-Date"]
    signer = SigV4Auth(credentials, "execute-api", REGION)
    string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
    assert parts["signature"] == signer.signature(string_to_sign, request)
    return parts.groupdict()


def test_a_post_is_signed_exactly_as_boto3_signs_it(endpoint, clients, monkeypatch):
    """Same credentials, instant and id: the lean POST's path and Authorization are boto3's."""
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: moment)
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", "the-session-token")
    server = endpoint()
    awkward = "ab c=/+x~é"
    frame = json.dumps({"type": "message", "text": "héllo"}).encode()
    posted = clients(server.url, credentials=credentials).post_many([awkward], frame)
    boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
    ).post_to_connection(ConnectionId=awkward, Data=frame)
    assert posted.delivered == 1
    lean, theirs = server.received
    assert (lean.method, lean.raw_path, lean.body) == ("POST", theirs.raw_path, frame)
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "Content-Length"):
        assert lean.headers[name] == theirs.headers[name], name
    assert "Content-Type" not in lean.headers and "Content-Type" not in theirs.headers
    assert lean.headers["X-Amz-Date"] == "20260102T030405Z"
    assert lean.headers["X-Amz-Security-Token"] == "the-session-token"
    scope = verify_signature(lean, credentials)
    assert (scope["key"], scope["day"], scope["region"]) == ("AKIDEXAMPLE", "20260102", REGION)
    assert scope["signed"] == "host;x-amz-date;x-amz-security-token"


def test_answers_are_sorted_by_status(endpoint, clients):
    """2xx delivered, 410 gone, 400/413 refused, 429/5xx worth a retry; nobody is left out."""
    statuses = {"ok": 200, "gone": 410, "big": 413, "bad": 400, "busy": 429, "down": 503}

    async def by_id(received: Received) -> web.Response:
        return web.Response(status=statuses[received.connection_id])

    posted = clients(endpoint(by_id).url).post_many(list(statuses), b"{}")
    assert posted.delivered == 1 and posted.gone == ["gone"]
    assert posted.refused == {"big": "HTTP 413", "bad": "HTTP 400"}
    assert posted.retry == {"busy": "HTTP 429", "down": "HTTP 503"}


def test_an_endpoint_that_does_not_answer_is_worth_a_retry(clients):
    """Connection refused is reported per connection, never raised or dropped."""
    posted = clients("http://127.0.0.1:9/local").post_many(["a", "b"], b"{}")
    assert posted.delivered == 0 and set(posted.retry) == {"a", "b"}
    assert set(posted.retry.values()) == {"ClientConnectorError"}


def test_posts_overlap_up_to_the_concurrency_and_never_beyond(endpoint, clients):
    """Two threads posting 24 each through one client of concurrency 4: 4 in flight at most."""

    async def slow(received: Received) -> web.Response:
        await asyncio.sleep(0.02)
        return web.Response(status=200)

    server = endpoint(slow)
    client = clients(server.url, concurrency=4)
    results = []
    threads = [
        threading.Thread(
            target=lambda n=n: results.append(
                client.post_many([f"t{n}-{i}" for i in range(24)], b"{}")
            )
        )
        for n in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [r.delivered for r in results] == [24, 24]
    assert server.most_in_flight == 4
    assert sorted(r.connection_id for r in server.received) == sorted(
        f"t{n}-{i}" for n in range(2) for i in range(24)
    )


def test_expired_credentials_are_refreshed_before_signing(endpoint, clients):
    """Expired keys are never used; keys about to expire are renewed at the next batch."""
    refreshed: list[str] = []
    lifetimes = [timedelta(minutes=5), timedelta(hours=1)]  # 5 min is inside botocore's margin

    def refresh() -> dict:
        refreshed.append(f"AKIDREFRESHED{len(refreshed) + 1}")
        return {
            "access_key": refreshed[-1],
            "secret_key": f"secret-{len(refreshed)}",
            "token": f"token-{len(refreshed)}",
            "expiry_time": (datetime.now(UTC) + lifetimes[len(refreshed) - 1]).isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        metadata={
            "access_key": "AKIDEXPIRED",
            "secret_key": "old",
            "token": "old-token",
            "expiry_time": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        },
        refresh_using=refresh,
        method="test",
    )
    server = endpoint()
    client = clients(server.url, credentials=credentials)
    for batch in range(3):
        assert client.post_many([f"c{batch}"], b"{}").delivered == 1
    keys = [AUTHORIZATION.fullmatch(r.headers["Authorization"])["key"] for r in server.received]
    assert keys == ["AKIDREFRESHED1", "AKIDREFRESHED2", "AKIDREFRESHED2"]
    assert refreshed == ["AKIDREFRESHED1", "AKIDREFRESHED2"]
    assert [r.headers["X-Amz-Security-Token"] for r in server.received][-1] == "token-2"
    verify_signature(server.received[-1], Credentials("AKIDREFRESHED2", "secret-2", "token-2"))


@pytest.fixture
def closes_reused_connections():
    """A raw HTTP/1.1 server that answers the first request of each connection (keep-alive)
    and closes the connection, unanswered, on the next: a pooled connection gone stale."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    answered: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])
            await reader.readexactly(length)
            answered.append(head.split(b" ")[1].decode())
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")  # the next request: never answered
        writer.close()

    server = asyncio.run_coroutine_threadsafe(
        asyncio.start_server(serve, "127.0.0.1", 0), loop
    ).result(5)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/local", answered
    loop.call_soon_threadsafe(server.close)  # on its loop's thread: Server is not thread-safe
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_a_stale_pooled_connection_is_retried_and_delivers(
    closes_reused_connections, clients, monkeypatch
):
    """The far end closed a kept-alive connection: the post is retried on a new one, once."""
    url, answered = closes_reused_connections
    monkeypatch.setattr(broadcast_module, "sleep", lambda seconds: None)
    api = ManagementApi(url, poster=clients(url, concurrency=1))
    assert api.post_many(["first"], b"{}").delivered == 1
    posted = api.post_many(["second"], b"{}")
    assert posted.delivered == 0 and posted.retry == {"second": "ServerDisconnectedError"}
    result = broadcast_shard(api=api, connection_ids=["third"], payload=b"{}", forget=False)
    assert (result.delivered, result.failed) == (1, [])
    assert answered == ["/local/@connections/first", "/local/@connections/third"]


# -- through the real local gateway, to real WebSocket clients --------------------------------


def add_ghost(room: str, *, opening: bool = False) -> str:
    """A connection item the gateway does not know; `opening`: its $connect may still run."""
    connection_id = uuid.uuid4().hex[:12] + "="
    now = utcnow()
    Connection(
        connection_id,
        user_id="9",
        username="ghost",
        room=room,
        connected_at=now if opening else now - timedelta(minutes=5),
        expires_at=now + timedelta(hours=1),
    ).save()
    return connection_id


def room_ids(room: str) -> set[str]:
    return {c.connection_id for c in Connection.room_index.query(room)}


def messages_of(client, *, quiet: float = 0.2) -> list[dict]:
    """Every `message` frame the client gets until it has been quiet for a while."""
    found = []
    with contextlib.suppress(TimeoutError):
        while True:
            found.append(recv_json(client, timeout=quiet if found else DEADLINE))
    return [frame for frame in found if frame.get("type") == "message"]


def test_a_410_forgets_exactly_that_connection(gateway, connect, room):
    """Real clients get the frame once; the old ghost is deleted, the opening one is kept."""
    members = [connect(room, user_id=str(n), username=f"u{n}") for n in range(3)]
    live = room_ids(room)
    ghost, opening = add_ghost(room), add_ghost(room, opening=True)
    frame = {"type": "message", "id": "01JGONE", "text": "anyone?"}
    result = broadcast(api=ManagementApi(gateway.management_url), room=room, payload=frame)
    assert (result.delivered, sorted(result.gone)) == (3, sorted([ghost, opening]))
    assert [messages_of(client) for client in members] == [[frame]] * 3
    assert room_ids(room) == live | {opening}


def test_a_500_is_retried_and_the_frame_arrives_once(gateway, connect, room, endpoint):
    """In front of the gateway, every connection's first POST answers 500, the next proxies."""
    members = [connect(room, user_id=str(n), username=f"u{n}") for n in range(4)]
    failed_once: set[str] = set()

    async def fail_then_proxy(received: Received) -> web.Response:
        if received.connection_id not in failed_once:
            failed_once.add(received.connection_id)
            return web.json_response({"message": "Internal server error"}, status=500)
        url = f"{gateway.management_url}/@connections/{quote(received.connection_id, safe='')}"
        async with proxy.session.post(url, data=received.body) as answer:
            return web.Response(status=answer.status, body=await answer.read())

    proxy = endpoint(fail_then_proxy)
    frame = {"type": "message", "id": "01JRETRY", "text": "despite errors"}
    result = broadcast(api=ManagementApi(proxy.url), room=room, payload=frame)
    assert (result.delivered, result.gone, result.failed) == (4, [], [])
    assert [messages_of(client) for client in members] == [[frame]] * 4
    assert sorted(r.connection_id for r in proxy.received) == sorted([*room_ids(room)] * 2)


def test_large_frames_arrive_whole_and_once_at_every_client(gateway, connect, room):
    """A 120 KB frame of multi-byte text reaches each of five clients byte for byte, once."""
    members = [connect(room, user_id=str(n), username=f"u{n}") for n in range(5)]
    frame = {"type": "message", "id": "01JBIG", "text": "ünïcødé✓" * 8_000}
    data = json.dumps(frame, ensure_ascii=False).encode()
    assert 100_000 < len(data) < 131_072
    result = broadcast(api=ManagementApi(gateway.management_url), room=room, payload=data)
    assert result.delivered == 5
    assert [messages_of(client) for client in members] == [[frame]] * 5
