"""`$connect`: register the connection in the room named by `?room=` (default `general`), or in
none with `?lobby=1` (the rooms list's socket: it hears only `unread` frames)."""

from datetime import UTC, datetime

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.services.connections import connection_open


@websocket_route
def handler(request: RouteRequest) -> None:
    context = request.event.request_context
    params = request.event.query_string_parameters or {}
    connection_open(
        api=request.api,
        connection_id=request.connection_id,
        user=request.user,
        room=params.get("room"),
        lobby=params.get("lobby") in ("1", "true"),
        connected_at=datetime.fromtimestamp(context.connected_at / 1000, UTC),
        source_ip=context.identity.source_ip,
        user_agent=request.event.headers.get("User-Agent"),
    )
