"""When DynamoDB cannot be reached, handlers answer `unavailable` error frames, not 500s."""

import json

from devstack.dynamodb import free_port
from emulator.events import LambdaContext
from lambdas import models
from lambdas.handlers import history, sendmessage
from tests.helpers import bind_config, load_event, with_user


def test_storage_down_gives_unavailable_frames(dynamodb):
    """Every route that needs storage says `unavailable` (503) quickly when it is down: after
    the few attempts of its first request (PynamoDB's retries), never a retry loop of its own.
    Counted, not timed: a busy machine makes each attempt slower, never more numerous."""
    bind_config(DYNAMODB_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")  # nobody there
    attempts: list[str] = []

    def count(event_name: str, **_) -> None:  # returns None: the request is still sent
        attempts.append(event_name)

    # One botocore client serves every table (models.bind): each HTTP attempt passes here.
    client = models.Message._get_connection().connection.client
    client.meta.events.register("before-send.dynamodb", count)
    try:
        for handler, frame in [
            (sendmessage.handler, {"action": "sendmessage", "message": "hi"}),
            (history.handler, {"action": "history"}),
        ]:
            event = with_user(load_event("websocket-message"))
            event["body"] = json.dumps(frame)
            attempts.clear()
            response = handler(event, LambdaContext(function_name="t", aws_request_id="r"))
            assert response["statusCode"] == 503
            assert json.loads(response["body"])["code"] == "unavailable"
            assert 1 <= len(attempts) <= 1 + 3, attempts  # PynamoDB's max_retry_attempts
    finally:
        client.meta.events.unregister("before-send.dynamodb", count)
        bind_config()
