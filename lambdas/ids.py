"""Time-sortable identifiers (ULIDs) for messages: lexical order is creation order."""

from __future__ import annotations

import os
import re
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")

_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, randomness) of the last id made in this process


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_ulid(now_ms: int | None = None) -> str:
    """A 26-character ULID; ids made in one process within one millisecond still sort in order."""
    global _last
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        last_ms, last_rand = _last
        if ms == last_ms or (now_ms is None and ms < last_ms):
            # Same millisecond (or the clock stepped back): keep order by counting up.
            ms, rand = last_ms, last_rand + 1
            _last = (ms, rand)
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # leave headroom for counting up
            if ms > last_ms:
                _last = (ms, rand)
            # else: an explicit moment in the past is not part of this process's sequence
    return _encode(ms, 10) + _encode(rand, 16)


def is_ulid(value: object) -> bool:
    return isinstance(value, str) and bool(ULID_RE.match(value))


def ulid_floor(epoch_ms: int) -> str:
    """The smallest id of that millisecond: a key bound for "messages since <time>"."""
    return _encode(epoch_ms, 10) + "0" * 16
