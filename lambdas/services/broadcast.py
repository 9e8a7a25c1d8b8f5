"""Fan-out: the one place that POSTs to `@connections`, in-process or in shards."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import chain, islice

from pynamodb.exceptions import DeleteError

from lambdas.clients import cached_client
from lambdas.config import Config, get_config
from lambdas.management import ManagementApi
from lambdas.metrics import metric_count, metric_ms
from lambdas.models import Connection, condition_failed, utcnow

logger = logging.getLogger(__name__)
CONNECT_GRACE = timedelta(seconds=30)
# Lambda's limit for an asynchronous Invoke payload is 256 KB; keep a margin for the envelope
# AWS adds and for our own arithmetic.
MAX_INVOKE_PAYLOAD = 250 * 1024
RETRY_BASE_SECONDS = 0.05
sleep = time.sleep  # a module attribute so tests can record backoffs instead of waiting


@dataclass
class BroadcastResult:
    delivered: int = 0
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    shards: int = 0  # asynchronous fan-out invocations; their deliveries are not counted here


def room_connection_ids(*, room: str, page_size: int = 500) -> Iterator[str]:
    """Ids of the room's live connections, read page by page from the room index.

    Expired items are filtered here because nothing guarantees TTL has removed them (DynamoDB
    deletes them within a few days of their expiry, not at it).
    """
    query = Connection.room_index.query(
        room, filter_condition=Connection.expires_at > utcnow(), page_size=page_size
    )
    for connection in query:
        yield connection.connection_id


@cached_client("lambda", endpoint="lambda_endpoint_url")
def lambda_client(config: Config) -> dict:
    """The Lambda client that starts fan-out shards (imported lazily: only rooms large enough
    to shard need it); one per container, reused."""
    return {
        "max_pool_connections": config.fanout_workers,
        "retries": {"max_attempts": 3, "mode": "standard"},
        "connect_timeout": 2,
        "read_timeout": 5,
    }


def _encode(payload: dict | bytes) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def broadcast(
    *,
    api: ManagementApi,
    room: str,
    payload: dict | bytes,
    exclude: str | None = None,
    first: str | None = None,
) -> BroadcastResult:
    """Post `payload` to every live connection of `room`; forget the ones gone.

    `first` (the sender's connection) is posted before anyone else, in-process: it is the
    sender's acknowledgement and must not wait behind the room. Reading the first
    FANOUT_SHARD_SIZE + 1 ids of the room index decides the rest: a room of at most
    FANOUT_SHARD_SIZE others is posted from here, concurrently; a larger one, when
    FANOUT_FUNCTION_NAME is set, is split into shards posted by asynchronous invocations of the
    fan-out function, invoked while later pages are still being read, and this returns as soon
    as they are accepted. A 410 deletes exactly the connection that answered it, never the
    sender's.
    """
    started = time.perf_counter()
    config = get_config()
    data = _encode(payload)
    message_id = payload.get("id") if isinstance(payload, dict) else None
    result = BroadcastResult()
    if first is not None and first != exclude:
        _merge(
            result,
            broadcast_shard(
                api=api, connection_ids=[first], payload=data, message_id=message_id, forget=False
            ),
        )
    members = (c for c in room_connection_ids(room=room) if c not in (exclude, first))
    head = list(islice(members, config.fanout_shard_size + 1))
    if len(head) > config.fanout_shard_size and config.fanout_function_name:
        result.shards = _dispatch_shards(
            api=api,
            room=room,
            connection_ids=chain(head, members),
            data=data,
            message_id=message_id,
        )
    else:
        _merge(
            result,
            broadcast_shard(
                api=api,
                connection_ids=chain(head, members),
                payload=data,
                message_id=message_id,
                forget=False,
            ),
        )
    connections_forget(result.gone)
    # Until the room's in-process posts are done, or its shards are accepted.
    metric_ms("FanoutDuration", (time.perf_counter() - started) * 1000)
    return result


def broadcast_shard(
    *,
    api: ManagementApi,
    connection_ids: Iterable[str],
    payload: dict | bytes,
    message_id: str | None = None,
    forget: bool = True,
) -> BroadcastResult:
    """Post `payload` to these connections with bounded concurrency; forget the ones gone.

    The fan-out function's whole job, and the in-process path of small rooms. Posts go in
    rounds: every connection once, concurrently, then the ones worth another try after a
    jittered backoff, up to FANOUT_ATTEMPTS; one connection's failure never drops the others.
    """
    data = _encode(payload)
    result = BroadcastResult()
    attempts = get_config().fanout_attempts
    pending: Iterable[str] = connection_ids
    for attempt in range(1, attempts + 1):
        posted = api.post_many(pending, data)
        result.delivered += posted.delivered
        result.gone += posted.gone
        final = attempt == attempts
        _log_failures(posted.refused, message_id, attempt, final=True)  # never retried
        _log_failures(posted.retry, message_id, attempt, final=final)
        result.failed += [*posted.refused, *(posted.retry if final else ())]
        if not posted.retry or final:
            break
        # One wait per round: its retries go out together, each shard at its own jittered
        # moment, never more than FANOUT_CONCURRENCY at once.
        sleep(backoff(attempt))
        pending = list(posted.retry)
    # Counted per shard, so deliveries made by the fan-out function count as well.
    metric_count("Deliveries", result.delivered)
    metric_count("ConnectionsGone", len(result.gone))
    metric_count("DeliveryFailures", len(result.failed))
    if forget:
        connections_forget(result.gone)
    return result


def _log_failures(
    reasons: dict[str, str], message_id: str | None, attempt: int, *, final: bool
) -> None:
    # Ids and the reason only, never the payload: it is the room's message.
    for connection_id, reason in reasons.items():
        extra = {
            "connection": connection_id,
            "message_id": message_id,
            "attempt": attempt,
            "error": reason,
        }
        if final:
            logger.error("post to connection failed; giving up", extra=extra)
        else:
            logger.warning("post to connection failed; retrying", extra=extra)


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt n: in [b * 2^(n-2), b * 2^(n-1)] ("equal jitter").

    Jitter spreads the retries of shards that failed together (a throttled burst); the floor
    keeps each retry later than the last.
    """
    ceiling = RETRY_BASE_SECONDS * 2 ** (attempt - 1)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not secrecy


def _merge(into: BroadcastResult, part: BroadcastResult) -> None:
    into.delivered += part.delivered
    into.gone += part.gone
    into.failed += part.failed


def shards_of(
    connection_ids: Iterable[str],
    *,
    envelope: dict,
    shard_size: int,
    limit: int = MAX_INVOKE_PAYLOAD,
) -> Iterator[dict]:
    """Invoke payloads: `envelope` plus at most `shard_size` connection ids, each payload at
    most `limit` bytes once encoded as compact JSON."""
    base = len(_compact({**envelope, "connection_ids": []}))
    shard: list[str] = []
    size = base
    for connection_id in connection_ids:
        item = len(_compact(connection_id))
        if shard and (len(shard) >= shard_size or size + 1 + item > limit):
            yield {**envelope, "connection_ids": shard}
            shard, size = [], base
        added = item + (1 if shard else 0)  # the id, and the comma before it
        if size + added > limit:
            raise ValueError(f"a fan-out payload cannot fit in {limit} bytes")
        shard.append(connection_id)
        size += added
    if shard:
        yield {**envelope, "connection_ids": shard}


def _compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _dispatch_shards(
    *,
    api: ManagementApi,
    room: str,
    connection_ids: Iterable[str],
    data: bytes,
    message_id: str | None,
) -> int:
    """Start one asynchronous fan-out invocation per shard, concurrently; return how many.

    A shard whose Invoke fails is posted in-process instead, so no part of the room is dropped.
    """
    config = get_config()
    envelope = {
        "endpoint": api.endpoint_url,
        "room": room,
        "message_id": message_id,
        "data": data.decode(),
    }
    client = lambda_client()

    def invoke(shard: dict) -> None:
        try:
            client.invoke(
                FunctionName=config.fanout_function_name,
                InvocationType="Event",
                Payload=_compact(shard),
            )
        except Exception:
            logger.exception(
                "fan-out invocation failed; posting the shard in-process",
                extra={"room": room, "message_id": message_id},
            )
            broadcast_shard(
                api=api, connection_ids=shard["connection_ids"], payload=data, message_id=message_id
            )

    # Shards are invoked as they fill, while later pages of the room index are being read.
    with ThreadPoolExecutor(config.fanout_workers, thread_name_prefix="fanout-invoke") as pool:
        shards = [
            pool.submit(invoke, shard)
            for shard in shards_of(
                connection_ids, envelope=envelope, shard_size=config.fanout_shard_size
            )
        ]
        for future in shards:
            future.result()
    return len(shards)


def connections_forget(connection_ids: list[str]) -> None:
    """What a 410 from `@connections` means, for every caller (POST here, GET and DELETE in the
    site's moderation and in the per-user cap): delete those connections' items, unless they
    are still being opened.

    API Gateway answers 410 for a connection whose $connect has not returned yet, while its item
    is already in the room index: such a newcomer must not be forgotten. An item older than any
    $connect can run (the 29 s integration timeout) really is gone.
    """
    settled = utcnow() - CONNECT_GRACE
    for connection_id in connection_ids:
        try:
            Connection(connection_id).delete(condition=Connection.connected_at < settled)
        except DeleteError as error:
            if not condition_failed(error):
                raise
