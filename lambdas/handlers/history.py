"""`history`: a page of the room's stored messages, oldest first; or, with `since`, what
changed after a change number (a client repairing a gap)."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.protocol import History, changes_frame, history_frame
from lambdas.services.messages import changes_read, history_read


@websocket_route
def handler(request: RouteRequest) -> dict:
    command = request.command(History)
    if command.since is not None:
        changes = changes_read(
            connection_id=request.connection_id, reader=request.user, since=command.since
        )
        return changes_frame(changes)
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
