"""`sendmessage`: store a message and fan it out to everyone in the sender's room."""

from lambdas.handlers._route import RouteRequest, logger, websocket_route
from lambdas.services.messages import message_send


@websocket_route
def handler(request: RouteRequest) -> None:
    message, result = message_send(
        api=request.api,
        connection_id=request.connection_id,
        sender=request.user,
        frame=request.frame,
    )
    logger.info(
        "message sent",
        extra={
            "message_id": message.message_id,
            "delivered": result.delivered,
            "gone": len(result.gone),
        },
    )
