"""`$disconnect`: forget the connection (idempotent: AWS delivers this event at most once)."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.services.connections import connection_close


@websocket_route
def handler(request: RouteRequest) -> None:
    connection_close(connection_id=request.connection_id)
