"""Every function prints its metrics as one CloudWatch EMF document per invocation."""

from __future__ import annotations

import json
import uuid

import pytest

from emulator.events import LambdaContext
from lambdas.handlers import authorizer, connect, disconnect, ping, sendmessage
from lambdas.metrics import metric_count
from lambdas.tokens import User
from tests.helpers import load_event, with_user
from tests.lambdas.fakes import FakeManagementApi
from tests.lambdas.test_handlers import joined, message_event

CONTEXT = LambdaContext(function_name="test", aws_request_id="req-metrics")


@pytest.fixture
def emf(monkeypatch, capsys, configure):
    """The EMF documents the invocations print (Logger's JSON lines are skipped)."""
    # Powertools reads its switch from the environment each time it flushes, not from ours.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    configure(POWERTOOLS_METRICS_NAMESPACE="DynamoWaveTest")
    capsys.readouterr()

    def documents() -> list[dict]:
        lines = capsys.readouterr().out.splitlines()
        found = [json.loads(line) for line in lines if line.startswith("{")]
        return [doc for doc in found if "_aws" in doc]

    yield documents


@pytest.fixture
def api(monkeypatch) -> FakeManagementApi:
    fake = FakeManagementApi()
    monkeypatch.setattr("lambdas.handlers._route.management_api", lambda endpoint: fake)
    return fake


def total(doc: dict, name: str) -> float:
    """A metric's sum in the document (Powertools writes each as a list of values)."""
    value = doc[name]
    return sum(value) if isinstance(value, list) else value


def metric_names(doc: dict) -> set[str]:
    return {m["Name"] for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def test_a_send_emits_stored_deliveries_and_fanout_duration(emf, api, room):
    """One send to a room of three (one gone) emits one EMF document with what happened."""
    sender = User(f"u-{uuid.uuid4().hex[:8]}", "metered", False)
    me, other, ghost = (joined(room, f"c-{uuid.uuid4().hex[:8]}", sender) for _ in range(3))
    api.gone.add(ghost)
    emf()  # forget what the set-up printed
    event = message_event(
        {"action": "sendmessage", "message": "counted"},
        me,
        user_id=sender.user_id,
        username=sender.username,
    )
    assert sendmessage.handler(event, CONTEXT) == {"statusCode": 200}
    (doc,) = emf()
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "DynamoWaveTest"
    assert {"MessagesStored", "Deliveries", "ConnectionsGone", "FanoutDuration"} <= metric_names(
        doc
    )
    assert total(doc, "MessagesStored") == 1
    # Deliveries are counted per posted batch (the sender's acknowledgement, then the room).
    assert total(doc, "Deliveries") == 2
    assert total(doc, "ConnectionsGone") == 1
    assert total(doc, "FanoutDuration") > 0
    assert doc["service"] == "dynamowave"
    assert doc["request_id"] == event["requestContext"]["requestId"]  # the correlation id


def test_connect_and_disconnect_are_counted(emf, api, room):
    """$connect emits ConnectionsOpened and $disconnect ConnectionsClosed."""
    connection_id = f"c-{uuid.uuid4().hex[:8]}"
    event = with_user(load_event("websocket-connect"), user_id=f"u-{uuid.uuid4().hex[:8]}")
    event["requestContext"]["connectionId"] = connection_id
    event["queryStringParameters"] = {"room": room}
    connect.handler(event, CONTEXT)
    (opened,) = emf()
    assert total(opened, "ConnectionsOpened") == 1
    closing = load_event("websocket-disconnect")
    closing["requestContext"]["connectionId"] = connection_id
    disconnect.handler(closing, CONTEXT)
    (closed,) = emf()
    assert total(closed, "ConnectionsClosed") == 1


def test_rate_limited_is_counted(emf, api, room, monkeypatch, configure):
    """A refused send emits RateLimited."""
    monkeypatch.setattr("lambdas.services.limits.clock", lambda: 1_800_000_000.0)
    configure(RATE_MESSAGES_BURST=1, RATE_MESSAGES_PER_SECOND=1)
    sender = User(f"u-{uuid.uuid4().hex[:8]}", "metered", False)
    me = joined(room, f"c-{uuid.uuid4().hex[:8]}", sender)
    identity = {"user_id": sender.user_id, "username": sender.username}
    frame = {"action": "sendmessage", "message": "x"}
    sendmessage.handler(message_event(frame, me, **identity), CONTEXT)
    emf()
    response = sendmessage.handler(message_event(frame, me, **identity), CONTEXT)
    assert response["statusCode"] == 429
    (doc,) = emf()
    assert total(doc, "RateLimited") == 1 and "MessagesStored" not in doc


def test_the_authorizer_counts_denials(emf, keys):
    """A denied token emits ConnectionsDenied; the token never appears in the output."""
    event = load_event("websocket-authorizer-request")
    event["queryStringParameters"] = {"token": "not-a-token"}
    authorizer.handler(event, CONTEXT)
    (doc,) = emf()
    assert total(doc, "ConnectionsDenied") == 1
    assert "not-a-token" not in json.dumps(doc)


def test_an_invocation_without_metrics_prints_none(emf, api):
    """ping records nothing, so nothing is printed (no empty EMF documents)."""
    ping.handler(message_event({"action": "ping"}), CONTEXT)
    assert emf() == []


def test_metrics_outside_a_handler_are_dropped(emf):
    """The site calls the same services: outside a Lambda invocation nothing is buffered."""
    metric_count("ConnectionsOpened")
    ping.handler(message_event({"action": "ping"}), CONTEXT)
    assert emf() == []


def test_disabled_metrics_do_not_pile_up(api, room, monkeypatch):
    """With POWERTOOLS_METRICS_DISABLED nothing is printed and the buffer is emptied anyway."""
    from lambdas.metrics import metrics

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    me = joined(room, f"c-{uuid.uuid4().hex[:8]}")
    sendmessage.handler(message_event({"action": "sendmessage", "message": "x"}, me), CONTEXT)
    assert metrics.metric_set == {}


def test_metrics_of_an_invocations_worker_threads_are_its_own(emf):
    """Services record from threads of their own (shard invocations, connection checks): what
    they record while the invocation runs is in its document, and nothing after it."""
    from concurrent.futures import ThreadPoolExecutor

    from lambdas.metrics import with_metrics

    @with_metrics
    def handler(event: dict, context: object) -> dict:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: metric_count("Deliveries"), range(40)))
        return {"statusCode": 200}

    handler({"requestContext": {"requestId": "r-threads"}}, CONTEXT)
    (doc,) = emf()
    assert total(doc, "Deliveries") == 40 and doc["request_id"] == "r-threads"
    metric_count("Deliveries")  # after the invocation: dropped, as the site's are
    ping.handler(message_event({"action": "ping"}), CONTEXT)
    assert emf() == []
