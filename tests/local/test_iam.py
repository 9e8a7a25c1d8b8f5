"""Each function's role from template.yaml is enforced on the calls it makes through the gateway."""

from __future__ import annotations

import json
import os
from urllib.parse import urlencode

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.gateway import GatewayThread, Settings
from emulator.iam import PolicyError, role_credentials
from emulator.template import read_api
from tests.helpers import DEADLINE, GATEWAY_MODE, recv_json, wait_for
from tests.local.test_runtime import HERE, function

NO_RETRIES = Config(retries={"total_max_attempts": 1})


def as_role(function_id: str | None, service: str, endpoint_url: str):
    """A boto3 client signing as a function's role (None: the keys of this machine)."""
    keys = role_credentials(function_id) if function_id else {}
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        config=NO_RETRIES,
        aws_access_key_id=keys.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=keys.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=keys.get("AWS_SESSION_TOKEN"),
    )


def status(call) -> int:
    try:
        response = call()
    except ClientError as error:
        return error.response["ResponseMetadata"]["HTTPStatusCode"]
    return response["ResponseMetadata"]["HTTPStatusCode"]


def test_connections_answer_each_role_as_the_template_grants(gateway):
    """$connect may only GET @connections (403 on POST, as AWS refuses); sendmessage may POST;
    this machine's own keys are not restricted. (410: allowed, and no such connection.)"""
    if gateway.iam is None:
        pytest.skip("IAM is enforced in process mode only")
    connect = as_role("ConnectFunction", "apigatewaymanagementapi", gateway.management_url)
    send = as_role("SendMessageFunction", "apigatewaymanagementapi", gateway.management_url)
    mine = as_role(None, "apigatewaymanagementapi", gateway.management_url)

    assert status(lambda: connect.post_to_connection(ConnectionId="nobody", Data=b"x")) == 403
    assert status(lambda: connect.get_connection(ConnectionId="nobody")) == 410
    assert status(lambda: send.post_to_connection(ConnectionId="nobody", Data=b"x")) == 410
    assert status(lambda: mine.post_to_connection(ConnectionId="nobody", Data=b"x")) == 410
    with pytest.raises(ClientError) as refused:
        connect.post_to_connection(ConnectionId="nobody", Data=b"x")
    assert refused.value.response["Error"]["Code"] == "ForbiddenException"
    assert "ConnectFunction" in refused.value.response["Error"]["Message"]


def test_invoke_answers_each_role_as_the_template_grants(gateway):
    """Only broadcasting functions may invoke the fan-out alias: AccessDeniedException, as AWS."""
    if gateway.iam is None:
        pytest.skip("IAM is enforced in process mode only")

    def dry_run(function_id: str | None) -> int:
        client = as_role(function_id, "lambda", gateway.lambda_url)
        return status(
            lambda: client.invoke(FunctionName="FanoutFunction:live", InvocationType="DryRun")
        )

    assert dry_run("SendMessageFunction") == 204
    assert dry_run(None) == 204
    assert dry_run("ConnectFunction") == 403
    client = as_role("HistoryFunction", "lambda", gateway.lambda_url)
    with pytest.raises(ClientError) as refused:
        client.invoke(FunctionName="FanoutFunction:live", InvocationType="DryRun")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"


def test_a_role_the_stack_cannot_resolve_stops_it_at_start():
    """A policy naming an import (no local value) is refused at start-up, never allowed."""
    template = {
        "Resources": {
            "Api": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {"ProtocolType": "WEBSOCKET"},
            },
            "Echo": function("handlers.echo", Role={"Fn::GetAtt": ["EchoRole", "Arn"]}),
            "EchoRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Policies": [
                        {
                            "PolicyName": "p",
                            "PolicyDocument": {
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Action": "sqs:SendMessage",
                                        "Resource": {"Fn::ImportValue": "elsewhere"},
                                    }
                                ]
                            },
                        }
                    ]
                },
            },
        }
    }
    runner = GatewayThread(read_api(template, template_dir=HERE), Settings(mode="process"))
    with pytest.raises(PolicyError, match="EchoRole"):
        runner.start()
    runner.loop.call_soon_threadsafe(runner.loop.stop)


def test_dynamodb_answers_each_role_as_the_template_grants(gateway):
    """A function's DynamoDB calls go through its role: history may read messages and its own
    connection, nothing else (AccessDeniedException, as DynamoDB refuses); this machine's own
    keys are not restricted."""
    if gateway.iam is None:
        pytest.skip("IAM is enforced in process mode only")
    endpoint = gateway.dynamodb_endpoint(os.environ["DYNAMODB_ENDPOINT_URL"])
    history = as_role("HistoryFunction", "dynamodb", endpoint)
    mine = as_role(None, "dynamodb", endpoint)
    prefix = os.environ["TABLE_PREFIX"]
    by_room = {
        "TableName": f"{prefix}connections",
        "IndexName": "by-room",
        "KeyConditionExpression": "room = :room",
        "ExpressionAttributeValues": {":room": {"S": "nowhere"}},
    }
    messages = {
        "TableName": f"{prefix}messages",
        "KeyConditionExpression": "room = :room",
        "ExpressionAttributeValues": {":room": {"S": "nowhere"}},
    }
    own = {"TableName": f"{prefix}connections", "Key": {"connection_id": {"S": "nobody"}}}

    assert status(lambda: history.query(**messages)) == 200
    assert status(lambda: history.get_item(**own)) == 200
    assert status(lambda: history.query(**by_room)) == 400  # not granted: the index is its own
    assert status(lambda: history.delete_item(**own)) == 400
    assert status(lambda: history.describe_table(TableName=f"{prefix}messages")) == 400
    assert status(lambda: mine.query(**by_room)) == 200
    with pytest.raises(ClientError) as refused:
        history.batch_write_item(
            RequestItems={f"{prefix}messages": [{"DeleteRequest": {"Key": {"x": {"S": "y"}}}}]}
        )
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert "HistoryFunction" in error["Message"]
    assert f":table/{prefix}messages" in error["Message"]


def test_functions_reach_dynamodb_only_through_their_roles(gateway, connect, room):
    """What a connect and a send did in DynamoDB, each function under its own role's grants."""
    if gateway.iam is None:
        pytest.skip("IAM is enforced in process mode only")
    client = connect(room)
    client.send(json.dumps({"action": "sendmessage", "message": "through the role"}))
    assert recv_json(client)["type"] == "message"  # (the sender's copy goes out first)

    def used() -> set[tuple[str, str, str]]:
        return {(grant.function, grant.sid, grant.action) for grant in gateway.iam.used}

    wait_for(lambda: ("SendMessageFunction", "RoomMembers", "dynamodb:Query") in used())
    assert ("ConnectFunction", "Connections", "dynamodb:PutItem") in used()
    assert ("SendMessageFunction", "Messages", "dynamodb:PutItem") in used()


def test_a_missing_grant_fails_only_that_call_cleanly(dynamodb, keys, room):
    """sendmessage without its grant to write messages: the sender gets the error frame AWS's
    refusal leads to (nothing stored, nothing sent), and the room goes on for other routes."""
    from websockets.sync.client import connect as ws_connect

    from emulator.template import load_template
    from lambdas.models import Message
    from tests.helpers import gateway_thread

    if GATEWAY_MODE != "process":
        pytest.skip("IAM is enforced in process mode only")
    template = load_template()
    statements = template["Resources"]["SendMessageFunction"]["Properties"]["Policies"][0]
    statements["Statement"] = [s for s in statements["Statement"] if s["Sid"] != "Messages"]
    runner = gateway_thread(template)
    gateway = runner.start()
    try:
        url = f"{gateway.websocket_url}?{urlencode({'token': keys.token(), 'room': room})}"
        with ws_connect(url, open_timeout=DEADLINE) as client:
            client.send(json.dumps({"action": "sendmessage", "message": "refused"}))
            frame = recv_json(client)
            assert frame["type"] == "error" and frame["code"] == "internal", frame
            client.send(json.dumps({"action": "ping"}))
            assert recv_json(client)["type"] == "pong"
        assert list(Message.query(room)) == []
        denied = {(function, action) for function, action, _ in gateway.iam.denied}
        assert denied == {("SendMessageFunction", "dynamodb:PutItem")}
    finally:
        runner.stop()
