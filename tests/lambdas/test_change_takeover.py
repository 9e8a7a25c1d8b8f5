"""Change numbers across Regions (docs/multi-region.md): the first number a Region takes after
another Region's jumps past any the other may have taken unreplicated, so no number is ever
given twice nor goes back; the numbers jumped over become empty, and a room numbered before
Regions were recorded keeps counting by one."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from lambdas.errors import RoomNotFound
from lambdas.models import Room
from lambdas.services.changes import TAKEOVER_JUMP, change_number, changes_since

A, B = "us-east-1", "us-west-2"


@pytest.fixture
def region(configure):
    """`region(name)`: the Lambda functions from now on run in that Region."""

    def switch(name: str) -> None:
        configure(AWS_REGION=name, CHANGE_SETTLE_SECONDS=2)

    switch(A)
    return switch


def numbers(room: str, count: int) -> list[int]:
    return [change_number(room=room).rev for _ in range(count)]


def test_a_region_taking_over_jumps_past_what_the_other_could_have_taken(room, region):
    # Given A took 1..3 and its replica in B holds them all
    assert numbers(room, 3) == [1, 2, 3]
    # When B takes the room's next numbers
    region(B)
    taken_in_b = numbers(room, 3)
    # Then the first jumps, the next count by one, and the room remembers B took them
    assert taken_in_b == [3 + TAKEOVER_JUMP, 4 + TAKEOVER_JUMP, 5 + TAKEOVER_JUMP]
    stored = Room.get(room, consistent_read=True)
    assert (stored.seq, stored.seq_region) == (5 + TAKEOVER_JUMP, B)
    # And failing back to A jumps again: never back, never twice
    region(A)
    assert numbers(room, 1) == [5 + 2 * TAKEOVER_JUMP]


def test_numbers_the_old_region_took_unreplicated_are_never_given_again(room, region):
    """A took 1..5 but B's replica only ever received the room at 3: B's numbers are above 5."""
    numbers(room, 5)
    Room(room).update(actions=[Room.seq.set(3)])  # B's replica, lagging (same item, same Region)
    region(B)
    [first] = numbers(room, 1)
    assert first == 3 + TAKEOVER_JUMP > 5


def test_a_room_numbered_before_regions_were_recorded_counts_on(room, region):
    numbers(room, 2)
    Room(room).update(actions=[Room.seq_region.remove()])
    region(B)
    assert numbers(room, 2) == [3, 4]


def test_a_new_room_starts_at_one_in_any_region(make_room, region):
    region(B)
    assert numbers(make_room(), 1) == [1]


def test_no_room_is_created_by_a_takeover(region):
    region(B)
    with pytest.raises(RoomNotFound):
        change_number(room="no-such-room-anywhere")


def test_concurrent_takeovers_jump_once_and_give_each_number_once(room, region):
    numbers(room, 4)
    region(B)
    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda _: change_number(room=room).rev, range(16)))
    assert sorted(taken) == list(range(4 + TAKEOVER_JUMP, 4 + TAKEOVER_JUMP + 16))


def test_the_numbers_jumped_over_become_empty_once_settled(room, region, monkeypatch):
    numbers(room, 2)
    region(B)
    numbers(room, 1)
    # Given the jump was taken longer ago than CHANGE_SETTLE_SECONDS (2 s here)
    later = time.time() + 5
    monkeypatch.setattr("lambdas.services.changes.time", SimpleNamespace(time=lambda: later))
    answer = changes_since(room=room, since=2)
    # Then a reader at 2 is told every number up to the jump is empty (no message was stored)
    assert (answer.to, answer.latest) == (2 + TAKEOVER_JUMP, 2 + TAKEOVER_JUMP)
    assert answer.empty == [(3, 2 + TAKEOVER_JUMP)]


def test_a_batch_passes_over_the_jump_whole(monkeypatch):
    """A large room's batch settles past the jump at once, not number by number (a million)."""
    from lambdas.services import batches
    from lambdas.services.changes import Changes

    now = 1_000_000_000_000
    monkeypatch.setattr(batches, "_now_ms", lambda: now)
    jumped = 3 + TAKEOVER_JUMP
    # Given the jump's number was taken 3 s ago: past PENDING_WAIT_MS, not yet settled
    changes = Changes(room="r", since=3, to=jumped, latest=jumped)
    changes.messages = [SimpleNamespace(rev=jumped, rev_at=now - 3_000)]
    started = time.perf_counter()
    assert batches._position(changes) == jumped
    # And taken just now, it holds the batch just below the gap, as for any pending number
    changes.messages = [SimpleNamespace(rev=jumped, rev_at=now - 100)]
    assert batches._position(changes) == 3
    # And once settled (the gap is empty) it passes over it too
    changes.empty = [(4, jumped - 1)]
    assert batches._position(changes) == jumped
    assert time.perf_counter() - started < 0.05
