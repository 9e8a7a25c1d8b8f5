"""Batched delivery in large rooms: one POST per connection carries every change of a short
window, not one POST per change.

API Gateway bills each `@connections` POST (per 32 KB), however little it carries, so a room of
2,000 people at 5 messages a second costs 10,000 POSTs a second delivered one by one. In a room
with more than BATCH_ROOM_SIZE people online (its stored count, which the UpdateItem taking a
change's number returns: no read of its own):

- the changing function posts the change to its sender's connection at once (an
  acknowledgement without `rev`: the sender's page holds it, and its batch brings the number),
  then makes sure a batch is running: when the room item shows no live lease it takes one
  (a conditional UpdateItem, once per batch, not per change) and starts the fan-out function
  asynchronously with it;
- the batch waits BATCH_WINDOW_MS, reads what changed since the last batch (`changes_since`:
  each message as it is now, by `rev`), and posts it as one `changes` frame (several, if the
  window's changes pass 32 KB) to the whole room; then, in one conditional UpdateItem, it
  releases the lease only if nothing changed meanwhile (the room's number is still the one it
  sent up to), else renews it and runs again.

Nothing is lost between a batch and the changes that do not start one: a change whose number
was taken while the lease was held makes the release's condition fail (the room's number moved),
so the batch runs again; a change that saw no lease takes one. A batch that dies leaves a lease
that expires after LEASE_MS, and the next change takes it over. Order and exactly-once are the
clients' (README, "Delivery you can count on"): every change carries its number, and a page
applies a number once.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from pynamodb.exceptions import UpdateError

from lambdas.config import get_config
from lambdas.management import ManagementApi
from lambdas.metrics import metric_count
from lambdas.models import Room, condition_failed, utcnow
from lambdas.protocol import batch_frames
from lambdas.services.broadcast import (
    BroadcastResult,
    broadcast,
    broadcast_shard,
    lambda_client,
)
from lambdas.services.changes import Change, Changes, changes_since

logger = logging.getLogger(__name__)

LEASE_MS = 10_000  # a batch's lease, renewed each round: a dead batch is taken over after this
# A number taken this recently whose write is not stored yet is waited for (its writer is
# between the two calls); an older one is passed over, and clients repair it if it ever lands.
PENDING_WAIT_MS = 2_000
# One invocation's rounds (its Timeout is 29 s): a room still busy goes on in a new one.
RUN_SECONDS = 20
# A new batch starts from the room's last batched number when that is at most this far behind
# the change that starts it; further (the room was small meanwhile, its changes posted one by
# one), from that change.
CATCH_UP = 20
sleep = time.sleep  # a module attribute, as in broadcast.py


def _now_ms() -> int:
    return int(time.time() * 1000)


def batched(room: Room | None) -> bool:
    """Whether a room's changes go out in batches: more people online than BATCH_ROOM_SIZE, and
    a fan-out function to run them (the site has none: its rare changes go out at once)."""
    config = get_config()
    size = config.batch_room_size
    return (
        bool(size and config.fanout_function_name)
        and room is not None
        and room.online_now(utcnow()) > size
    )


def publish(
    *,
    api: ManagementApi,
    change: Change,
    payload: dict,
    first: str | None = None,
) -> BroadcastResult:
    """Deliver a change that took number `change.rev`: to the whole room at once, or in a large
    room to `first` (the sender) at once and to everyone in the room's next batch."""
    room = change.room
    if not batched(room):
        return broadcast(api=api, room=payload["room"], payload=payload, first=first)
    result = BroadcastResult()
    if first is not None:
        ack = {key: value for key, value in payload.items() if key != "rev"}
        if isinstance(ack.get("parent"), dict):  # a reply's parent summary: its number too
            ack["parent"] = {key: value for key, value in ack["parent"].items() if key != "rev"}
        result = broadcast_shard(api=api, connection_ids=[first], payload=ack, forget=False)
    batch_start(api=api, room=room, rev=change.rev)
    return result


def batch_start(*, api: ManagementApi, room: Room, rev: int) -> None:
    """Start the room's batch unless one is running (`room` as the change's update left it)."""
    now = _now_ms()
    if room.flush_by is not None and (room.flush_at or 0) > now - LEASE_MS:
        return  # running: its release will find this change
    token = uuid.uuid4().hex
    try:
        Room(room.name).update(
            actions=[Room.flush_by.set(token), Room.flush_at.set(now)],
            condition=Room.name.exists()
            & (Room.flush_by.does_not_exist() | (Room.flush_at < now - LEASE_MS)),
        )
    except UpdateError as error:
        if condition_failed(error):
            return  # another change of the same moment took it
        raise
    flushed = int(room.flushed) if room.flushed is not None else None
    since = flushed if flushed is not None and 0 <= rev - 1 - flushed <= CATCH_UP else rev - 1
    event = {"batch": room.name, "token": token, "since": since, "endpoint": api.endpoint_url}
    if not _invoke(event):  # then here, in the changing function, for one invocation's rounds
        batch_run(api=api, room=room.name, token=token, since=since)


def _invoke(event: dict) -> bool:
    """Run a batch in the fan-out function, asynchronously; False if it cannot be invoked."""
    config = get_config()
    try:
        lambda_client().invoke(
            FunctionName=config.fanout_function_name,
            InvocationType="Event",
            Payload=json.dumps(event).encode(),
        )
    except Exception:
        logger.exception("batch invocation failed", extra={"room": event["batch"]})
        return False
    return True


def batch_run(*, api: ManagementApi, room: str, token: str, since: int) -> int:
    """Post the room's changes after `since` in rounds, one per BATCH_WINDOW_MS, while the
    room keeps changing and the lease is ours; return how many rounds posted something."""
    window = get_config().batch_window_ms / 1000
    started = time.monotonic()
    rounds = 0
    while True:
        sleep(window)
        changes = changes_since(room=room, since=since)
        position = _position(changes)
        if changes.messages or changes.empty:
            for frame in batch_frames(changes):
                broadcast(api=api, room=room, payload=frame)
            rounds += 1
            metric_count("Batches")
        done = not changes.has_more and changes.latest <= position
        if done and _release(room=room, token=token, position=position):
            return rounds
        if not _renew(room=room, token=token, position=position):
            return rounds  # taken over (this batch was too slow): the new one goes on
        since = position
        if time.monotonic() - started > RUN_SECONDS:
            # Handed over with the lease; if that fails, the lease lapses (LEASE_MS) and the
            # room's next change starts a batch from what this one recorded as sent.
            _invoke({"batch": room, "token": token, "since": since, "endpoint": api.endpoint_url})
            return rounds


def _position(changes: Changes) -> int:
    """Up to where this answer settles the room: its end, or just below the first number still
    pending if that was taken less than PENDING_WAIT_MS ago (its write may land any moment).
    Gaps are passed over whole, never number by number: a Region taking a room over leaves one
    of TAKEOVER_JUMP numbers (lambdas/services/changes.py)."""
    held = {int(m.rev): int(m.rev_at or 0) for m in changes.messages}
    recent = _now_ms() - PENDING_WAIT_MS
    numbers = sorted(held)
    n = changes.since + 1
    while n <= changes.to:
        if n in held:
            n += 1
            continue
        empty_to = next((last for first, last in changes.empty if first <= n <= last), None)
        if empty_to is not None:
            n = empty_to + 1
            continue
        # Numbers are taken in order: every number of this gap was taken before the next held.
        above = next((m for m in numbers if m > n), None)
        if (held[above] if above is not None else _now_ms()) >= recent:
            return n - 1
        n = above if above is not None else changes.to + 1
    return changes.to


def _release(*, room: str, token: str, position: int) -> bool:
    """End the batch if the room's last number is still `position`: nothing changed since."""
    now = _now_ms()
    return _lease_update(
        room,
        [
            Room.flushed.set(position),
            Room.flushed_at.set(now),
            Room.flush_by.remove(),
            Room.flush_at.remove(),
        ],
        (Room.flush_by == token) & (Room.seq == position),
    )


def _renew(*, room: str, token: str, position: int) -> bool:
    """Keep the lease for another round, recording what has been sent; False if it was lost."""
    now = _now_ms()
    return _lease_update(
        room,
        [Room.flushed.set(position), Room.flushed_at.set(now), Room.flush_at.set(now)],
        Room.flush_by == token,
    )


def _lease_update(room: str, actions: list, condition) -> bool:
    """One conditional write to the room's lease: False if its condition no longer held."""
    try:
        Room(room).update(actions=actions, condition=condition)
    except UpdateError as error:
        if condition_failed(error):
            return False
        raise
    return True
