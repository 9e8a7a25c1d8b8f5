"""sendmessage of the sample project: the same module name as connect's, other code.

It answers through the Management API as AWS's WebSocket chat sample does, at the callback URL
built from the event (`https://{domainName}/{stage}`), with boto3 and the usual CA bundle.
"""

import json
import os
from pathlib import Path

import boto3


def handler(event, context):
    request = event["requestContext"]
    record = {"function": "send", "table": os.environ.get("TABLE_NAME"), "file": __file__}
    record["stage"] = request["stage"]
    Path(os.environ["RECORD_DIR"], "send.json").write_text(json.dumps(record))
    endpoint = f"https://{request['domainName']}/{request['stage']}"
    client = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    client.post_to_connection(ConnectionId=request["connectionId"], Data=b'{"sent": true}')
    return {"statusCode": 200}
