"""API Gateway's stage and route throttles, emulated: one token bucket per route key of the stage.

A WebSocket API's throttles are per API (there are no API keys, so no per-client limits): the
stage's DefaultRouteSettings set every route's steady rate and burst, RouteSettings override them
for one route. A frame that finds its route's bucket empty is not delivered to the integration;
the client gets API Gateway's `{"message": "Too Many Requests", ...}` frame instead (a handshake,
a 429). The per-user buckets of lambdas/services/limits.py only act once a frame got through, so
this is what one client flooding a route takes from everyone else (tests/local/test_throttle.py).
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


@dataclass(frozen=True)
class StageThrottles:
    """A stage's throttling: the default for every route, and routes' own settings."""

    default: Throttle | None = None
    routes: dict[str, Throttle] = field(default_factory=dict)

    def of(self, route_key: str) -> Throttle | None:
        """None: only the account's Region-wide limits (10,000/s), never reached locally."""
        return self.routes.get(route_key, self.default)


def _throttle(stack: Stack, settings: object) -> Throttle | None:
    """The throttle a route settings block declares (both limits, or neither: none)."""
    if not isinstance(settings, dict):
        return None
    rate, burst = settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")
    if rate is None or burst is None:
        return None
    try:
        return Throttle(rate=float(stack.text(rate)), burst=int(float(stack.text(burst))))
    except (Unresolvable, ValueError):
        return None


def stage_throttles(stack: Stack, stage: dict) -> StageThrottles:
    """The throttles of an AWS::ApiGatewayV2::Stage's properties, resolved against the stack."""
    default = _throttle(stack, stage.get("DefaultRouteSettings"))
    routes = {}
    for key, settings in (stage.get("RouteSettings") or {}).items():
        own = _throttle(stack, settings)
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
        if throttle is None:
            return True
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(route_key, (float(throttle.burst), now))
            tokens = min(throttle.burst, tokens + max(0.0, now - at) * throttle.rate)
            taken = tokens >= 1
            self._buckets[route_key] = (tokens - 1 if taken else tokens, now)
            if not taken:
                self.refused[route_key] = self.refused.get(route_key, 0) + 1
            return taken
