"""The gateway's fault injection into @connections POSTs: each fault does what it says, only to
the connections or users it names, and a probability outside 0-1 is refused."""

from __future__ import annotations

import time

import pytest

from emulator.settings import PostFaults
from lambdas.management import management_api
from lambdas.models import Connection
from tests.helpers import recv_json


@pytest.fixture
def two(connect, gateway, room):
    """faulty's and fine's sockets, their connection ids, the Management API; faults reset."""
    sockets = {name: connect(room, user_id=name, username=name) for name in ("faulty", "fine")}
    ids = {c.user_id: c.connection_id for c in Connection.room_index.query(room)}
    saved = gateway.settings.post_faults
    yield sockets, ids, management_api(gateway.management_url)
    gateway.settings.post_faults = saved


def test_each_fault_hits_only_the_user_it_names(gateway, two):
    sockets, ids, api = two
    both = [ids["faulty"], ids["fine"]]
    only = frozenset({"faulty"})

    gateway.settings.post_faults = PostFaults(error=1.0, users=only)
    posted = api.post_many(both, b'{"type": "one"}')
    assert posted.delivered == 1 and list(posted.retry) == [ids["faulty"]]
    assert recv_json(sockets["fine"], skip=("presence",))["type"] == "one"

    gateway.settings.post_faults = PostFaults(drop=1.0, users=only)
    posted = api.post_many(both, b'{"type": "two"}')
    assert posted.delivered == 2 and not posted.retry  # answered 200: nobody can tell
    assert recv_json(sockets["fine"], skip=("presence",))["type"] == "two"

    gateway.settings.post_faults = PostFaults(timeout=1.0, hang=0.3, connections=frozenset(both))
    started = time.monotonic()
    posted = api.post_many(both, b'{"type": "three"}')
    assert set(posted.retry) == set(both) and time.monotonic() - started >= 0.3

    gateway.settings.post_faults = PostFaults(delay=0.3)
    started = time.monotonic()
    assert api.post_many(both, b'{"type": "four"}').delivered == 2
    assert time.monotonic() - started >= 0.3
    # faulty heard none of the failed ones, then the delayed one.
    assert recv_json(sockets["faulty"], skip=("presence",))["type"] == "four"


def test_faults_parse_and_are_probabilities():
    faults = PostFaults.parse("drop=0.1, error=0.05,delay=0.02,seed=3")
    assert (faults.drop, faults.error, faults.timeout, faults.delay) == (0.1, 0.05, 0.0, 0.02)
    picked = [faults.pick("c", "u") for _ in range(10_000)]
    assert 800 < picked.count("drop") < 1200 and 350 < picked.count("error") < 650
    assert PostFaults.parse("").pick("c", "u") is None
    for bad in ("drop=2", "drop=0.6,error=0.6", "lose=0.1"):
        with pytest.raises(ValueError):
            PostFaults.parse(bad)
