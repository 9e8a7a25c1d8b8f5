"""Per-user limits held in DynamoDB, so they bind every Lambda and site instance alike.

Messages go through a token bucket (rate per second, burst); login failures through a counter per
fixed window. Both are read-modify-write cycles made safe by a conditional put on the item's
`version` (dynalite has no transactions): a writer that lost the race reads again and retries.
Items carry a TTL, and a reader treats an expired one as absent (dynalite never deletes them).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pynamodb.exceptions import PutError

from lambdas.config import get_config
from lambdas.errors import RateLimited
from lambdas.models import Limit

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
        if error.cause_response_code == "ConditionalCheckFailedException":
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


def _login_keys(*, username: str, ip: str | None) -> list[str]:
    # Usernames are hashed: the table holds no personal data, and any length fits a key.
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"login-user#{digest}"] + ([f"login-ip#{ip}"] if ip else [])


def login_check(*, username: str, ip: str | None) -> None:
    """Refuse a login attempt while its username or its IP has used up its failures."""
    config = get_config()
    now = clock()
    for key in _login_keys(username=username, ip=ip):
        item = _live(key, now)
        if item is not None and item.level >= config.login_failures_allowed:
            raise RateLimited(
                "too many failed logins; try again later",
                # expires_at is whole seconds (TTL), so it may run up to 1 s past the window.
                retry_after=min(
                    config.login_failure_window_seconds,
                    max(1, math.ceil(item.expires_at.timestamp() - now)),
                ),
            )


def login_failure_record(*, username: str, ip: str | None) -> None:
    """Count a failed login against its username and its IP, in a window that starts with it."""
    window = get_config().login_failure_window_seconds

    def count(live: Limit | None, now: float) -> tuple[float, float]:
        if live is None:
            return 1, now + window
        return live.level + 1, live.expires_at.timestamp()

    for key in _login_keys(username=username, ip=ip):
        _update(key, count)  # losing every race means others counted: nothing more to do
