"""Per-user limits held in DynamoDB, so they bind every Lambda and site instance alike.

Every route's frames go through a token bucket per user (rate per second, burst), taken by the
route wrapper (lambdas/handlers/_route.py) before the route runs; the site's counters (login
failures, quotas: chat/services/limits.py) are built on limit_update here. All are
read-modify-write cycles of one item made safe by a conditional put on its `version`: a writer
that lost the race reads again and retries. One item is all a cycle touches, so a conditional
write does it; a transaction would cost twice the write units for nothing more. Items carry a
TTL, and a reader treats an expired one as absent: TTL deletes expired items only within a few
days.

A bucket also counts its refusals, in the same item and the same conditional put, as strikes
that fade by STRIKES_FADE per token the bucket refills. A tab that waits `retry_after` is refused
at most once per token it then gets, so a user's strikes stay near zero; a client that keeps
sending collects them as fast as it sends. Past FLOOD_REFUSALS_ALLOWED the refusal is
`Flooding`, and the route wrapper closes the connection and cools the user down at `$connect`
(connections.connection_cut_off): API Gateway's route throttles are per API, not per client, so
without a cutoff one client could use a whole route's budget. With it, a client sending f frames
a second into a bucket of rate r is cut off about FLOOD_REFUSALS_ALLOWED / (f - (1 + STRIKES_FADE)
r) seconds after its burst is spent, and one sending less is never: no client takes more than
(1 + STRIKES_FADE) r a second for long (DEPLOY.md, "Throttles").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pynamodb.exceptions import PutError

from lambdas.config import get_config
from lambdas.errors import RateLimited
from lambdas.models import Limit, condition_failed

ATTEMPTS = 8  # conditional writes lost to concurrent writers before we give up
# Strikes fade at this many per token refilled: two tabs sending as fast as they are let (each
# refused once per token, then waiting `retry_after`) collect none, while a client sending more
# than (1 + STRIKES_FADE) times its rate is soon cut off.
STRIKES_FADE = 2
# A token refilled over exactly `retry_after` may come out a hair under 1 (epoch seconds near
# 2e9 are exact only to ~1e-7): it counts, or a client that waited as told would be refused, and
# struck, once more.
WHOLE = 1 - 1e-4
clock = time.time  # a module attribute so tests can move time instead of waiting


def _stored(key: str) -> Limit | None:
    try:
        return Limit.get(key, consistent_read=True)
    except Limit.DoesNotExist:
        return None


def limit_live(key: str, now: float) -> Limit | None:
    """The limit's item, or None if there is none or it has expired (TTL may lag for days)."""
    item = _stored(key)
    return item if item is not None and item.expires_at.timestamp() > now else None


def _put(
    key: str,
    *,
    previous: Limit | None,
    level: float,
    now: float,
    expires_at: float,
    strikes: float | None = None,
) -> bool:
    """Write the new state unless someone else wrote since `previous` was read."""
    item = Limit(
        key,
        version=(previous.version + 1) if previous else 1,
        level=level,
        updated_at=now,
        strikes=strikes or None,
        expires_at=datetime.fromtimestamp(math.ceil(expires_at), UTC),
    )
    condition = Limit.version == previous.version if previous else Limit.key.does_not_exist()
    try:
        item.save(condition=condition)
        return True
    except PutError as error:
        if condition_failed(error):
            return False
        raise


def limit_update(key: str, step: Callable[[Limit | None, float], tuple[float, float]]) -> bool:
    """Apply `step(live item, now) -> (level, expires_at)` atomically; False if always raced.

    `step` may raise (RateLimited) to refuse without writing.
    """
    for _ in range(ATTEMPTS):
        now = clock()
        stored = _stored(key)
        live = stored if stored is not None and stored.expires_at.timestamp() > now else None
        level, expires_at = step(live, now)
        # The condition is on what is stored, expired or not: an expired item is replaced.
        if _put(key, previous=stored, level=level, now=now, expires_at=expires_at):
            return True
    return False


WHAT = {
    "messages": "messages",
    "typing": "typing notices",
    "presence": "presence requests",
    "history": "history pages",
    "edits": "edits",
    "deletes": "deletions",
    "reactions": "reactions",
    "reads": "read receipts",
    "ping": "pings",
    "default": "frames without a known action",
}

# The bucket each route's frames take a token from (config.RATE_DEFAULTS): every route has one,
# so no frame of a signed-in client reaches a function for free. Taken in one place, the route
# wrapper (websocket_route), before the frame is even parsed: malformed frames pay too.
ROUTE_BUCKETS = {
    "sendmessage": "messages",
    "editmessage": "edits",
    "deletemessage": "deletes",
    "react": "reactions",
    "markread": "reads",
    "typing": "typing",
    "history": "history",
    "presence": "presence",
    "ping": "ping",
    "$default": "default",
}

# Buckets checked in this container's memory first, DynamoDB's only beyond it. ping is the
# keep-alive of every open page: a DynamoDB bucket would add a read and a write unit and two round
# trips to each (a conditional put costs 1 WRU, 5x a read unit's price), more than the ping's own
# reads; $default is rare, and a client asking for help should not cost a write either. In
# memory, a client within 1/LOCAL_SHARE of its bucket (rate and burst) costs nothing; past that
# in a container it goes on to the shared bucket, whose refusals count as strikes like any other.
# A quarter of ping's is still far more than one tab's pings (one after 7 minutes without
# sending, one each time the page is shown again), and a flooder whose frames land in n warm
# containers gets at most n quarters on top of the shared bucket's share before it is cut off.
LOCAL_FIRST = frozenset({"ping", "default"})
LOCAL_SHARE = 4
LOCAL_KEYS = 10_000  # users remembered per container; full buckets are forgotten first
_local: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)
# No lock: Lambda runs one invocation at a time in an execution environment ("this execution
# environment is busy and cannot handle other requests", docs.aws.amazon.com/lambda/latest/dg/
# lambda-concurrency.html), and nothing takes a token from the fan-out's threads.


class Flooding(RateLimited):
    """A refusal past FLOOD_REFUSALS_ALLOWED: the client keeps sending whatever it is told. The
    route wrapper closes its connection and cools its user down; for the client it is still
    `rate_limited` (429), with the cooldown as `retry_after`."""


def rate_check(*, user_id: str, bucket: str) -> None:
    """Take one token from the user's bucket of a route (config.RATE_DEFAULTS), across all of
    their connections and every Lambda instance, or raise RateLimited with `retry_after`
    (Flooding once the user is far past it)."""
    rate, burst = get_config().rates[bucket]
    if bucket in LOCAL_FIRST and _local_take(
        f"{bucket}#{user_id}", rate / LOCAL_SHARE, max(1.0, burst / LOCAL_SHARE)
    ):
        return
    _take(user_id, bucket, rate, burst)


def _local_take(key: str, rate: float, burst: float) -> bool:
    """Take a token from this container's bucket for `key`; False if it is empty."""
    now = clock()
    tokens, at = _local.get(key, (float(burst), now))
    tokens = min(burst, tokens + max(0.0, now - at) * rate)
    if tokens < WHOLE:
        _local[key] = (tokens, now)
        return False
    if key not in _local and len(_local) >= LOCAL_KEYS:
        _local_forget(now, rate, burst)
    _local[key] = (tokens - 1, now)
    return True


def _local_forget(now: float, rate: float, burst: float) -> None:
    """Make room: forget the buckets that are full again (the same as none), else all of them
    (their users then fall back to the shared bucket, which is exact, only paying for it)."""
    full = [k for k, (tokens, at) in _local.items() if tokens + (now - at) * rate >= burst]
    for key in full:
        del _local[key]
    if len(_local) >= LOCAL_KEYS:
        _local.clear()


def _take(user_id: str, bucket: str, rate: int, burst: int) -> None:
    what, key = WHAT[bucket], f"{bucket}#{user_id}"
    for _ in range(ATTEMPTS):
        now = clock()
        stored = _stored(key)
        live = stored if stored is not None and stored.expires_at.timestamp() > now else None
        tokens, strikes = float(burst), 0.0
        if live is not None:
            refilled = max(0.0, now - live.updated_at) * rate
            tokens = min(burst, live.level + refilled)
            strikes = max(0.0, (live.strikes or 0.0) - refilled * STRIKES_FADE)
        served = tokens >= WHOLE
        level, strikes = (tokens - 1, strikes) if served else (tokens, strikes + 1)
        # Once full again, with no strikes left, the bucket is the same as no item: TTL may
        # remove it then.
        expires_at = now + max(burst - level, strikes / STRIKES_FADE) / rate + 1
        # The condition is on what is stored, expired or not: an expired item is replaced.
        written = _put(
            key, previous=stored, level=level, now=now, expires_at=expires_at, strikes=strikes
        )
        if served and written:
            return
        if not served:
            # Counted in one attempt: a refusal that lost the race to another writer is still
            # a refusal, and its strike is not worth another round trip.
            _refuse(what, rate, burst, tokens=tokens, strikes=strikes)
    raise RateLimited(f"too many {what} at once; slow down", retry_after=round(1 / rate, 3))


def _refuse(what: str, rate: int, burst: int, *, tokens: float, strikes: float) -> None:
    config = get_config()
    if strikes > config.flood_refusals_allowed:
        cooldown = config.flood_cooldown_seconds
        raise Flooding(
            f"far more {what} than {rate} a second, whatever the answers said: this connection "
            f"is closed, and new ones are refused for {cooldown} s",
            retry_after=cooldown,
        )
    # Up to the next millisecond, never down: a client that waits exactly this long finds its
    # token (coming back a fraction early would be refused again, and struck).
    wait = math.ceil(round((1 - tokens) / rate * 1000, 6)) / 1000
    raise RateLimited(
        f"at most {rate} {what} a second (bursts of {burst}); slow down",
        retry_after=max(0.001, wait),
    )


def presence_claim(*, room: str, window: float) -> bool:
    """Whether this announcement is the one that sends the room its list: True if no other is
    pending (claimed less than `window` seconds ago), and it is now; False if one is, which
    this one joins (counted: the claimant then sends its list to everyone)."""
    now = clock()
    key = f"presence#{room}"
    claim = Limit(
        key,
        version=1,
        level=0,  # announcements that joined this one
        updated_at=now,  # when it was claimed
        expires_at=datetime.fromtimestamp(math.ceil(now + window + 60), UTC),
    )
    try:
        claim.save(condition=Limit.key.does_not_exist() | (Limit.updated_at < now - window))
        return True
    except PutError as error:
        if not condition_failed(error):
            raise
    Limit(key).update(actions=[Limit.level.add(1)])
    return False


def presence_joined(*, room: str) -> int:
    """How many announcements joined the room's pending one."""
    item = _stored(f"presence#{room}")
    return int(item.level) if item is not None else 0
