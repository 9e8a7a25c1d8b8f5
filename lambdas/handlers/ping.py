"""`ping`: an application-level keep-alive; API Gateway's idle timer ignores control frames."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.protocol import pong_frame


@websocket_route
def handler(request: RouteRequest) -> dict:
    return pong_frame()
