"""Per-user limits held in DynamoDB, so they bind every Lambda and site instance alike.

Messages go through a token bucket (rate per second, burst); login failures through a counter per
fixed window. Both are read-modify-write cycles made safe by a conditional put on the item's
`version` (dynalite has no transactions): a writer that lost the race reads again and retries.
Items carry a TTL, and a reader treats an expired one as absent (dynalite never deletes them).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pynamodb.exceptions import PutError

from lambdas.config import get_config
from lambdas.errors import RateLimited
from lambdas.models import Limit, condition_failed

ATTEMPTS = 8  # conditional writes lost to concurrent writers before we give up
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


def _put(key: str, *, previous: Limit | None, level: float, now: float, expires_at: float) -> bool:
    """Write the new state unless someone else wrote since `previous` was read."""
    item = Limit(
        key,
        version=(previous.version + 1) if previous else 1,
        level=level,
        updated_at=now,
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
}


def message_rate_check(*, user_id: str) -> None:
    """Take one token from the user's message bucket, or raise RateLimited with `retry_after`."""
    config = get_config()
    _take(user_id, "messages", config.messages_per_second, config.messages_burst)


def rate_check(*, user_id: str, bucket: str) -> None:
    """Take one token from the user's bucket of a route (config.RATE_DEFAULTS), across all of
    their connections and every Lambda instance, or raise RateLimited with `retry_after`."""
    rate, burst = get_config().rates[bucket]
    _take(user_id, bucket, rate, burst)


def _take(user_id: str, bucket: str, rate: int, burst: int) -> None:
    what = WHAT[bucket]

    def take(live: Limit | None, now: float) -> tuple[float, float]:
        tokens = float(burst)
        if live is not None:
            tokens = min(burst, live.level + max(0.0, now - live.updated_at) * rate)
        if tokens < 1:
            raise RateLimited(
                f"at most {rate} {what} a second (bursts of {burst}); slow down",
                retry_after=max(0.001, round((1 - tokens) / rate, 3)),
            )
        # Once full again the bucket is the same as no item: let TTL remove it then.
        return tokens - 1, now + (burst - tokens + 1) / rate + 1

    if not _update(f"{bucket}#{user_id}", take):
        raise RateLimited(f"too many {what} at once; slow down", retry_after=round(1 / rate, 3))


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
