"""API Gateway's stage and route throttles, emulated: one token bucket per route key of the stage.

As "Protect your WebSocket APIs" (API Gateway Developer Guide) describes them: a token bucket
(a token a request, refilled at the steady rate up to the burst); the stage's
DefaultRouteSettings set every route's rate and burst, RouteSettings override them for one route,
and what neither sets falls back to the account's Region-wide quota (10,000 requests a second,
bursts of 5,000: "Amazon API Gateway quotas"), one bucket shared by every route without its own.
A setting that gives only one of ThrottlingRateLimit and ThrottlingBurstLimit takes the other
from the next level. These throttles are per stage and route, not per client: a frame that finds
its route's bucket empty is not delivered to the integration; the client gets
`{"message": "Too Many Requests", ...}` instead (the shape of API Gateway's other error frames,
with connectionId and requestId), a handshake a 429 (the THROTTLED gateway response). The
per-user buckets of lambdas/services/limits.py only act once a frame got through, so this is
what one client flooding a route takes from everyone else (tests/local/test_throttle.py).

Not emulated: usage plans' per-API-key throttles and quotas (AWS applies them "on a best-effort
basis" and advises against relying on them), and the account's 500 new connections a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from emulator.intrinsics import Stack, Unresolvable

TOO_MANY_REQUESTS = "Too Many Requests"


@dataclass(frozen=True)
class Throttle:
    rate: float  # ThrottlingRateLimit: requests a second, steady
    burst: int  # ThrottlingBurstLimit: the bucket's size


# The account's default quota per Region (most Regions): what a route without settings gets.
ACCOUNT = Throttle(rate=10_000.0, burst=5_000)
_ACCOUNT_BUCKET = "(account)"  # the one bucket every route without settings draws from


@dataclass(frozen=True)
class StageThrottles:
    """A stage's throttling: the default for every route, and routes' own settings."""

    default: Throttle | None = None
    routes: dict[str, Throttle] = field(default_factory=dict)

    def of(self, route_key: str) -> Throttle | None:
        """None: only the account's Region-wide quota (ACCOUNT)."""
        return self.routes.get(route_key, self.default)


def _limits(stack: Stack, settings: object) -> tuple[float | None, int | None]:
    """The rate and burst a route settings block declares, each None if it does not."""
    if not isinstance(settings, dict):
        return None, None
    values = []
    for name, kind in (("ThrottlingRateLimit", float), ("ThrottlingBurstLimit", int)):
        try:
            value = settings.get(name)
            values.append(None if value is None else kind(float(stack.text(value))))
        except (Unresolvable, ValueError):
            values.append(None)
    return values[0], values[1]


def _throttle(own: tuple, fallback: Throttle) -> Throttle | None:
    """The throttle of a level that sets one limit or both (the other from `fallback`)."""
    rate, burst = own
    if rate is None and burst is None:
        return None
    return Throttle(
        rate=fallback.rate if rate is None else rate,
        burst=fallback.burst if burst is None else burst,
    )


def stage_throttles(stack: Stack, stage: dict) -> StageThrottles:
    """The throttles of an AWS::ApiGatewayV2::Stage's properties, resolved against the stack."""
    default = _throttle(_limits(stack, stage.get("DefaultRouteSettings")), ACCOUNT)
    routes = {}
    for key, settings in (stage.get("RouteSettings") or {}).items():
        own = _throttle(_limits(stack, settings), default or ACCOUNT)
        if own is not None:
            routes[key] = own
    return StageThrottles(default=default, routes=routes)


class Throttling:
    """Token buckets per route key, full at first; `take(route_key)` is False when the route's
    throttle refuses. `clock` is injectable: a test that stops it holds every route to its
    burst, so what one client takes from the others does not depend on the machine's speed."""

    def __init__(
        self, throttles: StageThrottles, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.throttles = throttles
        self.clock = clock
        self.refused: dict[str, int] = {}  # frames (and handshakes) refused, per route key
        self._buckets: dict[str, tuple[float, float]] = {}  # route key -> (tokens, when)
        self._lock = threading.Lock()  # the gateway's loop, and tests reading `refused`

    def take(self, route_key: str) -> bool:
        throttle = self.throttles.of(route_key)
        bucket = route_key
        if throttle is None:  # the account's quota, shared by every route without settings
            throttle, bucket = ACCOUNT, _ACCOUNT_BUCKET
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(bucket, (float(throttle.burst), now))
            tokens = min(throttle.burst, tokens + max(0.0, now - at) * throttle.rate)
            taken = tokens >= 1
            self._buckets[bucket] = (tokens - 1 if taken else tokens, now)
            if not taken:
                self.refused[route_key] = self.refused.get(route_key, 0) + 1
            return taken
