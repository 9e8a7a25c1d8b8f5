"""Batched delivery in large rooms (lambdas/services/batches.py), through the real gateway and
dynalite: with BATCH_ROOM_SIZE lowered to 2, a room of 4 online is large. Every client ends with
every change exactly once and in order, in fewer frames than changes; the sender hears its own
message at once; edits, reactions and deletions go in batches too."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from bench.ordered import OrderedClient
from lambdas.models import Message, Room, utcnow
from lambdas.protocol import FRAME_UNIT, batch_frames
from lambdas.services.batches import _position
from lambdas.services.changes import Changes
from tests.faults.members import until
from tests.faults.test_ordered_delivery import ordered_clients

ONLINE = 4


@pytest.fixture
def large(configure):
    """Rooms of more than 2 online are large; presence lists still go to rooms of 4."""
    configure(BATCH_ROOM_SIZE=2, BATCH_WINDOW_MS=300)


async def _room_of(gateway, keys, room: str, count: int, tag: str) -> list[OrderedClient]:
    clients = await ordered_clients(gateway, keys, room, count, tag, keepalive=30.0)
    # The room's online count, which makes it large, is stored with each presence list.
    await clients[-1].send({"action": "presence"})
    assert await until(lambda: (Room.get(room).online or 0) == count)
    return clients


def test_a_burst_reaches_everyone_in_order_once_in_fewer_frames(gateway, keys, room, large):
    async def scenario():
        clients = await _room_of(gateway, keys, room, ONLINE, "batch")
        try:
            for n in range(12):
                sender = clients[n % ONLINE]
                frame = {"action": "sendmessage", "message": f"b{n}", "clientMessageId": f"b{n}"}
                await sender.send(frame)
                await asyncio.sleep(0.05)
            assert await until(lambda: all(c.log.position == 12 for c in clients)), [
                (c.log.position, c.errors) for c in clients
            ]
            stored = [m.message_id for m in sorted(Message.query(room), key=lambda m: m.seq)]
            for client in clients:
                assert [m["id"] for m in client.log.ordered()] == stored
                assert client.frames["message_updated"] == 0
                # One message each was its own acknowledgement; the rest came in batches.
                assert client.frames["message"] == 3
                assert client.frames["changes"] < 12 / 2, client.frames
                assert client.log.repairs == 0  # nothing was missed, so nothing was asked
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    asyncio.run(scenario())
    assert Room.get(room).flush_by is None  # the batch ended: the next change starts one


def test_the_sender_hears_its_message_at_once_without_its_number(gateway, keys, room, large):
    async def scenario():
        clients = await _room_of(gateway, keys, room, ONLINE, "ack")
        sender = clients[0]
        raw: list[dict] = []
        original = sender.log.receive

        def receive(frame, now=None):
            raw.append(frame)
            return original(frame, now)

        sender.log.receive = receive
        try:
            await sender.send({"action": "sendmessage", "message": "hi", "clientMessageId": "a"})
            assert await until(lambda: sender.log.position == 1)
            frames = [f for f in raw if f["type"] in ("message", "changes")]
            assert [f["type"] for f in frames] == ["message", "changes"]
            ack, batch = frames
            assert "rev" not in ack and ack["client_message_id"] == "a"
            assert [m["client_message_id"] for m in batch["messages"]] == ["a"]
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    asyncio.run(scenario())


def test_a_reply_goes_in_a_batch_with_its_parents_summary(gateway, keys, room, large):
    """A reply and its parent's new summary share one number: the sender's acknowledgement
    names neither's (parent included), and the batch brings both items under it."""

    async def scenario():
        clients = await _room_of(gateway, keys, room, ONLINE, "reply")
        sender = clients[0]
        raw: list[dict] = []
        original = sender.log.receive

        def receive(frame, now=None):
            raw.append(frame)
            return original(frame, now)

        sender.log.receive = receive
        try:
            await sender.send({"action": "sendmessage", "message": "root", "clientMessageId": "r"})
            assert await until(lambda: all(c.log.position == 1 for c in clients))
            (parent,) = sender.log.ordered()
            raw.clear()
            reply = {"action": "sendmessage", "message": "re", "thread": parent["id"]}
            await sender.send(reply)
            assert await until(lambda: all(c.log.position == 2 for c in clients))
            ack = next(f for f in raw if f["type"] == "message")
            assert "rev" not in ack and "rev" not in ack["parent"]
            assert ack["parent"]["replies"]["count"] == 1
            batch = next(f for f in raw if f["type"] == "changes" and f["messages"])
            assert sorted((m["id"], m["rev"]) for m in batch["messages"]) == sorted(
                [(parent["id"], 2), (ack["id"], 2)]
            )
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    asyncio.run(scenario())


def test_edits_reactions_and_deletions_go_in_batches(gateway, keys, room, large):
    async def scenario():
        clients = await _room_of(gateway, keys, room, ONLINE, "change")
        author, other = clients[0], clients[1]
        try:
            await author.send({"action": "sendmessage", "message": "one", "clientMessageId": "1"})
            await author.send({"action": "sendmessage", "message": "two", "clientMessageId": "2"})
            assert await until(lambda: all(c.log.position == 2 for c in clients))
            first, second = (m["id"] for m in author.log.ordered())
            await author.send({"action": "editmessage", "id": first, "message": "one, edited"})
            assert await until(lambda: author.log.position == 3)
            await other.send({"action": "react", "id": first, "emoji": "🎉"})
            assert await until(lambda: author.log.position == 4)
            await author.send({"action": "deletemessage", "id": second})
            assert await until(lambda: all(c.log.position == 5 for c in clients))
            for client in clients:
                held = {m["id"]: m for m in client.log.ordered()}
                assert held[first]["text"] == "one, edited"
                assert [r["emoji"] for r in held[first]["reactions"]] == ["🎉"]
                assert held[second]["deleted"] is True and held[second]["text"] == ""
                assert client.frames["message_updated"] == client.frames["message_deleted"] == 0
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    asyncio.run(scenario())


def test_a_dead_batchs_lease_is_taken_over(gateway, keys, room, large):
    """A batch that died holding the lease: after LEASE_MS the next change takes it over."""

    async def scenario():
        clients = await _room_of(gateway, keys, room, ONLINE, "dead")
        long_ago = int((utcnow() - timedelta(seconds=60)).timestamp() * 1000)
        Room(room).update(actions=[Room.flush_by.set("dead"), Room.flush_at.set(long_ago)])
        try:
            await clients[0].send({"action": "sendmessage", "message": "x", "clientMessageId": "x"})
            assert await until(lambda: all(c.log.position == 1 for c in clients))
            assert all(c.frames["changes"] == 1 for c in clients)
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    asyncio.run(scenario())


def test_a_batch_shards_a_room_through_the_fan_out_functions_own_alias(
    gateway, keys, room, configure
):
    """With FANOUT_SHARD_SIZE=2 a batch to 4 connections is posted by shards: asynchronous
    invocations of the fan-out function by the fan-out function (its role allows its alias)."""
    configure(BATCH_ROOM_SIZE=2, FANOUT_SHARD_SIZE=2)

    async def scenario():
        clients = await _room_of(gateway, keys, room, ONLINE, "shard")
        try:
            for n in range(4):
                frame = {"action": "sendmessage", "message": f"s{n}", "clientMessageId": f"s{n}"}
                await clients[n].send(frame)
            assert await until(lambda: all(c.log.position == 4 for c in clients)), [
                (c.log.position, c.errors) for c in clients
            ]
            assert all(c.frames["changes"] >= 1 and c.log.repairs == 0 for c in clients)
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    asyncio.run(scenario())


def test_small_rooms_are_not_batched(gateway, keys, room, configure):
    configure(BATCH_ROOM_SIZE=100)

    async def scenario():
        clients = await _room_of(gateway, keys, room, 3, "small")
        try:
            await clients[0].send({"action": "sendmessage", "message": "x", "clientMessageId": "x"})
            assert await until(lambda: all(c.log.position == 1 for c in clients))
            assert all(c.frames["changes"] == 0 and c.frames["message"] == 1 for c in clients)
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    asyncio.run(scenario())


# -- the batch's arithmetic, without a server ------------------------------------------------


def _message(n: int, text: str = "x", taken_at: int = 0) -> Message:
    return Message(
        "r",
        f"m{n:04}",
        user_id="u",
        username="u",
        text=text,
        sent_at=utcnow(),
        seq=n,
        rev=n,
        rev_at=taken_at,
    )


def test_frames_stay_within_one_unit_and_carry_every_message_once():
    messages = [_message(n, "é" * 3000) for n in range(1, 30)]
    changes = Changes(room="r", since=0, to=29, latest=29, messages=messages, empty=[(30, 30)])
    frames = batch_frames(changes)
    assert len(frames) > 1
    assert all(len(json.dumps(f).encode()) <= FRAME_UNIT for f in frames)
    assert [m["rev"] for f in frames for m in f["messages"]] == list(range(1, 30))
    assert frames[-1]["empty"] == [[30, 30]] and all("empty" not in f for f in frames[:-1])


def test_a_number_pending_a_moment_is_waited_for_and_an_old_one_passed_over():
    import time

    now = int(time.time() * 1000)
    # 2 is not stored: taken before 3, which was taken just now: its write may land.
    recent = Changes(
        room="r",
        since=0,
        to=3,
        latest=3,
        messages=[_message(1, taken_at=now), _message(3, taken_at=now)],
    )
    assert _position(recent) == 1
    # The same hole under a number taken 10 s ago: its writer is gone.
    old = Changes(
        room="r",
        since=0,
        to=3,
        latest=3,
        messages=[_message(1, taken_at=now - 10_000), _message(3, taken_at=now - 10_000)],
    )
    assert _position(old) == 3
    # Empty numbers are settled.
    settled = Changes(room="r", since=0, to=3, latest=3, messages=[_message(1)], empty=[(2, 3)])
    assert _position(settled) == 3


def test_only_rooms_above_the_size_with_a_fan_out_function_are_batched(configure):
    """The site, which has no fan-out function to run a batch, sends its changes at once."""
    from lambdas.services.batches import batched

    room = Room("r", online=101, online_until=utcnow() + timedelta(minutes=5))
    configure(BATCH_ROOM_SIZE=100, FANOUT_FUNCTION_NAME="local-fanout:live")
    assert batched(room)
    assert not batched(Room("r", online=100, online_until=room.online_until))
    assert not batched(Room("r", online=101, online_until=utcnow() - timedelta(seconds=1)))
    configure(BATCH_ROOM_SIZE=100, FANOUT_FUNCTION_NAME="")  # none, as the site
    assert not batched(room)
    configure(BATCH_ROOM_SIZE=0, FANOUT_FUNCTION_NAME="local-fanout:live")
    assert not batched(room)
