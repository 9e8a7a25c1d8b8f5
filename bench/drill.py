"""`make drill`: a Region fails while three pages chat, on one machine (issue 28; the write
model and what it promises: docs/multi-region.md).

Two "Regions", each a dynalite and a real local gateway (`python -m emulator --region ...`,
functions in processes of their own, from the same template.yaml); devstack/replicator.py
between the dynalites as MREC global tables (every table but connections, a `--lag`, last
writer wins); devstack/front.py in front as the custom domain and Route 53 (health checks of
each Region's HealthFunction URL, failover routing, a DNS TTL). Three pages, each a user of its
own, connect through the front and do what the chat page does: one message every `--period`
seconds into an outbox that sends one at a time with its `clientMessageId` (sent again, same
id, after a reconnect), a position in the room's change numbers repaired with `since`, and the
page's reconnect back-off (full jitter, 1 s doubling to 30 s).

After `--before` seconds the primary dies: the replicator stops delivering its writes (what it
had not replicated is held: the RPO) and its gateway is killed (SIGKILL of its process group:
sockets reset, health route gone). The report: seconds from the kill until each page is live
again (its first message acknowledged on a socket opened after the kill), messages
acknowledged before the kill that are missing in the secondary (at most those acknowledged in
the last `lag` seconds: the stated RPO), duplicates by clientMessageId (0), each sender's order
(kept), the largest jump of change numbers (the takeover's), what each page shows against the
table; then the primary's held writes are delivered (it "comes back") and the late arrivals and
duplicates counted again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import boto3
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from bench import stack
from bench.ordered import RoomLog

PRIMARY, SECONDARY = "us-east-1", "us-west-2"
DRILL_MARK, DRILL_END = "<!-- drill -->", "<!-- /drill -->"
ACK_TIMEOUT = 15.0  # static/chat/outbox.js: no copy back this long, send again (same id)
STABLE_AFTER = 10.0  # static/chat/connection.js: the backoff restarts after a stable socket


@dataclass
class Settings:
    # Route 53's standard timings and the template's TTL by default: the RTO as deployed.
    before: float = 20.0  # seconds of chat before the primary dies
    after: float = 10.0  # seconds of chat once every page is live again
    lag: float = 1.0  # replication lag (MREC's typical figure)
    interval: float = 30.0  # health checks (Route 53: 30 s, or 10 s at +$1 a month)
    threshold: int = 3  # failures in a row to call a Region unhealthy
    ttl: float = 60.0  # the records' TTL (template.yaml's)
    pages: int = 3
    period: float = 0.5  # a message per page this often (the rate limit: 5 a second)
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    deadline: float = 600.0  # every page live again within this, or the drill fails
    settle: int = 35  # CHANGE_SETTLE_SECONDS: a jumped number is pending this long
    failback: int = 1  # then the primary back and failback by hand (0: end at the failover)
    # FENCE_TTL_SECONDS: how long a container trusts the marker it read. The fence's window
    # (the replication lag + this) must stay under `settle`, or a passive Region's last writes
    # reach the other after its pages called their numbers empty (docs/multi-region.md).
    fence_ttl: int = 5


@dataclass
class Ack:
    cid: str
    at: float  # time.monotonic()
    rev: int | None
    message_id: str


class Page:
    """One chat page: a socket through the front, an outbox, a position in the room."""

    def __init__(self, name: str, url_of, settings: Settings) -> None:
        self.name, self.url_of, self.settings = name, url_of, settings
        self.log = RoomLog()
        self.outbox: deque[str] = deque()  # clientMessageIds written, not yet sent
        self.in_flight: str | None = None
        self.sent_at = 0.0
        self.written: list[str] = []  # every clientMessageId, in the order written
        self.acks: dict[str, Ack] = {}
        self.ws = None
        self.opened: list[float] = []  # when each socket went live
        self.refused = 0  # handshakes that failed
        self.errors: list[dict] = []
        self.failures = 0
        self.writing = True

    # -- the page's loops ------------------------------------------------------------------------

    async def write(self) -> None:
        """A message every `period` seconds into the outbox, while the page is live: a person
        who sees "reconnecting" waits (what they wrote meanwhile would go out at the rate
        limit, as the page's outbox sends it)."""
        while self.writing:
            if self.ws is None:
                await asyncio.sleep(self.settings.period)
                continue
            cid = f"{self.name}-{len(self.written) + 1}"
            self.written.append(cid)
            self.outbox.append(cid)
            await self.pump()
            await asyncio.sleep(self.settings.period)

    async def connect_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self.ws = await connect(
                    self.url_of(), open_timeout=10, max_queue=None, ping_interval=None
                )
            except (OSError, TimeoutError, WebSocketException):
                self.refused += 1
                await self._backoff(stop)
                continue
            opened = time.monotonic()
            self.opened.append(opened)
            if self.log.position is None:
                await self._send({"action": "history"})
            else:  # what was missed while away
                self.log.asking, self.log.asked_at = True, opened
                await self._send({"action": "history", "since": self.log.position})
            if self.in_flight is not None:
                await self._send_in_flight()
            await self.pump()
            await self._read()
            self.ws = None
            if time.monotonic() - opened >= STABLE_AFTER:
                self.failures = 0
            await self._backoff(stop)

    async def tick(self, stop: asyncio.Event) -> None:
        """Repairs due and sends unanswered too long (the outbox's ack timeout)."""
        while not stop.is_set():
            await asyncio.sleep(0.05)
            if self.ws is None:
                continue
            for reply in self.log.due():
                await self._send(reply)
            if self.in_flight is not None and time.monotonic() - self.sent_at > ACK_TIMEOUT:
                await self._send_in_flight()

    async def pump(self) -> None:
        """One send in flight at a time, in the order written (static/chat/outbox.js)."""
        if self.ws is not None and self.in_flight is None and self.outbox:
            self.in_flight = self.outbox.popleft()
            await self._send_in_flight()

    # -- internals -------------------------------------------------------------------------------

    async def _backoff(self, stop: asyncio.Event) -> None:
        bound = min(self.settings.backoff_max, self.settings.backoff_base * 2**self.failures)
        self.failures += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), random.random() * bound)

    async def _send_in_flight(self) -> None:
        self.sent_at = time.monotonic()
        cid = self.in_flight
        await self._send({"action": "sendmessage", "message": cid, "clientMessageId": cid})

    async def _send(self, frame: dict) -> None:
        if self.ws is not None:
            with contextlib.suppress(WebSocketException):
                await self.ws.send(json.dumps(frame))

    async def _read(self) -> None:
        with contextlib.suppress(WebSocketException):
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame.get("type") == "error":
                    await self._refused(frame)
                    continue
                cid = frame.get("client_message_id")
                if frame.get("type") == "message" and cid is not None and cid == self.in_flight:
                    self.acks[cid] = Ack(cid, time.monotonic(), frame.get("rev"), frame["id"])
                    self.in_flight = None
                    await self.pump()
                for reply in self.log.receive(frame):
                    await self._send(reply)

    async def _refused(self, frame: dict) -> None:
        self.errors.append(frame)
        code = frame.get("code")
        if frame.get("action") == "history":
            self.log.asking = False  # asked again when due
        if frame.get("client_message_id") != self.in_flight or self.in_flight is None:
            return
        if code == "region_moved":  # the Region is not the active one: reconnect, send there
            with contextlib.suppress(WebSocketException):
                await self.ws.close()
        elif code in ("rate_limited", "unavailable", "internal"):
            await asyncio.sleep(float(frame.get("retry_after") or 1))
            await self._send_in_flight()


@dataclass
class Region:
    name: str
    port: int
    dynalite: object
    gateway: subprocess.Popen | None = None

    @property
    def health(self) -> str:
        return f"http://127.0.0.1:{self.port}/@url/HealthFunction/health"


@dataclass
class Report:
    settings: Settings
    live_again: dict[str, float] = field(default_factory=dict)  # page -> seconds after the kill
    unhealthy_after: float | None = None  # the front calls the primary unhealthy
    switched_after: float | None = None  # the front's DNS answer names the secondary
    acked_before: int = 0
    acked_in_lag: int = 0  # acknowledged in the last `lag` seconds before the kill
    missing: list[str] = field(default_factory=list)  # acknowledged before, not in B
    acked_total: int = 0
    stored: int = 0  # messages in the secondary's table at the end
    duplicates: int = 0
    order_kept: bool = True
    pages_missing: dict[str, int] = field(default_factory=dict)  # B's messages a page lacks
    largest_jump: int = 0
    held: int = 0  # the primary's writes the replicator held at its death
    held_window: float | None = None  # seconds before the kill of the oldest write held
    lost: list[str] = field(default_factory=list)  # missing, and not among the held writes
    late: int = 0  # messages that arrived in B once the primary came back
    duplicates_after_return: int = 0
    refused_handshakes: int = 0
    # The primary back (its gateway restarted, its writes delivered), then failback by hand.
    back_health: int | None = None  # the primary's health route once back (503: passive)
    stray: str | None = None  # what a page reaching the primary directly got for its send
    stray_stored: int = 0  # copies of that send stored in either Region (the fence: 0)
    failback_live: dict[str, float] = field(default_factory=dict)  # page -> s after failback
    failback_switched: float | None = None  # s from the hand-over until DNS named the primary
    newcomer: str | None = None  # what a page loaded then got for its first message
    taken_back: float | None = None  # s from the hand-over until the primary took the stage
    window_writes: int = 0  # messages the secondary took after the failback (fence window)
    moved: int = 0  # region_moved refusals the pages got
    final_stored: int = 0
    final_duplicates: int = 0
    final_order_kept: bool = True
    final_pages_missing: dict[str, int] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)
    machine: str = ""
    load: str = ""


async def run(settings: Settings, work: Path) -> Report:
    from devstack.dynamodb import Dynalite, ensure_tables, free_port
    from devstack.front import Front
    from devstack.front import Region as FrontRegion
    from devstack.replicator import Replicator, ReplicatorThread, tables_ending
    from lambdas.config import configure, load_config

    keys = stack.configure(work)
    prefix = os.environ["TABLE_PREFIX"]
    regions = {name: Region(name, free_port(), Dynalite().start()) for name in (PRIMARY, SECONDARY)}
    replicator = Replicator(
        {name: region.dynalite.endpoint_url for name, region in regions.items()},
        lag=settings.lag,
        replicated=tables_ending(*global_tables()),
    )
    thread = ReplicatorThread(replicator)
    front = None
    report = Report(settings, machine=stack.machine())
    try:
        for region in regions.values():  # each Region's tables (a global table's replicas)
            os.environ["DYNAMODB_ENDPOINT_URL"] = region.dynalite.endpoint_url
            configure(load_config())
            ensure_tables()
        thread.start()
        os.environ["DYNAMODB_ENDPOINT_URL"] = replicator.endpoint(PRIMARY)
        configure(load_config())
        room = _room()
        # Both at once (each prewarms its functions' zygotes: seconds of CPU), then each ready.
        logs = {}
        for name, region in regions.items():
            peer = regions[SECONDARY if name == PRIMARY else PRIMARY]
            region.gateway, logs[name] = _launch(
                region, replicator.endpoint(name), peer.health, settings
            )
        for name, region in regions.items():
            _ready(region, logs[name])
        front = await Front(
            *(FrontRegion(r.name, f"ws://127.0.0.1:{r.port}", r.health) for r in regions.values()),
            interval=settings.interval,
            threshold=settings.threshold,
            ttl=settings.ttl,
        ).start()

        def url_of(user: int):
            return lambda: stack.websocket_url(front.port, keys, user_id=str(user), room=room)

        pages = [Page(f"p{i}", url_of(2000 + i), settings) for i in range(settings.pages)]
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(coroutine)
            for page in pages
            for coroutine in (page.connect_forever(stop), page.tick(stop), page.write())
        ]
        await asyncio.sleep(settings.before)
        killed = time.monotonic()
        replicator.isolate(PRIMARY)
        _kill(regions[PRIMARY].gateway)

        def all_live() -> bool:
            return all(_live_at(page, killed) is not None for page in pages)

        if not await stack.until(all_live, timeout=settings.deadline):
            raise RuntimeError(
                f"not every page was live again {settings.deadline:.0f} s after the kill: "
                + ", ".join(f"{p.name} refused {p.refused}, errors {p.errors[-3:]}" for p in pages)
            )
        report.live_again = {p.name: _live_at(p, killed) - killed for p in pages}
        await asyncio.sleep(settings.after)
        for page in pages:
            page.writing = False

        def drained() -> bool:
            return all(p.in_flight is None and not p.outbox for p in pages)

        if not await stack.until(drained, timeout=60):
            raise RuntimeError("the outboxes did not drain")
        await asyncio.sleep(settings.lag)
        # What each page holds of the room, once its repairs are done.
        await stack.until(lambda: all(not p.log._gap() for p in pages), timeout=60)
        report.held = replicator.counts.held
        oldest = replicator.held_since(PRIMARY)
        report.held_window = None if oldest is None else killed - oldest
        _judge(report, pages, killed, _stored(regions[SECONDARY], prefix, room))
        down = [at for at, ok in front.primary.changed if not ok and at >= killed]
        report.unhealthy_after = down[0] - killed if down else None
        switched = [at for at, name in front.answers if name == SECONDARY and at >= killed]
        report.switched_after = switched[0] - killed if switched else None
        report.refused_handshakes = sum(p.refused for p in pages)
        report.errors = Counter(e.get("code") for p in pages for e in p.errors)
        # The primary comes back: MREC delivers what it held.
        before = report.stored
        thread.call(replicator.reconnect(PRIMARY))
        thread.call(replicator.settled())
        after = _stored(regions[SECONDARY], prefix, room)
        report.late = len(after) - before
        # What was missing must be what the primary had not replicated: it arrives now.
        arrived = {m["cid"] for m in after}
        report.lost = [cid for cid in report.missing if cid not in arrived]
        report.duplicates_after_return = _duplicates(after)
        if settings.failback:
            back = Back(settings, regions, replicator, thread, front, pages, room, prefix, keys)
            await back.run(report)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for page in pages:
            if page.ws is not None:
                with contextlib.suppress(WebSocketException):
                    await page.ws.close()
        report.load = "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
        return report
    finally:
        if front is not None:
            await front.stop()
        for region in regions.values():
            if region.gateway is not None:
                _kill(region.gateway)
        with contextlib.suppress(Exception):
            thread.stop()
        for region in regions.values():
            region.dynalite.stop()


@dataclass
class Back:
    """The primary comes back and stays passive until failback by hand (docs/multi-region.md,
    "The fence"): its gateway again (its held writes were delivered when it reconnected), its
    health route answering 503 while the marker names the secondary, a page that reaches it
    directly (a stale DNS answer) refused `region_moved`. Then `python -m deploy.failback`, as
    an operator runs it, and the pages move back through the front as the secondary's fence
    refuses their sends."""

    settings: Settings
    regions: dict
    replicator: object
    thread: object
    front: object
    pages: list
    room: str
    prefix: str
    keys: object

    async def run(self, report: Report) -> None:
        from lambdas.services.changes import TAKEOVER_JUMP

        primary, secondary = self.regions[PRIMARY], self.regions[SECONDARY]
        primary.gateway, log = _launch(
            primary, self.replicator.endpoint(PRIMARY), secondary.health, self.settings
        )
        _ready(primary, log)
        report.back_health = await _status(primary.health)
        stray = stack.websocket_url(primary.port, self.keys, user_id="2999", room=self.room)
        report.stray = await self.send_once(stray, "stray-1")
        await asyncio.sleep(self.settings.lag)  # a stored copy would have replicated by now
        report.stray_stored = sum(
            m["cid"] == "stray-1" for r in self.regions.values() for m in self.stored(r)
        )
        for page in self.pages:
            page.writing = True
        writers = [asyncio.create_task(page.write()) for page in self.pages]
        await asyncio.sleep(self.settings.after)
        highest = max((m["rev"] or 0 for m in self.stored(secondary)), default=0)
        await self.fail_back()  # the hand-over: the secondary keeps the writes meanwhile
        handed = time.monotonic()
        # Route 53 calls the primary healthy and resolvers' answers expire: a page loaded then
        # (a newcomer, through the domain) reaches the primary, whose first change takes the
        # stage back.
        front, deadline = self.front, self.settings.deadline
        if not await stack.until(lambda: front.resolve() is front.primary, timeout=deadline):
            raise RuntimeError(f"the domain did not answer the primary {deadline:.0f} s after")
        report.failback_switched = time.monotonic() - handed
        newcomer = stack.websocket_url(front.port, self.keys, user_id="2998", room=self.room)
        report.newcomer = await self.send_once(newcomer, "newcomer-1")
        taken = time.monotonic()
        report.taken_back = taken - handed
        # The secondary's numbers from here on are the fence's window (it has not seen yet
        # that the primary took the stage)
        taken_at = max((m["rev"] or 0 for m in self.stored(secondary)), default=0)

        # The primary's numbers after the failback start at its takeover's jump; the
        # secondary's, in the fence's window, below it.
        above = highest + TAKEOVER_JUMP // 2

        def all_back() -> bool:
            return all(_live_at(page, taken, above) is not None for page in self.pages)

        if not await stack.until(all_back, timeout=deadline):
            raise RuntimeError(f"not every page was live again {deadline:.0f} s after failback")
        report.failback_live = {p.name: _live_at(p, taken, above) - taken for p in self.pages}
        await asyncio.sleep(self.settings.after)
        for page in self.pages:
            page.writing = False
        await asyncio.gather(*writers)
        drained = await stack.until(
            lambda: all(p.in_flight is None and not p.outbox for p in self.pages), timeout=60
        )
        if not drained:
            raise RuntimeError("the outboxes did not drain after the failback")
        settled = asyncio.run_coroutine_threadsafe(self.replicator.settled(), self.thread.loop)
        await asyncio.wrap_future(settled)
        await stack.until(lambda: all(not p.log._gap() for p in self.pages), timeout=60)
        final = self.stored(primary)
        # The secondary's own numbers after the failback: highest+1 on, below the primary's
        # takeover jump (the primary's numbers, replicated, are all above it).
        report.window_writes = sum(
            taken_at < (m["rev"] or 0) < above for m in self.stored(secondary)
        )
        report.moved = sum(e.get("code") == "region_moved" for p in self.pages for e in p.errors)
        report.final_stored = len(final)
        report.final_duplicates = _duplicates(final)
        report.final_order_kept, report.final_pages_missing = _order(self.pages, final)

    def stored(self, region: Region) -> list[dict]:
        return _stored(region, self.prefix, self.room)

    async def send_once(self, url: str, cid: str) -> str:
        """One message from a page of its own: "stored" (its copy came back), the code it was
        refused with, or "nothing" (no answer within 30 s)."""
        try:
            async with connect(url, open_timeout=10, ping_interval=None) as ws:
                frame = {"action": "sendmessage", "message": cid, "clientMessageId": cid}
                await ws.send(json.dumps(frame))
                async with asyncio.timeout(30):
                    async for raw in ws:
                        frame = json.loads(raw)
                        if frame.get("type") == "error":
                            return str(frame.get("code"))
                        if frame.get("client_message_id") == cid:
                            return "stored"
        except (OSError, TimeoutError, WebSocketException):
            pass
        return "nothing"

    async def fail_back(self) -> None:
        """What the runbook says to run (DEPLOY.md, "Failback runbook")."""
        operator = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "deploy.failback", "--stage", "bench", "--region", PRIMARY],
            *["--endpoint-url", self.replicator.endpoint(PRIMARY), "--table-prefix", self.prefix],
            cwd=stack.ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        said, _ = await operator.communicate()
        if operator.returncode != 0:
            raise RuntimeError(f"deploy.failback failed: {said.decode()}")


async def _status(url: str) -> int | None:
    """The status a GET of `url` answers (None: no answer)."""
    from aiohttp import ClientError, ClientSession, ClientTimeout

    try:
        async with (
            ClientSession(timeout=ClientTimeout(total=10)) as session,
            session.get(url) as answer,
        ):
            return answer.status
    except (ClientError, OSError, TimeoutError):
        return None


def global_tables() -> list[str]:
    """The tables a two-Region deploy makes global tables (deploy/variants.py's
    GLOBAL_TABLES), by the name's end in template.yaml ("dynamowave-${StageName}-rooms":
    rooms); the others (connections, uploads) stay per Region, as deployed."""
    from deploy.variants import GLOBAL_TABLES
    from emulator.template import load_template

    resources = load_template()["Resources"]
    return [
        str(resources[table]["Properties"]["TableName"]["Fn::Sub"]).rsplit("}-", 1)[1]
        for table in GLOBAL_TABLES
    ]


def _room() -> str:
    from chat.services.rooms import room_create

    name = f"drill{random.randrange(16**8):08x}"
    return room_create(name=name, title="drill", description="", created_by="drill").name


def _launch(region: Region, dynamodb: str, peer_health: str, settings: Settings) -> tuple:
    """The Region's gateway in a process group of its own (killed whole: the Region dies), and
    the file its output goes to: (process, log)."""
    from devstack import FUNCTION_SETTINGS, PRELOAD

    env = {
        **os.environ,
        "DYNAMODB_ENDPOINT_URL": dynamodb,
        "CHANGE_SETTLE_SECONDS": str(settings.settle),
        "FENCE_TTL_SECONDS": str(settings.fence_ttl),
    }
    args = [sys.executable, "-m", "emulator", "--port", str(region.port), "--region", region.name]
    args += ["--code-dir", str(stack.ROOT), "--stage", "local", "--no-throttle", "--no-tls"]
    args += ["--parameter-overrides", "StageName=bench", "--preload", ",".join(PRELOAD)]
    args += [f"--env={name}" for name in FUNCTION_SETTINGS if env.get(name)]
    args += [f"--env=PRIMARY_REGION={PRIMARY}", f"--env=PEER_HEALTH_URL={peer_health}"]
    stack.LOGS.mkdir(parents=True, exist_ok=True)
    log = (stack.LOGS / f"drill-{region.name}.log").open("w")
    process = subprocess.Popen(
        args,
        cwd=stack.ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    return process, log


def _ready(region: Region, log) -> None:
    """Wait until the Region's gateway has its functions' zygotes ready."""
    process = region.gateway
    for line in process.stdout:
        log.write(line)
        if "Zygotes ready" in line:
            break
    else:
        raise RuntimeError(f"the {region.name} gateway exited; see {log.name}")
    # Powertools logs to stdout: a pipe nobody reads fills up and blocks every handler.
    asyncio.get_running_loop().run_in_executor(None, _drain, process, log)


def _drain(process: subprocess.Popen, log) -> None:
    for line in process.stdout:
        log.write(line)


def _kill(process: subprocess.Popen) -> None:
    """SIGKILL to the whole process group: the gateway and every function's processes."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _live_at(page: Page, since: float, above: int = 0) -> float | None:
    """When the page had its first message acknowledged on a socket opened after `since`
    (with a change number above `above`: the Region it moved to numbers above that)."""
    after = [at for at in page.opened if at > since]
    if not after:
        return None
    acks = [a.at for a in page.acks.values() if a.at > after[0] and (a.rev or 0) > above]
    return min(acks) if acks else None


def _stored(region: Region, prefix: str, room: str) -> list[dict]:
    """The room's messages in a Region's table (its dynalite, directly)."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=region.dynalite.endpoint_url,
        region_name=region.name,
        aws_access_key_id="drill",
        aws_secret_access_key="drill",
    )
    items = []
    for page in client.get_paginator("query").paginate(
        TableName=f"{prefix}messages",
        KeyConditionExpression="room = :room",
        ExpressionAttributeValues={":room": {"S": room}},
        ConsistentRead=True,
    ):
        items += page["Items"]
    return [
        {
            "id": item["message_id"]["S"],
            "cid": item.get("client_message_id", {}).get("S"),
            "rev": int(item["rev"]["N"]) if "rev" in item else None,
        }
        for item in items
    ]


def _duplicates(stored: list[dict]) -> int:
    counts = Counter(m["cid"] for m in stored if m["cid"])
    return sum(n - 1 for n in counts.values() if n > 1)


def _judge(report: Report, pages: list[Page], killed: float, stored: list[dict]) -> None:
    lag = report.settings.lag
    acks = [ack for page in pages for ack in page.acks.values()]
    before = [ack for ack in acks if ack.at <= killed]
    have = {m["cid"] for m in stored}
    report.acked_total = len(acks)
    report.acked_before = len(before)
    report.acked_in_lag = sum(ack.at > killed - lag for ack in before)
    report.missing = sorted(ack.cid for ack in before if ack.cid not in have)
    report.stored = len(stored)
    report.duplicates = _duplicates(stored)
    by_rev = sorted((m for m in stored if m["rev"] is not None), key=lambda m: m["rev"])
    revs = [m["rev"] for m in by_rev]
    report.largest_jump = max((b - a for a, b in zip(revs, revs[1:], strict=False)), default=0)
    report.order_kept, report.pages_missing = _order(pages, stored)


def _order(pages: list[Page], stored: list[dict]) -> tuple[bool, dict[str, int]]:
    """Whether each sender's messages, in the table by change number and on every page as
    shown, keep the order they were written in; and how many stored messages each page lacks."""
    by_rev = sorted((m for m in stored if m["rev"] is not None), key=lambda m: m["rev"])
    kept, lacking = True, {}
    for page in pages:
        written = {cid: i for i, cid in enumerate(page.written)}
        mine = [written[m["cid"]] for m in by_rev if m["cid"] in written]
        kept &= mine == sorted(mine)
        shown = {m.get("client_message_id") for m in page.log.ordered()}
        lacking[page.name] = sum(m["cid"] not in shown for m in stored)
        for other in pages:  # and as each page shows them
            order = [
                written[m.get("client_message_id")]
                for m in other.log.ordered()
                if m.get("client_message_id") in written
            ]
            kept &= order == sorted(order)
    return kept, lacking


def failures(report: Report) -> list[str]:
    """What the drill's promises say of this run: [] when every one holds."""
    problems = []
    if report.duplicates:
        problems.append(f"{report.duplicates} duplicates after the failover")
    if report.duplicates_after_return > report.settings.pages:
        # A send the primary stored but never confirmed (it died first) is sent again, with the
        # same clientMessageId, to the secondary, which has no receipt of it: its late arrival
        # is a second copy. At most the one send each page had in flight at the kill.
        problems.append(
            f"{report.duplicates_after_return} duplicates once the primary came back, more than"
            f" the {report.settings.pages} sends in flight at the kill"
        )
    if not report.order_kept:
        problems.append("a sender's messages are out of order")
    if report.lost:
        problems.append(
            f"acknowledged messages lost beyond the primary's unreplicated writes: {report.lost}"
        )
    if any(report.pages_missing.values()):
        problems.append(f"pages lack stored messages: {report.pages_missing}")
    if report.settings.failback:
        if report.back_health != 503:
            problems.append(f"the primary back answered {report.back_health}, not 503 passive")
        if report.newcomer != "stored":
            problems.append(f"the primary, handed the stage, answered {report.newcomer!r}")
        if report.stray != "region_moved" or report.stray_stored:
            problems.append(
                f"a send reaching the passive primary got {report.stray!r} and was stored"
                f" {report.stray_stored} times (the fence: region_moved, 0)"
            )
        if report.final_duplicates > report.settings.pages:
            problems.append(f"{report.final_duplicates} duplicates after the failback")
        if not report.final_order_kept:
            problems.append("a sender's messages are out of order after the failback")
        if any(report.final_pages_missing.values()):
            problems.append(f"after the failback pages lack: {report.final_pages_missing}")
    return problems


def render(report: Report) -> str:
    s = report.settings
    live = sorted(report.live_again.values())
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        DRILL_MARK,
        "## The Region failover drill (`make drill`)",
        "",
        f"{when}; {report.machine}; load average at the end {report.load}.",
        "",
        f"Two Regions on one machine ({PRIMARY} primary, {SECONDARY} secondary), each a"
        " dynalite and a real local gateway; devstack/replicator.py between them as MREC"
        f" (lag {s.lag:g} s, last writer wins; the tables a two-Region deploy makes global,"
        " connections and uploads per Region); devstack/front.py as"
        f" the domain and Route 53 (health checks every {s.interval:g} s, {s.threshold}"
        f" failures, TTL {s.ttl:g} s). {s.pages} pages, a message each every {s.period:g} s"
        f" through the page's outbox; the primary killed (SIGKILL) after {s.before:g} s;"
        f" chat goes on {s.after:g} s after every page is live again.",
        "",
        "| | |",
        "|---|---|",
        f"| primary called unhealthy | {_s(report.unhealthy_after)} after the kill |",
        f"| DNS answers the secondary | {_s(report.switched_after)} after the kill |",
        f"| every page live again (RTO here) | {_s(live[-1] if live else None)}"
        f" (pages: {', '.join(_s(x) for x in live)}) |",
        f"| handshakes refused meanwhile | {report.refused_handshakes} |",
        f"| acknowledged before the kill | {report.acked_before}, of which"
        f" {report.acked_in_lag} in its last {s.lag:g} s |",
        f"| missing after the failover (RPO) | {len(report.missing)}"
        f" (the {report.acked_in_lag} acknowledged within the lag: the stated bound); all of"
        f" them among the primary's unreplicated writes: {'yes' if not report.lost else 'NO'} |",
        f"| duplicates (by clientMessageId) | {report.duplicates} |",
        f"| each sender's order | {'kept' if report.order_kept else 'NOT kept'} |",
        f"| stored messages a page does not show | {sum(report.pages_missing.values())} |",
        f"| largest jump of change numbers | {report.largest_jump:,} (the takeover) |",
        f"| writes the primary held at its death | {report.held} items, the oldest made"
        f" {_s(report.held_window)} before it (the lag in effect) |",
        f"| late arrivals once the primary is back | {report.late} messages, of which"
        f" {report.duplicates_after_return} second copies of sends in flight at the kill"
        f" (at most one a page) |",
        f"| error frames the pages got | {dict(report.errors) or 'none'} |",
        *(_render_back(report) if s.failback else []),
        "",
        "On AWS, Route 53's checkers probe from several Regions and do not coordinate, and"
        " browsers' resolvers cache on their own: the RTO there is this one's order, not its"
        " exact figure (docs/multi-region.md). The RPO is the replication lag at the failure:"
        " messages the primary acknowledged and had not replicated are missing until it comes"
        " back (late arrivals, below the takeover's numbers: shown on reload, not live).",
        "",
        DRILL_END,
    ]
    return "\n".join(lines) + "\n"


def _render_back(report: Report) -> list[str]:
    live = sorted(report.failback_live.values())
    return [
        "",
        "Then the primary came back (its gateway restarted) and an operator failed back"
        " (`python -m deploy.failback`, DEPLOY.md's runbook: the hand-over, then the primary"
        " takes the stage with the first change a client makes there):",
        "",
        "| | |",
        "|---|---|",
        f"| the primary's health route once back | {report.back_health} (passive: Route 53"
        " keeps the domain on the secondary) |",
        f"| a send reaching the primary directly (a stale DNS answer) | {report.stray};"
        f" stored {report.stray_stored} times |",
        f"| DNS answers the primary again | {_s(report.failback_switched)} after the hand-over"
        " (the secondary takes the writes meanwhile) |",
        f"| a page loaded then sends through the domain | {report.newcomer}: the primary takes"
        f" the stage back, {_s(report.taken_back)} after the hand-over |",
        f"| every page live on the primary again | {_s(live[-1] if live else None)} after that"
        f" (pages: {', '.join(_s(x) for x in live)}): their only pause in writing |",
        f"| sends the secondary refused meanwhile (`region_moved`) | {report.moved} |",
        f"| messages the secondary took after the primary took the stage (the fence's window:"
        f" replication lag + FENCE_TTL_SECONDS) | {report.window_writes} |",
        f"| in the end: messages, duplicates, each sender's order, stored messages a page does"
        f" not show | {report.final_stored}, {report.final_duplicates},"
        f" {'kept' if report.final_order_kept else 'NOT kept'},"
        f" {sum(report.final_pages_missing.values())} |",
    ]


def _s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f} s"


def write_results(section: str, results: Path = stack.RESULTS) -> None:
    text = results.read_text() if results.exists() else ""
    if DRILL_MARK in text and DRILL_END in text:
        head, rest = text.split(DRILL_MARK, 1)
        tail = rest.split(DRILL_END, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    results.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drill", description=__doc__)
    defaults = Settings()
    for name, value in vars(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--results", type=Path, default=stack.RESULTS)
    parser.add_argument("--no-results", action="store_true", help="print only")
    parser.add_argument("--json", type=Path, help="also write the figures here, as JSON")
    args = parser.parse_args(argv)
    settings = Settings(**{name: getattr(args, name) for name in vars(defaults)})
    stack.raise_nofile()
    with tempfile.TemporaryDirectory() as work:
        report = asyncio.run(run(settings, Path(work)))
    section = render(report)
    print(section)
    if not args.no_results:
        write_results(section, args.results)
    problems = failures(report)
    if args.json:
        figures = asdict(report) | {"problems": problems}
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    for problem in problems:
        print(f"drill: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
