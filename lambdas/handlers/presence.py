"""`presence`: who is online in the caller's room; asking it announces the caller's arrival."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.services.connections import presence_join


@websocket_route
def handler(request: RouteRequest) -> dict:
    request.user  # only authorized connections see who is here  # noqa: B018
    return presence_join(api=request.api, connection_id=request.connection_id)
