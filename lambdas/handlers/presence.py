"""`presence`: who is online in the caller's room; asking it announces the caller's arrival."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.protocol import presence_frame
from lambdas.services.connections import presence_join
from lambdas.services.limits import rate_check


@websocket_route
def handler(request: RouteRequest) -> dict:
    # Only authorized connections see who is here; each ask sends the list to the whole room.
    rate_check(user_id=request.user.user_id, bucket="presence")
    presence = presence_join(
        api=request.api, connection_id=request.connection_id, user=request.user
    )
    return presence_frame(room=presence.room, users=presence.users)
