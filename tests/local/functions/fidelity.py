"""A handler that calls another function with boto3 as handlers do on AWS: no endpoint_url."""

import json

import boto3


def invoke(event: dict, context) -> dict:
    """Invokes event["name"] and returns its answer."""
    answer = boto3.client("lambda").invoke(FunctionName=event["name"], Payload=b"{}")
    return json.loads(answer["Payload"].read())
