"""Global tables on one machine: each "Region's" DynamoDB endpoint is a listener of the
replicator that relays to that Region's dynalite and applies what it writes to the others, as
MREC global tables do (docs/multi-region.md).

dynalite has no Streams, so writes are captured on their way: each successful PutItem,
UpdateItem, DeleteItem, BatchWriteItem and TransactWriteItems on a replicated table is followed
by a strongly consistent GetItem of every item it wrote, whose image (or absence: a delete) is
applied to every other Region `lag` seconds later, in the order captured. As MREC does, an item
is replicated whole (an ADD arrives as the resulting number, not as an addition), items one by
one (a batch or a transaction arrives item by item), and conflicts are resolved per item by
last writer wins: each write is stamped with the time it was captured (one clock: one machine),
and a replicated image older than the destination's own last write of that item is dropped.

Functions and the site point DYNAMODB_ENDPOINT_URL at `endpoint(region)`; the replicator writes
replicated images to the Region's dynalite directly, so they are never captured again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import boto3
from aiohttp import ClientSession, ClientTimeout, TCPConnector, web
from botocore.config import Config as BotoConfig

logger = logging.getLogger("devstack.replicator")

TARGET = "DynamoDB_20120810."
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
# Relayed back to the client as dynalite sent them (botocore checks the CRC32 of the body).
ANSWER_HEADERS = ("Content-Type", "x-amz-crc32", "x-amzn-RequestId")
# Hop-by-hop headers, and Host (the upstream's own).
NOT_RELAYED = {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}


def every_table(table: str) -> bool:
    return True


def tables_ending(*bases: str) -> Callable[[str], bool]:
    """Replicate the tables whose name ends with one of `bases` (global tables: rooms, messages,
    members, limits…; connections stay per Region)."""
    return lambda table: table.endswith(tuple(f"-{base}" for base in bases)) or table in bases


def written_items(operation: str, body: dict) -> list[tuple[str, dict, bool]]:
    """(table, key or whole item, whole) for each item a write request names."""
    if operation == "PutItem":
        return [(body["TableName"], body["Item"], True)]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(body["TableName"], body["Key"], False)]
    found = []
    if operation == "BatchWriteItem":
        for table, requests in (body.get("RequestItems") or {}).items():
            for request in requests:
                if "PutRequest" in request:
                    found.append((table, request["PutRequest"]["Item"], True))
                elif "DeleteRequest" in request:
                    found.append((table, request["DeleteRequest"]["Key"], False))
    elif operation == "TransactWriteItems":
        for item in body.get("TransactItems") or []:
            if "Put" in item:
                found.append((item["Put"]["TableName"], item["Put"]["Item"], True))
            for kind in ("Update", "Delete"):
                if kind in item:
                    found.append((item[kind]["TableName"], item[kind]["Key"], False))
    return found


@dataclass(order=True)
class _Replication:
    due: float  # time.monotonic() when it reaches the destination
    version: int  # when the origin's write was captured (time.time_ns())
    origin: str = field(compare=False)
    table: str = field(compare=False)
    key: dict = field(compare=False)
    image: dict | None = field(compare=False)  # None: the item is gone
    destination: str = field(default="", compare=False)


@dataclass
class Counts:
    captured: int = 0  # item writes seen in any Region
    applied: int = 0  # images applied to another Region
    superseded: int = 0  # images dropped: the destination had written the item later
    held: int = 0  # images from isolated Regions, not delivered (yet)


class Replicator:
    """Two or more Regions' dynalites, kept in step as MREC global tables are."""

    def __init__(
        self,
        upstreams: dict[str, str],
        *,
        lag: float = 1.0,
        replicated: Callable[[str], bool] = every_table,
    ) -> None:
        self.upstreams = dict(upstreams)  # Region name -> its dynalite's endpoint
        self.lag = lag
        self.replicated = replicated
        self.counts = Counts()
        self.ports: dict[str, int] = {}
        # Regions cut off (isolate): what they captured waits, undelivered, until reconnect —
        # MREC replicates a failed Region's unreplicated writes when it is healthy again.
        self.isolated: set[str] = set()
        self._held: list[_Replication] = []
        self._pending = 0  # replications queued or being applied
        self._versions: dict[tuple[str, str, str], int] = {}  # (Region, table, key): last write
        self._keys: dict[tuple[str, str], list[str]] = {}  # (Region, table): key attributes
        self._locks: dict[str, asyncio.Lock] = {}
        self._queues: dict[str, asyncio.Queue[_Replication]] = {}
        self._tasks: list[asyncio.Task] = []
        self._runners: list[web.AppRunner] = []
        self._session: ClientSession | None = None
        self._clients = {
            region: boto3.client(
                "dynamodb",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id="replicator",
                aws_secret_access_key="replicator",
                config=BotoConfig(retries={"max_attempts": 3, "mode": "standard"}),
            )
            for region, url in self.upstreams.items()
        }

    def endpoint(self, region: str) -> str:
        """The Region's DynamoDB endpoint: what its functions and site are given."""
        return f"http://127.0.0.1:{self.ports[region]}"

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1") -> None:
        self._session = ClientSession(
            connector=TCPConnector(limit=64),
            timeout=ClientTimeout(total=30),
            auto_decompress=False,
        )
        for region in self.upstreams:
            self._locks[region] = asyncio.Lock()
            self._queues[region] = asyncio.Queue()
            self._tasks.append(asyncio.create_task(self._deliver(region)))
            app = web.Application(client_max_size=16 * 1024 * 1024)
            app.router.add_post("/", self._relay_to(region))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, host, 0)
            await site.start()
            self._runners.append(runner)
            self.ports[region] = runner.addresses[0][1]

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()

    async def settled(self, timeout: float = 30.0) -> None:
        """Wait until every captured write has reached every other Region (isolated Regions'
        writes aside: they are held)."""
        deadline = time.monotonic() + timeout
        while self._pending:
            if time.monotonic() > deadline:
                raise TimeoutError("replication did not settle")
            await asyncio.sleep(0.05)

    def isolate(self, region: str) -> None:
        """The Region fails: what it wrote and has not replicated yet stays there (the RPO)."""
        self.isolated.add(region)

    def held_since(self, region: str) -> float | None:
        """When (time.monotonic()) the oldest write `region` holds was made: the replication
        lag in effect when it was cut off. None if it holds nothing."""
        made = [r.due - self.lag for r in self._held if r.origin == region]
        return min(made) if made else None

    async def reconnect(self, region: str) -> None:
        """The Region is back: what it held is delivered now, last writer winning as ever."""
        self.isolated.discard(region)
        held, self._held = (
            [r for r in self._held if r.origin == region],
            [r for r in self._held if r.origin != region],
        )
        for replication in held:
            self.counts.held -= 1
            self._enqueue(replication.destination, replication)

    # -- capture ---------------------------------------------------------------------------------

    def _relay_to(self, region: str):
        async def relay(request: web.Request) -> web.Response:
            body = await request.read()
            operation = request.headers.get("X-Amz-Target", "").removeprefix(TARGET)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in NOT_RELAYED}
            if operation not in WRITES:
                return await self._forward(region, body, headers)
            # One write at a time per Region, captured before the next: a replicated image is
            # then never applied between a local write and its capture (last writer wins
            # holds), and images leave in the order the writes happened.
            async with self._locks[region]:
                answer = await self._forward(region, body, headers)
                if answer.status == 200:
                    captured = await asyncio.to_thread(
                        self._capture, region, operation, json.loads(body)
                    )
                    for destination, replication in captured:
                        self._enqueue(destination, replication)
            return answer

        return relay

    async def _forward(self, region: str, body: bytes, headers: dict) -> web.Response:
        assert self._session is not None
        async with self._session.post(self.upstreams[region], data=body, headers=headers) as up:
            data = await up.read()
            answer = web.Response(status=up.status, body=data)
            for name in ANSWER_HEADERS:
                if name in up.headers:
                    answer.headers[name] = up.headers[name]
            return answer

    def _key_of(self, region: str, table: str, item: dict) -> dict:
        names = self._keys.get((region, table))
        if names is None:
            schema = self._clients[region].describe_table(TableName=table)["Table"]["KeySchema"]
            names = self._keys[(region, table)] = [part["AttributeName"] for part in schema]
        return {name: item[name] for name in names}

    def _capture(self, region: str, operation: str, body: dict) -> list:
        """In a worker thread, under the Region's lock: each written item's image, for every
        other Region: [(destination, replication)]."""
        captured = []
        for table, named, whole in written_items(operation, body):
            if not self.replicated(table):
                continue
            key = self._key_of(region, table, named) if whole else named
            found = self._clients[region].get_item(TableName=table, Key=key, ConsistentRead=True)
            version = time.time_ns()
            self._versions[(region, table, _key_text(key))] = version
            self.counts.captured += 1
            due = time.monotonic() + self.lag
            image = found.get("Item")
            for other in self.upstreams:
                if other != region:
                    replication = _Replication(due, version, region, table, key, image)
                    captured.append((other, replication))
        return captured

    def _enqueue(self, destination: str, replication: _Replication) -> None:
        replication.destination = destination
        self._pending += 1
        self._queues[destination].put_nowait(replication)

    # -- delivery --------------------------------------------------------------------------------

    async def _deliver(self, region: str) -> None:
        """Apply the other Regions' writes to `region`, each once its lag has passed."""
        queue = self._queues[region]
        while True:
            replication = await queue.get()
            try:
                await asyncio.sleep(max(0.0, replication.due - time.monotonic()))
                if replication.origin in self.isolated:
                    self._held.append(replication)
                    self.counts.held += 1
                    continue
                async with self._locks[region]:
                    await asyncio.to_thread(self._apply, region, replication)
            except asyncio.CancelledError:
                raise
            except Exception:  # a Region down: its item is lost to it, as a test would see
                logger.exception("replication to %s failed", region)
            finally:
                self._pending -= 1

    def _apply(self, region: str, replication: _Replication) -> None:
        slot = (region, replication.table, _key_text(replication.key))
        if self._versions.get(slot, 0) > replication.version:
            self.counts.superseded += 1  # the destination wrote it later: last writer wins
            return
        client = self._clients[region]
        if replication.image is None:
            client.delete_item(TableName=replication.table, Key=replication.key)
        else:
            client.put_item(TableName=replication.table, Item=replication.image)
        self._versions[slot] = replication.version
        self.counts.applied += 1


def _key_text(key: dict) -> str:
    return json.dumps(key, sort_keys=True)


class ReplicatorThread:
    """A Replicator on an event loop of its own thread, for tests and the drill's harness."""

    def __init__(self, replicator: Replicator) -> None:
        self.replicator = replicator
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> Replicator:
        self._thread.start()
        self.call(self.replicator.start())
        return self.replicator

    def call(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.call(self.replicator.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
