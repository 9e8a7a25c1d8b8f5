"""A chat client for fault tests: reconnects, re-sends what was not acknowledged, catches up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass, field
from urllib.parse import urlencode

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, WebSocketException

from bench.stack import until  # noqa: F401 (polls up to 60 s, the tests' DEADLINE)

FIRST = "0" * 26  # sorts before every message id: "after FIRST" is the whole history


@dataclass
class Member:
    """What a real client keeps: messages by id, and its own sends until they are echoed."""

    name: str
    url: str
    token: str
    room: str
    seen: dict[str, dict] = field(default_factory=dict)  # message id -> frame (deduplicated)
    outbox: dict[str, str] = field(default_factory=dict)  # clientMessageId -> text, unacked
    acked: dict[str, str] = field(default_factory=dict)  # clientMessageId -> message id
    errors: list[dict] = field(default_factory=list)
    connects: int = 0
    ws: object = None
    history_done: asyncio.Event = field(default_factory=asyncio.Event)

    def _record(self, frame: dict) -> None:
        self.seen[frame["id"]] = frame
        cmid = frame.get("client_message_id")
        if frame["user"]["username"] == self.name and cmid in self.outbox:
            del self.outbox[cmid]
            self.acked[cmid] = frame["id"]

    async def _read(self, ws) -> None:
        with contextlib.suppress(WebSocketException):  # a dropped socket: run() reconnects
            await self._read_frames(ws)

    async def _read_frames(self, ws) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "message":
                self._record(frame)
            elif kind == "history":
                for message in frame["messages"]:
                    self._record(message)
                if frame["has_more"] and frame["messages"]:
                    await self._history_after(ws, frame["messages"][-1]["id"])
                else:
                    self.history_done.set()
            elif kind == "error":
                self.errors.append(frame)

    async def _history_after(self, ws, after: str | None) -> None:
        request = {"action": "history", "limit": 100}
        if after:
            request["after"] = after
        await ws.send(json.dumps(request))

    async def send(self, cmid: str, text: str) -> None:
        """Queue a message; it goes now if connected, else after the next reconnect."""
        self.outbox[cmid] = text
        if self.ws is not None:
            with contextlib.suppress(WebSocketException):
                await self.ws.send(
                    json.dumps({"action": "sendmessage", "message": text, "clientMessageId": cmid})
                )

    async def resend(self) -> None:
        for cmid, text in list(self.outbox.items()):
            await self.send(cmid, text)

    async def catch_up(self, *, full: bool = False) -> None:
        """Ask for everything after the newest message held, or (`full`) the whole history.

        Catching up after the newest id cannot fill a gap in the middle: a live delivery that
        failed even after fan-out's retries. `full` re-reads the room from its first message.
        """
        self.history_done.clear()
        after = FIRST if full or not self.seen else max(self.seen)
        if self.ws is not None:
            with contextlib.suppress(WebSocketException):
                await self._history_after(self.ws, after)

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until `stop`: reconnect with jittered backoff, catch up, re-send."""
        delay = 0.1
        while not stop.is_set():
            query = urlencode({"token": self.token, "room": self.room})
            try:
                async with connect(f"{self.url}?{query}", open_timeout=5) as ws:
                    self.ws, delay = ws, 0.1
                    self.connects += 1
                    await self.catch_up()
                    await self.resend()
                    reader = asyncio.create_task(self._read(ws))
                    stopper = asyncio.create_task(stop.wait())
                    await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    stopper.cancel()
                    if not reader.done():
                        reader.cancel()
            except (OSError, InvalidHandshake, WebSocketException, TimeoutError):
                pass
            finally:
                self.ws = None
            if not stop.is_set():
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 1.0)
