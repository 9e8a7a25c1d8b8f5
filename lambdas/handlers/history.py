"""`history`: a page of the room's stored messages, oldest first."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.services.messages import history_read


@websocket_route
def handler(request: RouteRequest) -> dict:
    request.user  # only authorized connections read history  # noqa: B018
    return history_read(connection_id=request.connection_id, frame=request.frame)
