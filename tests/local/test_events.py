"""Events the gateway builds have the keys and value types of the captured API Gateway events."""

import copy
import json
import time

import pytest

from emulator.gateway import LocalGateway
from tests.helpers import load_event, recv_json, wait_for

# Keys API Gateway adds beyond the captured samples in situations they do not show: a query
# string on $connect, the authorizer's context once the connection was authorized, and the
# client's User-Agent (the captured clients sent none: their $connect headers have no User-Agent).
OPTIONAL = {"queryStringParameters", "multiValueQueryStringParameters", "authorizer", "userAgent"}
# Maps whose keys are data (header and query names), not part of the event's shape.
OPEN_MAPS = {
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "stageVariables",
}


def assert_same_shape(ours: object, captured: object, path: str = "event") -> None:
    assert type(ours) is type(captured), (
        f"{path}: {type(ours).__name__} != {type(captured).__name__}"
    )
    if not isinstance(captured, dict) or path.rsplit(".", 1)[-1] in OPEN_MAPS:
        return
    missing = set(captured) - set(ours)
    extra = set(ours) - set(captured) - OPTIONAL
    assert not missing and not extra, f"{path}: missing {missing}, unexpected {extra}"
    for key in captured:
        assert_same_shape(ours[key], captured[key], f"{path}.{key}")


@pytest.fixture
def recorded(gateway, monkeypatch) -> list[tuple[str, dict]]:
    """Every (handler, event) the gateway invokes during the test, copied as it was passed to
    the function (in either mode: in this process, or serialised to an execution environment)."""
    calls: list[tuple[str, dict]] = []
    original = LocalGateway.invoke

    async def recording(self, function, event):
        calls.append((function.handler.split(".")[-2], copy.deepcopy(event)))
        return await original(self, function, event)

    monkeypatch.setattr(LocalGateway, "invoke", recording)
    return calls


def test_gateway_events_match_the_captured_events(connect, room, recorded):
    """Authorizer, $connect, MESSAGE and $disconnect events have AWS's keys and value types."""
    client = connect(room, user_id="8", username="gus", staff=True)
    client.send('{"action": "ping"}')
    recv_json(client)
    client.send("not json")  # falls back to $default
    recv_json(client)
    client.close()
    assert wait_for(lambda: any(name == "disconnect" for name, _ in recorded))
    events = dict(recorded)

    assert_same_shape(events["authorizer"], load_event("websocket-authorizer-request"))
    assert_same_shape(events["connect"], load_event("websocket-connect"))
    assert_same_shape(events["ping"], load_event("websocket-message"))
    assert_same_shape(events["default"], load_event("websocket-message"))
    assert_same_shape(events["disconnect"], load_event("websocket-disconnect"))

    assert events["authorizer"]["queryStringParameters"]["room"] == room
    assert events["connect"]["queryStringParameters"]["room"] == room
    assert events["ping"]["requestContext"]["routeKey"] == "ping"
    assert events["default"]["requestContext"]["routeKey"] == "$default"
    assert events["default"]["body"] == "not json"
    disconnect = events["disconnect"]["requestContext"]
    assert "messageId" not in disconnect and "messageId" not in events["connect"]["requestContext"]
    assert disconnect["disconnectStatusCode"] == 1000
    # The authorizer's context arrives stringified on every later route, with principalId, and
    # on $connect with how long the authorizer took (ms, a number).
    expected = {"principalId": "8", "userId": "8", "username": "gus", "isStaff": "true"}
    for name in ("connect", "ping", "default", "disconnect"):
        context = dict(events[name]["requestContext"]["authorizer"])
        assert float(context.pop("issuedAt")) == pytest.approx(time.time(), abs=60)
        if name == "connect":
            assert isinstance(context.pop("integrationLatency"), int)
        assert context == expected
    ids = {events[n]["requestContext"]["connectionId"] for n in events}
    assert len(ids) == 1


def test_client_close_without_status_is_1005(connect, room, recorded):
    """A close frame without a status code is reported as 1005, as API Gateway does."""
    client = connect(room)
    with client.send_context():
        client.protocol.send_close()  # an empty close frame: no status code
    assert wait_for(lambda: any(name == "disconnect" for name, _ in recorded))
    (event,) = [e for name, e in recorded if name == "disconnect"]
    assert event["requestContext"]["disconnectStatusCode"] == 1005
    assert event["requestContext"]["disconnectReason"] == "Client-side close frame status not set"
    json.dumps(event)  # events are plain JSON, as Lambda delivers them
