"""Authenticated chat clients on asyncio for the end-to-end benchmark and the load test."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict

import aiohttp


class ChatClient:
    """One real WebSocket through the gateway's $connect; records when each frame arrived."""

    def __init__(self, index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.index, self.ws = index, ws
        self.messages: dict[str, list[float]] = defaultdict(list)  # clientMessageId -> arrivals
        self.counts: dict[str, int] = defaultdict(int)  # frame type -> how many
        self.errors: list[dict] = []
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            arrived = time.perf_counter()
            frame = json.loads(message.data)
            kind = frame.get("type", "?")
            self.counts[kind] += 1
            if kind == "message" and frame.get("client_message_id"):
                self.messages[frame["client_message_id"]].append(arrived)
            elif kind == "error":
                self.errors.append(frame)

    async def send(self, frame: dict) -> float:
        sent = time.perf_counter()
        await self.ws.send_str(json.dumps(frame))
        return sent

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


async def open_clients(
    session: aiohttp.ClientSession, urls: list[str], *, at_once: int = 50
) -> list[ChatClient]:
    """Connect every URL (a token and a room each), a bounded number of handshakes at a time."""
    gate = asyncio.Semaphore(at_once)

    async def one(index: int, url: str) -> ChatClient:
        async with gate:
            # No receive timeout: a member of a quiet room may hear nothing for minutes, and a
            # timed-out receive would end its reader and count its frames as lost.
            timeout = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10)
            ws = await session.ws_connect(url, heartbeat=None, timeout=timeout)
            return ChatClient(index, ws)

    return list(await asyncio.gather(*(one(i, url) for i, url in enumerate(urls))))
