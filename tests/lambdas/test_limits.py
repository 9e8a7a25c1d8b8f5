"""Per-user limits hold across instances: message bucket, connection cap, login failure counters."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from chat.services.limits import login_check, login_failure_record
from emulator.events import LambdaContext
from lambdas.errors import RateLimited
from lambdas.handlers import connect, editmessage, sendmessage
from lambdas.models import ClientMessage, Connection, Limit, Message
from lambdas.protocol import error_frame
from lambdas.services.limits import rate_check
from lambdas.tokens import User
from tests.helpers import load_event, with_user
from tests.lambdas.test_handlers import joined, message_event

CONTEXT = LambdaContext(function_name="test", aws_request_id="req-limits")


def user() -> User:
    return User(f"u-{uuid.uuid4().hex[:10]}", "limited", False)


# -- the message bucket ------------------------------------------------------------------------


def test_bucket_allows_the_burst_then_refuses_with_retry_after(configure, clock):
    """A full bucket gives `burst` messages at once; the next waits 1/rate seconds."""
    configure(RATE_MESSAGES_PER_SECOND=5, RATE_MESSAGES_BURST=10)
    sender = user()
    for _ in range(10):
        rate_check(user_id=sender.user_id, bucket="messages")
    with pytest.raises(RateLimited) as refused:
        rate_check(user_id=sender.user_id, bucket="messages")
    assert refused.value.retry_after == pytest.approx(0.2)
    assert error_frame(refused.value) == {
        "type": "error",
        "code": "rate_limited",
        "message": refused.value.message,
        "retry_after": refused.value.retry_after,
    }


def test_bucket_refills_at_the_rate(configure, clock):
    """After 1 s at 5/s, five more messages pass and the sixth is refused."""
    configure(RATE_MESSAGES_PER_SECOND=5, RATE_MESSAGES_BURST=10)
    sender = user()
    for _ in range(10):
        rate_check(user_id=sender.user_id, bucket="messages")
    clock[0] += 1.0
    for _ in range(5):
        rate_check(user_id=sender.user_id, bucket="messages")
    with pytest.raises(RateLimited):
        rate_check(user_id=sender.user_id, bucket="messages")


def test_an_expired_item_is_a_full_bucket(configure, clock):
    """dynalite never applies TTL: an item past expires_at is read as absent, and replaced."""
    configure(RATE_MESSAGES_PER_SECOND=1, RATE_MESSAGES_BURST=2)
    sender = user()
    key = f"messages#{sender.user_id}"
    Limit(
        key,
        version=7,
        level=0,
        updated_at=clock[0],  # empty, and no time has passed by the clock...
        expires_at=datetime.fromtimestamp(clock[0] - 1, UTC),  # ...but the item has expired
    ).save()
    rate_check(user_id=sender.user_id, bucket="messages")
    rate_check(user_id=sender.user_id, bucket="messages")
    item = Limit.get(key)
    assert (item.version, item.level) == (9, 0)


def test_the_bucket_holds_across_concurrent_instances(configure, clock):
    """Twenty concurrent takers (as many Lambda instances) get exactly `burst` tokens."""
    configure(RATE_MESSAGES_PER_SECOND=1, RATE_MESSAGES_BURST=10)
    sender = user()

    def take(_: int) -> bool:
        try:
            rate_check(user_id=sender.user_id, bucket="messages")
            return True
        except RateLimited:
            return False

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(take, range(20)))
    assert results.count(True) == 10


def test_rate_limited_send_stores_nothing_and_answers_429(configure, clock, api, room):
    """Through the handler: the 3rd send with burst 2 is a rate_limited frame; nothing stored."""
    configure(RATE_MESSAGES_PER_SECOND=1, RATE_MESSAGES_BURST=2)
    sender = user()
    connection_id = joined(room, f"c-{uuid.uuid4().hex[:8]}", sender)
    identity = {"user_id": sender.user_id, "username": sender.username}
    for text in ("one", "two"):
        response = sendmessage.handler(
            message_event({"action": "sendmessage", "message": text}, connection_id, **identity),
            CONTEXT,
        )
        assert response == {"statusCode": 200}
    frame = {"action": "sendmessage", "message": "three", "clientMessageId": "m3"}
    response = sendmessage.handler(message_event(frame, connection_id, **identity), CONTEXT)
    assert response["statusCode"] == 429
    body = json.loads(response["body"])
    assert (body["type"], body["code"]) == ("error", "rate_limited")
    assert body["retry_after"] == 1.0  # time stands still here (clock): a whole token is due
    assert [m.text for m in Message.query(room)] == ["one", "two"]
    assert list(ClientMessage.query(sender.user_id)) == []  # not even the idempotency receipt


def test_edits_have_a_bucket_of_their_own(configure, clock, api, room):
    """With an edit burst of 1, the second edit is refused (the text stays) while sends go on."""
    configure(RATE_EDITS_PER_SECOND=1, RATE_EDITS_BURST=1)
    sender = user()
    connection_id = joined(room, f"c-{uuid.uuid4().hex[:8]}", sender)
    identity = {"user_id": sender.user_id, "username": sender.username}
    sendmessage.handler(
        message_event({"action": "sendmessage", "message": "first"}, connection_id, **identity),
        CONTEXT,
    )
    (stored,) = Message.query(room)

    def edit(text: str) -> dict:
        frame = {"action": "editmessage", "id": stored.message_id, "message": text}
        return editmessage.handler(message_event(frame, connection_id, **identity), CONTEXT)

    assert edit("changed")["statusCode"] == 200
    response = edit("changed again")
    assert response["statusCode"] == 429
    assert json.loads(response["body"])["code"] == "rate_limited"
    assert "edits a second" in json.loads(response["body"])["message"]
    assert Message.get(room, stored.message_id).text == "changed"
    frame = {"action": "sendmessage", "message": "second"}
    assert sendmessage.handler(message_event(frame, connection_id, **identity), CONTEXT) == {
        "statusCode": 200
    }


@pytest.mark.parametrize(
    ("route", "bucket", "frame"),
    [
        ("typing", "TYPING", {}),
        ("presence", "PRESENCE", {}),
        ("history", "HISTORY", {}),
        ("deletemessage", "DELETES", {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
        ("react", "REACTIONS", {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "emoji": "👍"}),
        ("markread", "READS", {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
    ],
)
def test_each_route_that_fans_out_or_reads_has_a_per_user_bucket(
    configure, clock, api, room, route, bucket, frame
):
    """A burst of 2 per user: the third frame is 429 with retry_after, on any of the user's
    connections; another user is not affected."""
    import importlib

    handler = importlib.import_module(f"lambdas.handlers.{route}").handler
    configure(**{f"RATE_{bucket}_PER_SECOND": 1, f"RATE_{bucket}_BURST": 2})
    flooder, other = user(), user()
    tabs = [joined(room, f"c-{uuid.uuid4().hex[:8]}", flooder) for _ in range(2)]
    bystander = joined(room, f"c-{uuid.uuid4().hex[:8]}", other)

    def call(connection_id: str, who: User) -> dict:
        event = message_event(
            {"action": route, **frame}, connection_id, user_id=who.user_id, username=who.username
        )
        return handler(event, CONTEXT)

    first, second, third = call(tabs[0], flooder), call(tabs[1], flooder), call(tabs[0], flooder)
    assert 429 not in (first["statusCode"], second["statusCode"])
    assert third["statusCode"] == 429
    refused = json.loads(third["body"])
    assert refused["code"] == "rate_limited" and refused["retry_after"] == pytest.approx(1.0)
    assert call(bystander, other)["statusCode"] != 429
    clock[0] += 1
    assert call(tabs[1], flooder)["statusCode"] != 429  # refilled at the rate


@pytest.mark.parametrize(
    ("route", "bucket", "frame"),
    [
        ("sendmessage", "MESSAGES", {"message": "hi"}),
        ("editmessage", "EDITS", {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "message": "hi"}),
        ("history", "HISTORY", {}),
        ("typing", "TYPING", {}),
    ],
)
def test_a_refused_frame_costs_only_its_bucket(configure, clock, api, room, route, bucket, frame):
    """The route wrapper takes the token before the route runs: a refused frame reads and
    writes the bucket's item and nothing else (no connection, room or message read)."""
    import importlib

    handler = importlib.import_module(f"lambdas.handlers.{route}").handler
    configure(**{f"RATE_{bucket}_PER_SECOND": 1, f"RATE_{bucket}_BURST": 1})
    sender = user()
    connection_id = joined(room, f"c-{uuid.uuid4().hex[:8]}", sender)
    identity = {"user_id": sender.user_id, "username": sender.username}
    event = message_event({"action": route, **frame}, connection_id, **identity)
    handler(event, CONTEXT)
    # Registered after `configure`, which makes the models' shared client anew.
    events = Connection._get_connection().connection.client.meta.events
    calls: list[tuple[str, str]] = []

    def record(params, model, **kwargs) -> None:
        calls.append((model.name, params.get("TableName", "")))

    events.register("before-parameter-build.dynamodb", record)
    try:
        response = handler(event, CONTEXT)
    finally:
        events.unregister("before-parameter-build.dynamodb", record)
    assert response["statusCode"] == 429
    assert calls == [("GetItem", Limit.Meta.table_name), ("PutItem", Limit.Meta.table_name)]


# -- connections per user ----------------------------------------------------------------------


def connect_event(user_id: str, connection_id: str, room: str) -> dict:
    event = with_user(load_event("websocket-connect"), user_id=user_id, username="many")
    event["requestContext"]["connectionId"] = connection_id
    event["requestContext"]["connectedAt"] = int(datetime.now(UTC).timestamp() * 1000)
    event["queryStringParameters"] = {"room": room}
    return event


def test_connect_beyond_the_cap_is_refused_with_429(configure, api, room):
    """With a cap of 2 live connections, the third $connect is 429 and stores nothing."""
    configure(MAX_CONNECTIONS_PER_USER=2)
    user_id = f"u-{uuid.uuid4().hex[:10]}"
    ids = [f"c-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    assert connect.handler(connect_event(user_id, ids[0], room), CONTEXT) == {"statusCode": 200}
    assert connect.handler(connect_event(user_id, ids[1], room), CONTEXT) == {"statusCode": 200}
    response = connect.handler(connect_event(user_id, ids[2], room), CONTEXT)
    assert response["statusCode"] == 429
    assert json.loads(response["body"])["code"] == "too_many_connections"
    with pytest.raises(Connection.DoesNotExist):
        Connection.get(ids[2])


def test_expired_connections_do_not_count(configure, api, room):
    """A connection past its TTL (its $disconnect never ran) does not hold a place."""
    configure(MAX_CONNECTIONS_PER_USER=1)
    user_id = f"u-{uuid.uuid4().hex[:10]}"
    ghost = joined(room, f"c-{uuid.uuid4().hex[:8]}", User(user_id, "many", False))
    item = Connection.get(ghost)
    item.update(actions=[Connection.expires_at.set(datetime.now(UTC) - timedelta(minutes=1))])
    fresh = f"c-{uuid.uuid4().hex[:8]}"
    assert connect.handler(connect_event(user_id, fresh, room), CONTEXT) == {"statusCode": 200}
    assert Connection.get(fresh).user_id == user_id


def test_ghosts_at_the_cap_do_not_refuse_a_real_connection(configure, api, room):
    """At the cap, connections that answer 410 are not counted; those past the grace go."""
    configure(MAX_CONNECTIONS_PER_USER=2)
    user_id = f"u-{uuid.uuid4().hex[:10]}"
    old, young = (f"c-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for ghost in (old, young):
        assert connect.handler(connect_event(user_id, ghost, room), CONTEXT) == {"statusCode": 200}
    # Given both sockets vanished without $disconnect; one of them long enough ago to be
    # forgotten, the other still inside the grace a $connect in flight gets.
    api.gone |= {old, young}
    item = Connection.get(old)
    item.update(actions=[Connection.connected_at.set(item.connected_at - timedelta(minutes=5))])
    fresh = f"c-{uuid.uuid4().hex[:8]}"
    assert connect.handler(connect_event(user_id, fresh, room), CONTEXT) == {"statusCode": 200}
    stored = {c.connection_id for c in Connection.user_index.query(user_id)}
    assert stored == {young, fresh}


def test_at_the_cap_with_every_connection_reachable_the_next_is_refused(configure, api, room):
    """Checking with @connections admits nobody when every counted connection answers."""
    configure(MAX_CONNECTIONS_PER_USER=2)
    user_id = f"u-{uuid.uuid4().hex[:10]}"
    ids = [f"c-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for connection_id in ids[:2]:
        connect.handler(connect_event(user_id, connection_id, room), CONTEXT)
    api.gone.add("someone-else")  # a 410 elsewhere changes nothing for this user
    response = connect.handler(connect_event(user_id, ids[2], room), CONTEXT)
    assert json.loads(response["body"])["code"] == "too_many_connections"
    assert {c.connection_id for c in Connection.user_index.query(user_id)} == set(ids[:2])


# -- login failures ----------------------------------------------------------------------------


def test_login_failures_lock_the_pair_until_the_window_ends(configure, clock):
    """Five failures lock that caller out of that username (matched case-insensitively) until
    the window ends; the same username from elsewhere is not locked."""
    configure(LOGIN_FAILURES_ALLOWED=5, LOGIN_FAILURE_WINDOW_SECONDS=300)
    name, ip = f"victim-{uuid.uuid4().hex[:6]}", "10.1.2.3"
    for _ in range(5):
        login_check(username=name, ip=ip)
        login_failure_record(username=name, ip=ip)
    with pytest.raises(RateLimited) as refused:
        login_check(username=name.upper(), ip=ip)
    assert 0 < refused.value.retry_after <= 300
    login_check(username=name, ip="10.9.9.9")
    clock[0] += 301
    login_check(username=name, ip=ip)


def test_failures_from_everywhere_slow_the_username_with_a_doubling_delay(configure, clock):
    """Past 2 × 5 failures the username waits 1 s after each failure, then 2, 4, … up to 60 s,
    whoever asks; once the delay has passed the attempt goes ahead."""
    configure(LOGIN_FAILURES_ALLOWED=5, LOGIN_FAILURE_WINDOW_SECONDS=300)
    name = f"target-{uuid.uuid4().hex[:6]}"
    for n in range(10):
        login_failure_record(username=name, ip=f"10.0.{n}.1")
    delays = []
    for n in range(10, 18):
        with pytest.raises(RateLimited) as refused:
            login_check(username=name, ip=f"10.1.{n}.1")
        delays.append(refused.value.retry_after)
        clock[0] += refused.value.retry_after
        login_check(username=name, ip=f"10.1.{n}.1")  # waited: allowed
        login_failure_record(username=name, ip=f"10.1.{n}.1")
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]


def test_spraying_from_one_caller_is_slowed_and_ipv6_counts_by_64(configure, clock):
    """Twenty failures across usernames from one /64 delay that network's next attempt; another
    network is not delayed."""
    configure(LOGIN_FAILURES_ALLOWED=5, LOGIN_FAILURE_WINDOW_SECONDS=300)
    prefix = f"2001:db8:{uuid.uuid4().int % 65000:x}:1"
    for n in range(20):
        login_failure_record(username=f"guess-{uuid.uuid4().hex[:6]}", ip=f"{prefix}::{n + 1:x}")
    with pytest.raises(RateLimited):
        login_check(username=f"someone-{uuid.uuid4().hex[:6]}", ip=f"{prefix}::beef")
    login_check(username=f"someone-{uuid.uuid4().hex[:6]}", ip=f"{prefix[:-1]}2::1")


def test_a_typing_flood_costs_the_room_a_bounded_number_of_posts(configure, connect, room):
    """Through the gateway, 200 `typing` frames from one user in a room of 4: the others get at
    most burst + rate × elapsed of them; the flooder hears `rate_limited` for the rest."""
    import time

    from tests.helpers import recv_json, wait_for

    configure(RATE_TYPING_PER_SECOND=1, RATE_TYPING_BURST=3)
    flooder = connect(room, user_id=f"u-{uuid.uuid4().hex[:10]}", username="flood")
    others = [connect(room, user_id=f"u-{uuid.uuid4().hex[:10]}", username="o") for _ in range(3)]

    def frames(client, quiet: float) -> list[dict]:
        """What the client gets until `quiet` seconds pass without a frame (presence aside):
        0 takes only what has arrived already."""
        seen = []
        while True:
            try:
                seen.append(recv_json(client, timeout=quiet))
            except TimeoutError:
                return seen

    def typing(seen: list[dict]) -> int:
        return len([n for n in seen if n["type"] == "typing"])

    started = time.monotonic()
    for _ in range(200):
        flooder.send(json.dumps({"action": "typing"}))
    # Every frame is answered one way or the other: refused to the flooder, or passed on to
    # the others. Waited for until all 200 are (not for a quiet spell: a busy machine has them).
    replies: list[dict] = []
    relayed: list[list[dict]] = [[] for _ in others]

    def heard(n: int) -> int:
        """The typing frames others[n] has got so far."""
        relayed[n].extend(frames(others[n], 0))
        return typing(relayed[n])

    def answered() -> bool:
        replies.extend(frames(flooder, 0))
        return len(replies) + heard(0) >= 200

    assert wait_for(answered), (len(replies), heard(0))
    elapsed = time.monotonic() - started
    replies += frames(flooder, 0.5)  # an extra one, if any
    refused = [r for r in replies if r.get("code") == "rate_limited"]
    passed = 200 - len(refused)
    assert len(refused) == len(replies)  # nothing else came back
    assert 3 <= passed <= 3 + int(elapsed) + 1, (passed, elapsed)  # slower: looser, not tighter
    for n in range(len(others)):
        assert wait_for(lambda n=n: heard(n) >= passed), (n, heard(n), passed)
        relayed[n] += frames(others[n], 0.5)  # an extra one, if any
        assert typing(relayed[n]) == passed


def test_the_gateway_refuses_the_handshake_with_429(configure, connect, room):
    """Through the local gateway: the client over the cap sees its handshake refused with 429."""
    from websockets.exceptions import InvalidStatus

    configure(MAX_CONNECTIONS_PER_USER=2)
    user_id = f"u-{uuid.uuid4().hex[:10]}"
    connect(room, user_id=user_id, username="many")
    connect(room, user_id=user_id, username="many")
    with pytest.raises(InvalidStatus) as refused:
        connect(room, user_id=user_id, username="many")
    assert refused.value.response.status_code == 429
    assert connect(room, user_id=f"u-{uuid.uuid4().hex[:10]}", username="other")  # others may
