"""The gateway answers as API Gateway does where projects tried against it noticed it did not.

One process-mode gateway over a template built here, its functions the small handlers of
tests/local/functions/ (`recorder` writes every event it gets to a folder).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from emulator.gateway import GatewayThread, Settings
from emulator.intrinsics import Stack
from emulator.settings import INTEGRATION_TIMEOUT
from emulator.template import read_api
from tests.helpers import DEADLINE, wait_for
from tests.local.test_runtime import function, route, websocket_api

HERE = Path(__file__).parent
KB = 1024
TRACE = re.compile(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}")


def template(record_dir: Path) -> dict:
    return {
        "Transform": "AWS::Serverless-2016-10-31",  # the Caller's role from its Policies
        "Globals": {
            "Function": {
                "Runtime": "python3.13",
                "Timeout": 10,
                "Environment": {"Variables": {"RECORD_DIR": str(record_dir)}},
            }
        },
        "Resources": {
            **websocket_api("$request.body.action"),
            "Auth": function("recorder.authorize"),
            "Record": function("recorder.route"),
            "Sleeper": function("handlers.sleep", Timeout=60),
            "Env": function(
                "handlers.environment",
                Environment={
                    "Variables": {
                        "WS_URL": {"Fn::GetAtt": ["Api", "ApiEndpoint"]},
                        "STAGE_URL": {"Fn::Sub": "${Api.ApiEndpoint}/local"},
                        "DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:9",  # relayed, never called
                    }
                },
            ),
            "Caller": function(
                "fidelity.invoke",
                Policies=[{"LambdaInvokePolicy": {"FunctionName": {"Ref": "Env"}}}],
            ),
            **route("$connect", "Record", two_way=False, authorized=True),
            **route("$disconnect", "Record", two_way=False),
            **route("$default", "Record"),
            **route("slow", "Sleeper"),
        },
    }


@pytest.fixture(scope="module")
def record_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("events")


@pytest.fixture(scope="module")
def gateway(record_dir):
    api = read_api(template(record_dir), template_dir=HERE)
    runner = GatewayThread(api, Settings(mode="process", concurrency=3))
    gateway = runner.start()
    yield gateway
    runner.stop()


@pytest.fixture
def recorded(record_dir):
    """The events a recorder function ("Auth", "Record") got since the test started, in order;
    those of one connection if given (an earlier test's $disconnect may come in late)."""
    for path in record_dir.glob("*.json"):
        path.unlink()

    def recorded(function_id: str, connection_id: str | None = None) -> list[dict]:
        paths = sorted(record_dir.glob(f"{function_id}-*.json"), key=lambda p: p.stat().st_mtime_ns)
        found = [json.loads(path.read_text()) for path in paths]
        if connection_id is None:
            return found
        return [e for e in found if e["requestContext"]["connectionId"] == connection_id]

    return recorded


def route_keys(events: list[dict]) -> list[str]:
    return [event["requestContext"]["routeKey"] for event in events]


def url(gateway, stage: str = "local") -> str:
    return f"ws://{gateway.host}:{gateway.port}/{stage}?{urlencode({'token': 't'})}"


def connect(gateway, **kwargs):
    return ws_connect(url(gateway), open_timeout=DEADLINE, close_timeout=2, **kwargs)


def close_code(client) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            client.recv(timeout=DEADLINE)
    return closed.value.rcvd.code


def http(method: str, address: str, data: bytes | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(address, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def lambda_client(gateway):
    config = Config(retries={"total_max_attempts": 1}, read_timeout=DEADLINE)
    return boto3.client(
        "lambda", endpoint_url=gateway.lambda_url, region_name="us-east-1", config=config
    )


def invoke(gateway, name: str, event: dict | None = None) -> dict:
    answer = lambda_client(gateway).invoke(FunctionName=name, Payload=json.dumps(event or {}))
    assert "FunctionError" not in answer
    return json.loads(answer["Payload"].read())


def management(gateway, stage: str = "local"):
    endpoint = f"http://{gateway.host}:{gateway.port}/{stage}"
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, region_name="us-east-1")


# -- the handshake -------------------------------------------------------------------------------


def test_a_plain_http_request_is_426_before_anything_is_invoked(gateway, recorded):
    """No upgrade: 426 naming the protocol, and no authorizer, $connect or $disconnect ran."""
    status, headers, _ = http("GET", url(gateway).replace("ws://", "http://"))
    assert status == 426
    assert headers["Upgrade"] == "websocket"
    # Then a real client, whose events prove the recorder would have seen the first one.
    with connect(gateway) as client:
        client.send("after")
        assert client.recv(timeout=DEADLINE) == "after"
    (authorized,) = recorded("Auth")  # the real client's only
    connection_id = authorized["requestContext"]["connectionId"]
    assert wait_for(lambda: len(recorded("Record", connection_id)) == 3)
    assert route_keys(recorded("Record", connection_id)) == ["$connect", "$default", "$disconnect"]
    connects = [e for e in recorded("Record") if e["requestContext"]["eventType"] == "CONNECT"]
    assert len(connects) == 1


def test_an_unknown_stage_is_403_for_the_handshake_and_the_management_api(gateway, recorded):
    """Another stage than the gateway's: API Gateway's 403 Forbidden, not a 404."""
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(url(gateway, stage="other"), open_timeout=DEADLINE)
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body) == {"message": "Forbidden"}
    with pytest.raises(ClientError) as forbidden:
        management(gateway, stage="other").get_connection(ConnectionId="anything")
    assert forbidden.value.response["Error"]["Code"] == "ForbiddenException"
    assert forbidden.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert forbidden.value.response["ResponseMetadata"]["RequestId"]
    assert recorded("Auth") == []
    assert [e for e in recorded("Record") if e["requestContext"]["eventType"] == "CONNECT"] == []


# -- frames --------------------------------------------------------------------------------------


def test_a_frame_over_32_kb_closes_with_1009(gateway):
    """One frame of 32 KB passes; one of 32 KB and a byte closes the connection with 1009."""
    # Without permessage-deflate, so that the frames are as large on the wire as the text.
    with connect(gateway, compression=None) as client:
        client.send("a" * (32 * KB))
        assert client.recv(timeout=DEADLINE) == "a" * (32 * KB)
        client.send("b" * (32 * KB + 1))
        assert close_code(client) == 1009


def test_a_message_of_several_frames_may_hold_128_kb_and_no_more(gateway):
    """Four frames of 32 KB make a message of 128 KB, which passes; a byte more is 1009."""
    frames = ["c" * (32 * KB)] * 4
    with connect(gateway, compression=None, max_size=None) as client:
        client.send(iter(frames))  # fragmented: one message, four frames
        assert client.recv(timeout=DEADLINE) == "c" * (128 * KB)
        # The gateway may close before the client has sent the message's last (empty) frame.
        with contextlib.suppress(ConnectionClosed):
            client.send(iter([*frames, "d"]))
        assert close_code(client) == 1009


def test_a_compressed_message_is_measured_inflated(gateway):
    """With permessage-deflate (API Gateway negotiates it), 128 KB of text in a few compressed
    bytes passes, and a byte more closes the connection with 1009."""
    with connect(gateway, max_size=None) as client:
        client.send("e" * (128 * KB))
        assert client.recv(timeout=DEADLINE) == "e" * (128 * KB)
        client.send("f" * (128 * KB + 1))
        assert close_code(client) == 1009


# -- events --------------------------------------------------------------------------------------


def test_events_carry_the_fields_api_gateway_adds(gateway, recorded):
    """userAgent in every event's identity, the authorizer's integrationLatency on $connect, an
    X-Amzn-Trace-Id header, and no Connection or Upgrade header in $connect (its authorizer
    gets them, as the captured events show)."""
    with connect(gateway, user_agent_header="fidelity-test/1.0") as client:
        client.send("hello")
        assert client.recv(timeout=DEADLINE) == "hello"
    (authorizer,) = recorded("Auth")
    connection_id = authorizer["requestContext"]["connectionId"]
    assert wait_for(lambda: len(recorded("Record", connection_id)) == 3)
    connect_event, message, disconnect = recorded("Record", connection_id)
    assert route_keys([connect_event, message, disconnect]) == [
        "$connect",
        "$default",
        "$disconnect",
    ]

    for event in (authorizer, connect_event, message, disconnect):
        assert event["requestContext"]["identity"] == {
            "sourceIp": "127.0.0.1",
            "userAgent": "fidelity-test/1.0",
        }
    trace = authorizer["headers"]["X-Amzn-Trace-Id"]
    assert TRACE.fullmatch(trace)
    assert connect_event["headers"]["X-Amzn-Trace-Id"] == trace
    assert connect_event["multiValueHeaders"]["X-Amzn-Trace-Id"] == [trace]

    names = {name.lower() for name in connect_event["headers"]}
    assert not names & {"connection", "upgrade"}
    assert not {name.lower() for name in connect_event["multiValueHeaders"]} & {"upgrade"}
    assert {"sec-websocket-key", "sec-websocket-version", "host"} <= names
    assert {"connection", "upgrade"} <= {name.lower() for name in authorizer["headers"]}

    context = connect_event["requestContext"]["authorizer"]
    assert isinstance(context["integrationLatency"], int) and context["integrationLatency"] >= 0
    assert context["principalId"] == "7"
    assert "integrationLatency" not in message["requestContext"]["authorizer"]
    assert message["requestContext"]["authorizer"]["principalId"] == "7"


# -- the Management API --------------------------------------------------------------------------


def test_management_answers_carry_a_request_id_and_a_410_has_no_body(gateway):
    """POST, GET and DELETE answer with x-amzn-RequestId; a gone connection's 410 has only
    its error type, as AWS's (no body)."""
    api = management(gateway)
    before = set(gateway.clients)  # an earlier test's connection may still be closing
    with connect(gateway) as client:
        # The client hears 101 a moment before the gateway lists the connection as open.
        assert wait_for(lambda: set(gateway.clients) - before)
        (connection_id,) = set(gateway.clients) - before
        posted = api.post_to_connection(ConnectionId=connection_id, Data=b"hi")
        assert client.recv(timeout=DEADLINE) == "hi"
        described = api.get_connection(ConnectionId=connection_id)
        deleted = api.delete_connection(ConnectionId=connection_id)
        ids = [r["ResponseMetadata"]["RequestId"] for r in (posted, described, deleted)]
        assert all(ids) and len(set(ids)) == 3
    address = f"{gateway.management_url}/@connections/{connection_id}"
    for method, data in (("POST", b"x"), ("GET", None), ("DELETE", None)):
        status, headers, body = http(method, address, data)
        assert (status, body) == (410, b"")
        assert headers["x-amzn-ErrorType"] == "GoneException"
        assert headers["x-amzn-RequestId"]
    with pytest.raises(api.exceptions.GoneException) as gone:
        api.get_connection(ConnectionId=connection_id)
    assert gone.value.response["ResponseMetadata"]["RequestId"]


# -- the functions' environment ------------------------------------------------------------------


def test_api_endpoint_is_the_gateways_own():
    """Fn::GetAtt <Api>.ApiEndpoint has AWS's form when no gateway listens, ..."""
    stack = Stack(template(Path("/tmp")), region="eu-west-1", api_id="abc123")
    get_att = {"Fn::GetAtt": ["Api", "ApiEndpoint"]}
    assert stack.resolve(get_att) == "wss://abc123.execute-api.eu-west-1.amazonaws.com"
    stack.api_endpoint = "ws://127.0.0.1:8001"
    assert stack.resolve({"Fn::Sub": "${Api.ApiEndpoint}/prod"}) == "ws://127.0.0.1:8001/prod"


def test_functions_get_the_gateways_api_endpoint(gateway):
    """... and the gateway's endpoint in the functions' variables: a client reaches it."""
    env = invoke(gateway, "Env")
    assert env["WS_URL"] == gateway.api_endpoint == f"ws://127.0.0.1:{gateway.port}"
    assert env["STAGE_URL"] == gateway.websocket_url
    with ws_connect(f"{env['STAGE_URL']}?token=t", open_timeout=DEADLINE) as client:
        client.send("through ApiEndpoint")
        assert client.recv(timeout=DEADLINE) == "through ApiEndpoint"


def test_functions_get_the_sdks_endpoint_variables_for_the_gateways_services(gateway):
    """AWS_ENDPOINT_URL_<SERVICE> for Lambda, the Management API and (relayed) DynamoDB: a
    handler's boto3 client made without an endpoint_url reaches the gateway, not AWS."""
    env = invoke(gateway, "Env")
    assert env["AWS_ENDPOINT_URL_LAMBDA"] == gateway.lambda_url
    assert env["AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"] == gateway.management_url
    assert env["AWS_ENDPOINT_URL_DYNAMODB"] == env["DYNAMODB_ENDPOINT_URL"]
    assert env["DYNAMODB_ENDPOINT_URL"] != "http://127.0.0.1:9"  # the relay stands for it
    before = gateway.invocations.get("Env", 0)
    answer = invoke(gateway, "Caller", {"name": "Env"})
    assert answer["AWS_LAMBDA_FUNCTION_NAME"] == "Env"
    assert gateway.invocations["Env"] == before + 1


# -- the integration timeout ---------------------------------------------------------------------


@pytest.fixture
def integration_timeout(gateway):
    """Set the gateway's integration timeout (29 s) for one test."""
    original = gateway.settings.integration_timeout

    def set_timeout(seconds: float) -> None:
        gateway.settings.integration_timeout = seconds

    yield set_timeout
    gateway.settings.integration_timeout = original


def test_past_the_integration_timeout_the_client_is_told_and_the_function_runs_on(
    gateway, integration_timeout, tmp_path
):
    """The client gets API Gateway's timeout frame; the function, held running past it, ends
    on its own; its late answer goes nowhere."""
    release, span = tmp_path / "release", tmp_path / "span.json"
    with connect(gateway) as client:
        integration_timeout(0.2)
        frame = {"action": "slow", "seconds": DEADLINE, "release_file": str(release)}
        client.send(json.dumps({**frame, "span_file": str(span)}))
        reply = json.loads(client.recv(timeout=DEADLINE))
        told = time.time()
        assert reply["message"] == "Endpoint request timed out"
        assert reply["connectionId"] in gateway.clients and reply["requestId"]
        release.touch()
        assert wait_for(span.exists), "the function did not run on"
        assert json.loads(span.read_text())["ended"] >= told
        integration_timeout(INTEGRATION_TIMEOUT)
        client.send("next")  # the next frame's answer comes next: nothing came in between
        assert client.recv(timeout=DEADLINE) == "next"


def test_a_connect_past_the_integration_timeout_is_refused(gateway, integration_timeout, recorded):
    """$connect past the timeout: the handshake is refused (504; undocumented) and the
    function still runs; no $disconnect follows, as the socket never opened."""
    integration_timeout(0)
    with pytest.raises(InvalidStatus) as refused:
        connect(gateway)
    assert refused.value.response.status_code == 504
    assert json.loads(refused.value.response.body) == {"message": "Endpoint request timed out"}
    (authorized,) = recorded("Auth")
    refused_id = authorized["requestContext"]["connectionId"]
    assert wait_for(lambda: recorded("Record", refused_id))  # $connect ran, after the refusal
    assert route_keys(recorded("Record", refused_id)) == ["$connect"]  # and no $disconnect
    assert refused_id not in gateway.clients
