"""`ping`: an application-level keep-alive (API Gateway's idle timer ignores control frames);
in a room, the answer carries the room's last change number, so a client that missed the last
message learns of it, and `read` moves the caller's read position there (as `markread` does;
their tabs in other rooms are told)."""

from lambdas.errors import NotConnected, NotInARoom
from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.protocol import Ping, pong_frame
from lambdas.services.changes import room_latest
from lambdas.services.connections import connection_get
from lambdas.services.unread import unread_read


@websocket_route
def handler(request: RouteRequest) -> dict:
    command = request.command(Ping)
    try:
        room = connection_get(connection_id=request.connection_id, user=request.user).room
    except (NotInARoom, NotConnected):
        return pong_frame()  # a lobby connection, or one the client will find out about
    if command.read is not None:
        unread_read(
            api=request.api,
            room=room,
            user_id=request.user.user_id,
            message_id=command.read,
            outside=room,  # the caller's pages showing this room know it is read
        )
    latest, _ = room_latest(room=room)
    return pong_frame(latest)
