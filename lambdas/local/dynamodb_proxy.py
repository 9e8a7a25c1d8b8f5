"""DynamoDB as each function's role allows it: the gateway's proxy in front of dynalite.

With IAM enforced (process mode), a function whose environment names a DynamoDB endpoint gets a
listener of the gateway's instead (one per endpoint), which stands for that endpoint. A call
signed with a function's credentials is authorized against the function's role first
(lambdas/local/iam.py): the operation's action on every table or index it names, as IAM
authorizes it (a Query of an index is `dynamodb:Query` on `…:table/T/index/I`; a BatchWriteItem
is `dynamodb:BatchWriteItem` on each table of its RequestItems; a TransactWriteItems is each
item's own action). A call the role does not allow gets DynamoDB's answer, 400
AccessDeniedException; any other is relayed byte for byte, and so is the answer (botocore checks
its CRC32).

The relay is plain HTTP/1.1 over asyncio streams, one upstream connection per client connection,
both kept alive: every DynamoDB call of every function passes through it, and a full HTTP server
and client (aiohttp's) cost the local stack a third more CPU per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lambdas.local.iam import ACCOUNT_ID

if TYPE_CHECKING:
    from lambdas.local.iam import Iam
    from lambdas.local.settings import Settings

logger = logging.getLogger("dynamowave.gateway")

TARGET = "DynamoDB_20120810."
# Transactions: each item's action, as IAM authorizes them.
TRANSACT_ACTIONS = {
    "Get": "GetItem",
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
MAX_HEAD = 64 * 1024


def authorizations(operation: str, body: dict, *, region: str) -> list[tuple[str, str]]:
    """The (action, resource ARN) pairs IAM checks for one DynamoDB request."""

    def arn(table: object, index: object = None) -> str:
        resource = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table}"
        return f"{resource}/index/{index}" if index else resource

    if operation in ("BatchGetItem", "BatchWriteItem"):
        items = body.get("RequestItems")
        tables = list(items) if isinstance(items, dict) else []
        return [(f"dynamodb:{operation}", arn(table)) for table in tables]
    if operation in ("TransactGetItems", "TransactWriteItems"):
        pairs = []
        for item in body.get("TransactItems") or []:
            for kind, request in item.items() if isinstance(item, dict) else []:
                if kind in TRANSACT_ACTIONS and isinstance(request, dict):
                    action = f"dynamodb:{TRANSACT_ACTIONS[kind]}"
                    pairs.append((action, arn(request.get("TableName"))))
        return pairs
    if "TableName" in body:
        return [(f"dynamodb:{operation}", arn(body["TableName"], body.get("IndexName")))]
    return [(f"dynamodb:{operation}", "*")]  # ListTables, DescribeLimits, …


class _Gone(Exception):
    """The upstream cannot be reached, or closed mid-answer."""


def _headers(head: bytes) -> dict[bytes, bytes]:
    found = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name:
            found[name.strip().lower()] = value.strip()
    return found


async def _read_message(reader: asyncio.StreamReader) -> tuple[bytes, dict, bytes]:
    """One HTTP/1.1 message: its head (through the blank line), headers and body."""
    head = await reader.readuntil(b"\r\n\r\n")
    headers = _headers(head[:-4])
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":  # relayed as it came
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            body += size_line
            size = int(size_line.split(b";")[0], 16)
            if size == 0:  # then trailers, up to a blank line
                while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                    body += line
                body += line
                return head, headers, bytes(body)
            body += await reader.readexactly(size + 2)
    return head, headers, await reader.readexactly(int(headers.get(b"content-length", 0)))


def _unanswered(error: BaseException) -> bool:
    """Whether the upstream connection ended before a byte of the answer (closed, reset)."""
    if isinstance(error, asyncio.IncompleteReadError):
        return not error.partial
    return isinstance(error, (ConnectionResetError, BrokenPipeError))


def _response(status: int, reason: str, body: bytes, *, close: bool = False) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"Content-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
    )
    return head.encode() + body


class DynamoDbProxy:
    """A listener per DynamoDB endpoint the functions use, for LocalGateway."""

    iam: Iam | None
    settings: Settings
    host: str
    loop: asyncio.AbstractEventLoop
    _dynamodb_listeners: dict[str, socket.socket]
    _dynamodb_servers: list[asyncio.Server]
    _dynamodb_connections: set[asyncio.Task]

    def dynamodb_endpoint(self, upstream: str) -> str:
        """The URL of the gateway's listener standing for the DynamoDB endpoint `upstream`
        (from any thread: tests sign calls as a role there)."""
        if upstream not in self._dynamodb_listeners:
            # Bound now, served once the loop gets to it: connections wait in the backlog.
            listener = socket.create_server((self.host, 0), backlog=512)
            self._dynamodb_listeners[upstream] = listener
            asyncio.run_coroutine_threadsafe(self._dynamodb_serve(listener, upstream), self.loop)
        return f"http://{self.host}:{self._dynamodb_listeners[upstream].getsockname()[1]}"

    async def _dynamodb_serve(self, listener: socket.socket, upstream: str) -> None:
        target = urlsplit(upstream)
        address = (target.hostname or "127.0.0.1", target.port or 80)

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            self._dynamodb_connections.add(task)
            try:
                await self._dynamodb_relay(reader, writer, address)
            finally:
                self._dynamodb_connections.discard(task)

        server = await asyncio.start_server(connected, sock=listener, limit=MAX_HEAD)
        self._dynamodb_servers.append(server)

    async def _dynamodb_relay(self, reader, writer, address: tuple[str, int]) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                try:
                    head, headers, body = await _read_message(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return  # the client closed its connection
                except (asyncio.LimitOverrunError, ValueError):
                    writer.write(_response(400, "Bad Request", b"{}", close=True))
                    return
                if denied := self._dynamodb_denied(headers, body):
                    writer.write(denied)
                    await writer.drain()
                    continue
                for attempt in (1, 2):
                    reused = upstream is not None
                    try:
                        upstream = upstream or await asyncio.open_connection(
                            *address, limit=MAX_HEAD
                        )
                        upstream[1].write(head + body)
                        answer_head, answer_headers, answer_body = await _read_message(upstream[0])
                        break
                    except (OSError, asyncio.IncompleteReadError) as error:
                        if upstream is not None:
                            upstream[1].close()
                            upstream = None
                        if attempt == 1 and reused and _unanswered(error):
                            # dynalite (Node) closes a connection idle for 5 s: a request sent
                            # as it did was never read. Again on a new connection, as an HTTP
                            # client does with a stale keep-alive connection.
                            continue
                        # DynamoDB cannot be reached: the function's connection fails, as it
                        # would without us in between (botocore retries, then raises).
                        logger.warning("DynamoDB at %s:%s: %s", *address, error or type(error))
                        return
                writer.write(answer_head + answer_body)
                await writer.drain()
                if answer_headers.get(b"connection", b"").lower() == b"close":
                    upstream[1].close()
                    upstream = None
        finally:
            writer.close()
            if upstream is not None:
                upstream[1].close()

    def _dynamodb_denied(self, headers: dict[bytes, bytes], body: bytes) -> bytes | None:
        """DynamoDB's 400 AccessDeniedException when the signing function's role refuses."""
        iam = self.iam
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        function = iam.caller(authorization) if iam is not None else None
        target = headers.get(b"x-amz-target", b"").decode("latin-1")
        if function is None or not target.startswith(TARGET):
            return None  # not a function's DynamoDB call: DynamoDB answers it
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return None  # DynamoDB answers with its own SerializationException
        document = document if isinstance(document, dict) else {}
        operation = target.removeprefix(TARGET)
        for action, resource in authorizations(operation, document, region=self.settings.region):
            if not iam.allows(function, action, resource):
                error = {
                    "__type": "com.amazon.coral.service#AccessDeniedException",
                    "Message": iam.denial(function, action, resource),
                }
                return _response(400, "Bad Request", json.dumps(error).encode())
        return None

    async def dynamodb_close(self) -> None:
        for server in self._dynamodb_servers:
            server.close()
        for listener in self._dynamodb_listeners.values():
            listener.close()
        for task in list(self._dynamodb_connections):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._dynamodb_connections, return_exceptions=True)
