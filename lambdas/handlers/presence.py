"""`presence`: who is online in the caller's room (distinct users)."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.services.connections import connection_get, presence_frame


@websocket_route
def handler(request: RouteRequest) -> dict:
    request.user  # only authorized connections see who is here  # noqa: B018
    return presence_frame(room=connection_get(connection_id=request.connection_id).room)
