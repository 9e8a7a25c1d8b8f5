"""Indexing (invoked asynchronously by the functions that change messages, not a route): applies
message changes to the search index through the RDS Data API.

The payload is {"changes": [IndexChange fields, …], "enqueued_at": epoch ms}
(lambdas/services/indexing.py). Any failure raises: Lambda retries the event (IndexInvokeConfig,
template.yaml) and sends it to the index failures queue when its retries are spent. A retried
event is harmless: each change applies only over an older one.
"""

from aws_lambda_powertools import Logger

from lambdas.metrics import with_metrics
from lambdas.services.indexing import changes_of, index_apply

logger = Logger(service="dynamowave")


@with_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    changes = changes_of(event)
    logger.append_keys(message_id=changes[0].message_id, rev=changes[0].rev)
    applied = index_apply(changes=changes, enqueued_at_ms=event.get("enqueued_at"))
    logger.debug("indexed", extra={"changes": len(changes), "applied": applied})
    return {"changes": len(changes), "applied": applied}
