"""The functions' boto3 clients: each built on first use (boto3 is imported then, so a function
that never makes such a call starts without it), kept for the container's life, and built again
after configure() binds another configuration."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from lambdas.config import Config, follow_config, get_config


def cached_client(service: str, *, endpoint: str) -> Callable[[Callable[[Config], dict]], Any]:
    """Decorate `settings(config) -> botocore Config options`: the result, called with no
    argument, is the `service` client of the configured Region at the endpoint the Config
    attribute `endpoint` names (None: AWS's own)."""

    def decorate(settings: Callable[[Config], dict]) -> Callable[[], Any]:
        @functools.lru_cache(maxsize=1)
        def client():
            import boto3
            from botocore.config import Config as BotoConfig

            config = get_config()
            return boto3.client(
                service,
                region_name=config.region,
                endpoint_url=getattr(config, endpoint),
                config=BotoConfig(**settings(config)),
            )

        functools.update_wrapper(client, settings)
        follow_config(lambda config: client.cache_clear())
        return client

    return decorate
