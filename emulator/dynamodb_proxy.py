"""DynamoDB as each function's role allows it: the gateway's proxy in front of dynalite.

With IAM enforced (process mode), a function whose environment names a DynamoDB endpoint gets a
listener of the gateway's instead (one per endpoint), which stands for that endpoint. A call
signed with a function's credentials is authorized against the function's role first
(emulator/iam.py): the operation's action on every table or index it names, as IAM
authorizes it (a Query of an index is `dynamodb:Query` on `…:table/T/index/I`; a BatchWriteItem
is `dynamodb:BatchWriteItem` on each table of its RequestItems; a TransactWriteItems is each
item's own action). A call the role does not allow gets DynamoDB's answer, 400
AccessDeniedException; any other is relayed byte for byte, and so is the answer (botocore checks
its CRC32).

The relay is plain HTTP/1.1 over asyncio streams, one upstream connection per client connection,
both kept alive: every DynamoDB call of every function passes through it, and a full HTTP server
and client (aiohttp's) cost the local stack a third more CPU per message.

With `Settings.meter_dynamodb` it also meters each call (emulator/meter.py): the request
asks for `ReturnConsumedCapacity` (the answer then carries it, which botocore ignores), and a
single-item write is framed by reads of the item before and after it, on a connection of the
meter's own, for what DynamoDB adds (emulator/dynamodb_meter.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from emulator.dynamodb_meter import (
    Index,
    indexes_of,
    item_size,
    table_keys_of,
    write_units,
)
from emulator.iam import ACCOUNT_ID

if TYPE_CHECKING:
    from emulator.iam import Iam
    from emulator.meter import Meter
    from emulator.settings import Settings

logger = logging.getLogger("emulator.gateway")

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
SINGLE_WRITES = ("PutItem", "UpdateItem", "DeleteItem")
# The calls DynamoDB bills (by request and capacity); DescribeTable and the like are free.
METERED = {*SINGLE_WRITES, "GetItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem"}


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


def _with_body(head: bytes, body: bytes) -> bytes:
    """The request head with its Content-Length set for a new body."""
    lines = [
        line for line in head[:-4].split(b"\r\n") if not line.lower().startswith(b"content-length:")
    ]
    return b"\r\n".join([*lines, b"Content-Length: " + str(len(body)).encode()]) + b"\r\n\r\n"


@dataclass
class _Metered:
    """One function call being metered: what it is, and the item before a single write."""

    operation: str
    table: str
    index: str | None
    indexes: tuple[Index, ...] = ()
    key: dict | None = None
    before: dict | None = None


class DynamoDbProxy:
    """A listener per DynamoDB endpoint the functions use, for LocalGateway."""

    iam: Iam | None
    settings: Settings
    meter: Meter
    host: str
    loop: asyncio.AbstractEventLoop
    _dynamodb_listeners: dict[str, socket.socket]
    _dynamodb_servers: list[asyncio.Server]
    _dynamodb_connections: set[asyncio.Task]
    _dynamodb_tables: dict[str, dict | None]  # the meter's DescribeTable answers

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
                metered = None
                if self.settings.meter_dynamodb:
                    metered, head, body = await self._meter_before(address, headers, head, body)
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
                if metered is not None:
                    await self._meter_after(address, metered, answer_body)
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

    # -- the meter (Settings.meter_dynamodb) ---------------------------------------------------

    async def _meter_before(
        self, address: tuple[str, int], headers: dict, head: bytes, body: bytes
    ) -> tuple[_Metered | None, bytes, bytes]:
        """Ask for the call's consumed capacity, and read the item a single write changes."""
        target = headers.get(b"x-amz-target", b"").decode("latin-1")
        if not target.startswith(TARGET) or b"transfer-encoding" in headers:
            return None, head, body
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return None, head, body
        if not isinstance(document, dict):
            return None, head, body
        operation = target.removeprefix(TARGET)
        if operation not in METERED:
            return None, head, body
        table = document.get("TableName")
        metered = _Metered(
            operation, table if isinstance(table, str) else "", document.get("IndexName")
        )
        if "ReturnConsumedCapacity" not in document or document["ReturnConsumedCapacity"] == "NONE":
            document["ReturnConsumedCapacity"] = "TOTAL"
            body = json.dumps(document).encode()
            head = _with_body(head, body)
        if operation in SINGLE_WRITES and metered.table:
            description = await self._table_description(address, metered.table)
            if description is not None:
                keys = table_keys_of(description)
                source = document.get("Item" if operation == "PutItem" else "Key") or {}
                if isinstance(source, dict) and all(k in source for k in keys):
                    metered.key = {k: source[k] for k in keys}
                    metered.indexes = indexes_of(description)
                    metered.before = await self._item(address, metered.table, metered.key)
        return metered, head, body

    async def _meter_after(
        self, address: tuple[str, int], metered: _Metered, answer: bytes
    ) -> None:
        try:
            document = json.loads(answer or b"{}")
        except ValueError:
            return
        if not isinstance(document, dict):
            return
        meter = self.meter
        consumed = document.get("ConsumedCapacity")
        if consumed is not None:
            writing = metered.operation in (*SINGLE_WRITES, "BatchWriteItem")
            for entry in consumed if isinstance(consumed, list) else [consumed]:
                table = entry.get("TableName") or metered.table
                name = f"{table}/index/{metered.index}" if metered.index else table
                units = float(entry.get("CapacityUnits") or 0)
                meter.dynamodb(
                    name,
                    requests=1,
                    read_units=0.0 if writing else units,
                    write_units=units if writing else 0.0,
                )
        elif "ConditionalCheckFailed" in str(document.get("__type", "")):
            # Refused by its condition, and billed all the same: the item's size as it is.
            size = 0 if metered.before is None else item_size(metered.before)
            meter.dynamodb(metered.table, requests=1, write_units=write_units(size))
            return
        elif metered.table:
            meter.dynamodb(metered.table, requests=1)  # another error: a request, no units
        if metered.key is not None and consumed is not None:
            after = await self._item(address, metered.table, metered.key)
            for index in metered.indexes:
                if units := index.write_units(metered.before, after):
                    meter.dynamodb(f"{metered.table}/index/{index.name}", write_units=units)

    async def _table_description(self, address: tuple[str, int], table: str) -> dict | None:
        """The table's DescribeTable `Table` (asked once: its keys and indexes never change)."""
        descriptions = self._dynamodb_tables
        if descriptions.get(table) is None:  # a failed DescribeTable is asked again next time
            answer = await _dynamodb_call(address, "DescribeTable", {"TableName": table})
            descriptions[table] = (answer or {}).get("Table")
        return descriptions[table]

    async def _item(self, address: tuple[str, int], table: str, key: dict) -> dict | None:
        document = {"TableName": table, "Key": key, "ConsistentRead": True}
        answer = await _dynamodb_call(address, "GetItem", document)
        return (answer or {}).get("Item")

    async def dynamodb_close(self) -> None:
        for server in self._dynamodb_servers:
            server.close()
        for listener in self._dynamodb_listeners.values():
            listener.close()
        for task in list(self._dynamodb_connections):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._dynamodb_connections, return_exceptions=True)


async def _dynamodb_call(address: tuple[str, int], operation: str, document: dict) -> dict | None:
    """A call of the meter's own to DynamoDB (dynalite checks no signature), on a connection
    of its own; None if it fails."""
    body = json.dumps(document).encode()
    head = (
        f"POST / HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        f"X-Amz-Target: {TARGET}{operation}\r\n"
        "X-Amz-Date: 20260101T000000Z\r\n"
        "Authorization: AWS4-HMAC-SHA256 Credential=meter/20260101/us-east-1/dynamodb/"
        "aws4_request, SignedHeaders=host;x-amz-date, Signature=0\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    try:
        reader, writer = await asyncio.open_connection(*address, limit=MAX_HEAD)
    except OSError:
        return None
    try:
        writer.write(head.encode() + body)
        answer_head, _, answer = await _read_message(reader)
        if not answer_head.startswith(b"HTTP/1.1 200"):
            return None
        found = json.loads(answer or b"{}")
        return found if isinstance(found, dict) else None
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        return None
    finally:
        writer.close()
