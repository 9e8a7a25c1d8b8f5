"""Fan-out: the one place that POSTs to `@connections`."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from lambdas.config import get_config
from lambdas.management import ConnectionGone, ManagementApi
from lambdas.services.connections import connection_close, connection_ids_in_room

logger = logging.getLogger(__name__)


@dataclass
class BroadcastResult:
    delivered: int = 0
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def broadcast(
    *, api: ManagementApi, room: str, payload: dict | bytes, exclude: str | None = None
) -> BroadcastResult:
    """Post `payload` to every live connection of `room`, in parallel; forget the ones gone.

    Posting starts while later pages of the room index are still being read. A 410 deletes
    exactly the connection that answered it, never the sender's.
    """
    result = BroadcastResult()
    workers = get_config().fanout_workers
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fanout") as pool:
        futures: dict[Future, str] = {}
        for connection_id in connection_ids_in_room(room=room):
            if connection_id != exclude:
                futures[pool.submit(api.post, connection_id, payload)] = connection_id
        for future, connection_id in futures.items():
            try:
                future.result()
                result.delivered += 1
            except ConnectionGone:
                result.gone.append(connection_id)
            except Exception:
                # One bad delivery must not drop the rest of the room.
                logger.exception("post to connection failed", extra={"connection": connection_id})
                result.failed.append(connection_id)
    for connection_id in result.gone:
        connection_close(connection_id=connection_id)
    return result
