"""The API Gateway Management API (`@connections`) client: post to, read and close connections."""

from __future__ import annotations

import json
from functools import lru_cache

from botocore.exceptions import ClientError

from lambdas.config import get_config


class ConnectionGone(Exception):
    """The connection no longer exists (HTTP 410)."""

    def __init__(self, connection_id: str) -> None:
        super().__init__(connection_id)
        self.connection_id = connection_id


def _is_gone(exc: ClientError) -> bool:
    # Decide by HTTP status: without the x-amzn-ErrorType header boto3 raises a plain
    # ClientError whose code is just "410", not GoneException.
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 410


class ManagementApi:
    """A thin wrapper over boto3's `apigatewaymanagementapi` client that types the 410."""

    def __init__(self, client) -> None:
        self.client = client

    @property
    def endpoint_url(self) -> str:
        """The callback URL this client posts to (handed to fan-out shards)."""
        return self.client.meta.endpoint_url

    def post(self, connection_id: str, payload: dict | bytes) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            if _is_gone(exc):
                raise ConnectionGone(connection_id) from None
            raise

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
    """The callback URL of the API: the configured override (local gateway, custom domain) wins."""
    return get_config().management_endpoint_url or f"https://{domain_name}/{stage}"


@lru_cache(maxsize=4)
def management_api(endpoint_url: str) -> ManagementApi:
    """One client per endpoint and container; its connection pool matches fan-out parallelism."""
    config = get_config()
    # boto3 is imported here, not at module level: handlers that never post (ping) start faster.
    import boto3
    from botocore.config import Config as BotoConfig

    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint_url,
        region_name=config.region,
        config=BotoConfig(
            max_pool_connections=config.fanout_workers,
            # broadcast retries posts itself, with backoff and the message id in its logs; a
            # second layer of retries here would multiply the worst case.
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=2,
            read_timeout=5,
        ),
    )
    return ManagementApi(client)
