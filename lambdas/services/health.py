"""Whether this Region can serve: what Route 53's health checks learn from the health route."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lambdas.config import get_config
from lambdas.models import Room

logger = logging.getLogger(__name__)

# A key no room has (room names are lowercase, docs: rooms): a GetItem of a missing item costs
# the same read unit as any other and proves the same thing, that the replica answers.
PROBE_KEY = "$health"


@dataclass(frozen=True)
class Health:
    ok: bool
    region: str
    error: str | None = None  # the failure's class name, never its message (it may name ARNs)


def health_check() -> Health:
    """One strongly consistent GetItem on the rooms table (a global table: its replica in this
    Region must answer); any failure to read is unhealthy."""
    region = get_config().region
    try:
        Room.get(PROBE_KEY, consistent_read=True, attributes_to_get=["name"])
    except Room.DoesNotExist:
        pass
    except Exception as error:  # noqa: BLE001 - whatever stops a read stops the Region serving
        logger.warning("health check failed", extra={"error": type(error).__name__})
        return Health(ok=False, region=region, error=type(error).__name__)
    return Health(ok=True, region=region)
