"""`history`: a page of the room's stored messages, oldest first (with `thread`: a page of that
thread's replies); with `since`, what changed after a change number (a client repairing a
gap); with `threads`, the caller's followed threads in the room and their unread counts."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.protocol import (
    History,
    changes_frame,
    history_frame,
    thread_history_frame,
    threads_frame,
)
from lambdas.services.connections import connection_get
from lambdas.services.messages import changes_read, history_read, thread_history_read
from lambdas.services.threads import threads_followed


@websocket_route
def handler(request: RouteRequest) -> dict:
    command = request.command(History)
    if command.since is not None:
        changes = changes_read(
            connection_id=request.connection_id, reader=request.user, since=command.since
        )
        return changes_frame(changes)
    if command.threads:
        room = connection_get(connection_id=request.connection_id, user=request.user).room
        listed = threads_followed(room=room, user_id=request.user.user_id)
        return threads_frame(room=room, threads=listed)
    if command.thread is not None:
        parent, page = thread_history_read(
            connection_id=request.connection_id,
            reader=request.user,
            thread=command.thread,
            before=command.before,
            after=command.after,
            limit=command.limit,
        )
        return thread_history_frame(
            room=page.room, parent=parent, replies=page.messages, has_more=page.has_more
        )
    page = history_read(
        connection_id=request.connection_id,
        reader=request.user,
        before=command.before,
        after=command.after,
        limit=command.limit,
    )
    return history_frame(
        room=page.room, messages=page.messages, has_more=page.has_more, rev=page.rev
    )
