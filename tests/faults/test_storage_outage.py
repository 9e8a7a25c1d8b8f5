"""DynamoDB down for 5 s: `unavailable` errors, the gateway stays up, nothing is lost."""

import asyncio
import json

from chat.services.rooms import room_create
from devstack.dynamodb import Dynalite, ensure_tables
from lambdas.models import Message
from tests.faults.members import Member, until
from tests.helpers import DEADLINE, bind_config


async def _scenario(storage: Dynalite, url: str, keys, room: str) -> tuple[list[Member], dict]:
    members = [
        Member(
            name=f"out{n}",
            url=url,
            room=room,
            token=keys.token(user_id=str(2000 + n), username=f"out{n}"),
        )
        for n in range(3)
    ]
    stop = asyncio.Event()
    runs = [asyncio.create_task(m.run(stop)) for m in members]
    assert await until(lambda: all(m.connects for m in members))
    for m in members:
        await m.send(f"{m.name}-before", "before the outage")
    assert await until(lambda: not any(m.outbox for m in members))

    storage.stop()
    outage = {}
    for m in members:
        await m.send(f"{m.name}-during", "while storage is down")
    assert await until(lambda: sum(len(m.errors) for m in members) >= len(members))
    # The gateway itself is fine: a route that needs no storage still answers.
    await members[0].ws.send(json.dumps({"action": "ping"}))
    outage["codes"] = sorted({e["code"] for m in members for e in m.errors})
    await asyncio.sleep(5 - 1)
    storage.start()

    # Clients retry what was refused, with the same clientMessageId, as the page does.
    assert await until(lambda: all(m.ws is not None for m in members))
    for m in members:
        await m.resend()
        await m.send(f"{m.name}-after", "after the outage")
    assert await until(lambda: not any(m.outbox for m in members)), "unacknowledged sends"
    for m in members:
        await m.catch_up(full=True)
    await asyncio.wait_for(asyncio.gather(*(m.history_done.wait() for m in members)), DEADLINE)
    stop.set()
    await asyncio.gather(*runs)
    return members, outage


def test_storage_outage(keys, gateway, tmp_path, monkeypatch):
    """Refused sends say `unavailable`; once storage is back every send is stored once."""
    storage = Dynalite(path=tmp_path / "dynalite").start()  # persisted: a restart keeps the data
    bind_config(DYNAMODB_ENDPOINT_URL=storage.endpoint_url)
    try:
        ensure_tables()
        room = room_create(name="outage", title="", description="", created_by="test").name
        members, outage = asyncio.run(_scenario(storage, gateway.websocket_url, keys, room))
        stored = list(Message.query(room))
    finally:
        storage.stop()
        bind_config()

    assert outage["codes"] == ["unavailable"]  # never internal, never "Internal server error"
    assert len(stored) == 3 * 3
    assert len({(m.user_id, m.client_message_id) for m in stored}) == 9
    for member in members:
        assert set(member.seen) == {m.message_id for m in stored}
        assert not member.outbox
