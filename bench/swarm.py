"""A swarm of WebSocket clients in one asyncio process, driven by commands on stdin.

Commands (one per line, answers are one JSON line each):
  open URL N        open N sockets to URL (no auth)          -> {"opened": N}
  wait SEQ N SECS   until N sockets received frame SEQ  -> {"sockets", "frames", "last"}
Every received frame `{"seq": n}` is counted per socket, so losses and duplicates both show;
"last" is the wall-clock time (time.time(), shared by the processes) of the last arrival.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections import defaultdict

import aiohttp

received: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
last_arrival: dict[int, float] = {}  # seq -> wall-clock time its last frame arrived
sockets: list[aiohttp.ClientWebSocketResponse] = []


async def listen(index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
    async for message in ws:
        if message.type == aiohttp.WSMsgType.TEXT:
            seq = json.loads(message.data).get("seq")
            if seq is not None:
                received[seq][index] += 1
                last_arrival[seq] = time.time()


async def open_sockets(session: aiohttp.ClientSession, url: str, count: int) -> int:
    # A bounded number of handshakes at a time: the gateway's accept queue is finite.
    gate = asyncio.Semaphore(100)

    async def one() -> None:
        async with gate:
            ws = await session.ws_connect(url, autoping=True, heartbeat=None)
            index = len(sockets)
            sockets.append(ws)
            asyncio.get_running_loop().create_task(listen(index, ws))

    await asyncio.gather(*(one() for _ in range(count)))
    return len(sockets)


async def wait_for(seq: int, expected: int, seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while len(received[seq]) < expected and loop.time() < deadline:
        await asyncio.sleep(0.02)
    frames = sum(received[seq].values())
    return {"sockets": len(received[seq]), "frames": frames, "last": last_arrival.get(seq)}


async def main() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        print("ready", flush=True)
        while line := await asyncio.to_thread(sys.stdin.readline):
            command, *args = line.split()
            if command == "open":
                answer = {"opened": await open_sockets(session, args[0], int(args[1]))}
            elif command == "wait":
                answer = await wait_for(int(args[0]), int(args[1]), float(args[2]))
            else:
                answer = {"error": command}
            print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
