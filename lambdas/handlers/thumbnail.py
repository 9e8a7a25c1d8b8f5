"""Thumbnails (S3 object-created notifications of the uploads bucket's `files/` prefix, not a
route): checks each new upload's content and makes an image's thumbnail
(lambdas/services/thumbnails.py).

Content it refuses is recorded on the upload and deleted, never raised; S3 or DynamoDB failing
raises, and Lambda retries the event (twice, as for every asynchronous invocation): an upload
already checked is skipped.
"""

from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import S3Event

from lambdas.metrics import with_metrics
from lambdas.services.thumbnails import upload_inspect

logger = Logger(service="dynamowave")


@with_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    # Keys arrive URL-encoded, spaces as "+" (S3's "Event message structure").
    keys = [unquote_plus(record.s3.get_object.key) for record in S3Event(event).records]
    outcomes = [upload_inspect(key=key) for key in keys]
    for outcome in outcomes:
        logger.info("upload checked", extra=outcome.__dict__)
    return {"uploads": [outcome.__dict__ for outcome in outcomes]}
