"""Builds Lambda events with the keys and value types API Gateway WebSocket APIs send.

Reference shapes: the captured events in tests/events/ (from Powertools' test data).
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass, field
from email.utils import formatdate

from emulator.intrinsics import ACCOUNT_ID


def new_id(size: int = 11) -> str:
    """An id shaped like API Gateway's (e.g. 'BFHPhfCWIAMCKlQ=')."""
    return base64.urlsafe_b64encode(os.urandom(size)).decode()


def now_ms() -> int:
    return int(time.time() * 1000)


def trace_id() -> str:
    """An X-Ray trace header as API Gateway adds it: 'Root=1-{epoch seconds, hex}-{24 hex}'."""
    return f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()}"


def request_time(epoch_ms: int) -> str:
    """'11/Nov/2024:11:35:24 +0000', API Gateway's requestTime format."""
    stamp = formatdate(epoch_ms / 1000, usegmt=True)  # 'Mon, 11 Nov 2024 11:35:24 GMT'
    _, day, month, year, clock, _ = stamp.split()
    return f"{day}/{month}/{year}:{clock} +0000"


@dataclass
class Caller:
    """What the gateway knows of one WebSocket client, as events carry it."""

    connection_id: str
    connected_at: int  # epoch milliseconds
    source_ip: str
    user_agent: str
    authorizer: dict[str, str] = field(default_factory=dict)  # principalId and stringified context
    # How long the Lambda authorizer took (ms): API Gateway adds it to $connect's authorizer.
    authorizer_latency: int | None = None
    # What the handshake proved (authorizers.py): an IAM caller's accountId, caller, user,
    # userArn and accessKey, the API key's apiKey and apiKeyId; in every event's identity.
    identity: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Api:
    """The identity of the API whose events we build."""

    api_id: str
    stage: str
    domain_name: str
    region: str = "us-east-1"
    account_id: str = ACCOUNT_ID

    def method_arn(self, route_key: str) -> str:
        api = f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}"
        return f"{api}/{self.stage}/{route_key}"


def request_context(
    api: Api,
    caller: Caller,
    *,
    route_key: str,
    event_type: str,
    message_id: str | None = None,
    disconnect: tuple[int, str] | None = None,
    with_authorizer: bool = True,
) -> dict:
    request_id = new_id(11)
    epoch = now_ms()
    context: dict = {"routeKey": route_key}
    if message_id is not None:  # present only on MESSAGE events
        context["messageId"] = message_id
    if disconnect is not None:
        context["disconnectStatusCode"] = disconnect[0]
    context.update(
        eventType=event_type,
        extendedRequestId=request_id,
        requestTime=request_time(epoch),
        messageDirection="IN",
    )
    if disconnect is not None:
        context["disconnectReason"] = disconnect[1]
    identity = {"sourceIp": caller.source_ip}
    if caller.user_agent:  # absent when the client sent none (as in tests/events/)
        identity["userAgent"] = caller.user_agent
    context.update(
        stage=api.stage,
        connectedAt=caller.connected_at,
        requestTimeEpoch=epoch,
        identity=identity,
        requestId=request_id,
        domainName=api.domain_name,
        connectionId=caller.connection_id,
        apiId=api.api_id,
    )
    context["identity"].update(caller.identity)
    if with_authorizer and caller.authorizer:
        context["authorizer"] = dict(caller.authorizer)
        if event_type == "CONNECT" and caller.authorizer_latency is not None:
            context["authorizer"]["integrationLatency"] = caller.authorizer_latency
    return context


def _multi(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value  # like API Gateway, the last value wins in the single-value map
        multi.setdefault(key, []).append(value)
    return single, multi


def _with_query(event: dict, query: list[tuple[str, str]]) -> dict:
    # API Gateway leaves the query keys out of $connect events when there is no query string.
    if query:
        event["queryStringParameters"], event["multiValueQueryStringParameters"] = _multi(query)
    return event


def authorizer_event(
    api: Api, caller: Caller, *, headers: list[tuple[str, str]], query: list[tuple[str, str]]
) -> dict:
    single, multi = _multi(headers)
    qs, mqs = _multi(query)
    return {
        "type": "REQUEST",
        "methodArn": api.method_arn("$connect"),
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": qs,
        "multiValueQueryStringParameters": mqs,
        "stageVariables": {},
        "requestContext": request_context(
            api, caller, route_key="$connect", event_type="CONNECT", with_authorizer=False
        ),
    }


# Hop-by-hop headers of the upgrade that API Gateway keeps from $connect (its authorizer sees
# them; the captured events in tests/events/ show both).
_NOT_PASSED = frozenset({"connection", "upgrade"})


def connect_event(
    api: Api, caller: Caller, *, headers: list[tuple[str, str]], query: list[tuple[str, str]]
) -> dict:
    single, multi = _multi([(k, v) for k, v in headers if k.lower() not in _NOT_PASSED])
    event = {"headers": single, "multiValueHeaders": multi}
    _with_query(event, query)
    event["requestContext"] = request_context(
        api, caller, route_key="$connect", event_type="CONNECT"
    )
    event["isBase64Encoded"] = False
    return event


def message_event(api: Api, caller: Caller, *, route_key: str, body: str) -> dict:
    return {
        "requestContext": request_context(
            api, caller, route_key=route_key, event_type="MESSAGE", message_id=new_id(11)
        ),
        "body": body,
        "isBase64Encoded": False,
    }


def disconnect_event(api: Api, caller: Caller, *, status_code: int, reason: str) -> dict:
    single, multi = _multi(
        [("Host", api.domain_name), ("x-api-key", ""), ("X-Forwarded-For", ""), ("x-restapi", "")]
    )
    return {
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": request_context(
            api,
            caller,
            route_key="$disconnect",
            event_type="DISCONNECT",
            disconnect=(status_code, reason),
        ),
        "isBase64Encoded": False,
    }


@dataclass
class LambdaContext:
    """The parts of the Lambda context object that handlers and Powertools read."""

    function_name: str
    aws_request_id: str
    region: str = "us-east-1"
    account_id: str = ACCOUNT_ID
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    timeout_seconds: float = 29.0
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))
