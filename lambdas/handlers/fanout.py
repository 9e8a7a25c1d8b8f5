"""Fan-out: posts one message to a slice of a large room, or runs a large room's batch
(invoked asynchronously by Lambda, not a route).

`broadcast()` splits rooms above FANOUT_SHARD_SIZE into shards and invokes this function
(InvocationType=Event) once per shard, with the payload
{"endpoint", "room", "message_id", "data", "connection_ids"}. It never raises for a failed
delivery: an asynchronous invocation that fails is retried by Lambda as a whole, which would post
the shard's delivered connections twice.

A change in a room above BATCH_ROOM_SIZE online starts the room's batch here, with the payload
{"batch": room, "token", "since", "endpoint"} (lambdas/services/batches.py).
"""

from aws_lambda_powertools import Logger

from lambdas.management import management_api
from lambdas.metrics import with_metrics
from lambdas.services.batches import batch_run
from lambdas.services.broadcast import broadcast_shard

logger = Logger(service="dynamowave")


@with_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    if "batch" in event:
        logger.append_keys(room=event["batch"])
        rounds = batch_run(
            api=management_api(event["endpoint"]),
            room=event["batch"],
            token=event["token"],
            since=int(event["since"]),
        )
        logger.debug("batch posted", extra={"rounds": rounds})
        return {"rounds": rounds}
    logger.append_keys(message_id=event.get("message_id"), room=event.get("room"))
    result = broadcast_shard(
        api=management_api(event["endpoint"]),
        connection_ids=event["connection_ids"],
        payload=event["data"].encode(),
        message_id=event.get("message_id"),
    )
    summary = {"delivered": result.delivered, "gone": len(result.gone), "failed": result.failed}
    # A line per shard only when some of it failed: per-invocation INFO lines are log volume
    # paid for every large-room message.
    if result.failed:
        logger.warning("shard posted with failures", extra=summary)
    else:
        logger.debug("shard posted", extra=summary)
    return summary
