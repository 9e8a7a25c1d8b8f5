"""The API Gateway Management API (`@connections`) client: post to, read and close connections."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from lambdas.config import follow_config, get_config

if TYPE_CHECKING:
    from lambdas.fanout_client import FanoutClient


class ConnectionGone(Exception):
    """The connection no longer exists (HTTP 410)."""

    def __init__(self, connection_id: str) -> None:
        super().__init__(connection_id)
        self.connection_id = connection_id


@dataclass
class Posted:
    """What one attempt at posting to many connections came to, per connection."""

    delivered: int = 0
    gone: list[str] = field(default_factory=list)  # answered 410
    refused: dict[str, str] = field(default_factory=dict)  # id -> why; another try cannot help
    retry: dict[str, str] = field(default_factory=dict)  # id -> why; worth another attempt


def _is_gone(exc: ClientError) -> bool:
    # Decide by HTTP status: without the x-amzn-ErrorType header boto3 raises a plain
    # ClientError whose code is just "410", not GoneException.
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 410


class ManagementApi:
    """One endpoint's `@connections`: fan-out POSTs through the lean client, the rest via boto3."""

    def __init__(self, endpoint_url: str, *, poster: FanoutClient | None = None) -> None:
        self.endpoint_url = endpoint_url  # the callback URL, also handed to fan-out shards
        self.poster = poster
        self._client = None
        self._lock = threading.Lock()

    @property
    def client(self):
        """boto3's client, made at first use: handlers that only post never build it."""
        with self._lock:
            if self._client is None:
                self._client = _boto3_client(self.endpoint_url)
            return self._client

    def post_many(self, connection_ids: Iterable[str], data: bytes) -> Posted:
        """One attempt at each connection, concurrently (lambdas/fanout_client.py)."""
        if self.poster is None:
            # Imported here: aiohttp is a tenth of a second that handlers which never post skip.
            from lambdas.fanout_client import client_for

            return client_for(self.endpoint_url).post_many(connection_ids, data)
        return self.poster.post_many(connection_ids, data)

    def get(self, connection_id: str) -> dict:
        try:
            response = self.client.get_connection(ConnectionId=connection_id)
        except ClientError as exc:
            if _is_gone(exc):
                raise ConnectionGone(connection_id) from None
            raise
        response.pop("ResponseMetadata", None)
        return response

    def delete(self, connection_id: str) -> None:
        try:
            self.client.delete_connection(ConnectionId=connection_id)
        except ClientError as exc:
            if _is_gone(exc):
                raise ConnectionGone(connection_id) from None
            raise


def endpoint_for(domain_name: str, stage: str) -> str:
    """The callback URL of the API: the configured override (a custom domain, a test's) wins."""
    return get_config().management_endpoint_url or f"https://{domain_name}/{stage}"


@lru_cache(maxsize=4)
def management_api(endpoint_url: str) -> ManagementApi:
    """One client per endpoint and container (its boto3 client is built from the configuration:
    a new one drops them)."""
    return ManagementApi(endpoint_url)


follow_config(lambda config, clear=management_api.cache_clear: clear())


def _boto3_client(endpoint_url: str):
    """boto3's client for the calls off the fan-out path (GET and DELETE, from moderation)."""
    config = get_config()
    # boto3 is imported here, not at module level: handlers that never call it start faster.
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint_url,
        region_name=config.region,
        config=BotoConfig(
            max_pool_connections=config.fanout_workers,
            # Callers decide about retries (moderation reports, presence checks treat a failure
            # as reachable); a second layer here would multiply the worst case.
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=2,
            read_timeout=5,
        ),
    )
