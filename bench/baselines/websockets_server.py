"""A raw `websockets` broadcast server, the end-to-end benchmark's lower bound: every text frame
a client sends goes, unchanged, to every client connected to the same path (its room).

    python -m bench.baselines.websockets_server --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict

from websockets.asyncio.server import ServerConnection, broadcast, serve

rooms: dict[str, set[ServerConnection]] = defaultdict(set)


async def chat(ws: ServerConnection) -> None:
    """Join the room named by the path for as long as the socket is open; relay what it sends."""
    members = rooms[ws.request.path]
    members.add(ws)
    try:
        async for frame in ws:
            # broadcast() writes to every socket synchronously, without awaiting any of them.
            broadcast(members, frame)
    finally:
        members.discard(ws)


async def main(host: str, port: int) -> None:
    async with serve(chat, host, port) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
