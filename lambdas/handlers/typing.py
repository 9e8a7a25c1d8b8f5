"""`typing`: tell the rest of the room that this user is typing (never echoed to the sender)."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.protocol import Typing
from lambdas.services.messages import typing_send


@websocket_route
def handler(request: RouteRequest) -> None:
    request.command(Typing)
    typing_send(api=request.api, connection_id=request.connection_id, typist=request.user)
