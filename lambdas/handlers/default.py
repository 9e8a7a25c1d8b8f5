"""`$default`: frames no route matched get help, and the caller's own connection info."""

from lambdas.errors import UnknownAction
from lambdas.handlers._route import RouteRequest, websocket_route
from lambdas.management import ConnectionGone
from lambdas.models import iso
from lambdas.protocol import info_frame

HELP = (
    'Send {"action": "sendmessage", "message": "hello"} to talk to your room, '
    '{"action": "history"} for recent messages, {"action": "presence"} for who is here, '
    '{"action": "ping"} to keep the connection alive. Also: typing, editmessage, deletemessage.'
)


@websocket_route
def handler(request: RouteRequest) -> dict:
    action = request.frame.get("action")
    if action is not None:
        raise UnknownAction(f"there is no action {str(action)[:64]!r}. {HELP}")
    try:
        described = request.api.get(request.connection_id)
    except ConnectionGone:
        described = {}
    return info_frame(
        help_text=HELP, connection_id=request.connection_id, connection=_wire(described)
    )


def _wire(described: dict) -> dict:
    """GetConnection's answer in the API's own JSON spelling (boto3 capitalises the keys)."""
    if not described:
        return {}
    identity = described.get("Identity", {})
    return {
        "connectedAt": iso(described["ConnectedAt"]),
        "identity": {"sourceIp": identity.get("SourceIp"), "userAgent": identity.get("UserAgent")},
        "lastActiveAt": iso(described["LastActiveAt"]),
    }
