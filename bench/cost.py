"""`make cost`: what a deployment costs on AWS, metered on the local stack and priced.

Simulated people use the chat as the page does (bench/page_model.py and the timers below, from
static/chat/): they open a room (connect, `presence`, the newest page of `history`), write
messages at the scenario's rate (typing for COMPOSE_S first, so the typing policy decides its
frames), ping to keep the socket alive every 4 minutes and after each change they hear (1, 3,
7 … s later), and mark what they read at most every 30 s. The stack's gateway meters it all
(lambdas/local/meter.py, DynamoDB included). Time runs SPEEDUP times faster than the page's
clock (every timer and the message rate alike), so an hour of a room takes minutes; what the
meter counted per room-hour is then scaled to the scenario's month and priced (bench/prices.py).

The extrapolation is checked: the same room metered alone and as one of two must cost the same
per room-hour. Writes bench/COST.md.

    .venv/bin/python -m bench.cost
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench import stack
from bench.page_model import TypingNotices, sync_waits
from bench.prices import PRICED_ON, PRICES, REGION, LineItem, bill, total

OUTPUT = stack.ROOT / "bench" / "COST.md"
SPEEDUP = 4.0
PAGE_MINUTES = 12.0  # of each room, metered
# The page's timers (static/chat/), in page seconds.
KEEPALIVE_S = 240.0  # connection.js pingIntervalMs
SYNC_WAITS_S = [w / 1000 for w in sync_waits(KEEPALIVE_S * 1000)]  # changes.js syncWaits
MARK_EVERY_S, MARK_FIRST_S = 30.0, 0.3  # chat.js MARK_EVERY_MS, MARK_FIRST_MS
COMPOSE_S = 10.0  # a message is typed for this long before it is sent (an assumption)
CHANGES = {"message", "message_updated", "message_deleted"}
TAIL_S = 260.0  # page seconds metered after the last message: its sync pings end at 255 s
RECONNECTS_PER_HOUR = 0.5  # API Gateway closes a connection after 2 hours: a new one each time


@dataclass(frozen=True)
class Scenario:
    name: str
    daily_users: int
    room_size: int
    messages_per_user_day: float = 50.0
    online_hours: float = 8.0
    days: float = 30.0

    @property
    def rooms(self) -> float:
        return self.daily_users / self.room_size

    @property
    def messages_per_month(self) -> float:
        return self.daily_users * self.messages_per_user_day * self.days


SCENARIOS = (
    Scenario("team: 1,000 daily users in rooms of 50", 1_000, 50),
    Scenario("small team: 50 daily users in one room", 50, 50),
)


class Clock:
    """Page time: SPEEDUP times real time, from the start."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self.started) * SPEEDUP * 1000  # ms, as the page counts

    @staticmethod
    def real(page_seconds: float) -> float:
        return page_seconds / SPEEDUP


@dataclass
class Person:
    """One open chat page."""

    url: str
    clock: Clock
    online: int
    sent: int = 0
    newest: str = ""  # the newest message id heard: what a read mark names
    errors: list[dict] = field(default_factory=list)

    async def open(self) -> None:
        self.ws = await connect(self.url, open_timeout=60, max_queue=None)
        self.loaded = asyncio.Event()
        self.typing = TypingNotices(self.clock.now)
        self.last_mark = -1e9
        self.sync: asyncio.TimerHandle | None = None
        self.mark: asyncio.TimerHandle | None = None
        self.reader = asyncio.create_task(self._read())
        await self.send({"action": "presence"})
        await self.send({"action": "history"})

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    def later(self, page_seconds: float, frame: dict) -> asyncio.TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_later(
            Clock.real(page_seconds), lambda: asyncio.ensure_future(self._quiet_send(frame))
        )

    async def _quiet_send(self, frame: dict) -> None:
        with contextlib.suppress(ConnectionClosed):  # closed at the end
            await self.send(frame)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "error":
                    self.errors.append(frame)
                elif kind == "history" and "since" not in frame:
                    self.loaded.set()
                elif kind in CHANGES:
                    if kind == "message" and str(frame.get("id", "")) > self.newest:
                        self.newest = str(frame["id"])
                    self._changed()
        except Exception:
            return

    def _changed(self) -> None:
        # chat.js changed(): the sync pings start again, 1 s after this change, then doubling.
        if self.sync is not None:
            self.sync.cancel()
        self._sync_after(0)
        # chat.js markRead(): soon the first time, then at most once per MARK_EVERY_S.
        if self.mark is None:
            now = self.clock.now() / 1000
            wait = max(MARK_FIRST_S, self.last_mark + MARK_EVERY_S - now)
            self.mark = asyncio.get_running_loop().call_later(Clock.real(wait), self._mark_due)

    def _sync_after(self, index: int) -> None:
        def fire() -> None:
            asyncio.ensure_future(self._quiet_send({"action": "ping"}))
            if index + 1 < len(SYNC_WAITS_S):
                self._sync_after(index + 1)

        wait = SYNC_WAITS_S[index]
        self.sync = asyncio.get_running_loop().call_later(Clock.real(wait), fire)

    def _mark_due(self) -> None:
        self.mark = None
        self.last_mark = self.clock.now() / 1000
        if self.newest:
            asyncio.ensure_future(self._quiet_send({"action": "markread", "id": self.newest}))

    async def write(self, text: str) -> None:
        """Type for COMPOSE_S (the typing policy decides its frame), then send."""
        previous = 0.0
        for offset in (0.0, 1.0, COMPOSE_S):  # keystrokes every 200 ms: these decide it
            await asyncio.sleep(Clock.real(offset - previous))
            previous = offset
            if self.typing.input(has_text=True, online=self.online):
                await self.send({"action": "typing"})
                self.typing.sent()
        await self.send({"action": "sendmessage", "message": text})
        self.sent += 1

    async def keep_alive(self, until: float) -> None:
        while self.clock.now() / 1000 + KEEPALIVE_S < until:
            await asyncio.sleep(Clock.real(KEEPALIVE_S))
            await self._quiet_send({"action": "ping"})

    async def close(self) -> None:
        for timer in (self.sync, self.mark):
            if timer is not None:
                timer.cancel()
        await self.ws.close()
        self.reader.cancel()


def meter(gateway_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway_port}/@meter", timeout=30) as r:
        return json.load(r)


def difference(after: dict, before: dict) -> dict:
    """after − before, for the totals bill() reads."""

    def functions(side: dict) -> dict:
        return side["lambda"]["functions"]

    gone = {
        name: {
            "gb_seconds": f["gb_seconds"] - functions(before).get(name, {}).get("gb_seconds", 0),
            "requests": f["requests"] - functions(before).get(name, {}).get("requests", 0),
            "architecture": f["architecture"],
        }
        for name, f in functions(after).items()
    }
    return {
        "apigateway": {
            key: after["apigateway"][key] - before["apigateway"][key]
            for key in ("messages", "messages_in", "messages_out", "connection_minutes")
        },
        "lambda": {
            "requests": after["lambda"]["requests"] - before["lambda"]["requests"],
            "functions": gone,
        },
        "dynamodb": {
            key: after["dynamodb"][key] - before["dynamodb"][key]
            for key in ("requests", "read_units", "write_units")
        },
    }


def scaled(reading: dict, factor: float) -> dict:
    return json.loads(json.dumps(reading), object_hook=lambda d: _scale(d, factor))


def _scale(d: dict, factor: float) -> dict:
    return {k: v * factor if isinstance(v, (int, float)) else v for k, v in d.items()}


@dataclass
class Run:
    rooms: int
    room_size: int
    page_hours: float
    per_open: dict  # what one page opening costs (connect, presence, history)
    per_close: dict  # and one closing ($disconnect, the presence it announces)
    steady: dict  # everything else over the run, all rooms
    sent: int
    errors: int

    @property
    def per_room_hour(self) -> dict:
        return scaled(self.steady, 1 / (self.rooms * self.page_hours))


async def simulate(port: int, keys, *, rooms: int, room_size: int, seed: int) -> Run:
    """`rooms` rooms of `room_size` people for PAGE_MINUTES of page time."""
    from lambdas.services.rooms import room_create

    rng = random.Random(seed)
    clock = Clock()
    for r in range(rooms):
        room_create(name=f"cost-{seed}-{r}", title="", description="", created_by="cost")
    people = [
        Person(
            stack.websocket_url(port, keys, user_id=f"p{r}-{n}-{seed}", room=f"cost-{seed}-{r}"),
            clock,
            online=room_size,
        )
        for r in range(rooms)
        for n in range(room_size)
    ]
    start = meter(port)
    for batch in range(0, len(people), 10):
        await asyncio.gather(*(p.open() for p in people[batch : batch + 10]))
    await asyncio.gather(*(p.loaded.wait() for p in people))
    await asyncio.sleep(Clock.real(5))  # the presence announcements of the last ones to open
    opened = meter(port)
    clock.started = time.monotonic()  # the measured hour starts now, for everyone
    until = PAGE_MINUTES * 60
    per_person_s = 8 * 3600 / 50  # the scenario's rate: 50 messages in 8 hours
    tasks = []
    for n, person in enumerate(people):
        phase = rng.uniform(0, per_person_s)
        tasks.append(asyncio.create_task(_writer(person, phase, per_person_s, until, n)))
        tasks.append(asyncio.create_task(person.keep_alive(until)))
    await asyncio.gather(*tasks)
    await asyncio.sleep(Clock.real(TAIL_S))  # the last change's pings (up to 255 s) and marks
    steady_end = meter(port)
    for person in people:
        await person.close()
    closed_requests = opened["lambda"]["functions"].get("DisconnectFunction", {}).get("requests", 0)
    await stack.until(
        lambda: (
            meter(port)["lambda"]["functions"].get("DisconnectFunction", {}).get("requests", 0)
            >= closed_requests + len(people)
        )
    )
    end = meter(port)
    return Run(
        rooms=rooms,
        room_size=room_size,
        # The messages' window: the tail after it is the last messages' (their pings, marks).
        page_hours=until / 3600,
        per_open=scaled(difference(opened, start), 1 / len(people)),
        per_close=scaled(difference(end, steady_end), 1 / len(people)),
        steady=difference(steady_end, opened),
        sent=sum(p.sent for p in people),
        errors=sum(len(p.errors) for p in people),
    )


async def _writer(person: Person, phase: float, every: float, until: float, n: int) -> None:
    at = phase
    while at < until:
        wait = at - COMPOSE_S - person.clock.now() / 1000
        if wait > 0:
            await asyncio.sleep(Clock.real(wait))
        await person.write(f"message {n} at {at:.0f}")
        at += every


def month(run: Run, scenario: Scenario) -> dict:
    """The scenario's month from what the run metered: the rooms' hours, each person opening
    the page once per online stretch of 2 hours, and connection minutes by the clock."""
    hours = scenario.rooms * scenario.online_hours * scenario.days
    stretches = max(1.0, scenario.online_hours * RECONNECTS_PER_HOUR)
    opens = scenario.daily_users * scenario.days * stretches
    total_reading = _sum(
        scaled(run.per_room_hour, hours), scaled(run.per_open, opens), scaled(run.per_close, opens)
    )
    # Connection minutes are not compressed: every daily user's online hours, by definition.
    total_reading["apigateway"]["connection_minutes"] = (
        scenario.daily_users * scenario.online_hours * 60 * scenario.days
    )
    return total_reading


def _sum(*readings: dict) -> dict:
    """Readings added up (a function's architecture kept)."""

    def add(a, b):
        if isinstance(a, dict) or isinstance(b, dict):
            a, b = a or {}, b or {}
            return {k: add(a.get(k), b.get(k)) for k in a.keys() | b.keys()}
        if isinstance(a, str) or isinstance(b, str):
            return a or b
        return (a or 0) + (b or 0)

    out = readings[0]
    for reading in readings[1:]:
        out = add(out, reading)
    return out


def report(runs: list[Run], seconds: float) -> str:
    alone, paired = runs
    lines = [
        "# What DynamoWave costs on AWS",
        "",
        f"Written by `make cost` (`bench/cost.py`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in "
        f"{seconds:.0f} s, {stack.machine()}. Prices: {REGION} list prices of {PRICED_ON}, "
        "no free tier (bench/prices.py, with the pricing pages they come from).",
        "",
        f"Metered on the local stack: {alone.rooms} room, then {paired.rooms} rooms, of "
        f"{alone.room_size} simulated people each for {PAGE_MINUTES:.0f} minutes of page time "
        f"at {SPEEDUP:.0f}× speed (module docstring); {alone.sent + paired.sent} messages sent, "
        f"{alone.errors + paired.errors} error frames. The room alone sent "
        f"{alone.sent / alone.page_hours:,.0f} messages a room-hour (the scenarios' rate: "
        f"{50 * 50 / 8:,.1f}); each month below is that room's hour, scaled.",
        "",
    ]
    for scenario in SCENARIOS:
        reading = month(alone, scenario)
        items = bill(reading)
        arm = sum(
            PRICES["lambda_gb_seconds_arm64"].of(f["gb_seconds"])
            for f in reading["lambda"]["functions"].values()
        )
        x86 = next((i.dollars for i in items if i.name == "Lambda duration (x86_64)"), 0.0)
        lines += _scenario_lines(scenario, items, reading, arm - x86)
    lines += _check_lines(alone, paired)
    lines += [
        "",
        "## Not counted yet",
        "",
        "The site (Django on Lambda through Zappa: pages, the token endpoint, `/api/unread/`) "
        "and its database; CloudWatch Logs; SQS; DynamoDB storage; data transfer. Lambda "
        "durations are this machine's, under load, not AWS's. The typing policy and the sync "
        "pings' waits are the page's (tests/bench/test_page_model.py runs both on the same "
        "inputs); when the read marks go is written here from `static/chat/chat.js`.",
    ]
    return "\n".join(lines) + "\n"


def _scenario_lines(scenario: Scenario, items: list[LineItem], reading: dict, arm_delta: float):
    dollars = total(items)
    per_user = dollars / scenario.daily_users
    per_million = dollars / scenario.messages_per_month * 1e6
    api = reading["apigateway"]
    lines = [
        f"## {scenario.name}",
        "",
        f"{scenario.messages_per_user_day:.0f} messages per person a day, online "
        f"{scenario.online_hours:.0f} hours a day, {scenario.days:.0f} days: "
        f"{scenario.messages_per_month:,.0f} messages a month.",
        "",
        "| line item | amount a month | dollars | share |",
        "|---|---:|---:|---:|",
    ]
    for item in items:
        share = item.dollars / dollars * 100 if dollars else 0.0
        amount = f"{item.amount:,.0f} {item.unit}"
        lines.append(f"| {item.name} | {amount} | ${item.dollars:,.2f} | {share:.0f} % |")
    functions = reading["lambda"]["functions"]
    pings = functions.get("PingFunction", {}).get("requests", 0) * 2  # each ping and its pong
    fanout = scenario.messages_per_month * scenario.room_size  # each message to every reader
    lines += [
        f"| **total** | | **${dollars:,.2f}** | |",
        "",
        f"**${per_user:.3f} per daily user a month; ${per_million:,.2f} per million messages "
        f"sent.** API Gateway messages in / out: {api['messages_in']:,.0f} / "
        f"{api['messages_out']:,.0f}; of them pings and their pongs "
        f"{pings / api['messages'] * 100:.0f} %, the chat messages' own fan-out "
        f"{fanout / api['messages'] * 100:.0f} %. On arm64 (the same durations) the Lambda "
        f"duration line would change by ${arm_delta:,.2f}.",
        "",
        "| function | requests a month | GB-seconds |",
        "|---|---:|---:|",
        *(
            f"| {name} | {f['requests']:,.0f} | {f['gb_seconds']:,.0f} |"
            for name, f in sorted(functions.items(), key=lambda kv: -kv[1]["requests"])
            if f["requests"] >= 0.5
        ),
        "",
    ]
    return lines


def _check_lines(alone: Run, paired: Run) -> list[str]:
    a, b = alone.per_room_hour, paired.per_room_hour
    rows = [
        ("API Gateway messages", a["apigateway"]["messages"], b["apigateway"]["messages"]),
        ("Lambda requests", a["lambda"]["requests"], b["lambda"]["requests"]),
        ("DynamoDB write units", a["dynamodb"]["write_units"], b["dynamodb"]["write_units"]),
        ("DynamoDB read units", a["dynamodb"]["read_units"], b["dynamodb"]["read_units"]),
    ]
    lines = [
        "## Does it scale as claimed?",
        "",
        "The month is the metered room-hour times the rooms' hours: so one room metered alone "
        "and each of two metered together must cost the same per room-hour.",
        "",
        "| per room-hour | one room | each of two | ratio |",
        "|---|---:|---:|---:|",
    ]
    for name, one, two in rows:
        ratio = two / one if one else float("nan")
        lines.append(f"| {name} | {one:,.0f} | {two:,.0f} | {ratio:.2f} |")
    return lines


async def _main(port: int, keys) -> list[Run]:
    runs = []
    for seed, rooms in ((1, 1), (2, 2)):
        run = await simulate(port, keys, rooms=rooms, room_size=50, seed=seed)
        print(
            f"{rooms} room(s): {run.sent} sent, {run.errors} errors, per room-hour "
            f"{run.per_room_hour['apigateway']['messages']:,.0f} messages",
            flush=True,
        )
        runs.append(run)
    return runs


def main() -> None:
    started = time.monotonic()
    stack.raise_nofile()
    with tempfile.TemporaryDirectory() as work:
        keys = stack.configure(Path(work))
        dynalite = stack.start_dynalite()
        from lambdas.local.dynamodb import free_port

        port = free_port()
        gateway = stack.start_gateway(port, meter_dynamodb=True)
        try:
            runs = asyncio.run(_main(port, keys))
        finally:
            gateway.stop()
            dynalite.stop()
    text = report(runs, time.monotonic() - started)
    OUTPUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
