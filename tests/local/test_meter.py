"""The local stack's meter counts what AWS would bill: each case computed by hand first."""

from __future__ import annotations

import json
import urllib.request

import pytest

from emulator.meter import MESSAGE_UNIT, Meter, message_units
from tests.helpers import RestartableGateway, recv_json, room_clients, wait_for


@pytest.mark.parametrize(
    ("size", "units"),
    [(0, 1), (1, 1), (MESSAGE_UNIT, 1), (MESSAGE_UNIT + 1, 2), (128 * 1024, 4)],
)
def test_a_frame_is_billed_in_32_kb_units(size, units):
    assert message_units(size) == units


def test_lambda_is_billed_per_started_millisecond_and_gb_second():
    meter = Meter()
    meter.invoked("F", memory_mb=512, architecture="arm64", duration_ms=10.2)  # 11 ms
    meter.invoked("F", memory_mb=512, architecture="arm64", duration_ms=0.1)  # 1 ms
    usage = meter.snapshot()["lambda"]["functions"]["F"]
    assert usage == {
        "requests": 2,
        "billed_ms": 12,
        "gb_seconds": 0.006,  # 0.5 GB × 0.012 s
        "memory_mb": 512,
        "architecture": "arm64",
    }


def test_connection_minutes_count_open_and_closed_connections():
    meter = Meter()
    meter.opened("a", at=0.0)
    meter.opened("b", at=30.0)
    meter.closed("a", at=90.0)  # 1.5 minutes
    assert meter.connection_minutes(now=150.0) == pytest.approx(1.5 + 2.0)  # b open 2 minutes
    meter.closed("a", at=200.0)  # closed twice: counted once
    assert meter.connection_minutes(now=150.0) == pytest.approx(3.5)


def usage(meter_url: str) -> dict:
    with urllib.request.urlopen(meter_url, timeout=10) as response:
        return json.load(response)


def requests_by_function(before: dict, after: dict) -> dict[str, int]:
    """Lambda requests made between two readings, by function (those with none left out)."""
    made = {}
    for name, function in after["lambda"]["functions"].items():
        earlier = before["lambda"]["functions"].get(name, {}).get("requests", 0)
        if function["requests"] > earlier:
            made[name] = function["requests"] - earlier
    return made


@pytest.fixture
def own_gateway(dynamodb):
    """A gateway of the test's own, functions in this process: no other test's traffic (a
    late $disconnect, a presence announcement) reaches its meter."""
    own = RestartableGateway(mode="thread")
    yield own.start()
    own.restore()


def test_one_message_to_a_room_of_three(own_gateway, keys, room):
    """Alice, bob and carol in one room; alice sends one message. API Gateway: 1 message in
    (her frame) and 3 out (one @connections POST each, hers included: the echo is her
    acknowledgement); Lambda: one SendMessageFunction request and the search index's
    IndexFunction request, nothing else; the connections' minutes run on. `GET /@meter`
    answers what the gateway counted."""
    with room_clients(own_gateway, keys, room, ("alice", "bob", "carol")) as clients:
        alice, bob, carol = clients
        before = usage(own_gateway.meter_url)
        assert before["apigateway"]["connections"] == before["apigateway"]["open_connections"] == 3
        assert requests_by_function({"lambda": {"functions": {}}}, before) == {
            "AuthorizerFunction": 3,
            "ConnectFunction": 3,
        }
        alice.send(json.dumps({"action": "sendmessage", "message": "hello"}))
        for client in (alice, bob, carol):
            assert recv_json(client)["text"] == "hello"
        meter = own_gateway.meter
        functions = ("SendMessageFunction", "IndexFunction")
        assert wait_for(lambda: set(functions) <= set(meter.snapshot()["lambda"]["functions"]))
        after = usage(own_gateway.meter_url)
    api_before, api_after = before["apigateway"], after["apigateway"]
    assert api_after["messages_in"] - api_before["messages_in"] == 1
    assert api_after["messages_out"] - api_before["messages_out"] == 3
    assert api_after["connections"] == 3
    assert requests_by_function(before, after) == {"SendMessageFunction": 1, "IndexFunction": 1}
    send = after["lambda"]["functions"]["SendMessageFunction"]
    assert (send["memory_mb"], send["architecture"]) == (512, "arm64")  # template.yaml's
    assert send["gb_seconds"] == pytest.approx(0.5 * send["billed_ms"] / 1000)
    assert api_after["connection_minutes"] > api_before["connection_minutes"] > 0


def test_process_mode_environments_are_metered_too(gateway, connect, room):
    """The session's gateway runs functions in execution environments (as make run does):
    their invocations are billed as they return."""
    meter = gateway.runner.gateway.meter
    before = meter.snapshot()
    client = connect(room)
    client.send(json.dumps({"action": "sendmessage", "message": "counted"}))
    assert recv_json(client)["text"] == "counted"
    assert wait_for(
        lambda: requests_by_function(before, meter.snapshot()).get("SendMessageFunction") == 1
    )
    made = requests_by_function(before, meter.snapshot())
    assert made["AuthorizerFunction"] >= 1 and made["ConnectFunction"] >= 1
