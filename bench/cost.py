"""`make cost`: what a deployment costs on AWS, metered on the local stack and priced.

Simulated people use the chat as the page does (bench/page_model.py and the timers below, from
static/chat/): they open a room (connect, `presence`, the newest page of `history`, a
`markread` of it), write messages at the scenario's rate (typing for COMPOSE_S first, so the
typing policy decides its frames), ping to keep the socket alive once 7 minutes pass without
sending a message or a ping, each ping carrying what they read since, hand over to a new socket
as the page does before API Gateway's 2-hour limit, and mark what is left when they leave. A
day is one session of the scenario's online hours: one opening, a hand-over every 110 minutes,
one closing. The stack's gateway
meters it all (emulator/meter.py, DynamoDB included). Time runs SPEEDUP times faster than
the page's clock (every timer and the message rate alike), so an hour of a room takes minutes;
what the meter counted per room-hour is then scaled to the scenario's month and priced
(bench/prices.py).

The extrapolation is checked: the same room metered alone and as one of two must cost the same
per room-hour. The community's room of 2,000 is batched (lambdas/services/batches.py), whose
window is the server's clock: it is metered in real time, at LARGE_SIZES readers, and each count
extrapolated along the straight line through the two. DynamoDB storage is counted from what the
runs left in the tables. Writes bench/COST.md.

    .venv/bin/python -m bench.cost            # meter, then write COST.md
    .venv/bin/python -m bench.cost --report   # COST.md again from the last run's readings
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench import stack
from bench.page_model import KEEPALIVE_MS, MARK_FIRST_MS, TypingNotices
from bench.prices import (
    ALWAYS_ON,
    AURORA_AWAKE,
    HOURS_A_MONTH,
    PRICED_ON,
    PRICES,
    PROVISIONED,
    REGION,
    STAGE_FIXED,
    LineItem,
    api_messages_dollars,
    bill,
    image_dollars,
    total,
)

OUTPUT = stack.ROOT / "bench" / "COST.md"
SPEEDUP = 4.0
PAGE_MINUTES = 12.0  # of each room, metered
# The page's timers (static/chat/), in page seconds.
KEEPALIVE_S = KEEPALIVE_MS / 1000  # connection.js pingIntervalMs
MARK_FIRST_S = MARK_FIRST_MS / 1000  # chat.js
COMPOSE_S = 10.0  # a message is typed for this long before it is sent (an assumption)
CHANGES = {"message", "message_updated", "message_deleted"}
TAIL_S = 8.0  # page seconds metered after the last message: its fan-out
# API Gateway closes a connection after 2 hours: the page hands over to a new socket before
# that (connection.js refreshAfterMs, 110 minutes). One continuous session a day per person.
SOCKET_HOURS = 110 / 60


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
    marked: str = ""  # the newest the server was told was read
    answered_at: float = 0.0  # page seconds: the last frame sent that the server answers
    errors: list[dict] = field(default_factory=list)
    # clientMessageId -> when first held (time.monotonic): the large room's delivery times
    arrivals: dict[str, float] = field(default_factory=dict)

    async def open(self) -> None:
        self.ws = await connect(self.url, open_timeout=60, max_queue=None, ping_interval=None)
        self.loaded = asyncio.Event()
        self.typing = TypingNotices(self.clock.now)
        self.marked_since_shown = False
        self.mark: asyncio.TimerHandle | None = None
        self.reader = asyncio.create_task(self._read())
        await self.send({"action": "presence"})
        await self.send({"action": "history"})

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

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
                    for message in frame.get("messages", []):
                        self._heard(str(message["id"]))
                    self.loaded.set()
                elif kind == "message":
                    self._heard(str(frame.get("id", "")))
                    self._arrived(frame)
                elif kind == "changes":  # a large room's batch
                    for message in frame.get("messages", []):
                        self._heard(str(message.get("id", "")))
                        self._arrived(message)
        except Exception:
            return

    def _arrived(self, message: dict) -> None:
        key = message.get("client_message_id")
        if key is not None and key not in self.arrivals:
            self.arrivals[key] = time.monotonic()

    def _heard(self, message_id: str) -> None:
        self.newest = max(self.newest, message_id)
        # chat.js markRead(): once, MARK_FIRST_S after the room is shown; then pings carry it.
        if self.marked_since_shown or self.mark is not None:
            return
        self.mark = asyncio.get_running_loop().call_later(Clock.real(MARK_FIRST_S), self._mark)

    def _mark(self) -> None:
        self.marked_since_shown = True
        if self.newest > self.marked:
            self.marked = self.newest
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
        # The page's outbox names every send (a retry is stored once): a receipt is written.
        frame = {"action": "sendmessage", "message": text, "clientMessageId": f"c{self.sent}"}
        await self.send(frame)
        self.answered_at = self.clock.now() / 1000  # connection.js ANSWERED_ACTIONS
        self.sent += 1

    async def keep_alive(self, phase: float, until: float) -> None:
        """connection.js: a ping once KEEPALIVE_S pass without a frame the server answers (a
        message sent, a ping), the first `phase` s into the window, carrying what was read
        since the last mark (chat.js pingFields)."""
        self.answered_at = phase - KEEPALIVE_S
        while (at := self.answered_at + KEEPALIVE_S) < until:
            await asyncio.sleep(max(0.0, Clock.real(at - self.clock.now() / 1000)))
            if self.answered_at + KEEPALIVE_S > at:
                continue  # a message went meanwhile: the keep-alive counts from it
            frame = {"action": "ping"}
            if self.newest > self.marked:
                frame["read"] = self.marked = self.newest
            self.answered_at = at
            await self._quiet_send(frame)

    async def hand_over(self) -> None:
        """connection.js: a new socket before API Gateway's 2-hour limit, then the old one
        closed ("replaced"); chat.js opened(): `presence`, and a ping (a repair's: it carries
        what was read)."""
        old, old_reader = self.ws, self.reader
        self.ws = await connect(self.url, open_timeout=60, max_queue=None, ping_interval=None)
        self.reader = asyncio.create_task(self._read())
        await self.send({"action": "presence"})
        frame = {"action": "ping"}
        if self.newest > self.marked:
            frame["read"] = self.marked = self.newest
        await self.send(frame)
        await old.close(1000, "replaced")
        old_reader.cancel()

    async def close(self) -> None:
        """Leaving (chat.js leave / the page hidden): what was read and not marked goes."""
        if self.mark is not None:
            self.mark.cancel()
        if self.newest > self.marked:
            self.marked = self.newest
            await self._quiet_send({"action": "markread", "id": self.newest})
        await self.ws.close()
        self.reader.cancel()


async def seed_room(port: int, keys, room: str) -> None:
    """One message in the room before anyone opens it: a page opened on a room with history
    marks it read (what every opening after the first does)."""
    async with connect(stack.websocket_url(port, keys, user_id="seeder", room=room)) as ws:
        await ws.send(json.dumps({"action": "sendmessage", "message": "good morning"}))
        while json.loads(await ws.recv()).get("type") != "message":
            pass


def meter(gateway_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway_port}/@meter", timeout=30) as r:
        return json.load(r)


def _disconnects(port: int) -> int:
    return meter(port)["lambda"]["functions"].get("DisconnectFunction", {}).get("requests", 0)


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
        "cloudwatch_logs": {
            key: after["cloudwatch_logs"][key] - before["cloudwatch_logs"][key]
            for key in ("events", "bytes")
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
    per_hand_over: dict  # a new socket for an open page, the old one closed
    per_close: dict  # and one closing ($disconnect, the presence it announces)
    steady: dict  # everything else over the run, all rooms
    sent: int
    errors: int
    tables: int  # tables and indexes that took traffic (provisioned capacity has a floor each)

    @property
    def per_room_hour(self) -> dict:
        return scaled(self.steady, 1 / (self.rooms * self.page_hours))


async def simulate(port: int, keys, *, rooms: int, room_size: int, seed: int) -> Run:
    """`rooms` rooms of `room_size` people for PAGE_MINUTES of page time."""
    from chat.services.rooms import room_create

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
    gone = _disconnects(port)
    for r in range(rooms):
        await seed_room(port, keys, f"cost-{seed}-{r}")
    await stack.until(lambda: _disconnects(port) >= gone + rooms)  # the seeders' are not metered
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
        keep_alive_phase = rng.uniform(0, KEEPALIVE_S)
        tasks.append(asyncio.create_task(person.keep_alive(keep_alive_phase, until)))
    await asyncio.gather(*tasks)
    await asyncio.sleep(Clock.real(TAIL_S))  # the last messages' fan-out
    steady_end = meter(port)
    gone = _disconnects(port)
    for batch in range(0, len(people), 10):
        await asyncio.gather(*(p.hand_over() for p in people[batch : batch + 10]))
    await stack.until(lambda: _disconnects(port) >= gone + len(people))
    await asyncio.sleep(Clock.real(5))  # any presence announcement they make
    handed_over = meter(port)
    for person in people:
        await person.close()
    closed_requests = _disconnects(port)
    await stack.until(lambda: _disconnects(port) >= closed_requests + len(people))
    end = meter(port)
    return Run(
        rooms=rooms,
        room_size=room_size,
        # The messages' window: the tail after it is the last messages' (their pings, marks).
        page_hours=until / 3600,
        per_open=scaled(difference(opened, start), 1 / len(people)),
        per_hand_over=scaled(difference(handed_over, steady_end), 1 / len(people)),
        per_close=scaled(difference(end, handed_over), 1 / len(people)),
        steady=difference(steady_end, opened),
        sent=sum(p.sent for p in people),
        errors=sum(len(p.errors) for p in people),
        tables=len(end["dynamodb"]["tables"]),
    )


async def _writer(person: Person, phase: float, every: float, until: float, n: int) -> None:
    at = phase
    while at < until:
        wait = at - COMPOSE_S - person.clock.now() / 1000
        if wait > 0:
            await asyncio.sleep(Clock.real(wait))
        await person.write(f"message {n} at {at:.0f}")
        at += every


# -- the community's large room ---------------------------------------------------------------

LARGE_ROOM = 2_000  # the community's room
LARGE_RATE = 5.0  # its messages a second while people are online (issue 24's target)
LARGE_SECONDS = 60.0  # metered in real time: batching's window is the server's clock
LARGE_SIZES = (150, 300)  # readers metered; the room of 2,000 is extrapolated from both


@dataclass
class LargeRun:
    """One large room metered at `readers` people for LARGE_SECONDS of real time."""

    readers: int
    sent: int
    per_open: dict
    per_message: dict  # everything in the messages' window, per message sent
    per_ping: dict  # a keep-alive ping (carrying a read mark)
    per_hand_over: dict
    per_close: dict
    posts_per_reader_message: float  # API Gateway messages out per message and reader
    latency_ms: dict  # sent → held by another reader: p50, p99, max
    lost: int  # (reader, message) pairs never held
    errors: int
    # The machine's 1-minute load average when the messages' window ended: a p99 measured
    # while something else ran is this machine's business, not the design's.
    load: float | None = None


async def simulate_large(port: int, keys, *, readers: int, seed: int) -> LargeRun:
    """One room of `readers` pages; messages from random people at LARGE_RATE a second
    (Poisson) for LARGE_SECONDS; then a ping each, a hand-over each, a close each."""
    from chat.services.rooms import room_create

    rng = random.Random(seed)
    clock = Clock()
    room = f"large-{seed}-{readers}"
    room_create(name=room, title="", description="", created_by="cost")
    people = [
        Person(stack.websocket_url(port, keys, user_id=f"l{n}-{seed}", room=room), clock, readers)
        for n in range(readers)
    ]
    gone = _disconnects(port)
    await seed_room(port, keys, room)
    await stack.until(lambda: _disconnects(port) >= gone + 1)
    start = meter(port)
    for batch in range(0, len(people), 10):
        await asyncio.gather(*(p.open() for p in people[batch : batch + 10]))
    await asyncio.gather(*(p.loaded.wait() for p in people))
    await asyncio.sleep(2)  # the last arrivals' presence counting
    opened = meter(port)
    sent_at: dict[str, float] = {}
    senders: dict[str, Person] = {}
    at = time.monotonic()
    end = at + LARGE_SECONDS
    n = 0
    while True:
        at += rng.expovariate(LARGE_RATE)
        if at >= end:
            break
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        sender = rng.choice(people)
        key = f"{seed}-{readers}-{n}"
        sent_at[key], senders[key] = time.monotonic(), sender
        await sender.send({"action": "sendmessage", "message": f"m{n}", "clientMessageId": key})
        n += 1
    await stack.until(lambda: all(len(p.arrivals) >= len(sent_at) for p in people), timeout=30.0)
    await asyncio.sleep(1.0)  # a batch still running sends nothing more, but let it end
    window_end = meter(port)
    latencies = sorted(
        (person.arrivals[key] - sent) * 1000
        for key, sent in sent_at.items()
        for person in people
        if person is not senders[key] and key in person.arrivals
    )
    lost = sum(key not in p.arrivals for key in sent_at for p in people)
    for person in people:  # each keep-alive ping once, carrying a read mark
        frame = {"action": "ping"}
        if person.newest > person.marked:
            frame["read"] = person.marked = person.newest
        await person.send(frame)
    window_load = os.getloadavg()[0]
    pinged_before = _requests(window_end, "PingFunction")
    await stack.until(lambda: _requests(meter(port), "PingFunction") >= pinged_before + readers)
    await asyncio.sleep(2)  # the `unread` frames their read marks send
    pinged = meter(port)
    gone = _disconnects(port)
    for batch in range(0, len(people), 10):
        await asyncio.gather(*(p.hand_over() for p in people[batch : batch + 10]))
    await stack.until(lambda: _disconnects(port) >= gone + len(people))
    await asyncio.sleep(2)
    handed_over = meter(port)
    for person in people:
        await person.close()
    closed = _disconnects(port)
    await stack.until(lambda: _disconnects(port) >= closed + len(people))
    finished = meter(port)
    window = difference(window_end, opened)
    acks = len(sent_at)  # each sender's own copy, at once
    posts = (window["apigateway"]["messages_out"] - acks) / (len(sent_at) * readers)
    return LargeRun(
        readers=readers,
        sent=len(sent_at),
        per_open=scaled(difference(opened, start), 1 / readers),
        per_message=scaled(window, 1 / len(sent_at)),
        per_ping=scaled(difference(pinged, window_end), 1 / readers),
        per_hand_over=scaled(difference(handed_over, pinged), 1 / readers),
        per_close=scaled(difference(finished, handed_over), 1 / readers),
        posts_per_reader_message=posts,
        latency_ms={
            "p50": stack.percentile(latencies, 50),
            "p99": stack.percentile(latencies, 99),
            "max": latencies[-1] if latencies else float("nan"),
        },
        lost=lost,
        errors=sum(len(p.errors) for p in people),
        load=window_load,
    )


def _requests(reading: dict, function: str) -> float:
    return reading["lambda"]["functions"].get(function, {}).get("requests", 0)


def extrapolated(small: dict, large: dict, n_small: int, n_large: int, n: int) -> dict:
    """Each count as a straight line through its two readings, at `n` readers."""

    def at(a, b):
        if isinstance(a, dict) or isinstance(b, dict):
            a, b = a or {}, b or {}
            return {k: at(a.get(k), b.get(k)) for k in a.keys() | b.keys()}
        if isinstance(a, str) or isinstance(b, str):
            return a or b
        a, b = a or 0, b or 0
        return max(0.0, b + (b - a) / (n_large - n_small) * (n - n_large))

    return at(small, large)


def pings_a_minute(sends_a_minute: float) -> float:
    """Keep-alive pings a minute of a page that sends at this (Poisson) rate: it pings when
    KEEPALIVE_S pass without sending (a renewal process: each wait ends in a send or a ping)."""
    minutes = KEEPALIVE_S / 60
    if sends_a_minute <= 0:
        return 1 / minutes
    quiet = math.exp(-sends_a_minute * minutes)  # no send in a whole interval
    return sends_a_minute * quiet / (1 - quiet)


COMMUNITY_SMALL = Scenario("community's small rooms: 8,000 daily users in rooms of 50", 8_000, 50)


def large_month(runs: list[LargeRun], online_hours: float = 8.0, days: float = 30.0) -> dict:
    """The community's room of LARGE_ROOM people for a month: LARGE_RATE messages a second
    through its online hours, each person opening it once a day, handing over every
    SOCKET_HOURS, pinging as a page that sends its share of the messages does."""
    small, large = sorted(runs, key=lambda r: r.readers)[:2]

    def fit(name: str) -> dict:
        return extrapolated(
            getattr(small, name), getattr(large, name), small.readers, large.readers, LARGE_ROOM
        )

    messages = LARGE_RATE * 3600 * online_hours * days
    opens = LARGE_ROOM * days
    hand_overs = opens * max(0, math.ceil(online_hours / SOCKET_HOURS) - 1)
    share = LARGE_RATE * 60 / LARGE_ROOM  # one person's messages a minute
    pings = LARGE_ROOM * pings_a_minute(share) * online_hours * 60 * days
    reading = _sum(
        scaled(fit("per_message"), messages),
        scaled(fit("per_open"), opens),
        scaled(fit("per_hand_over"), hand_overs),
        scaled(fit("per_close"), opens),
        scaled(fit("per_ping"), pings),
    )
    reading["apigateway"]["connection_minutes"] = LARGE_ROOM * online_hours * 60 * days
    return reading


def month(run: Run, scenario: Scenario) -> dict:
    """The scenario's month from what the run metered: the rooms' hours, each person opening
    the page once a day and keeping it open for their online hours (a hand-over to a new
    socket every SOCKET_HOURS), and connection minutes by the clock."""
    hours = scenario.rooms * scenario.online_hours * scenario.days
    opens = scenario.daily_users * scenario.days
    hand_overs = opens * max(0, math.ceil(scenario.online_hours / SOCKET_HOURS) - 1)
    total_reading = _sum(
        scaled(run.per_room_hour, hours),
        scaled(run.per_open, opens),
        scaled(run.per_hand_over, hand_overs),
        scaled(run.per_close, opens),
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


def report(
    runs: list[Run],
    large: list[LargeRun],
    stored: dict,
    seconds: float,
    written: datetime | None = None,
) -> str:
    alone, paired = runs
    written = written or datetime.now(UTC)
    lines = [
        "# What DynamoWave costs on AWS",
        "",
        f"Written by `make cost` (`bench/cost.py`) on {written:%Y-%m-%d %H:%M} UTC in "
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
    lines += _target_lines(alone, large)
    for scenario in SCENARIOS:
        reading = month(alone, scenario)
        items = bill(reading)
        lines += _scenario_lines(scenario, items, reading)
    lines += _community_lines(alone, large)
    lines += _fixed_lines(alone)
    lines += _files_lines(alone)
    lines += _storage_lines(stored)
    lines += _provisioned_lines(alone, large)
    lines += _always_on_lines(alone)
    lines += _check_lines(alone, paired)
    lines += _large_check_lines(large)
    lines += [
        "",
        "## Not counted yet",
        "",
        "The site (Django on Lambda through Zappa: pages, the token endpoint, `/api/unread/`, "
        "search) and its database's I/O and capacity beyond its least; CloudWatch Logs' "
        "storage (ingestion is counted: each line a function prints) and metrics; SQS "
        "(only fan-out shards and index changes that fail reach a queue: no request in "
        "normal operation); data transfer, the NAT's included. Lambda "
        "durations are this machine's, under load, not AWS's. The typing policy, the "
        "keep-alive's interval and the first read mark's delay are the page's "
        "(tests/bench/test_page_model.py checks them against `static/chat/`); that pings carry "
        "the read position is written here from `static/chat/chat.js`.",
    ]
    return "\n".join(lines) + "\n"


def shares(reading: dict, scenario: Scenario) -> tuple[float, float]:
    """Pings (each and its pong) and the chat messages' own fan-out (each message to every
    reader), as fractions of the month's API Gateway messages."""
    messages = reading["apigateway"]["messages"]
    pings = reading["lambda"]["functions"].get("PingFunction", {}).get("requests", 0) * 2
    return pings / messages, scenario.messages_per_month * scenario.room_size / messages


def _target_lines(run: Run, large: list[LargeRun]) -> list[str]:
    team = SCENARIOS[0]
    biggest = max(large, key=lambda r: r.readers)
    ratio, p99 = biggest.posts_per_reader_message, biggest.latency_ms["p99"]
    batching = (
        f"{ratio:.2f}× with {biggest.readers} readers (at "
        + ", ".join(f"{r.readers}: {r.posts_per_reader_message:.2f}×" for r in large)
        + f"; more readers, fewer POSTs per reader); p99 {p99:,.0f} ms on this machine"
        + ("" if biggest.load is None else f" at a load average of {biggest.load:.1f}")
    )
    reading = month(run, team)
    items = bill(reading)
    month_total = total(items)
    per_user = month_total / team.daily_users
    pings, fanout = shares(reading, team)
    writes = next(i.dollars for i in items if i.name == "DynamoDB writes")
    saved = PRICES["dynamodb_write_units"].of(3 * team.messages_per_month)

    def verdict(met: bool) -> str:
        return "met" if met else "**missed**"

    return [
        "## Issue 24's targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| team: ≤ $0.15 per daily user a month | ${per_user:.3f} | {verdict(per_user <= 0.15)} |",
        f"| team: the messages' fan-out ≥ 60 % of API Gateway messages | {fanout:.0%} "
        f"| {verdict(fanout >= 0.6)} |",
        f"| team: pings and pongs ≤ 5 % | {pings:.1%} | {verdict(pings <= 0.05)} |",
        "| community: a 2,000-member room at 5 messages/s ≤ 0.5× the one-post-per-message "
        f"floor, p99 < 1 s | {batching} | {verdict(ratio <= 0.5 and p99 < 1000)} |",
        "| ≤ 3 write units and ≤ 3 sequential DynamoDB round trips before the first delivery, "
        "per public-room message | 7 write units (rate bucket 1, receipt 1, room change "
        "number 1, message 1 and its by-rev index 1, the sender's read position 1 and its "
        "by-user index 1) and 8 round trips | **missed** |",
        "",
        "What the misses would take: for "
        "the writes, the receipt folded into the message item and the sender's read position "
        f"left to the page's next ping: 3 of the 7 units, ${saved:,.2f} of the team's month "
        f"(all DynamoDB writes are ${writes:,.2f} of ${month_total:,.2f}). The round trips: "
        "the connection, room and bucket reads in one BatchGetItem, the receipt and the "
        "change number side by side, the room's connections read while the message is "
        "written.",
        "",
    ]


def _items_table(items: list[LineItem], dollars: float) -> list[str]:
    """The bill's line items with their shares of `dollars`, and its total."""
    lines = ["| line item | amount a month | dollars | share |", "|---|---:|---:|---:|"]
    for item in items:
        share = item.dollars / dollars * 100 if dollars else 0.0
        amount = f"{item.amount:,.0f} {item.unit}"
        lines.append(f"| {item.name} | {amount} | ${item.dollars:,.2f} | {share:.0f} % |")
    return [*lines, f"| **total** | | **${dollars:,.2f}** | |"]


def _scenario_lines(scenario: Scenario, items: list[LineItem], reading: dict):
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
    ]
    lines += _items_table(items, dollars)
    functions = reading["lambda"]["functions"]
    pings, fanout = shares(reading, scenario)
    lines += [
        "",
        f"**${per_user:.3f} per daily user a month; ${per_million:,.2f} per million messages "
        f"sent.** API Gateway messages in / out: {api['messages_in']:,.0f} / "
        f"{api['messages_out']:,.0f}; of them pings and their pongs {pings:.1%}, the chat "
        f"messages' own fan-out {fanout:.0%}. {_architectures(reading)}",
        "",
        "| function | requests a month | GB-seconds |",
        "|---|---:|---:|",
        *(
            f"| {name} | {f['requests']:,.0f} | {f['gb_seconds']:,.0f} |"
            for name, f in sorted(functions.items(), key=lambda kv: (-kv[1]["requests"], kv[0]))
            if f["requests"] >= 0.5
        ),
        "",
    ]
    return lines


def _fixed_lines(run: Run) -> list[str]:
    """What a deployed stage costs whatever its traffic, and each scenario with it."""
    fixed = sum(dollars for _, dollars, _ in STAGE_FIXED)
    awake = AURORA_AWAKE[1]
    lines = [
        "## A deployed stage's fixed costs",
        "",
        "The site's PostgreSQL (Aurora Serverless v2, in the stack's VPC) and the way out of "
        "that VPC cost the same in a quiet month and a busy one (DEPLOY.md, *The database*):",
        "",
        "| item | dollars a month |",
        "|---|---:|",
        *(f"| {name} | ${dollars:,.2f} |" for name, dollars, _ in STAGE_FIXED),
        f"| {AURORA_AWAKE[0]} (as shipped: the site's revocation retry every minute keeps "
        f"it awake; 0 while paused) | ${awake:,.2f} |",
        f"| **total** | **${fixed:,.2f}** paused, **${fixed + awake:,.2f}** awake |",
        "",
        "| scenario | traffic | with the fixed costs (database awake) | per daily user |",
        "|---|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        dollars = total(bill(month(run, scenario)))
        whole = dollars + fixed + awake
        lines.append(
            f"| {scenario.name} | ${dollars:,.2f} | ${whole:,.2f} | "
            f"${whole / scenario.daily_users:.3f} |"
        )
    return [*lines, ""]


# Files are not metered (the simulated people send none): priced from bench/prices.py's
# `image_dollars`, for an assumed share of messages carrying a photo. No team chat publishes
# its share; one in IMAGE_SHARE is a guess to rescale by, not a measurement.
IMAGE_SHARE = 50
IMAGE_MB = 3


def _files_lines(run: Run) -> list[str]:
    """What files add: one image's bill by line, then each scenario with one message in
    IMAGE_SHARE carrying a photo that every reader of its room sees as a thumbnail."""
    lines = [
        "## Files and images",
        "",
        "Not metered (the simulated people send no files): priced from the requests each "
        "makes (`bench/prices.py` `image_dollars`). S3 Standard: PUT/POST "
        f"${PRICES['s3_put_requests'].dollars} per 1,000, GET "
        f"${PRICES['s3_get_requests'].dollars} per 1,000, storage "
        f"${PRICES['s3_storage_gb_month'].dollars} per GB-month, transfer out "
        f"${PRICES['s3_transfer_out_gb'].dollars} per GB (no free tier); sending a message "
        "removes its files' `unsent` tags (DeleteObjectTagging: free).",
        "",
    ]
    one = image_dollars(size=IMAGE_MB * 2**20)
    lines += [
        f"A {IMAGE_MB} MB photo with a 30 KB thumbnail, kept a month, its thumbnail shown 50 "
        "times and opened full size 5 times:",
        "",
        "| line | dollars |",
        "|---|---:|",
        *(f"| {name} | ${dollars:.6f} |" for name, dollars in one.items() if name != "total"),
        f"| **total** | **${one['total']:.4f}** |",
        "",
        "| scenario, one message in "
        f"{IMAGE_SHARE} with a {IMAGE_MB} MB photo | photos a month | their first month "
        "| traffic without them | per daily user, with them |",
        "|---|---:|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        photos = scenario.messages_per_month / IMAGE_SHARE
        each = image_dollars(size=IMAGE_MB * 2**20, thumb_views=scenario.room_size, full_views=5)[
            "total"
        ]
        traffic = total(bill(month(run, scenario)))
        lines.append(
            f"| {scenario.name} | {photos:,.0f} | ${photos * each:,.2f} | ${traffic:,.2f} | "
            f"${(traffic + photos * each) / scenario.daily_users:.3f} |"
        )
    team = SCENARIOS[0]
    stored_gb = team.messages_per_month / IMAGE_SHARE * IMAGE_MB / 1024
    lines += [
        "",
        "Transfer out is most of a viewed photo's cost: each view is a new presigned GET (a "
        "5-minute address), so a browser's cache does not spare a reload's download. Storage "
        f"is the line that grows: the team's photos add {stored_gb:,.0f} GB a month, "
        f"${PRICES['s3_storage_gb_month'].of(stored_gb * 2**30):,.2f} more on each later "
        "month's bill for as long as they are kept. Not included: each view's request to the "
        "site (`/api/files/<id>/`, Lambda and its REST API) before the GET.",
        "",
    ]
    return lines


def _community_lines(run: Run, large: list[LargeRun]) -> list[str]:
    """10,000 daily users: COMMUNITY_SMALL (the team's rooms, metered) and one room of
    LARGE_ROOM (batched, extrapolated from the large rooms metered)."""
    small = month(run, COMMUNITY_SMALL)
    room = large_month(large)
    reading = _sum(small, room)
    items = bill(reading)
    dollars = total(items)
    room_dollars = total(bill(room))
    online_hours, days = COMMUNITY_SMALL.online_hours, COMMUNITY_SMALL.days
    room_messages = LARGE_RATE * 3600 * online_hours * days
    messages = COMMUNITY_SMALL.messages_per_month + room_messages
    floor = api_messages_dollars(room_messages * LARGE_ROOM)
    room_api = api_messages_dollars(room["apigateway"]["messages"])
    lines = [
        f"## community: 10,000 daily users, one room of {LARGE_ROOM:,} and rooms of 50",
        "",
        f"{COMMUNITY_SMALL.daily_users:,} people in rooms of 50 with the team's habits, and "
        f"{LARGE_ROOM:,} in one room that talks at {LARGE_RATE:.0f} messages a second through "
        f"its {online_hours:.0f} online hours ({room_messages / days / LARGE_ROOM:.0f} messages "
        f"a member a day): {messages:,.0f} messages a month. The large room is batched "
        "(`lambdas/services/batches.py`) and sent no presence lists; it was metered in real "
        f"time ({LARGE_SECONDS:.0f} s at {LARGE_RATE:.0f} messages/s) with "
        f"{' and '.join(str(r.readers) for r in large)} readers, and each count is the "
        f"straight line through the two, at {LARGE_ROOM:,}; its pages' keep-alive pings are "
        "counted as a page that sends its share of the messages pings (a ping once 7 "
        "minutes pass without sending).",
        "",
    ]
    lines += _items_table(items, dollars)
    lines += [
        "",
        f"**${dollars / 10_000:.3f} per daily user a month; ${dollars / messages * 1e6:,.2f} per "
        f"million messages sent.** The large room alone: ${room_dollars:,.2f} a month, of "
        f"which API Gateway ${room_api:,.2f}; delivered one POST per message and reader (the "
        f"floor without batching) its messages alone would be ${floor:,.2f}. "
        + _architectures(reading),
        "",
        "| large room metered | messages | lost | error frames | posts per message and reader "
        "| latency p50 | p99 | max | load average |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {r.readers} | {r.sent} | {r.lost} | {r.errors} | "
            f"{r.posts_per_reader_message:.2f} | {r.latency_ms['p50']:,.0f} ms | "
            f"{r.latency_ms['p99']:,.0f} ms | {r.latency_ms['max']:,.0f} ms | "
            f"{'not recorded' if r.load is None else f'{r.load:.1f}'} |"
            for r in large
        ),
        "",
        "Latency is from a sender's frame to another reader holding the message, on this "
        "machine (2 shared CPUs running the gateway, its functions, dynalite and every "
        f"client): it includes the batch's {_batch_window_ms()} ms window.",
        "",
    ]
    return lines


def _batch_window_ms() -> int:
    from lambdas.config import get_config

    return get_config().batch_window_ms


def _architectures(reading: dict) -> str:
    """The duration priced on each architecture (the template's is the line above)."""
    seconds = sum(f["gb_seconds"] for f in reading["lambda"]["functions"].values())
    on = {a: PRICES[f"lambda_gb_seconds_{a}"].of(seconds) for a in ("x86_64", "arm64")}
    return (
        f"Lambda duration all on x86_64: ${on['x86_64']:,.2f}; all on arm64: "
        f"${on['arm64']:,.2f} (the same durations: this machine cannot time Graviton)."
    )


UTILIZATION = 0.7  # DynamoDB auto scaling's default target


def provisioned(reading: dict, scenario: Scenario, tables: int) -> float:
    """The month's DynamoDB on provisioned capacity: auto scaling holds the busy hours' mean
    rate at UTILIZATION while people are online, and the floor (1 unit per table and index)
    the rest of the month. Peaks inside an hour are not priced (auto scaling lags them)."""
    busy_hours = scenario.online_hours * scenario.days
    dollars = 0.0
    for key, price in (
        ("write_units", PROVISIONED["write_capacity_unit_hour"]),
        ("read_units", PROVISIONED["read_capacity_unit_hour"]),
    ):
        per_second = reading["dynamodb"][key] / (busy_hours * 3600)
        # Reads: an on-demand read unit is a strongly consistent read of 4 KB, a capacity unit
        # one such read a second; both bill eventually consistent reads at half.
        busy = max(tables, per_second / UTILIZATION)
        dollars += price.of(busy * busy_hours + tables * (HOURS_A_MONTH - busy_hours))
    return dollars


def _storage_lines(stored: dict) -> list[str]:
    """DynamoDB storage: what the run left in the tables, per message stored."""
    if not stored.get("messages"):
        return []
    sizes, count = stored["bytes"], stored["messages"]
    per_message = sum(size for name, size in sizes.items() if name.startswith("messages")) / count
    price = PRICES["dynamodb_storage_gb_month"]
    rows = [
        (scenario.name, scenario.messages_per_month) for scenario in (*SCENARIOS, COMMUNITY_SMALL)
    ]
    rows[-1] = (
        "community (its small rooms and the large room)",
        COMMUNITY_SMALL.messages_per_month + LARGE_RATE * 3600 * 8 * 30,
    )
    return [
        "## DynamoDB storage",
        "",
        f"What the runs left in the tables ({count:,} messages), as DynamoDB bills storage "
        "(each item and each index entry, plus 100 bytes): "
        + ", ".join(f"{name} {size / 1024:,.0f} KB" for name, size in sorted(sizes.items()))
        + f". A message takes **{per_message:,.0f} bytes** (its item and its by-rev entry; "
        "its receipt in `client-messages` expires after a day). Storage is the one line that "
        "grows: each month's messages add to every later month's bill for as long as they "
        "are kept (no TTL on messages; connections and rate buckets expire).",
        "",
        "| scenario | messages a month | added each month | its price a month, every month after |",
        "|---|---:|---:|---:|",
        *(
            f"| {name} | {messages:,.0f} | {messages * per_message / 2**30:,.2f} GB "
            f"| ${price.of(messages * per_message):,.2f} |"
            for name, messages in rows
        ),
        "",
    ]


def _provisioned_lines(run: Run, large: list[LargeRun]) -> list[str]:
    lines = [
        "## On-demand or provisioned DynamoDB",
        "",
        f"Provisioned: auto scaling at {UTILIZATION:.0%} utilization of the online hours' mean "
        f"rate, and its floor of 1 unit per table and index ({run.tables} took traffic) the "
        "rest of the month; bursts inside an hour would need more, or throttle.",
        "",
        "| scenario | on-demand | provisioned |",
        "|---|---:|---:|",
    ]
    readings = [(scenario.name, month(run, scenario), scenario) for scenario in SCENARIOS]
    if large:
        community = _sum(month(run, COMMUNITY_SMALL), large_month(large))
        readings.append(("community: 10,000 daily users", community, COMMUNITY_SMALL))
    for name, reading, scenario in readings:
        items = [i for i in bill(reading) if i.name.startswith("DynamoDB")]
        lines.append(
            f"| {name} | ${total(items):,.2f} "
            f"| ${provisioned(reading, scenario, run.tables):,.2f} |"
        )
    return [*lines, ""]


def _always_on_lines(run: Run) -> list[str]:
    fixed = sum(dollars for _, dollars, _ in ALWAYS_ON)
    team = SCENARIOS[0]
    per_user = total(bill(month(run, team))) / team.daily_users
    lines = [
        "## The always-on alternative, and where it crosses over",
        "",
        "Django Channels on two small instances (for one to survive the other), priced, not "
        "metered, at the same date's list prices (bench/prices.py). The site's database is "
        "left out of both: both need it.",
        "",
        "| part | a month |",
        "|---|---:|",
        *(f"| {name} | ${dollars:,.2f} |" for name, dollars, _ in ALWAYS_ON),
        f"| **total, whatever the load up to its capacity** | **${fixed:,.2f}** |",
        "",
        f"This design costs ${per_user:.3f} per daily user a month of the team scenario's "
        f"habits, so the two cost the same at **{fixed / per_user:,.0f} daily users**: below "
        "that serverless is cheaper (and costs nothing idle), above it the pair is, until it "
        "needs more instances. The pair's capacity is not metered here: `make bench`'s "
        "Channels baseline delivers a few thousand messages a second on 2 CPUs, and the team "
        "scenario at 1,000 users needs about 90 deliveries a second in its online hours.",
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


def storage() -> dict:
    """What the tables hold now, as DynamoDB bills storage (item and index entries, each plus
    100 bytes), by table and index; and how many messages are stored."""
    import boto3

    from emulator.dynamodb_meter import stored_bytes
    from lambdas.config import get_config

    config = get_config()
    client = boto3.client(
        "dynamodb", endpoint_url=config.dynamodb_endpoint_url, region_name=config.region
    )
    found: dict[str, int] = {}
    messages = 0
    for name in client.list_tables()["TableNames"]:
        description = client.describe_table(TableName=name)["Table"]
        items = [
            item
            for page in client.get_paginator("scan").paginate(TableName=name)
            for item in page["Items"]
        ]
        base = name.removeprefix(config.table_prefix)
        for key, size in stored_bytes(description, items).items():
            found[key.removeprefix(config.table_prefix)] = size
        if base == "messages":
            messages = len(items)
    return {"bytes": found, "messages": messages}


def _large_check_lines(large: list[LargeRun]) -> list[str]:
    if len(large) < 2:
        return []
    small, big = sorted(large, key=lambda r: r.readers)[:2]
    a, b = small.posts_per_reader_message, big.posts_per_reader_message
    fitted = extrapolated(
        small.per_message, big.per_message, small.readers, big.readers, LARGE_ROOM
    )
    at_room = (fitted["apigateway"]["messages_out"] - 1) / LARGE_ROOM  # less the sender's copy
    return [
        "",
        f"The large room, per message and reader: {a:.2f} POSTs with {small.readers} readers, "
        f"{b:.2f} with {big.readers} (ratio {b / a:.2f}). Not constant: posting to more "
        "readers takes a batch longer, so more messages ride on the next one. The "
        "community's room is each count's straight line through the two runs, which gives "
        f"{at_room:.2f} at {LARGE_ROOM:,}: an extrapolation of this machine's posting speed, "
        f"not a measurement; at {b:.2f} (no better than {big.readers} readers) the room's API "
        f"Gateway messages would cost {b / at_room - 1:.0%} more.",
    ]


async def _main(port: int, keys) -> tuple[list[Run], list[LargeRun]]:
    large = []
    for seed, readers in enumerate(LARGE_SIZES, start=10):
        run = await simulate_large(port, keys, readers=readers, seed=seed)
        print(
            f"large room of {readers}: {run.sent} sent, {run.lost} lost, {run.errors} errors, "
            f"{run.posts_per_reader_message:.2f} posts per message and reader, latency "
            f"p50 {run.latency_ms['p50']:.0f} ms p99 {run.latency_ms['p99']:.0f} ms",
            flush=True,
        )
        large.append(run)
    runs = []
    for seed, rooms in ((1, 1), (2, 2)):
        run = await simulate(port, keys, rooms=rooms, room_size=50, seed=seed)
        print(
            f"{rooms} room(s): {run.sent} sent, {run.errors} errors, per room-hour "
            f"{run.per_room_hour['apigateway']['messages']:,.0f} messages",
            flush=True,
        )
        runs.append(run)
    return runs, large


RUNS = stack.ROOT / "build" / "cost-runs.json"  # what the last run metered (--report re-reads it)


def main() -> None:
    if sys.argv[1:] == ["--report"]:  # the report again, from the last run's readings
        saved = json.loads(RUNS.read_text())
        written = datetime.fromisoformat(saved["written"])
        text = report(
            [Run(**run) for run in saved["runs"]],
            [LargeRun(**run) for run in saved["large"]],
            saved.get("storage", {}),
            saved["seconds"],
            written,
        )
        OUTPUT.write_text(text)
        print(text)
        return
    started = time.monotonic()
    stack.raise_nofile()
    with tempfile.TemporaryDirectory() as work:
        keys = stack.configure(Path(work))
        dynalite = stack.start_dynalite()
        from devstack.dynamodb import free_port

        port = free_port()
        gateway = stack.start_gateway(port, meter_dynamodb=True)
        try:
            runs, large = asyncio.run(_main(port, keys))
            stored = storage()
        finally:
            gateway.stop()
            dynalite.stop()
    seconds = time.monotonic() - started
    RUNS.parent.mkdir(parents=True, exist_ok=True)
    written = datetime.now(UTC)
    RUNS.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "written": written.isoformat(),
                "runs": [asdict(r) for r in runs],
                "large": [asdict(r) for r in large],
                "storage": stored,
            }
        )
    )
    text = report(runs, large, stored, seconds, written)
    OUTPUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
