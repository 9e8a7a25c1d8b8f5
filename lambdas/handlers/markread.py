"""`markread`: the caller has seen their room (with `thread`: that thread) up to a message (any
kind of room they read: their membership or their join holds the position; a thread they
follow: their Follow item); their tabs are told."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.protocol import MarkRead
from lambdas.services.connections import connection_get
from lambdas.services.threads import thread_read
from lambdas.services.unread import unread_read


@websocket_route
def handler(request: RouteRequest) -> None:
    command = request.command(MarkRead)
    connection = connection_get(connection_id=request.connection_id, user=request.user)
    if command.thread is not None:
        thread_read(
            api=request.api,
            room=connection.room,
            user_id=request.user.user_id,
            thread=command.thread,
            message_id=command.message_id,
        )
        return
    unread_read(  # a lobby connection was refused above (not_in_a_room)
        api=request.api,
        room=connection.room,
        user_id=request.user.user_id,
        message_id=command.message_id,
    )
