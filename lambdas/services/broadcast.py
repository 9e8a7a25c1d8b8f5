"""Fan-out: the one place that POSTs to `@connections`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from pynamodb.exceptions import DeleteError

from lambdas.config import get_config
from lambdas.management import ConnectionGone, ManagementApi
from lambdas.models import Connection, utcnow

logger = logging.getLogger(__name__)
CONNECT_GRACE = timedelta(seconds=30)


@dataclass
class BroadcastResult:
    delivered: int = 0
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def room_connection_ids(*, room: str, page_size: int = 500) -> Iterator[str]:
    """Ids of the room's live connections, read page by page from the room index.

    Expired items are filtered here because nothing guarantees TTL has removed them (DynamoDB
    deletes within days; dynalite never does).
    """
    query = Connection.room_index.query(
        room, filter_condition=Connection.expires_at > utcnow(), page_size=page_size
    )
    for connection in query:
        yield connection.connection_id


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
        for connection_id in room_connection_ids(room=room):
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
    _forget(result.gone)
    return result


def _forget(connection_ids: list[str]) -> None:
    """Delete connections that answered 410, unless they are still being opened.

    API Gateway answers 410 for a connection whose $connect has not returned yet, while its item
    is already in the room index: such a newcomer must not be forgotten. An item older than any
    $connect can run (the 29 s integration timeout) really is gone.
    """
    settled = utcnow() - CONNECT_GRACE
    for connection_id in connection_ids:
        try:
            Connection(connection_id).delete(condition=Connection.connected_at < settled)
        except DeleteError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
