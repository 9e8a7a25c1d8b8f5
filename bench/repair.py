"""Time to repair: how long after its send a message reaches a client whose live copy was lost.

The real local gateway (process mode, every role enforced) drops a fraction of `@connections`
POSTs after answering 200 (`--post-faults drop=P`: what no server can see). 50 clients of
`bench/ordered.py` sit in one room; 200 messages are sent at 20 per second from rotating
senders. Each message a client holds arrived live or by a repair (`history` `since`, after a
gap or a pong): both latencies are measured from the send, in the same run.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from bench.ordered import OrderedClient
from bench.stack import percentile, start_gateway, websocket_url

CLIENTS = 50
MESSAGES = 200
RATE = 20  # messages per second
LOSSES = (0.01, 0.10)
GIVE_UP = 60.0  # seconds after the last send


async def _measure(port: int, keys, room: str, loss: float) -> dict:
    clients = [
        # A keep-alive after 3 s without sending (the page's 7 minutes would outlast the run):
        # longer than the 2.5 s between one client's sends, so none pings while the room talks.
        OrderedClient(websocket_url(port, keys, user_id=str(3000 + i), room=room), keepalive=3.0)
        for i in range(CLIENTS)
    ]
    await asyncio.gather(*(c.start() for c in clients))
    await asyncio.gather(*(c.loaded.wait() for c in clients))
    sent: dict[str, float] = {}  # clientMessageId -> when sent (time.monotonic)
    for n in range(MESSAGES):
        cmid = f"r{loss}-{n}"
        sent[cmid] = time.monotonic()
        frame = {"action": "sendmessage", "message": f"m{n}", "clientMessageId": cmid}
        await clients[n % CLIENTS].send(frame)
        await asyncio.sleep(1 / RATE)
    last_sent = time.monotonic()
    while time.monotonic() - last_sent < GIVE_UP:
        if all(len(c.log.messages) >= MESSAGES for c in clients):
            break
        await asyncio.sleep(0.05)
    whole = time.monotonic() - last_sent
    live, repaired = [], []
    for client in clients:
        for message_id, message in client.log.messages.items():
            arrived = client.arrivals.get(message_id)
            started = sent.get(message.get("client_message_id"))
            if arrived is None or started is None:
                continue
            (repaired if message_id in client.log.repaired else live).append(arrived - started)
    result = {
        "loss": loss,
        "held": sum(len(c.log.messages) for c in clients),
        "expected": CLIENTS * MESSAGES,
        "repaired": len(repaired),
        "repair_p50": percentile(repaired, 50) * 1000,
        "repair_p99": percentile(repaired, 99) * 1000,
        "live_p50": percentile(live, 50) * 1000,
        "live_p99": percentile(live, 99) * 1000,
        "whole_after": whole,
        "requests": sum(c.log.repairs for c in clients),
        "pong_repairs": sum(c.log.pong_repairs for c in clients),
        "errors": sum(len(c.errors) for c in clients),
    }
    await asyncio.gather(*(c.close() for c in clients))
    return result


def run(*, keys, log) -> dict:
    from chat.services.rooms import room_create
    from devstack.dynamodb import free_port

    rows = []
    for loss in LOSSES:
        port = free_port()
        server = start_gateway(port, post_faults=f"drop={loss},seed=13")
        try:
            room = room_create(
                name=f"repair{uuid.uuid4().hex[:8]}", title="bench", description="", created_by="b"
            ).name
            rows.append(asyncio.run(_measure(port, keys, room, loss)))
            log(f"repair at {loss:.0%} loss: {rows[-1]}")
        except Exception as error:  # reported as a failed row
            rows.append({"loss": loss, "error": f"{type(error).__name__}: {error}"[:200]})
            log(f"repair at {loss:.0%} loss FAILED {rows[-1]['error']}")
        finally:
            server.stop()
    return {"rows": rows}


def report(data: dict) -> str:
    lines = [
        "## Time to repair",
        "",
        f"{CLIENTS} clients of `bench/ordered.py` in one room, {MESSAGES} messages at {RATE}/s "
        "from rotating senders; the gateway drops that fraction of `@connections` POSTs after "
        "answering 200 (`--post-faults drop=P`). *Repair*: from a message's send to its arrival "
        "at a client whose live copy was dropped (found by a gap, or by the pong of a "
        "keep-alive ping: after 3 s without sending here, 7 minutes on the page, which bounds how "
        "late a lost *last* message is found); *live*: the other copies, same run.",
        "",
        "| loss | copies held / expected | repaired | repair p50 | repair p99 | live p50 "
        "| live p99 | all whole after the last send | `since` requests (by a pong) | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in data["rows"]:
        if "error" in row:
            lines.append(f"| {row['loss']:.0%} | failed: {row['error']} |||||||||")
            continue
        lines.append(
            f"| {row['loss']:.0%} | {row['held']:,} / {row['expected']:,} | {row['repaired']:,} "
            f"| {row['repair_p50']:.0f} ms | {row['repair_p99']:.0f} ms "
            f"| {row['live_p50']:.0f} ms | {row['live_p99']:.0f} ms "
            f"| {row['whole_after']:.2f} s | {row['requests']:,} ({row['pong_repairs']:,}) "
            f"| {row['errors']} |"
        )
    return "\n".join(lines) + "\n"
