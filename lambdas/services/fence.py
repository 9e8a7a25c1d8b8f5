"""The split-brain fence (docs/multi-region.md, "The fence"): only the stage's active Region
takes change numbers; a Region that is not active refuses them while the active one answers its
health route, and takes the writes over (claims) when it does not.

The active Region is named by one item of the rooms table (a global table): the marker
(lambdas.models.ActiveRegion, absent = the primary). A container reads it eventually
consistently at most once per FENCE_TTL_SECONDS: on a warm container the fence costs no request
per change, one 0.5-RRU GetItem per FENCE_TTL_SECONDS. Only a Region that finds the marker
naming the other probes the other's health route (urllib, PROBE_TIMEOUT_SECONDS, the answer
kept as long as a marker). Without PRIMARY_REGION (one Region) it does nothing at all.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pynamodb.exceptions import UpdateError

from lambdas.config import Config, follow_config, get_config
from lambdas.errors import RegionMoved, Unavailable
from lambdas.models import ActiveRegion, condition_failed

logger = logging.getLogger(__name__)

# The marker's key in the rooms table: room names are lowercase letters, digits, '-' and '_'
# (lambdas/services/rooms.py, ROOM_RE), so no room can take it; the health route reads it too.
MARKER_KEY = "$region"
# A probe of the other Region's health route that takes longer calls it unhealthy: Route 53's
# own checkers give up after 2 s too.
PROBE_TIMEOUT_SECONDS = 2.0
CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class Marker:
    region: str
    epoch: int
    at: int  # epoch ms
    handover: str | None = None  # a failback under way: the Region the stage goes back to


class MarkerChanged(Exception):
    """The marker is no longer the one read: another writer handed the stage over first."""


def region_marker(*, consistent: bool = False) -> Marker | None:
    """The marker as this Region's replica holds it (None: absent, the primary is active)."""
    try:
        item = ActiveRegion.get(MARKER_KEY, consistent_read=consistent)
    except ActiveRegion.DoesNotExist:
        return None
    return Marker(
        region=item.region, epoch=int(item.epoch), at=int(item.at), handover=item.handover
    )


def region_mark(*, region: str, seen: Marker | None, handover: str | None = None) -> Marker:
    """Name `region` the active one with the epoch after `seen`'s, conditionally on the marker
    being still `seen` (MarkerChanged if not); `handover` names the Region a failback hands the
    stage to (None: no hand-over under way). One UpdateItem, which the roles that take change
    numbers hold on the rooms table already."""
    epoch = (seen.epoch if seen else 0) + 1
    marked = Marker(region=region, epoch=epoch, at=_now_ms(), handover=handover)
    condition = ActiveRegion.epoch == seen.epoch if seen else ActiveRegion.name.does_not_exist()
    try:
        ActiveRegion(MARKER_KEY).update(
            actions=[
                ActiveRegion.region.set(marked.region),
                ActiveRegion.epoch.set(marked.epoch),
                ActiveRegion.at.set(marked.at),
                ActiveRegion.handover.set(handover) if handover else ActiveRegion.handover.remove(),
            ],
            condition=condition,
        )
    except UpdateError as error:
        if condition_failed(error):
            raise MarkerChanged from None
        raise
    return marked


def peer_healthy(url: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> bool:
    """Whether the other Region's health route answers 200 with `"ok": true` within `timeout`.
    Anything else (a timeout, a refused connection, 503 — `passive` included — or a body that
    is not its answer) is unhealthy."""
    # Imported here: urllib.request (http.client, email) is cold-start time that every function
    # would pay for a call only a Region that finds the other active ever makes.
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - http(s) only: config
            body = json.loads(answer.read(4096) or b"null")
            return answer.status == 200 and isinstance(body, dict) and body.get("ok") is True
    except (urllib.error.URLError, OSError, ValueError) as error:
        logger.warning("peer health probe failed", extra={"error": type(error).__name__})
        return False


def _now_ms() -> int:
    return int(time.time() * 1000)


class Fence:
    """One container's view of the marker and of the peer's health, each kept for
    FENCE_TTL_SECONDS of `clock` (injectable: tests move time instead of sleeping)."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], float] = time.monotonic,
        probe: Callable[[str], bool] = peer_healthy,
    ) -> None:
        self.config = config
        self.clock = clock
        self.probe = probe
        self._lock = threading.Lock()  # the site's request threads share one fence
        self._marker: tuple[float, Marker | None] | None = None  # (read at, marker)
        self._peer: tuple[float, bool] | None = None  # (probed at, healthy)

    def check(self) -> None:
        """Return if this Region may take a change number now; RegionMoved if the other Region
        is active and answers; a claim of the stage (and return) if it is active and does not."""
        config = self.config
        if not config.fenced:
            return
        marker = self._cached_marker()
        for _ in range(CLAIM_ATTEMPTS):
            active = marker.region if marker else config.primary_region
            if active == config.region:
                return
            # A failback hands the stage to this Region: its first change takes it (writes
            # reach it only once Route 53 sends clients here), with no probe of the other.
            handed = marker is not None and marker.handover == config.region
            if not handed and self._peer_healthy():
                logger.info("write refused: region moved", extra={"active": active})
                raise RegionMoved(
                    f"this Region no longer takes writes ({active} does): reconnect and send again"
                )
            try:
                marker = region_mark(region=config.region, seen=marker)
            except MarkerChanged:
                marker = region_marker(consistent=True)  # who was first: maybe this Region
                self._remember(marker)
                continue
            logger.warning(
                "stage taken back: failback"
                if handed
                else "stage claimed: the active Region did not answer",
                extra={"from_region": active, "epoch": marker.epoch},
            )
            self._remember(marker)
            return
        raise Unavailable("the chat is briefly unavailable; try again")

    def _cached_marker(self) -> Marker | None:
        now = self.clock()
        with self._lock:
            cached = self._marker
        if cached is not None and now - cached[0] < self.config.fence_ttl_seconds:
            return cached[1]
        marker = region_marker()
        self._remember(marker, now)
        return marker

    def _remember(self, marker: Marker | None, now: float | None = None) -> None:
        with self._lock:
            self._marker = (self.clock() if now is None else now, marker)

    def _peer_healthy(self) -> bool:
        now = self.clock()
        with self._lock:
            cached = self._peer
        if cached is not None and now - cached[0] < self.config.fence_ttl_seconds:
            return cached[1]
        assert self.config.peer_health_url is not None  # load_config requires it with a primary
        healthy = self.probe(self.config.peer_health_url)
        with self._lock:
            self._peer = (now, healthy)
        return healthy


_fence: Fence | None = None


def fence() -> Fence:
    """The container's fence, built from the configuration at first use."""
    global _fence
    current = _fence
    if current is None:
        current = _fence = Fence(get_config())
    return current


def fence_use(replacement: Fence | None) -> None:
    """Use `replacement` from now on (a test's fence with its own clock); None: a new one."""
    global _fence
    _fence = replacement


def fence_check() -> None:
    """change_number's guard: see Fence.check."""
    fence().check()


follow_config(lambda config: fence_use(None))
