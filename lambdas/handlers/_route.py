"""What every WebSocket route handler shares: event parsing, identity, replies, error frames."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import APIGatewayWebSocketEvent

from lambdas.errors import (
    ChatError,
    Internal,
    RateLimited,
    RegionMoved,
    Unauthorized,
    Unavailable,
    is_unavailable,
)
from lambdas.management import ManagementApi, endpoint_for, management_api
from lambdas.metrics import metric_count, with_metrics
from lambdas.protocol import MAX_CLIENT_MESSAGE_ID, error_frame, frame_decode
from lambdas.services.connections import connection_cut_off, connection_move_away
from lambdas.services.limits import ROUTE_BUCKETS, Flooding, rate_check
from lambdas.tokens import User

C = TypeVar("C")

logger = Logger(service="dynamowave")
MAX_ACTION = 32  # longer than any route's name: echoed back only up to this


@dataclass
class RouteRequest:
    """One invocation of a route, read through Powertools' typed view of the event."""

    event: APIGatewayWebSocketEvent

    @property
    def connection_id(self) -> str:
        return self.event.request_context.connection_id

    @cached_property
    def user(self) -> User:
        """Who is on this connection, from the context our authorizer returned at $connect."""
        context = self.event.request_context.get("authorizer") or {}
        user_id, username = context.get("userId"), context.get("username")
        if not user_id or not username:
            raise Unauthorized("this connection was not authorized")
        return User(
            user_id=str(user_id),
            username=str(username),
            is_staff=str(context.get("isStaff", "false")).lower() == "true",
            issued_at=_epoch(context.get("issuedAt")),
            session_id=str(context["sessionId"]) if context.get("sessionId") else None,
        )

    @cached_property
    def frame(self) -> dict:
        """The client's frame as a JSON object."""
        try:
            body = self.event.decoded_body
        except ValueError:  # base64-encoded, but not base64 of UTF-8: not JSON either
            body = None
        return frame_decode(body)

    def command(self, kind: type[C]) -> C:
        """The client's frame as the route's command (lambdas.protocol), or a ChatError."""
        return kind.parse(self.frame)

    def rate_check(self) -> None:
        """Take a token from the user's bucket for this route (limits.ROUTE_BUCKETS), or raise
        RateLimited. The one place frames pay: before parsing, so a malformed frame pays too,
        and before any read, so a refused one costs only the bucket's. $connect and
        $disconnect carry no frame and have no bucket."""
        bucket = ROUTE_BUCKETS.get(self.event.request_context.route_key)
        if bucket is not None:
            rate_check(user_id=self.user.user_id, bucket=bucket)

    @cached_property
    def api(self) -> ManagementApi:
        context = self.event.request_context
        return management_api(endpoint_for(context.domain_name, context.stage))


def _epoch(value: object) -> float:
    """A context number as API Gateway hands it on (a number or its string); 0 if absent."""
    try:
        return float(str(value))
    except ValueError:
        return 0.0


def _refused(request: RouteRequest) -> dict[str, str]:
    """What an error frame says of the frame it refuses, so a client knows which of its requests
    failed: its `action` and, for a send, its `clientMessageId` (echoed as `client_message_id`).
    Only well-formed values are echoed; a frame that is not JSON names nothing."""
    try:
        frame = request.frame
    except ChatError:
        return {}
    echoed = {}
    action, client_id = frame.get("action"), frame.get("clientMessageId")
    if isinstance(action, str) and 0 < len(action) <= MAX_ACTION:
        echoed["action"] = action
    if isinstance(client_id, str) and 0 < len(client_id) <= MAX_CLIENT_MESSAGE_ID:
        echoed["client_message_id"] = client_id
    return echoed


def _cut_off(request: RouteRequest) -> None:
    """Close a flooding client's connection; a failure leaves it open, refused as before."""
    try:
        connection_cut_off(
            api=request.api, connection_id=request.connection_id, user_id=request.user.user_id
        )
    except Exception:
        logger.exception("cutting off a flooding connection failed")


def _move_away(request: RouteRequest, frame: dict) -> bool:
    """Tell a connection of a Region that no longer takes writes to reconnect, and close it
    (the fence: connections.connection_move_away). False: it could not be told, or closed; the
    route's answer then carries the frame, and the page reconnects by itself on reading it."""
    try:
        return connection_move_away(
            api=request.api, connection_id=request.connection_id, frame=frame
        )
    except Exception:
        logger.exception("moving a connection away failed")
        return False


def reply(frame: dict | None = None, status: int = 200) -> dict:
    """A Lambda proxy response; with a route response configured, `body` goes to the caller."""
    response: dict = {"statusCode": status}
    if frame is not None:
        response["body"] = json.dumps(frame, default=str)
    return response


def websocket_route(route: Callable[[RouteRequest], dict | None]) -> Callable[[dict, object], dict]:
    """Make a Lambda handler of a route function; ChatErrors become error frames, never 500s."""

    @functools.wraps(route)
    @with_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict, context: object) -> dict:
        request = RouteRequest(APIGatewayWebSocketEvent(event))
        # The API Gateway request id is the correlation id: it is also in API Gateway's logs.
        logger.set_correlation_id(request.event.request_context.request_id)
        logger.append_keys(
            route=request.event.request_context.route_key,
            connection_id=request.connection_id,
            request_id=request.event.request_context.request_id,
        )
        try:
            request.rate_check()
            return reply(route(request))
        except ChatError as error:
            logger.info("request refused", extra={"code": error.code})
            if isinstance(error, RateLimited):
                metric_count("RateLimited")
            if isinstance(error, Flooding):
                _cut_off(request)
            frame = error_frame(error, **_refused(request))
            if isinstance(error, RegionMoved) and _move_away(request, frame):
                return reply(None, error.status)  # told and closed: no socket for an answer
            return reply(frame, error.status)
        except Exception as failure:
            if is_unavailable(failure):
                logger.warning("storage unavailable", extra={"error": type(failure).__name__})
                error: ChatError = Unavailable("the chat is briefly unavailable; try again")
            else:
                logger.exception("route failed")
                error = Internal("something went wrong on our side; nothing was changed")
            return reply(error_frame(error, **_refused(request)), error.status)

    return handler
