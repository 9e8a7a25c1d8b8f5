"""`presence`: who is online in the caller's room; asking it announces the caller's arrival."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.protocol import presence_frame
from lambdas.services.connections import presence_join


@websocket_route
def handler(request: RouteRequest) -> dict:
    presence = presence_join(
        api=request.api, connection_id=request.connection_id, user=request.user
    )
    return presence_frame(room=presence.room, users=presence.users)
