"""The health route answers 200 with the Region's name while its tables can be read, and 503
(still naming the Region, never an error's message) when they cannot."""

from __future__ import annotations

import json

from lambdas.handlers.health import handler
from tests.helpers import load_event


def test_a_region_that_reads_its_tables_is_healthy(dynamodb, configure):
    configure(AWS_REGION="eu-west-1")
    answer = handler(load_event("function-url-health"), None)
    assert answer["statusCode"] == 200
    assert answer["headers"]["cache-control"] == "no-store"
    assert json.loads(answer["body"]) == {"ok": True, "region": "eu-west-1"}


def test_a_region_that_cannot_read_its_tables_is_unhealthy(dynamodb, configure):
    # Given DynamoDB cannot be reached (nothing listens on the discard port)
    configure(AWS_REGION="eu-west-1", DYNAMODB_ENDPOINT_URL="http://127.0.0.1:9")
    answer = handler(load_event("function-url-health"), None)
    assert answer["statusCode"] == 503
    body = json.loads(answer["body"])
    assert (body["ok"], body["region"]) == (False, "eu-west-1")
    assert body["error"] and " " not in body["error"]  # a class name, not a message
