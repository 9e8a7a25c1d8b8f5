"""One client gets a bounded share: every route has a bucket, a client that keeps sending past
it is cut off (DELETE @connections) and its user cooled down at `$connect`, and a client that
waits `retry_after` never is."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from chat.services.sessions import session_revoke, sessions_revoke
from emulator.events import LambdaContext
from emulator.template import load_template, read_api
from lambdas.config import RATE_DEFAULTS
from lambdas.errors import RateLimited
from lambdas.handlers import connect, default, ping, sendmessage
from lambdas.models import Connection, Limit, Message, Revocation
from lambdas.services import limits
from lambdas.services.limits import ROUTE_BUCKETS, WHAT, Flooding, rate_check
from lambdas.services.sessions import MAX_ENDED
from lambdas.tokens import User
from tests.helpers import load_event, with_user
from tests.lambdas.test_handlers import joined, message_event

CONTEXT = LambdaContext(function_name="test", aws_request_id="req-flood")


@pytest.fixture
def limits_calls(dynamodb):
    """Start counting the DynamoDB operations on the `limits` table (through the models' shared
    client: call it after `configure`, which makes a new one)."""
    watched = []

    def watch() -> Counter[str]:
        client = Limit._get_connection().connection.client
        calls: Counter[str] = Counter()

        def count(params, model, **kwargs):
            if params.get("TableName") == Limit.Meta.table_name:
                calls[model.name] += 1

        client.meta.events.register("before-parameter-build.dynamodb", count)
        watched.append((client, count))
        return calls

    yield watch
    for client, count in watched:
        client.meta.events.unregister("before-parameter-build.dynamodb", count)


def a_user() -> User:
    return User(f"u-{uuid.uuid4().hex[:10]}", "flood", False)


def frame_event(route: str, frame: object, connection_id: str, who: User) -> dict:
    """A frame as API Gateway hands it to `route`'s function."""
    event = message_event(frame, connection_id, user_id=who.user_id, username=who.username)
    event["requestContext"]["routeKey"] = route
    return event


def connect_event(connection_id: str, who: User, room: str) -> dict:
    event = with_user(load_event("websocket-connect"), user_id=who.user_id, username=who.username)
    event["requestContext"]["connectionId"] = connection_id
    event["requestContext"]["connectedAt"] = int(datetime.now(UTC).timestamp() * 1000)
    event["queryStringParameters"] = {"room": room}
    return event


def new_id() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


def test_every_route_has_a_bucket():
    """Each route of the template but $connect and $disconnect (no frames) names a bucket that
    has a rate, a burst and words for its refusals."""
    routes = set(read_api(load_template()).routes) - {"$connect", "$disconnect"}
    assert set(ROUTE_BUCKETS) == routes
    for bucket in ROUTE_BUCKETS.values():
        assert bucket in RATE_DEFAULTS and bucket in WHAT


def test_a_refusal_is_struck_in_the_buckets_item_for_one_write(configure, clock, limits_calls):
    """Served or refused, a frame costs one read and one conditional put of the same item; a
    refusal adds a strike there, and the strikes fade at STRIKES_FADE per token refilled."""
    configure(RATE_MESSAGES_PER_SECOND=1, RATE_MESSAGES_BURST=2, FLOOD_REFUSALS_ALLOWED=10)
    calls, sender = limits_calls(), a_user()
    for _ in range(2):
        rate_check(user_id=sender.user_id, bucket="messages")
    assert calls == {"GetItem": 2, "PutItem": 2}
    calls.clear()
    for _ in range(3):
        with pytest.raises(RateLimited) as refused:
            rate_check(user_id=sender.user_id, bucket="messages")
        assert not isinstance(refused.value, Flooding)
    assert calls == {"GetItem": 3, "PutItem": 3}
    assert Limit.get(f"messages#{sender.user_id}").strikes == 3
    clock[0] += 1  # one token back, and two strikes gone
    rate_check(user_id=sender.user_id, bucket="messages")
    assert Limit.get(f"messages#{sender.user_id}").strikes == 3 - limits.STRIKES_FADE


def test_tabs_that_wait_retry_after_are_never_cut_off(configure, clock):
    """Two tabs of one user, each sending again the moment it is let (right after a send, or
    `retry_after` after a refusal), for 20 s at 5/s: refused often, never `Flooding`."""
    configure(RATE_MESSAGES_PER_SECOND=5, RATE_MESSAGES_BURST=10, FLOOD_REFUSALS_ALLOWED=3)
    sender, start = a_user(), clock[0]
    due = {"tab-1": start, "tab-2": start + 0.0001}
    served = refused = 0
    while clock[0] < start + 20:
        tab = min(due, key=due.get)
        clock[0] = due[tab]
        try:
            rate_check(user_id=sender.user_id, bucket="messages")
            served += 1
            due[tab] = clock[0] + 0.001  # its next message, at once
        except Flooding:
            pytest.fail(f"cut off after {served} served and {refused} refused")
        except RateLimited as error:
            refused += 1
            due[tab] = clock[0] + error.retry_after
    assert served == pytest.approx(10 + 5 * 20, abs=2)
    assert refused >= served - 10  # the tabs were refused all along: the test means something


def test_a_flood_is_cut_off_and_its_user_cooled_down(configure, clock, api, room):
    """Past burst + FLOOD_REFUSALS_ALLOWED frames (time standing still) the sending connection
    is closed through DELETE @connections and $connect refuses its user with 429 until the
    cooldown is over; another user of the room sends all along."""
    configure(
        RATE_MESSAGES_PER_SECOND=1,
        RATE_MESSAGES_BURST=3,
        FLOOD_REFUSALS_ALLOWED=5,
        FLOOD_COOLDOWN_SECONDS=60,
    )
    flooder, other = a_user(), a_user()
    flooding, bystander = joined(room, new_id(), flooder), joined(room, new_id(), other)

    def send(connection_id: str, who: User, text: str) -> dict:
        frame = {"action": "sendmessage", "message": text}
        return sendmessage.handler(frame_event("sendmessage", frame, connection_id, who), CONTEXT)

    answers = [send(flooding, flooder, f"flood {n}") for n in range(9)]
    assert [a["statusCode"] for a in answers] == [200] * 3 + [429] * 6
    assert api.deleted == [flooding]  # the 6th refusal, one past the 5 allowed
    assert {json.loads(a["body"])["code"] for a in answers[3:]} == {"rate_limited"}
    assert json.loads(answers[-1]["body"])["retry_after"] == 60
    cooldown = Revocation.get(f"revoked#{flooder.user_id}")
    assert cooldown.cooldown_until == clock[0] + 60
    assert cooldown.expires_at.timestamp() >= clock[0] + 60
    assert send(bystander, other, "still here") == {"statusCode": 200}

    refused = connect.handler(connect_event(new_id(), flooder, room), CONTEXT)
    assert refused["statusCode"] == 429
    assert json.loads(refused["body"])["code"] == "rate_limited"
    assert connect.handler(connect_event(new_id(), other, room), CONTEXT)["statusCode"] == 200
    clock[0] += 61
    back = new_id()
    assert connect.handler(connect_event(back, flooder, room), CONTEXT) == {"statusCode": 200}
    assert send(back, flooder, "calm now") == {"statusCode": 200}  # its strikes have faded
    stored = [m.text for m in Message.query(room)]
    assert stored == ["flood 0", "flood 1", "flood 2", "still here", "calm now"]


def test_the_users_other_connections_go_with_their_next_refused_frame(configure, clock, api, room):
    """Once cut off, each of the user's connections is closed when it sends past the bucket;
    one that stays quiet is left alone."""
    configure(RATE_MESSAGES_PER_SECOND=1, RATE_MESSAGES_BURST=1, FLOOD_REFUSALS_ALLOWED=2)
    flooder = a_user()
    first, second, quiet = (joined(room, new_id(), flooder) for _ in range(3))
    frame = {"action": "sendmessage", "message": "x"}
    for _ in range(4):
        sendmessage.handler(frame_event("sendmessage", frame, first, flooder), CONTEXT)
    assert api.deleted == [first]
    response = sendmessage.handler(frame_event("sendmessage", frame, second, flooder), CONTEXT)
    assert response["statusCode"] == 429
    assert api.deleted == [first, second]
    assert Connection.get(quiet).user_id == flooder.user_id


def test_malformed_frames_take_tokens_too(configure, clock, api, room):
    """Frames that never parse (no text) are refused for what they are while the bucket lasts,
    then rate_limited, and flooding with them is cut off like any other flood."""
    configure(RATE_MESSAGES_PER_SECOND=1, RATE_MESSAGES_BURST=2, FLOOD_REFUSALS_ALLOWED=2)
    flooder = a_user()
    connection_id = joined(room, new_id(), flooder)
    codes = []
    for _ in range(5):
        event = frame_event("sendmessage", {"action": "sendmessage"}, connection_id, flooder)
        codes.append(json.loads(sendmessage.handler(event, CONTEXT)["body"])["code"])
    assert codes == ["empty_message"] * 2 + ["rate_limited"] * 3
    assert api.deleted == [connection_id]


def test_pings_within_their_rate_cost_no_dynamodb_call(configure, clock, api, room, limits_calls):
    """ping's bucket is checked in the container's memory first, a quarter of it there: those
    pings touch no limits item; past them, the shared bucket is read and written as any other."""
    configure(RATE_PING_PER_SECOND=4, RATE_PING_BURST=8)
    pinger = a_user()
    connection_id = joined(room, new_id(), pinger)
    calls = limits_calls()

    def pong() -> dict:
        return ping.handler(frame_event("ping", {"action": "ping"}, connection_id, pinger), CONTEXT)

    for _ in range(2):
        assert json.loads(pong()["body"])["type"] == "pong"
    assert calls == {}
    assert json.loads(pong()["body"])["type"] == "pong"  # the shared bucket's burst
    assert calls == {"GetItem": 1, "PutItem": 1}
    clock[0] += 1  # a token back in memory
    calls.clear()
    assert json.loads(pong()["body"])["type"] == "pong"
    assert calls == {}


def test_a_ping_flood_is_cut_off(configure, clock, api, room):
    """Past the container's quarter (2), the shared bucket (8) and the refusals allowed (4), a
    pinging connection is closed."""
    configure(RATE_PING_PER_SECOND=4, RATE_PING_BURST=8, FLOOD_REFUSALS_ALLOWED=4)
    pinger = a_user()
    connection_id = joined(room, new_id(), pinger)
    types = []
    for _ in range(30):
        if api.deleted:
            break
        event = frame_event("ping", {"action": "ping"}, connection_id, pinger)
        body = json.loads(ping.handler(event, CONTEXT)["body"])
        types.append(body.get("code", body["type"]))
    assert types == ["pong"] * 10 + ["rate_limited"] * 5
    assert api.deleted == [connection_id]


def test_unrouted_frames_have_a_bucket(configure, clock, api, room):
    """$default (an unknown action, not JSON) takes from its own bucket: this container's,
    then the shared one."""
    configure(RATE_DEFAULT_PER_SECOND=1, RATE_DEFAULT_BURST=2)
    caller = a_user()
    connection_id = joined(room, new_id(), caller)
    codes = []
    for frame in ("not json", *[{"action": "nope"}] * 3):
        response = default.handler(frame_event("$default", frame, connection_id, caller), CONTEXT)
        codes.append(json.loads(response["body"])["code"])
    assert codes == ["invalid_json", "unknown_action", "unknown_action", "rate_limited"]


def test_neither_a_logout_nor_a_ban_ends_a_cooldown(configure, clock, api, room):
    """The cooldown shares the revocation item; logouts (even past MAX_ENDED, which resets the
    set) and a ban keep it."""
    configure(RATE_MESSAGES_PER_SECOND=1, RATE_MESSAGES_BURST=1, FLOOD_REFUSALS_ALLOWED=1)
    flooder = a_user()
    connection_id = joined(room, new_id(), flooder)
    frame = {"action": "sendmessage", "message": "x"}
    for _ in range(3):
        sendmessage.handler(frame_event("sendmessage", frame, connection_id, flooder), CONTEXT)
    assert api.deleted == [connection_id]
    for _ in range(MAX_ENDED + 1):
        session_revoke(user_id=flooder.user_id, session_id=uuid.uuid4().hex[:22], now=clock[0])
    sessions_revoke(user_id=flooder.user_id, now=clock[0] - 10)
    item = Revocation.get(f"revoked#{flooder.user_id}")
    assert item.cooldown_until == clock[0] + 60 and item.not_before == clock[0] - 10
    event = connect_event(new_id(), flooder, room)
    event["requestContext"]["authorizer"]["issuedAt"] = clock[0]  # a token after the ban
    response = connect.handler(event, CONTEXT)
    assert json.loads(response["body"])["code"] == "rate_limited"
    event["requestContext"]["authorizer"]["issuedAt"] = clock[0] - 20  # one before it
    assert json.loads(connect.handler(event, CONTEXT)["body"])["code"] == "token_revoked"


@pytest.mark.parametrize("failure", ["unreachable", "gone"])
def test_a_cutoff_that_fails_still_refuses_the_frame(configure, clock, api, room, failure):
    """DELETE @connections failing (a network error) leaves the client refused, not a 500; a
    connection already gone (410) is no error either. The cooldown is written first."""
    configure(RATE_MESSAGES_PER_SECOND=1, RATE_MESSAGES_BURST=1, FLOOD_REFUSALS_ALLOWED=1)
    flooder = a_user()
    connection_id = joined(room, new_id(), flooder)
    if failure == "unreachable":
        api.delete = lambda connection_id: (_ for _ in ()).throw(ConnectionError("no answer"))
    else:
        api.gone.add(connection_id)
    frame = {"action": "sendmessage", "message": "x"}
    answers = [
        sendmessage.handler(frame_event("sendmessage", frame, connection_id, flooder), CONTEXT)
        for _ in range(3)
    ]
    assert [a["statusCode"] for a in answers] == [200, 429, 429]
    assert json.loads(answers[-1]["body"])["code"] == "rate_limited"
    assert Revocation.get(f"revoked#{flooder.user_id}").cooldown_until == clock[0] + 60
