"""When DynamoDB cannot be reached, handlers answer `unavailable` error frames, not 500s."""

import json
import time

from lambdas.handlers import history, sendmessage
from lambdas.local.dynamodb import free_port
from lambdas.local.events import LambdaContext
from tests.helpers import load_event, reconfigure, with_user


def test_storage_down_gives_unavailable_frames(dynamodb, monkeypatch):
    """Every route that needs storage says `unavailable` (503) quickly when it is down."""
    monkeypatch.setenv("DYNAMODB_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nobody there
    reconfigure()
    try:
        for handler, frame in [
            (sendmessage.handler, {"action": "sendmessage", "message": "hi"}),
            (history.handler, {"action": "history"}),
        ]:
            event = with_user(load_event("websocket-message"))
            event["body"] = json.dumps(frame)
            started = time.monotonic()
            response = handler(event, LambdaContext(function_name="t", aws_request_id="r"))
            assert response["statusCode"] == 503
            assert json.loads(response["body"])["code"] == "unavailable"
            assert time.monotonic() - started < 10
    finally:
        monkeypatch.undo()
        reconfigure()
