"""Opaque page tokens over DynamoDB's LastEvaluatedKey, for lists shown in browsers."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pynamodb.exceptions import PynamoDBException

from lambdas.errors import InvalidPageToken

T = TypeVar("T")
MAX_TOKEN_LENGTH = 2048


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None  # None on the last page


def page_token_encode(key: dict | None) -> str | None:
    if not key:
        return None
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def page_token_decode(token: str | None, *, key_names: frozenset[str]) -> dict | None:
    """The key a token stands for; anything that is not one of ours is InvalidPageToken."""
    if not token:
        return None
    try:
        if len(token) > MAX_TOKEN_LENGTH:
            raise ValueError("too long")
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        raise InvalidPageToken("that page link is not valid; start from the first page") from None
    valid = (
        isinstance(key, dict)
        and set(key) == key_names
        and all(
            isinstance(value, dict)
            and len(value) == 1
            and next(iter(value)) in ("S", "N")
            and isinstance(next(iter(value.values())), str)
            for value in key.values()
        )
    )
    if not valid:
        raise InvalidPageToken("that page link is not valid; start from the first page")
    return key


def page_read(
    read: Callable[[dict | None], object],
    *,
    token: str | None,
    key_names: frozenset[str],
) -> Page:
    """One page from `read(start_key)`, a PynamoDB query or scan made with a `limit`."""
    start = page_token_decode(token, key_names=key_names)
    try:
        results = read(start)
        items = list(results)
    except PynamoDBException as error:
        if start is not None and "ValidationException" in str(error.cause_response_code):
            raise InvalidPageToken("that page link does not belong to this list") from None
        raise
    return Page(items=items, next_token=page_token_encode(results.last_evaluated_key))
