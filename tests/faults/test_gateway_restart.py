"""Fifty clients keep sending while the gateway restarts: nothing acknowledged is lost."""

import asyncio
from collections import defaultdict

from lambdas.models import Message
from tests.faults.members import Member, until
from tests.helpers import DEADLINE, RestartableGateway

CLIENTS = 50
ROUNDS = 3


async def _scenario(gateway: RestartableGateway, url: str, keys, room: str) -> list[Member]:
    members = [
        Member(
            name=f"user{n}",
            url=url,
            room=room,
            token=keys.token(user_id=str(1000 + n), username=f"user{n}"),
        )
        for n in range(CLIENTS)
    ]
    stop = asyncio.Event()
    runs = [asyncio.create_task(member.run(stop)) for member in members]
    assert await until(lambda: all(m.connects for m in members))
    for round_ in range(ROUNDS):
        for member in members:
            await member.send(f"{member.name}-{round_}", f"{member.name} says {round_}")
        if round_ == 0:
            # The outage: every socket is closed (1001) and nobody can connect for a second,
            # while the clients keep "sending" (their messages wait in their outboxes).
            await asyncio.to_thread(gateway.stop)
            for member in members:
                await member.send(f"{member.name}-down", f"{member.name} during the outage")
            await asyncio.sleep(1)
            await asyncio.to_thread(gateway.start)
        await asyncio.sleep(0.2)
    assert await until(lambda: not any(m.outbox for m in members), 90), "unacknowledged sends"
    # Recovery: each client re-reads the room once, filling any gap a failed delivery left.
    for member in members:
        await member.catch_up(full=True)
    await asyncio.wait_for(asyncio.gather(*(m.history_done.wait() for m in members)), DEADLINE)
    stop.set()
    await asyncio.gather(*runs)
    return members


def test_every_acknowledged_message_reaches_every_client_once(keys, dynamodb, make_room):
    """After the restart and catch-up, all clients hold exactly the stored messages, each once."""
    room = make_room()
    gateway = RestartableGateway()
    url = gateway.start().websocket_url
    try:
        members = asyncio.run(_scenario(gateway, url, keys, room))
    finally:
        gateway.restore()

    stored = list(Message.query(room))
    sends_per_client = ROUNDS + 1
    assert len(stored) == CLIENTS * sends_per_client  # every send stored exactly once
    by_send = defaultdict(list)
    for message in stored:
        by_send[(message.user_id, message.client_message_id)].append(message.message_id)
    assert all(len(ids) == 1 for ids in by_send.values())
    stored_ids = {m.message_id for m in stored}
    acked = {mid for member in members for mid in member.acked.values()}
    assert acked == stored_ids  # every acknowledgement names a stored message
    for member in members:
        assert set(member.seen) == stored_ids, member.name  # delivered (live or caught up)
        assert len(member.acked) == sends_per_client
    assert sum(m.connects for m in members) >= 2 * CLIENTS  # everyone really reconnected
