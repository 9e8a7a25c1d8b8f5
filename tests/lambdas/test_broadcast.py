"""Fan-out reaches every live connection of the room and forgets exactly the gone ones."""

import json
import logging
import uuid
from datetime import timedelta

import pytest

from lambdas.models import Connection, utcnow
from lambdas.services import broadcast as module
from lambdas.services.broadcast import MAX_INVOKE_PAYLOAD, broadcast, broadcast_shard, shards_of
from tests.helpers import bind_config
from tests.lambdas.fakes import FakeLambda, FakeManagementApi, FlakyManagementApi


def add_connection(room: str, *, expired: bool = False, opening: bool = False) -> str:
    """A connection item; `opening`: its $connect is still running (it connected just now)."""
    connection_id = uuid.uuid4().hex[:16]
    now = utcnow()
    Connection(
        connection_id,
        user_id="1",
        username="alice",
        room=room,
        connected_at=now if opening else now - timedelta(minutes=5),
        expires_at=now - timedelta(minutes=1) if expired else now + timedelta(hours=2),
    ).save()
    return connection_id


def test_every_live_connection_of_the_room_gets_the_frame(dynamodb, room):
    """All live connections of the room receive the payload once; other rooms none."""
    members = [add_connection(room) for _ in range(5)]
    outsider = add_connection(room + "-other")
    api = FakeManagementApi()
    result = broadcast(api=api, room=room, payload={"type": "message", "text": "hi"})
    assert result.delivered == 5
    assert api.posts == {cid: [{"type": "message", "text": "hi"}] for cid in members}
    assert outsider not in api.posts


def test_gone_connection_is_deleted_and_only_it(dynamodb, room):
    """A 410 deletes the connection that answered it; the sender's and others' items stay."""
    members = [add_connection(room) for _ in range(6)]
    stale = members[3]
    api = FakeManagementApi(gone={stale})
    result = broadcast(api=api, room=room, payload={"type": "message"})
    assert result.gone == [stale]
    assert result.delivered == 5
    remaining = {c.connection_id for c in Connection.room_index.query(room)}
    assert remaining == set(members) - {stale}


def test_expired_connections_are_skipped(dynamodb, room):
    """Connections past their TTL are not posted to, even though dynalite never expires them."""
    live = add_connection(room)
    expired = add_connection(room, expired=True)
    api = FakeManagementApi()
    broadcast(api=api, room=room, payload={"type": "message"})
    assert set(api.posts) == {live}
    assert expired not in api.posts


def test_one_failing_delivery_does_not_drop_the_rest(dynamodb, room):
    """An error other than 410 is reported and the rest of the room still receives the frame."""
    good = [add_connection(room) for _ in range(3)]
    bad = add_connection(room)
    api = FakeManagementApi(failing={bad})
    result = broadcast(api=api, room=room, payload={"type": "message"})
    assert result.failed == [bad] and result.delivered == 3
    assert set(api.posts) == set(good)
    assert Connection.get(bad)  # a timeout is not a reason to forget the connection


def test_room_of_several_pages_is_read_completely(dynamodb, room, monkeypatch):
    """A room larger than one index page is fanned out to every member."""
    from lambdas.services import broadcast as module

    members = {add_connection(room) for _ in range(7)}
    original = module.room_connection_ids
    monkeypatch.setattr(
        module, "room_connection_ids", lambda room: original(room=room, page_size=2)
    )
    api = FakeManagementApi()
    assert broadcast(api=api, room=room, payload={"type": "m"}).delivered == 7
    assert set(api.posts) == members


def test_a_connection_still_opening_is_not_forgotten(dynamodb, room):
    """A 410 from a connection whose $connect has not returned yet does not delete its item."""
    opening = add_connection(room, opening=True)
    stale = add_connection(room)
    result = broadcast(api=FakeManagementApi(gone={opening, stale}), room=room, payload={"t": 1})
    assert sorted(result.gone) == sorted([opening, stale])
    assert {c.connection_id for c in Connection.room_index.query(room)} == {opening}


@pytest.fixture
def backoffs(monkeypatch) -> list[float]:
    """Backoff sleeps, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(module, "sleep", slept.append)
    return slept


@pytest.fixture
def sharded(monkeypatch):
    """Rooms above 3 connections go to a fake Lambda as shards of at most 3."""
    fake = FakeLambda()
    monkeypatch.setattr(module, "lambda_client", lambda: fake)
    bind_config(FANOUT_SHARD_SIZE=3, FANOUT_FUNCTION_NAME="fanout-fn")
    yield fake
    bind_config()


def test_shards_hold_every_id_once_and_at_most_shard_size():
    """Ten ids in shards of three: 3, 3, 3, 1, in order, each carrying the envelope."""
    ids = [f"c{i}" for i in range(10)]
    shards = list(shards_of(ids, envelope={"data": "x"}, shard_size=3))
    assert [s["connection_ids"] for s in shards] == [ids[0:3], ids[3:6], ids[6:9], ids[9:]]
    assert all(s["data"] == "x" for s in shards)


@pytest.mark.parametrize("limit", [200, 1000, MAX_INVOKE_PAYLOAD])
def test_shards_are_cut_to_fit_the_invoke_payload_limit(limit):
    """Whatever the shard size, no encoded payload passes the limit; none is cut early."""
    ids = [uuid.uuid4().hex[:16] + "=" for _ in range(20_000)]
    envelope = {"data": "é" * (limit // 20), "message_id": "01J"}
    shards = list(shards_of(ids, envelope=envelope, shard_size=100_000, limit=limit))
    sizes = [len(json.dumps(s, separators=(",", ":")).encode()) for s in shards]
    assert max(sizes) <= limit
    assert [c for s in shards for c in s["connection_ids"]] == ids
    # Tight: one more id would not have fitted in any full shard.
    assert all(size + 20 > limit for size in sizes[:-1])
    assert len(shards) > 1


def test_a_payload_that_cannot_fit_is_refused():
    """An envelope larger than the limit is an error, not an oversized Invoke."""
    with pytest.raises(ValueError, match="cannot fit"):
        list(shards_of(["c1"], envelope={"data": "x" * 300}, shard_size=10, limit=200))


def test_large_room_is_sent_as_async_shards_after_the_senders_copy(dynamodb, room, sharded):
    """Ten members, shards of 3: the sender is posted in-process, the rest in 3 Event invokes."""
    members = [add_connection(room) for _ in range(10)]
    sender = members[0]
    api = FakeManagementApi()
    frame = {"type": "message", "id": "01JMSG", "text": "hi"}
    result = broadcast(api=api, room=room, payload=frame, first=sender)
    assert api.posts == {sender: [frame]}
    assert result.delivered == 1 and result.shards == 3
    payloads = [json.loads(i["payload"]) for i in sharded.invocations]
    assert {(i["function"], i["type"]) for i in sharded.invocations} == {("fanout-fn", "Event")}
    assert sorted(len(p["connection_ids"]) for p in payloads) == [3, 3, 3]
    shard_ids = [c for p in payloads for c in p["connection_ids"]]
    assert sorted(shard_ids) == sorted(members[1:])
    assert {p["endpoint"] for p in payloads} == {api.endpoint_url}
    assert {p["message_id"] for p in payloads} == {"01JMSG"}
    # When each shard runs, every member has the frame exactly once.
    for payload in payloads:
        broadcast_shard(
            api=api, connection_ids=payload["connection_ids"], payload=payload["data"].encode()
        )
    assert api.posts == {cid: [frame] for cid in members}


def test_room_at_the_threshold_stays_in_process(dynamodb, room, sharded):
    """A room of exactly FANOUT_SHARD_SIZE members is posted by the caller, not invoked."""
    members = [add_connection(room) for _ in range(3)]
    api = FakeManagementApi()
    result = broadcast(api=api, room=room, payload={"type": "m"})
    assert sharded.invocations == [] and result.shards == 0
    assert set(api.posts) == set(members)


def test_without_a_fanout_function_large_rooms_stay_in_process(dynamodb, room):
    """No FANOUT_FUNCTION_NAME (the site, unit tests): every member is posted in-process."""
    bind_config(FANOUT_SHARD_SIZE=2, FANOUT_FUNCTION_NAME="")
    try:
        members = [add_connection(room) for _ in range(5)]
        api = FakeManagementApi()
        assert broadcast(api=api, room=room, payload={"type": "m"}).delivered == 5
        assert set(api.posts) == set(members)
    finally:
        bind_config()


def test_a_shard_whose_invoke_fails_is_posted_in_process(dynamodb, room, sharded):
    """If Lambda refuses the Invoke, the caller posts that shard itself: nobody is dropped."""
    members = [add_connection(room) for _ in range(5)]
    sharded.failing = True
    api = FakeManagementApi()
    broadcast(api=api, room=room, payload={"type": "m"})
    assert api.posts == {cid: [{"type": "m"}] for cid in members}


def test_failing_posts_are_retried_with_growing_jittered_backoff(backoffs):
    """A connection failing twice is delivered on the third attempt after two rising waits."""
    api = FlakyManagementApi(flaky={"b": 2})
    result = broadcast_shard(api=api, connection_ids=["a", "b", "c"], payload=b'{"t":1}')
    assert result.delivered == 3 and result.failed == []
    assert api.attempts == {"a": 1, "b": 3, "c": 1}
    assert api.posts == {"a": [{"t": 1}], "b": [{"t": 1}], "c": [{"t": 1}]}
    base = module.RETRY_BASE_SECONDS
    assert len(backoffs) == 2
    assert base / 2 <= backoffs[0] <= base <= backoffs[1] <= 2 * base


def test_a_post_failing_every_attempt_is_logged_with_the_message_id(backoffs, caplog):
    """After FANOUT_ATTEMPTS failures the connection is reported failed; the others delivered."""
    api = FlakyManagementApi(flaky={"b": 99})
    with caplog.at_level(logging.WARNING, logger=module.__name__):
        result = broadcast_shard(
            api=api,
            connection_ids=["a", "b", "c"],
            payload=b"{}",
            message_id="01JMSG",
            forget=False,
        )
    assert result.failed == ["b"] and result.delivered == 2
    assert api.attempts["b"] == 3
    records = [r for r in caplog.records if getattr(r, "connection", None) == "b"]
    assert [r.attempt for r in records] == [1, 2, 3]
    assert {r.message_id for r in records} == {"01JMSG"}
    assert records[-1].levelno == logging.ERROR


def test_a_refused_post_is_failed_at_once_and_not_retried(dynamodb, room, backoffs, caplog):
    """A 413 cannot succeed later: reported failed after one attempt, logged, not forgotten."""
    members = [add_connection(room) for _ in range(3)]
    big = members[1]
    api = FakeManagementApi(refused={big})
    with caplog.at_level(logging.WARNING, logger=module.__name__):
        result = broadcast_shard(api=api, connection_ids=members, payload=b"{}", message_id="01J")
    assert (result.delivered, result.failed, result.gone) == (2, [big], [])
    assert api.attempts == dict.fromkeys(members, 1) and backoffs == []
    (record,) = [r for r in caplog.records if getattr(r, "connection", None) == big]
    assert (record.levelno, record.error, record.message_id) == (logging.ERROR, "HTTP 413", "01J")
    assert Connection.get(big)


def test_a_gone_connection_is_not_retried_and_only_it_is_forgotten(dynamodb, room, backoffs):
    """A 410 inside a shard deletes exactly that connection, at once, without retries."""
    members = [add_connection(room) for _ in range(4)]
    opening = add_connection(room, opening=True)
    stale = members[2]
    api = FlakyManagementApi(flaky={}, gone={stale, opening})
    result = broadcast_shard(api=api, connection_ids=[*members, opening], payload=b"{}")
    assert sorted(result.gone) == sorted([stale, opening]) and backoffs == []
    assert api.attempts[stale] == 1
    remaining = {c.connection_id for c in Connection.room_index.query(room)}
    assert remaining == (set(members) - {stale}) | {opening}
