"""The gateway's open connections and the Management API (`@connections`) that reaches them."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import WSCloseCode, web

from emulator import events
from emulator.functions import aws_json as _json
from emulator.iam import ACCOUNT_ID, Iam
from emulator.meter import Meter
from emulator.settings import Settings
from emulator.template import WebSocketApi


@dataclass
class Client:
    """One open WebSocket and what API Gateway remembers about it."""

    caller: events.Caller
    ws: web.WebSocketResponse
    last_active_at: int  # epoch ms of the last data frame from the client
    last_active_mono: float = field(default_factory=time.monotonic)
    opened_mono: float = field(default_factory=time.monotonic)
    closed_by_server: tuple[int, str] | None = None
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    meter: Meter | None = None  # counts each frame sent as the messages API Gateway bills

    async def send(self, data: bytes | str) -> None:
        if self.meter is not None:
            self.meter.sent(len(data) if isinstance(data, bytes) else len(data.encode()))
        # Fan-out threads POST concurrently; one frame at a time per socket keeps frames whole.
        async with self.send_lock:
            if isinstance(data, bytes):
                try:
                    data = data.decode()
                except UnicodeDecodeError:
                    await self.ws.send_bytes(data)
                    return
            await self.ws.send_str(data)

    async def close(self, code: int, reason: str) -> None:
        if self.closed_by_server is None:
            self.closed_by_server = (code, reason)
        await self.ws.close(code=code, message=reason.encode())


def _iso(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def request_id(answer: web.StreamResponse) -> web.StreamResponse:
    """The answer with the x-amzn-RequestId header every Management API answer carries (SDKs
    report it with each error)."""
    answer.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return answer


def _identified(
    handler: Callable[..., Awaitable[web.Response]],
) -> Callable[..., Awaitable[web.Response]]:
    @functools.wraps(handler)
    async def answer(self: ConnectionsApi, request: web.Request) -> web.Response:
        return request_id(await handler(self, request))  # type: ignore[return-value]

    return answer


class ConnectionsApi:
    """POST, GET and DELETE @connections/{id}, for LocalGateway."""

    clients: dict[str, Client]
    settings: Settings
    api: WebSocketApi
    iam: Iam | None

    def _client(self, request: web.Request) -> Client | None:
        client = self.clients.get(request.match_info["connection_id"])
        return None if client is None or client.ws.closed else client

    @staticmethod
    def _gone() -> web.Response:
        # No body: AWS's 410 has none (SDKs report it as such: aws-sdk-php cannot parse it as
        # JSON, laravel-echo-api-gateway#9; aws-sdk-js v2 names it by its status, "410",
        # aws-sdk-js-v3#2763), only the error type in x-amzn-ErrorType.
        return _json(410, None, error_type="GoneException")

    def _forbidden(self, request: web.Request) -> web.Response | None:
        """403 when a function's role does not allow this call (emulator/iam.py)."""
        iam = self.iam
        function = iam.caller(request.headers.get("Authorization")) if iam else None
        if function is None:
            return None
        stage = self.api.stage or self.settings.stage
        connection_id = request.match_info["connection_id"]
        arn = (
            f"arn:aws:execute-api:{self.settings.region}:{ACCOUNT_ID}:{self.settings.api_id}/"
            f"{stage}/{request.method}/@connections/{connection_id}"
        )
        if iam.allows(function, "execute-api:ManageConnections", arn):
            return None
        message = iam.denial(function, "execute-api:ManageConnections", arn)
        return _json(403, {"message": message}, error_type="ForbiddenException")

    @_identified
    async def post_to_connection(self, request: web.Request) -> web.Response:
        if forbidden := self._forbidden(request):
            return forbidden
        data = await request.read()
        if len(data) > self.settings.max_message_bytes:
            return _json(
                413, {"message": "Request entity too large"}, error_type="PayloadTooLargeException"
            )
        faults = self.settings.post_faults
        delay = self.settings.post_delay + faults.delay
        if delay > 0:
            await asyncio.sleep(delay)
        client = self._client(request)
        if client is None:
            return self._gone()
        caller = client.caller
        fault = faults.pick(caller.connection_id, caller.authorizer.get("principalId"))
        if fault == "error":
            return _json(500, {"message": "Internal server error"}, error_type="InternalError")
        if fault == "timeout":
            await asyncio.sleep(faults.hang)
            return _json(504, {"message": "Endpoint request timed out"})
        if fault == "drop":
            return web.Response(status=200)  # answered, and never delivered
        try:
            await client.send(data)
        except ConnectionError:
            return self._gone()
        return web.Response(status=200)

    @_identified
    async def get_connection(self, request: web.Request) -> web.Response:
        if forbidden := self._forbidden(request):
            return forbidden
        client = self._client(request)
        if client is None:
            return self._gone()
        return _json(
            200,
            {
                "connectedAt": _iso(client.caller.connected_at),
                "identity": {
                    "sourceIp": client.caller.source_ip,
                    "userAgent": client.caller.user_agent,
                },
                "lastActiveAt": _iso(client.last_active_at),
            },
        )

    @_identified
    async def delete_connection(self, request: web.Request) -> web.Response:
        if forbidden := self._forbidden(request):
            return forbidden
        client = self._client(request)
        if client is None:
            return self._gone()
        await client.close(WSCloseCode.OK, "Connection deleted")
        return web.Response(status=204)
