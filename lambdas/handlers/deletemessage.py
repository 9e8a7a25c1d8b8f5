"""`deletemessage`: delete one's own message (staff: any); the room gets `message_deleted`."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.protocol import DeleteMessage
from lambdas.services.messages import message_delete


@websocket_route
def handler(request: RouteRequest) -> None:
    command = request.command(DeleteMessage)
    message_delete(
        api=request.api,
        connection_id=request.connection_id,
        deleter=request.user,
        message_id=command.message_id,
    )
