"""The site's limits: login throttling and quotas (room creation per user, sign-ups per caller).

Kept in DynamoDB's `limits` table through lambdas.services.limits (limit_live, limit_update), so
they bind every site instance alike, with the same clock the route buckets use.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math

from lambdas.config import get_config
from lambdas.errors import RateLimited
from lambdas.models import Limit
from lambdas.services import limits
from lambdas.services.limits import limit_live, limit_update

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
    allowed, now = config.login_failures_allowed, limits.clock()
    keys = _login_keys(username=username, ip=ip)
    pair = limit_live(keys["pair"], now) if "pair" in keys else None
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
        item = limit_live(keys[kind], now) if kind in keys else None
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
        limit_update(key, pair if kind == "pair" else rolling)  # a lost race: others counted


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

    if not limit_update(f"quota-{key}", take):
        raise RateLimited(f"too many {what} at once; try again", retry_after=1)


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} s"
