"""`react`: add or remove one's emoji reaction on a message; the room gets `message_updated`."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.protocol import React
from lambdas.services.messages import message_react


@websocket_route
def handler(request: RouteRequest) -> None:
    command = request.command(React)
    message_react(
        api=request.api,
        connection_id=request.connection_id,
        reactor=request.user,
        message_id=command.message_id,
        emoji=command.emoji,
        remove=command.remove,
    )
