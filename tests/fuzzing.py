"""Hypothesis strategies and settings shared by the fuzz suites (tests/*/test_fuzz_*.py)."""

from __future__ import annotations

import base64
import json
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import chat.errors  # noqa: F401  (imported for its ChatError subclasses: the site's codes)
import lambdas.errors
from lambdas.errors import ChatError

# Derandomized and without an example database: every run feeds the same inputs, so CI is stable
# and a failure reproduces. FUZZ_SCALE (e.g. 0.1 while editing, 10 for a long soak) scales the
# number of examples of every suite.
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))


def scaled(examples: int) -> int:
    """How many examples a suite asking for `examples` runs (suites assert they all ran)."""
    return max(1, int(examples * SCALE))


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=scaled(examples),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        print_blob=True,
    )


def _codes() -> set[str]:
    found, todo = set(), [ChatError]
    while todo:
        cls = todo.pop()
        found.add(cls.code)
        todo += cls.__subclasses__()
    return found


# Every code a client may be told; `internal` and `unavailable` are never the right answer to a
# bad frame (the first is a bug, the second would mean the test's dynalite failed).
CLIENT_CODES = _codes() - {lambdas.errors.Internal.code, lambdas.errors.Unavailable.code}

ULID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and ±Infinity too: Python's json writes and reads them
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
ulid_like = st.text(alphabet=ULID_CHARS, min_size=24, max_size=28) | st.from_regex(
    r"\A[0-7][0-9A-HJKMNP-TV-Z]{25}\Z"
)
long_texts = st.builds(
    lambda n, c: c * n, st.integers(min_value=3990, max_value=4010), st.characters()
)
texts = st.text(max_size=60) | long_texts | st.just("   \n\t ")


def frames(action: str | None, fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy[str]:
    """JSON frames shaped like `action`'s: each field sometimes missing, sometimes any value."""
    optional = {name: st.one_of(strategy, json_values) for name, strategy in fields.items()}
    shaped = st.fixed_dictionaries(
        {} if action is None else {"action": st.just(action) | json_values},
        optional=optional | {"extra": json_values},
    )
    return shaped.map(lambda frame: json.dumps(frame))


def bodies(action: str | None, fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """What API Gateway may hand a route: shaped frames, any JSON, any text, base64 bytes.

    Values are (body, is_base64) pairs.
    """
    plain = st.one_of(
        frames(action, fields),
        frames(action, fields),  # twice: the shaped frames reach deepest, so draw them more
        json_values.map(json.dumps),
        st.text(max_size=200),
        st.sampled_from(["", "{", "[]", "null", '"x"', "1e999999", "9" * 5000, "{}" * 3]),
    )
    return st.one_of(
        plain.map(lambda body: (body, False)),
        st.binary(max_size=200).map(lambda raw: (base64.b64encode(raw).decode(), True)),
        st.text(max_size=40).map(lambda junk: (junk, True)),  # "base64" that is not
    )
