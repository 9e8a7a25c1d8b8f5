"""Route and authorizer handlers that record every event they receive, as received.

Each event is written to $RECORD_DIR as <function>-<request id>.json. The query string can make
them fail: `fail=authorizer|connect` raises, `crash=authorizer|connect` kills the process.
"""

import json
import os
import signal
from pathlib import Path


def _record(event: dict, context) -> None:
    folder = Path(os.environ["RECORD_DIR"])
    path = folder / f"{context.function_name}-{context.aws_request_id}.json"
    path.write_text(json.dumps(event))


def _misbehave(event: dict, who: str) -> None:
    query = event.get("queryStringParameters") or {}
    if query.get("fail") == who:
        raise RuntimeError(f"{who} fails on purpose")
    if query.get("crash") == who:
        os.kill(os.getpid(), signal.SIGKILL)


def authorize(event: dict, context) -> dict:
    """Allows everyone, with a context API Gateway hands to every later event."""
    _record(event, context)
    _misbehave(event, "authorizer")
    return {
        "principalId": "7",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
            ],
        },
        "context": {"userId": "7", "username": "gus", "isStaff": True},
    }


def route(event: dict, context) -> dict:
    """Records the event; a message frame is echoed back (its route has a route response)."""
    _record(event, context)
    if event["requestContext"]["routeKey"] == "$connect":
        _misbehave(event, "connect")
    return {"statusCode": 200, "body": event.get("body") or ""}
