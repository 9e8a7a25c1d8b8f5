"""A reference client of DynamoWave's ordered delivery (README, "Delivery you can count on"):
it shows every message of its room exactly once, in order, repairing what live delivery lost.

`RoomLog` is the protocol without a transport: feed it each frame the server sends and send
what it answers. `OrderedClient` runs it on one WebSocket (websockets' asyncio client), for the
fault tests and the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from bench.page_model import ANSWERED_ACTIONS, KEEPALIVE_MS

CHANGE_FRAMES = ("message", "message_updated", "message_deleted")


@dataclass
class RoomLog:
    """Every change up to `position` is held (or known to be empty for good); numbers held
    beyond it wait in `ahead`, and `latest` is the highest number the server has named. A
    number held beyond `position + 1`, or a `pong` naming one beyond what is held, is a gap:
    if it is still open `grace` seconds later (live frames of concurrent sends often arrive
    out of order), the log asks `since` its position, one request at a time; numbers the
    answer calls pending (taken by a write that may yet land) are asked for again later."""

    grace: float = 0.3
    answer_timeout: float = 10.0  # an unanswered `since` (lost, or refused) is asked again
    asked_at: float = 0.0
    messages: dict[str, dict] = field(default_factory=dict)  # id -> the newest state held
    position: int | None = None
    latest: int = 0
    ahead: set[int] = field(default_factory=set)
    asking: bool = False
    gap_since: float | None = None
    retry_at: float | None = None  # when to ask again for numbers still pending
    retry_delay: float = 0.5
    repairs: int = 0  # `since` requests sent
    pong_repairs: int = 0  # of them, for a gap only a pong revealed (a lost last change)
    repaired: dict[str, float] = field(default_factory=dict)  # id -> when a repair brought it

    def receive(self, frame: dict, now: float | None = None) -> list[dict]:
        """Apply one server frame; the frames to send back (a `since` request, or none)."""
        now = time.monotonic() if now is None else now
        kind = frame.get("type")
        if kind in CHANGE_FRAMES:
            self._apply(frame)
            self._note(frame.get("rev"))
        elif kind == "history" and "since" in frame:
            return self._answered(frame, now)
        elif kind == "changes":  # a large room's batch: several changes, each as it is now
            for message in frame.get("messages", []):
                self._apply(message)
                self._note(message.get("rev"))
            for first, last in frame.get("empty", []):
                self._note_range(first, last)
        elif kind == "history":
            for message in frame.get("messages", []):
                self._apply(message)
                self._note(message.get("rev"))
            if self.position is None and isinstance(frame.get("rev"), int):
                self.position = frame["rev"]
                self.ahead = {n for n in self.ahead if n > self.position}
                self._advance()
        elif kind == "pong" and isinstance(frame.get("rev"), int):
            self.latest = max(self.latest, frame["rev"])
        return self.due(now)

    def due(self, now: float | None = None) -> list[dict]:
        """A `since` request if a gap has been open longer than `grace`, or pending numbers
        are due to be asked for again."""
        now = time.monotonic() if now is None else now
        if self.asking and now - self.asked_at > self.answer_timeout:
            self.asking = False
        if self.position is None or self.asking:
            return []
        if not self._gap():
            self.gap_since = None
            return []
        if self.retry_at is not None:
            if now < self.retry_at:
                return []
        elif self.gap_since is None:
            self.gap_since = now
            return []
        elif now - self.gap_since < self.grace:
            return []
        self.retry_at = None
        if not self.ahead:
            self.pong_repairs += 1
        self.asking, self.asked_at, self.repairs = True, now, self.repairs + 1
        return [{"action": "history", "since": self.position}]

    def settled(self) -> bool:
        """Nothing to repair: no gap open and no `since` request waiting for its answer (an
        answer computed later would bring whatever was stored meanwhile)."""
        return self.position is not None and not self.asking and not self._gap()

    def ordered(self) -> list[dict]:
        """The messages as the page shows them: by their place in the room."""
        return sorted(self.messages.values(), key=lambda m: (m.get("seq") or 0, m["id"]))

    # -- internals ------------------------------------------------------------------------

    def _apply(self, frame: dict) -> None:
        if "id" not in frame:
            return
        held = self.messages.get(frame["id"])
        if held is not None and (held.get("rev") or 0) >= (frame.get("rev") or 0):
            return  # a late copy of a state already held
        if frame.get("type") == "message_deleted":
            if held is None:
                return  # not held: nothing to remove (history shows it deleted if asked)
            frame = {**held, "deleted": True, "text": "", "rev": frame.get("rev")}
        self.messages[frame["id"]] = {**frame, "type": "message"}

    def _note(self, rev: object) -> None:
        if not isinstance(rev, int) or (self.position is not None and rev <= self.position):
            return
        self.ahead.add(rev)  # before the first page too: the page's `rev` then prunes them
        self.latest = max(self.latest, rev)
        self._advance()

    def _note_range(self, first: int, last: int) -> None:
        """Numbers first..last known empty: a range that starts at the position moves it in one
        step (a Region's takeover jumps 10^6 numbers: docs/multi-region.md)."""
        if self.position is not None and first <= self.position + 1 <= last:
            self.position = last
            self.latest = max(self.latest, last)
            self.ahead = {n for n in self.ahead if n > last}
            self._advance()
            return
        for number in range(first, last + 1):
            self._note(number)

    def _advance(self) -> None:
        while self.position is not None and self.position + 1 in self.ahead:
            self.position += 1
            self.ahead.remove(self.position)

    def _gap(self) -> bool:
        return self.position is not None and (bool(self.ahead) or self.latest > self.position)

    def _answered(self, frame: dict, now: float) -> list[dict]:
        self.asking = False
        for message in frame.get("messages", []):
            if message.get("id") not in self.messages:
                self.repaired[message["id"]] = now
            self._apply(message)
            self._note(message.get("rev"))
        for first, last in frame.get("empty", []):
            self._note_range(first, last)
        if frame.get("has_more"):
            self.retry_at = now  # the rest at once
        elif self.position is not None and self.position < frame.get("to", 0):
            # Numbers still pending: taken by a write that may yet land. Ask again later.
            self.retry_at = now + self.retry_delay
            self.retry_delay = min(self.retry_delay * 2, 8.0)
        else:
            self.retry_delay = 0.5
            self.gap_since = now if self._gap() else None  # a newer gap: its own grace
        return self.due(now)


class OrderedClient:
    """One WebSocket in a room driving a RoomLog: loads the newest page, repairs gaps, and
    pings as the page does: once `keepalive` seconds pass without it sending a message or a
    ping (7 minutes on the page: bench/page_model.py), so a lost last message is found by a
    pong within that interval."""

    def __init__(self, url: str, *, keepalive: float = KEEPALIVE_MS / 1000) -> None:
        self.url, self.keepalive = url, keepalive
        self.log = RoomLog()
        self.ws = None
        self.errors: list[dict] = []
        self.arrivals: dict[str, float] = {}  # id -> when first held (time.monotonic)
        self.frames: Counter[str] = Counter()  # frames received, by type
        self.next_ping = time.monotonic() + keepalive
        self.loaded = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> OrderedClient:
        # No keep-alive pings of the library's own (every 20 s, closing the socket when a pong
        # is 20 s late, as on a loaded machine): the page sends none, API Gateway needs none.
        self.ws = await connect(self.url, open_timeout=10, max_queue=None, ping_interval=None)
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._tick())]
        await self.send({"action": "history"})
        return self

    async def send(self, frame: dict) -> None:
        with contextlib.suppress(WebSocketException):
            await self.ws.send(json.dumps(frame))
        if frame.get("action") in ANSWERED_ACTIONS:  # as the page's keep-alive counts
            self.next_ping = time.monotonic() + self.keepalive

    async def _read(self) -> None:
        with contextlib.suppress(WebSocketException):
            async for raw in self.ws:
                frame = json.loads(raw)
                self.frames[frame.get("type")] += 1
                if frame.get("type") == "error":
                    self.errors.append(frame)
                    continue
                if frame.get("type") == "history" and "since" not in frame:
                    self.loaded.set()
                held = len(self.log.messages)
                replies = self.log.receive(frame)
                if len(self.log.messages) > held:
                    now = time.monotonic()
                    for message_id in self.log.messages.keys() - self.arrivals.keys():
                        self.arrivals[message_id] = now
                for reply in replies:
                    await self.send(reply)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            for reply in self.log.due():
                await self.send(reply)
            now = time.monotonic()
            if now >= self.next_ping:
                self.next_ping = now + self.keepalive  # a stalled loop pings once, not many
                await self.send({"action": "ping"})

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(WebSocketException):
            await self.ws.close()
