"""The functions' stdout and stderr as CloudWatch Logs would ingest them: each line passed on,
whole, to the gateway's own stream (the terminal, as when the functions wrote there
themselves), and counted for the meter: each line one log event, billed as its bytes plus
EVENT_OVERHEAD."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

EVENT_OVERHEAD = 26  # bytes CloudWatch Logs counts per event beyond its message
CHUNK = 64 * 1024

Counter = Callable[[int, int], None]  # (events, bytes)


async def forward(stream: asyncio.StreamReader, fd: int, count: Counter | None) -> None:
    """Copy `stream` to file descriptor `fd` line by line until it ends, counting each line."""
    pending = b""
    while chunk := await stream.read(CHUNK):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if lines:
            _emit(lines, fd, count)
    if pending:
        _emit([pending], fd, count)


def _emit(lines: list[bytes], fd: int, count: Counter | None) -> None:
    data = b"".join(line + b"\n" for line in lines)
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass  # the terminal went away: the lines are still counted
    if count is not None:
        count(len(lines), sum(len(line) for line in lines) + EVENT_OVERHEAD * len(lines))


def start_forwarding(process: asyncio.subprocess.Process, count: Counter | None) -> list:
    """Tasks copying a process's piped stdout and stderr to ours (fds 1 and 2)."""
    return [
        asyncio.create_task(forward(stream, fd, count))
        for stream, fd in ((process.stdout, 1), (process.stderr, 2))
        if stream is not None
    ]


async def stop_forwarding(tasks: list, timeout: float = 2.0) -> None:
    """Let the copies finish what the process wrote before it ended (its environments die with
    it, closing the pipes); cancel what still waits after `timeout`."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
