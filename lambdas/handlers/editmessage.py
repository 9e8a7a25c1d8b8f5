"""`editmessage`: replace the text of one's own message; the room gets `message_updated`."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.services.messages import message_edit


@websocket_route
def handler(request: RouteRequest) -> None:
    message_edit(
        api=request.api,
        connection_id=request.connection_id,
        editor=request.user,
        frame=request.frame,
    )
