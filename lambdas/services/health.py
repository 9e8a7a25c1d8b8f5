"""Whether this Region can serve: what Route 53's health checks learn from the health route."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lambdas.config import get_config
from lambdas.services.fence import region_marker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    ok: bool
    region: str
    # The failure's class name, never its message (it may name ARNs); or "passive": the
    # primary Region while the stage's marker names the other (the fence).
    error: str | None = None
    active: str | None = None  # the Region the marker names, when it is not this one


def health_check() -> Health:
    """One strongly consistent GetItem on the rooms table: the active-Region marker's
    (lambdas/services/fence.py; a global table: its replica in this Region must answer, and a
    missing item costs the same read unit). Any failure to read is unhealthy.

    The primary is also unhealthy ("passive") while the marker names another Region: once the
    secondary took the stage over, Route 53 keeps the domain there even after the primary
    recovers — until a failback by hand (deploy/failback.py) hands the stage back to it (the
    marker's `handover`), so Route 53 sends clients back before it takes the writes. The
    secondary is healthy whenever it can read its table, so that Route 53 can fail over to it."""
    config = get_config()
    region = config.region
    try:
        marker = region_marker(consistent=True)
    except Exception as error:  # noqa: BLE001 - whatever stops a read stops the Region serving
        logger.warning("health check failed", extra={"error": type(error).__name__})
        return Health(ok=False, region=region, error=type(error).__name__)
    passive = marker is not None and marker.region != region and marker.handover != region
    if config.primary_region == region and passive:
        return Health(ok=False, region=region, error="passive", active=marker.region)
    return Health(ok=True, region=region)
