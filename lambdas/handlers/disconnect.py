"""`$disconnect`: forget the connection and tell its room (AWS delivers this at most once)."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.services.connections import connection_close


@websocket_route
def handler(request: RouteRequest) -> None:
    connection_close(api=request.api, connection_id=request.connection_id)
