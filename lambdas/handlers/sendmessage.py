"""`sendmessage`: store a message and fan it out to everyone in the sender's room."""

from lambdas.handlers._route import RouteRequest, logger, websocket_route
from lambdas.protocol import SendMessage, message_frame
from lambdas.services.messages import message_send


@websocket_route
def handler(request: RouteRequest) -> dict | None:
    command = request.command(SendMessage)
    sent = message_send(
        api=request.api,
        connection_id=request.connection_id,
        sender=request.user,
        text=command.text,
        client_message_id=command.client_message_id,
        thread=command.thread,
        also_in_room=command.also_in_room,
        files=command.files,
    )
    if sent.duplicate:
        # A retry of a stored send: only the sender hears of it again, so it can stop waiting.
        logger.info("duplicate send", extra={"message_id": sent.message.message_id})
        return message_frame(sent.message)
    # DEBUG: one line per message is log volume paid per message (CloudWatch Logs bills each
    # byte ingested), and the metrics already count them (MessagesStored).
    logger.debug(
        "message sent",
        extra={
            "message_id": sent.message.message_id,
            "delivered": sent.delivery.delivered,
            "gone": len(sent.delivery.gone),
            "shards": sent.delivery.shards,  # the rest of a large room: posted asynchronously
        },
    )
    return None
