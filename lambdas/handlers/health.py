"""`GET /health` on the health function's URL: 200 or 503 with the Region's name, for Route 53's
health checks and the other Region's fence (docs/multi-region.md). Not a WebSocket route."""

import json

from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent, event_source

from lambdas.services.health import health_check


@event_source(data_class=LambdaFunctionUrlEvent)
def handler(event: LambdaFunctionUrlEvent, context: object) -> dict:
    health = health_check()
    body = {"ok": health.ok, "region": health.region}
    if health.error:
        body["error"] = health.error
    if health.active:
        body["active"] = health.active
    return {
        "statusCode": 200 if health.ok else 503,
        # Never cached: a front (CloudFront, a proxy) must not answer for a Region that died.
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "body": json.dumps(body),
    }
