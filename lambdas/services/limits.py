"""Per-user limits held in DynamoDB, so they bind every Lambda and site instance alike.

Every route's frames go through a token bucket per user (rate per second, burst); login failures
through a counter per fixed window. Both are read-modify-write cycles made safe by a conditional
put on the item's `version` (dynalite has no transactions): a writer that lost the race reads
again and retries. Items carry a TTL, and a reader treats an expired one as absent (dynalite
never deletes them).

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

import hashlib
import ipaddress
import math
import threading
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


def _live(key: str, now: float) -> Limit | None:
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


def _update(key: str, step: Callable[[Limit | None, float], tuple[float, float]]) -> bool:
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
# so no frame of a signed-in client reaches a function for free. Taken by the route's service or
# handler once its frame parsed, or, for a frame that does not, by RouteRequest.command.
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
_local_lock = threading.Lock()  # the local gateway's thread mode runs handlers concurrently


class Flooding(RateLimited):
    """A refusal past FLOOD_REFUSALS_ALLOWED: the client keeps sending whatever it is told. The
    route wrapper closes its connection and cools its user down; for the client it is still
    `rate_limited` (429), with the cooldown as `retry_after`."""


def message_rate_check(*, user_id: str) -> None:
    """Take one token from the user's message bucket, or raise RateLimited with `retry_after`."""
    rate_check(user_id=user_id, bucket="messages")


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
    with _local_lock:
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


# Login failures are counted three ways. The hard limit is per (username, caller): after
# LOGIN_FAILURES_ALLOWED failures in the window that caller is refused for that username until
# the window ends, and nobody else is. Per username (from anywhere) and per caller (across
# usernames: spraying) failures only slow attempts down, with a delay that doubles with each
# failure past the allowance, up to MAX_LOGIN_DELAY: a guesser gets a few tries a minute, and
# the account's owner, or the people behind the same address, are never locked out.
MAX_LOGIN_DELAY = 60.0
# The allowances before delays start, as multiples of the pair's: the owner, locked out of one
# address by someone else's guesses, still logs in from another at once.
USER_FAILURES_FACTOR = 2
IP_FAILURES_FACTOR = 4


def ip_group(ip: str | None) -> str | None:
    """The caller as counted: an IPv4 address, or the /64 an IPv6 address belongs to (one
    subscriber's network: a single host may use any address in it)."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is that IPv4 caller
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _digest(text: str) -> str:
    # Hashed: the table holds no personal data, and any length fits a key.
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _login_keys(*, username: str, ip: str | None) -> dict[str, str]:
    name = username.strip().lower()
    keys = {"user": f"login-user#{_digest(name)}"}
    caller = ip_group(ip)
    if caller:
        keys["pair"] = f"login-pair#{_digest(f'{name}|{caller}')}"
        keys["ip"] = f"login-ip#{caller}"
    return keys


def login_check(*, username: str, ip: str | None) -> None:
    """Refuse a login attempt while this caller has used up its failures for this username, or
    while the username's or the caller's delay since their last failure runs."""
    config = get_config()
    allowed, now = config.login_failures_allowed, clock()
    keys = _login_keys(username=username, ip=ip)
    pair = _live(keys["pair"], now) if "pair" in keys else None
    if pair is not None and pair.level >= allowed:
        raise RateLimited(
            "too many failed logins; try again later",
            # expires_at is whole seconds (TTL), so it may run up to 1 s past the window.
            retry_after=min(
                config.login_failure_window_seconds,
                max(1, math.ceil(pair.expires_at.timestamp() - now)),
            ),
        )
    thresholds = {"user": allowed * USER_FAILURES_FACTOR, "ip": allowed * IP_FAILURES_FACTOR}
    for kind, threshold in thresholds.items():
        item = _live(keys[kind], now) if kind in keys else None
        if item is not None and item.level >= threshold:
            delay = min(MAX_LOGIN_DELAY, 2.0 ** (item.level - threshold))
            wait = item.updated_at + delay - now
            if wait > 0:
                raise RateLimited(
                    "too many failed logins; wait a moment", retry_after=round(wait, 3)
                )


def login_failure_record(*, username: str, ip: str | None) -> None:
    """Count a failed login against the (username, caller) pair, the username and the caller.

    The pair's window starts with its first failure; the others' last as long as failures
    keep coming (each one extends it), so a slow guesser stays slowed."""
    window = get_config().login_failure_window_seconds

    def pair(live: Limit | None, now: float) -> tuple[float, float]:
        if live is None:
            return 1, now + window
        return live.level + 1, live.expires_at.timestamp()

    def rolling(live: Limit | None, now: float) -> tuple[float, float]:
        return (live.level if live else 0) + 1, now + window

    for kind, key in _login_keys(username=username, ip=ip).items():
        _update(key, pair if kind == "pair" else rolling)  # a lost race: others counted


def quota_take(*, key: str, allowed: int, window: int, what: str) -> None:
    """Count one use of a quota (`allowed` per `window` seconds, from the first use), or raise
    RateLimited, counting nothing, once it is used up: room creation per user, sign-ups per
    caller."""

    def take(live: Limit | None, now: float) -> tuple[float, float]:
        if live is None:
            return 1, now + window
        if live.level >= allowed:
            raise RateLimited(
                f"at most {allowed} {what} per {_duration(window)}; try again later",
                retry_after=max(1, math.ceil(live.expires_at.timestamp() - now)),
            )
        return live.level + 1, live.expires_at.timestamp()

    if not _update(f"quota-{key}", take):
        raise RateLimited(f"too many {what} at once; try again", retry_after=1)


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} s"


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
