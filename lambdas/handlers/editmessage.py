"""`editmessage`: replace the text of one's own message; the room gets `message_updated`."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.protocol import EditMessage
from lambdas.services.messages import message_edit


@websocket_route
def handler(request: RouteRequest) -> None:
    command = request.command(EditMessage)
    message_edit(
        api=request.api,
        connection_id=request.connection_id,
        editor=request.user,
        message_id=command.message_id,
        text=command.text,
    )
