"""`history`: a page of the room's stored messages, oldest first."""

from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.services.limits import rate_check
from lambdas.services.messages import history_read


@websocket_route
def handler(request: RouteRequest) -> dict:
    # Only authorized connections read history, a page at a time.
    rate_check(user_id=request.user.user_id, bucket="history")
    return history_read(connection_id=request.connection_id, frame=request.frame)
