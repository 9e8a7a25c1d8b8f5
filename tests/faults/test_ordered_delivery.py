"""Delivery you can count on: with @connections POSTs lost after answering 200 (the gateway's
fault injection), every client of a room ends with every message exactly once and in order,
without reconnecting: a change number beyond the next reveals a gap, which `history` `since`
fills; a lost last message is found by the `pong` of the next keep-alive ping; a
number taken by a write that never happened is reported empty and passed over.

Each test waits for its outcome (up to DEADLINE, which only a hang reaches) and asserts what
the clients hold, never how soon: time to repair is measured by `make bench` (bench/repair.py).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import pytest

from bench.ordered import OrderedClient
from emulator.settings import PostFaults
from lambdas.models import Message, Room
from lambdas.services.changes import change_number
from tests.faults.members import until
from tests.helpers import bind_config


@pytest.fixture
def faults(gateway):
    """Set the gateway's @connections faults for this test: `faults(drop=0.1, users={...})`."""
    saved = gateway.settings.post_faults

    def set_faults(**settings) -> None:
        gateway.settings.post_faults = PostFaults(**settings)

    yield set_faults
    gateway.settings.post_faults = saved


@pytest.fixture
def settle():
    """Set CHANGE_SETTLE_SECONDS for the functions' next invocations: `settle(900)`."""

    def set_settle(seconds: int) -> None:
        bind_config(CHANGE_SETTLE_SECONDS=seconds)

    yield set_settle
    bind_config()


async def ordered_clients(
    gateway, keys, room: str, count: int, tag: str, *, keepalive: float = 1.0
) -> list[OrderedClient]:
    """`count` clients in `room` (users `<tag>0` …), each with its history loaded.

    A keep-alive every second by default (not the page's 7 minutes): a lost last change is found
    as soon as the machine's speed allows, however late it was stored.
    """
    clients = []
    for n in range(count):
        token = keys.token(user_id=f"{tag}{n}", username=f"{tag}{n}")
        url = f"{gateway.websocket_url}?{urlencode({'token': token, 'room': room})}"
        clients.append(OrderedClient(url, keepalive=keepalive))
    await asyncio.gather(*(client.start() for client in clients))
    assert await until(lambda: all(c.loaded.is_set() for c in clients)), clients[0].errors
    return clients


def _held_count(clients):
    """How many messages the clients hold together: while it grows, repair is under way."""
    return lambda: sum(len(c.log.messages) for c in clients)


def _stored(room: str) -> list[str]:
    """The room's message ids in their order (by `seq`)."""
    return [m.message_id for m in sorted(Message.query(room), key=lambda m: m.seq)]


async def _send(clients, count: int, pace: float, prefix: str) -> None:
    for n in range(count):
        sender = clients[n % len(clients)]
        await sender.send(
            {"action": "sendmessage", "message": f"{prefix}{n}", "clientMessageId": f"{prefix}{n}"}
        )
        await asyncio.sleep(pace)


def _held(client: OrderedClient) -> list[str]:
    return [m["id"] for m in client.log.ordered()]


@pytest.mark.timeout(300)  # 20 s of sends, then the waits: on a busy machine, past 120 s
def test_with_a_tenth_of_posts_lost_every_client_ends_with_every_message_in_order(
    gateway, keys, room, faults
):
    """50 clients, 200 messages from rotating senders, 10 % of posts answered 200 and dropped."""

    async def scenario():
        clients = await ordered_clients(gateway, keys, room, 50, "lossy")
        faults(drop=0.1, seed=13)
        await _send(clients, 200, 0.1, "m")
        whole = await until(
            lambda: all(len(c.log.messages) == 200 for c in clients), progress=_held_count(clients)
        )
        faults()
        stored = _stored(room)
        try:
            assert whole, sorted(len(c.log.messages) for c in clients)
            for client in clients:
                assert _held(client) == stored  # each once, in the room's order
                assert client.log.position == Room.get(room).seq and not client.log.ahead
                assert client.errors == []
            assert all(client.log.repaired for client in clients)  # every one lost some
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    asyncio.run(scenario())


def test_clients_that_lost_the_last_message_learn_of_it_from_the_pong(gateway, keys, room, faults):
    """Half the clients lose the last message (no later one reveals the gap): the ping each
    sends once the room is quiet answers the room's last change number, and they fetch it."""

    async def scenario():
        clients = await ordered_clients(gateway, keys, room, 20, "quiet")
        await _send(clients, 19, 0.05, "q")
        # Each holds the 19 and has no repair under way: a `since` asked for a gap among them
        # and answered after the last is stored would bring it without the pong.
        assert await until(
            lambda: all(len(c.log.messages) == 19 and c.log.settled() for c in clients)
        )
        unlucky = clients[::2]
        faults(drop=1.0, users=frozenset(f"quiet{n}" for n in range(0, 20, 2)))
        await clients[1].send({"action": "sendmessage", "message": "last", "clientMessageId": "z"})
        whole = await until(
            lambda: all(len(c.log.messages) == 20 for c in clients), progress=_held_count(clients)
        )
        faults()
        try:
            assert whole, sorted(len(c.log.messages) for c in clients)
            stored = _stored(room)
            for client in clients:
                assert _held(client) == stored
            assert all(client.log.pong_repairs >= 1 for client in unlucky), [
                (c.log.pong_repairs, c.log.repairs, c.errors) for c in unlucky
            ]
            assert all("last" not in [m["text"] for m in c.log.ordered()][:-1] for c in clients)
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    asyncio.run(scenario())


def test_a_number_taken_by_a_write_that_never_came_is_passed_over(gateway, keys, room, settle):
    """A send that died after taking its number: the clients see the gap, are told it is
    pending, ask again, and once it cannot be written any more (CHANGE_SETTLE_SECONDS) are told
    it is empty and move past it.

    The settle time is set long while the hole must hold them (however slow the machine, the
    number is still pending when they ask), then short, to let it settle."""
    settle(900)

    async def scenario():
        clients = await ordered_clients(gateway, keys, room, 5, "gap")
        await _send(clients, 2, 0.05, "g")
        assert await until(lambda: all(len(c.log.messages) == 2 for c in clients))
        dead = change_number(room=room).rev  # the send that died
        await _send(clients, 1, 0.05, "after")
        try:
            assert await until(lambda: all(len(c.log.messages) == 3 for c in clients))
            # Told "pending", each asks again: until then, and after, the hole holds them.
            assert await until(lambda: all(c.log.repairs >= 2 for c in clients))
            assert all(c.log.position == dead - 1 for c in clients)
            await asyncio.to_thread(settle, 1)
            assert await until(lambda: all(c.log.position == dead + 1 for c in clients))
            assert all(c.log.repairs >= 3 for c in clients)  # pending (twice), then empty
            assert all(_held(c) == _stored(room) for c in clients)
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    asyncio.run(scenario())


def test_edits_reactions_and_deletions_lost_live_arrive_by_repair(gateway, keys, room, faults):
    """A client that loses every live frame of an edit, a reaction and a deletion ends with the
    messages as they are (its pong reveals the changes; `since` brings each one's state now)."""

    async def scenario():
        clients = await ordered_clients(gateway, keys, room, 3, "edit")
        await _send(clients, 2, 0.05, "e")
        assert await until(
            lambda: all(len(c.log.messages) == 2 and c.log.settled() for c in clients)
        )
        by_text = {m["text"]: m["id"] for m in clients[0].log.ordered()}
        first, second = by_text["e0"], by_text["e1"]  # edit0's and edit1's
        # Its posts are dropped to the end (not just until the others have them: a post to it
        # may come later, the posts being concurrent). Pongs and `since` answers are route
        # responses, not @connections posts: only the repair can bring it the changes.
        faults(drop=1.0, users=frozenset({"edit2"}))
        author = clients[0]
        changes = [
            (author, {"action": "editmessage", "id": first, "message": "e0, edited"}),
            (clients[1], {"action": "react", "id": first, "emoji": "🎉"}),
            (clients[1], {"action": "deletemessage", "id": second}),
        ]
        lost = clients[2]
        try:
            # One after another: an edit and a reaction racing on one message would leave the
            # loser's first number unused (it takes another), a hole that settles only after
            # CHANGE_SETTLE_SECONDS, and the room would end at 6.
            for position, (sender, change) in enumerate(changes, start=3):
                await sender.send(change)
                assert await until(lambda p=position: author.log.position == p), author.errors
            assert Room.get(room).seq == 5
            assert await until(lambda: lost.log.position == 5), (lost.log, lost.errors)
            held = {m["id"]: m for m in lost.log.ordered()}
            assert held[first]["text"] == "e0, edited"
            assert [r["emoji"] for r in held[first]["reactions"]] == ["🎉"]
            assert held[second]["deleted"] is True and held[second]["text"] == ""
            assert lost.log.pong_repairs >= 1
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    asyncio.run(scenario())
