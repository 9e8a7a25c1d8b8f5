"""Load: 1,000 concurrent WebSocket clients on the local stack for 60 s with mixed traffic.

Clients join rooms of ROOM_SIZE (one room of 1,000 would make the joins alone cost half a million
presence posts); together they send messages, typing notices and history requests at fixed
aggregate rates. Every message must reach every member of its room exactly once, every history
request must be answered, and the gateway's RSS is sampled throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
import uuid

import aiohttp

from bench.chat import open_clients
from bench.stack import percentile, start_gateway, websocket_url

CLIENTS = 1_000
ROOM_SIZE = 20
SECONDS = 60.0
RATES = {"sendmessage": 8.0, "typing": 8.0, "history": 4.0}  # frames/s over all clients
SAMPLE_EVERY = 2.0
WARM_UP = 15.0  # seconds of traffic before RSS counts as "after warm-up"


async def _traffic(clients, rooms, sent: dict, counts: dict) -> None:
    rng = random.Random(6)
    total_rate = sum(RATES.values())
    kinds, weights = list(RATES), list(RATES.values())
    start, i = time.perf_counter(), 0
    while time.perf_counter() - start < SECONDS:
        i += 1
        await asyncio.sleep(max(0.0, start + i / total_rate - time.perf_counter()))
        client = rng.choice(clients)
        kind = rng.choices(kinds, weights)[0]
        counts[kind] += 1
        if kind == "sendmessage":
            message_id = f"load-{i}"
            sent[message_id] = (
                rooms[client.index],
                await client.send(
                    {"action": kind, "message": f"load {i}", "clientMessageId": message_id}
                ),
            )
        elif kind == "history":
            await client.send({"action": "history", "limit": 20})
        else:
            await client.send({"action": "typing"})


async def _sample(process, samples: list, stop: asyncio.Event, start: float) -> None:
    while not stop.is_set():
        samples.append((time.perf_counter() - start, process.rss_mb()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)


async def _run(port: int, keys, gateway, log) -> dict:
    from chat.services.rooms import room_create

    names = [
        room_create(
            name=f"load-{uuid.uuid4().hex[:8]}", title="load", description="", created_by="bench"
        ).name
        for _ in range(CLIENTS // ROOM_SIZE)
    ]
    rooms = [names[i // ROOM_SIZE] for i in range(CLIENTS)]
    urls = [websocket_url(port, keys, user_id=str(5000 + i), room=rooms[i]) for i in range(CLIENTS)]
    samples: list[tuple[float, float]] = []
    stop = asyncio.Event()
    start = time.perf_counter()
    sampler = asyncio.get_running_loop().create_task(_sample(gateway, samples, stop, start))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        clients = await open_clients(session, urls, at_once=20)
        connected = time.perf_counter() - start
        log(
            f"load: {len(clients)} clients connected in {connected:.1f}s, "
            f"RSS {gateway.rss_mb():.0f} MB"
        )
        await asyncio.sleep(3)
        sent: dict[str, tuple[str, float]] = {}
        counts = {kind: 0 for kind in RATES}
        traffic_start = time.perf_counter() - start
        for c in clients:
            c.counts.clear()
        await _traffic(clients, rooms, sent, counts)
        traffic_end = time.perf_counter() - start
        members = {room: [c for c in clients if rooms[c.index] == room] for room in names}
        deadline = time.perf_counter() + 60
        expected = sum(len(members[room]) for room, _ in sent.values())
        while time.perf_counter() < deadline:
            got = sum(
                1 for m, (room, _) in sent.items() for c in members[room] if c.messages.get(m)
            )
            answered = sum(c.counts.get("history", 0) for c in clients)
            if got >= expected and answered >= counts["history"]:
                break
            await asyncio.sleep(0.5)
        drained = time.perf_counter() - start
        stop.set()
        await sampler
        lost = duplicates = 0
        latencies = []
        for message_id, (room, sent_at) in sent.items():
            for c in members[room]:
                arrivals = c.messages.get(message_id, [])
                lost += not arrivals
                duplicates += max(0, len(arrivals) - 1)
                if arrivals:
                    latencies.append(arrivals[0] - sent_at)
        errors = [e for c in clients for e in c.errors]
        # A socket closed or a reader stopped before the end would show up as losses.
        dropped = sum(1 for c in clients if c.ws.closed or c.reader.done())
        typing_frames = sum(c.counts.get("typing", 0) for c in clients)
        await asyncio.gather(*(c.close() for c in clients))
    after = [rss for t, rss in samples if traffic_start + WARM_UP <= t <= traffic_end]
    half = len(after) // 2
    return {
        "clients": len(clients),
        "connect_seconds": connected,
        "counts": counts,
        "deliveries_expected": expected,
        "lost": lost,
        "duplicates": duplicates,
        "history_answered": sum(c.counts.get("history", 0) for c in clients),
        "typing_frames": typing_frames,
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "errors": len(errors),
        "dropped": dropped,
        "error_codes": sorted({e.get("code", "?") for e in errors}),
        "samples": samples,
        "traffic": (traffic_start, traffic_end, drained),
        "rss_first_half": statistics.mean(after[:half]) if half else float("nan"),
        "rss_second_half": statistics.mean(after[half:]) if half else float("nan"),
    }


def run(*, port: int, keys, log) -> dict:
    gateway = start_gateway(port)
    try:
        return asyncio.run(_run(port, keys, gateway, log))
    finally:
        gateway.stop()


def report(data: dict) -> str:
    start, end, drained = data["traffic"]
    growth = data["rss_second_half"] / data["rss_first_half"] - 1
    flat = abs(growth) < 0.05
    lost_ok = data["lost"] == 0 and data["duplicates"] == 0
    history_ok = data["history_answered"] >= data["counts"]["history"]
    series = ", ".join(f"{t:.0f}s {rss:.0f}" for t, rss in data["samples"])
    lines = [
        "## Load: 1,000 concurrent clients for 60 s (make load)",
        "",
        f"`python -m emulator` + dynalite; {data['clients']:,} real WebSocket "
        f"clients (authorizer, $connect) in rooms of {ROOM_SIZE}, connected in "
        f"{data['connect_seconds']:.0f} s; then {SECONDS:.0f} s of mixed traffic at "
        + ", ".join(f"{rate:g}/s {kind}" for kind, rate in RATES.items())
        + " (all clients together, random senders).",
        "",
        "| figure | value | target | met |",
        "|---|---:|---|---|",
        f"| frames sent | {sum(data['counts'].values()):,} ("
        + ", ".join(f"{n:,} {kind}" for kind, n in data["counts"].items())
        + ") | | |",
        f"| message deliveries lost / duplicated | {data['lost']} / {data['duplicates']} "
        f"of {data['deliveries_expected']:,} | 0 lost | {'yes' if lost_ok else '**no**'} |",
        f"| history requests answered | {data['history_answered']:,} of "
        f"{data['counts']['history']:,} | all | {'yes' if history_ok else '**no**'} |",
        f"| typing frames received | {data['typing_frames']:,} | | |",
        f"| message latency p50 / p99 | {data['p50']:.0f} / {data['p99']:.0f} ms | | |",
        f"| clients whose socket closed before the end | {data.get('dropped', 0)} | 0 | "
        f"{'yes' if not data.get('dropped') else '**no**'} |",
        f"| error frames | {data['errors']} {data['error_codes'] or ''} | 0 | "
        f"{'yes' if not data['errors'] else '**no**'} |",
        f"| gateway RSS, mean of 1st / 2nd half after {WARM_UP:.0f} s warm-up "
        f"| {data['rss_first_half']:.0f} / {data['rss_second_half']:.0f} MB ({growth:+.1%}) "
        f"| flat (within ±5%) | {'yes' if flat else '**no**'} |",
        "",
        "Latency has no target here; it is high because the one gateway process (event "
        "loop, handlers and boto3 posts under one GIL) is CPU-bound on this shared 2-CPU "
        "machine, so frames queue (see the end-to-end section). RSS rises while the clients "
        "connect and the first traffic warms the pools, then stays flat.",
        "",
        f"Gateway RSS (MB) over time (traffic from {start:.0f} s to {end:.0f} s, drained at "
        f"{drained:.0f} s): {series}",
    ]
    return "\n".join(lines) + "\n"
