"""Chat clients on asyncio for the end-to-end benchmark and the load test, and the wire formats
that let one client drive DynamoWave and the baselines alike.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from typing import Protocol

import aiohttp


class Wire(Protocol):
    """How one server's chat frames look: what a client sends, how a delivery is recognised."""

    def send_frame(self, *, text: str, message_id: str) -> dict: ...
    def kind(self, frame: dict) -> str: ...
    def message_id(self, frame: dict) -> str | None: ...


class DynamoWaveWire:
    """DynamoWave's frames: `sendmessage` out; `{"type": "message", "client_message_id"}` back."""

    def send_frame(self, *, text: str, message_id: str) -> dict:
        return {"action": "sendmessage", "message": text, "clientMessageId": message_id}

    def kind(self, frame: dict) -> str:
        return frame.get("type", "?")

    def message_id(self, frame: dict) -> str | None:
        return frame.get("client_message_id") if frame.get("type") == "message" else None


class EchoWire:
    """The baselines' frames: `{"message", "id"}` out, the same JSON back to every member."""

    def send_frame(self, *, text: str, message_id: str) -> dict:
        return {"message": text, "id": message_id}

    def kind(self, frame: dict) -> str:
        return "message" if "id" in frame else "?"

    def message_id(self, frame: dict) -> str | None:
        return frame.get("id")


DYNAMOWAVE_WIRE, ECHO_WIRE = DynamoWaveWire(), EchoWire()


class ChatClient:
    """One real WebSocket; records when each frame arrived, keyed by the sender's message id."""

    def __init__(
        self,
        index: int,
        ws: aiohttp.ClientWebSocketResponse,
        *,
        wire: Wire = DYNAMOWAVE_WIRE,
        connect_seconds: float = 0.0,
    ) -> None:
        self.index, self.ws, self.wire = index, ws, wire
        self.connect_seconds = connect_seconds  # the handshake (for DynamoWave: + $connect)
        self.messages: dict[str, list[float]] = defaultdict(list)  # message id -> arrivals
        self.counts: dict[str, int] = defaultdict(int)  # frame type -> how many
        self.errors: list[dict] = []
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            arrived = time.perf_counter()
            frame = json.loads(message.data)
            kind = self.wire.kind(frame)
            self.counts[kind] += 1
            if message_id := self.wire.message_id(frame):
                self.messages[message_id].append(arrived)
            elif kind == "error":
                self.errors.append(frame)

    async def send(self, frame: dict) -> float:
        sent = time.perf_counter()
        await self.ws.send_str(json.dumps(frame))
        return sent

    async def send_message(self, *, text: str, message_id: str) -> float:
        """Send a chat message in this server's wire format; returns when it was sent."""
        return await self.send(self.wire.send_frame(text=text, message_id=message_id))

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


async def open_clients(
    session: aiohttp.ClientSession,
    urls: list[str],
    *,
    at_once: int = 50,
    wire: Wire = DYNAMOWAVE_WIRE,
) -> list[ChatClient]:
    """Connect every URL (for DynamoWave: a token and a room each), a bounded number of
    handshakes at a time."""
    gate = asyncio.Semaphore(at_once)

    async def one(index: int, url: str) -> ChatClient:
        async with gate:
            # No receive timeout: a member of a quiet room may hear nothing for minutes, and a
            # timed-out receive would end its reader and count its frames as lost.
            timeout = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10)
            started = time.perf_counter()
            ws = await session.ws_connect(url, heartbeat=None, timeout=timeout)
            return ChatClient(index, ws, wire=wire, connect_seconds=time.perf_counter() - started)

    return list(await asyncio.gather(*(one(i, url) for i, url in enumerate(urls))))
