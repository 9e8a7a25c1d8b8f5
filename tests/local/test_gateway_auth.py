"""Route authorization as API Gateway does it on a WebSocket API's $connect: an AWS_IAM route
takes only a handshake signed (SigV4) with a key the gateway knows, an ApiKeyRequired one only
a known `x-api-key`; every refusal is a 403 before any function runs, and an admitted caller's
events say who it is. Authorization anywhere but $connect is refused when the template loads."""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from emulator.gateway import GatewayThread, Settings
from emulator.sigv4 import Credentials
from emulator.template import TemplateError, read_api
from tests.helpers import DEADLINE, ROOT, wait_for, wait_listening
from tests.local.test_runtime import API, function, route

HERE = Path(__file__).parent
ASSUMED = "arn:aws:sts::123456789012:assumed-role/Developer/alice"


def template(record_dir: Path, **connect: object) -> dict:
    """`$connect`, `$disconnect` and `echo`, each recording its events (recorder.route);
    `connect` adds properties to the $connect route (AuthorizationType, ApiKeyRequired)."""
    resources = {
        "Api": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "ProtocolType": "WEBSOCKET",
                "RouteSelectionExpression": "$request.body.action",
            },
        },
        "Record": function(
            "recorder.route", Environment={"Variables": {"RECORD_DIR": str(record_dir)}}
        ),
        **route("$connect", "Record", two_way=False),
        **route("$disconnect", "Record", two_way=False),
        **route("echo", "Record"),
    }
    resources["ConnectR"]["Properties"].update(connect)
    return {"Resources": resources}


def with_api_keys(resources: dict) -> dict:
    """A usage plan of stage `local` holding the key `Team` (enabled) and `Off` (disabled), and
    one of stage `prod` holding `Prod`: only Team's value lets a caller into `local`."""
    plan_key = {"Type": "AWS::ApiGateway::UsagePlanKey"}
    return {
        **resources,
        "LocalPlan": {
            "Type": "AWS::ApiGateway::UsagePlan",
            "Properties": {"ApiStages": [{"ApiId": API, "Stage": "local"}]},
        },
        "ProdPlan": {
            "Type": "AWS::ApiGateway::UsagePlan",
            "Properties": {"ApiStages": [{"ApiId": API, "Stage": "prod"}]},
        },
        "Team": {
            "Type": "AWS::ApiGateway::ApiKey",
            "Properties": {"Name": "team", "Value": "team-key-0123456789abcdef", "Enabled": True},
        },
        "Off": {
            "Type": "AWS::ApiGateway::ApiKey",
            "Properties": {"Value": "off-key-0123456789abcdef"},  # Enabled: false by default
        },
        "Prod": {
            "Type": "AWS::ApiGateway::ApiKey",
            "Properties": {"Value": "prod-key-0123456789abcdef", "Enabled": True},
        },
        "TeamInLocal": {
            **plan_key,
            "Properties": {
                "KeyId": {"Ref": "Team"},
                "KeyType": "API_KEY",
                "UsagePlanId": {"Ref": "LocalPlan"},
            },
        },
        "OffInLocal": {
            **plan_key,
            "Properties": {
                "KeyId": {"Ref": "Off"},
                "KeyType": "API_KEY",
                "UsagePlanId": {"Ref": "LocalPlan"},
            },
        },
        "ProdInProd": {
            **plan_key,
            "Properties": {
                "KeyId": {"Ref": "Prod"},
                "KeyType": "API_KEY",
                "UsagePlanId": {"Ref": "ProdPlan"},
            },
        },
    }


@pytest.fixture
def serve(tmp_path):
    runners = []

    def serve(tree: dict, **settings: object):
        api = read_api(tree, template_dir=HERE)
        runner = GatewayThread(api, Settings(mode="process", concurrency=2, **settings))
        runners.append(runner)
        return runner.start()

    yield serve
    for runner in runners:
        runner.stop()


def events(record_dir: Path, route_key: str) -> list[dict]:
    found = [json.loads(p.read_text()) for p in record_dir.glob("*.json")]
    return [e for e in found if e["requestContext"]["routeKey"] == route_key]


def presigned(url: str, credentials: Credentials, *, expires: int = 60) -> str:
    """The URL signed in its query string by botocore, as an SDK's presigner signs it."""
    request = AWSRequest(method="GET", url=url)
    signer = SigV4QueryAuth(
        BotoCredentials(credentials.access_key, credentials.secret_key),
        "execute-api",
        "us-east-1",
        expires=expires,
    )
    signer.add_auth(request)
    return request.url


def refusal(url: str, **options) -> tuple[int, dict]:
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(url, open_timeout=DEADLINE, **options).close()
    response = refused.value.response
    return response.status_code, json.loads(response.body)


def test_an_iam_connect_refuses_unsigned_expired_and_wrongly_signed_handshakes(
    serve, tmp_path, monkeypatch
):
    """Unsigned, signed with an unknown key or a wrong secret, expired, scoped to another
    region, or replayed to another host: 403 with API Gateway's message, no function ran."""
    gateway = serve(template(tmp_path, AuthorizationType="AWS_IAM"))
    issued = gateway.access.issued
    url = f"{gateway.websocket_url}?{urlencode({'room': 'r1'})}"
    assert refusal(url) == (403, {"message": "Missing Authentication Token"})
    stranger = Credentials.issue()
    status, body = refusal(presigned(url, stranger))
    assert status == 403
    assert body["message"] == "The security token included in the request is invalid."
    status, body = refusal(presigned(url, Credentials(issued.access_key, "not-the-secret")))
    assert status == 403 and body["message"].startswith("The request signature we calculated")
    other_host = presigned(url.replace("127.0.0.1", "localhost"), issued)
    status, body = refusal(other_host.replace("localhost", "127.0.0.1"))
    assert status == 403 and body["message"].startswith("The request signature we calculated")
    tampered = presigned(url, issued).replace("room=r1", "room=r2")
    assert refusal(tampered)[0] == 403
    signer = SigV4QueryAuth(
        BotoCredentials(issued.access_key, issued.secret_key), "execute-api", "eu-west-1"
    )
    request = AWSRequest(method="GET", url=url)
    signer.add_auth(request)
    status, body = refusal(request.url)
    assert status == 403 and "region" in body["message"]
    # Signed two hours ago for one hour: expired.
    two_hours_ago = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(
        hours=2
    )
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: two_hours_ago)
    status, body = refusal(presigned(url, issued, expires=3600))
    assert status == 403 and body["message"].startswith("Signature expired")
    assert list(tmp_path.glob("*.json")) == []  # no $connect (nor $disconnect) ran


def test_a_presigned_handshake_connects_as_its_iam_principal(serve, tmp_path):
    """A wss URL presigned with the key the gateway issued, or with one the developer named:
    $connect, the frames' and $disconnect's events carry the identity AWS fills for an IAM
    caller (accountId, caller, user, userArn, accessKey)."""
    named = Credentials.parse(f"AKIADEVELOPER0000001:dev-secret:{ASSUMED}")
    gateway = serve(template(tmp_path, AuthorizationType="AWS_IAM"), credentials=(named,))
    issued = gateway.access.issued
    for credentials in (issued, named):
        url = presigned(f"{gateway.websocket_url}?room=r1", credentials)
        with ws_connect(url, open_timeout=DEADLINE) as client:
            client.send(json.dumps({"action": "echo", "who": credentials.access_key}))
            assert json.loads(client.recv(timeout=DEADLINE))["who"] == credentials.access_key
    assert wait_for(lambda: len(events(tmp_path, "$disconnect")) == 2)
    by_key: dict[str, list[dict]] = {}
    for event in events(tmp_path, "$connect") + events(tmp_path, "echo"):
        identity = event["requestContext"]["identity"]
        by_key.setdefault(identity["accessKey"], []).append(identity)
    for event in events(tmp_path, "$disconnect"):
        identity = event["requestContext"]["identity"]
        by_key[identity["accessKey"]].append(identity)
    user = by_key[issued.access_key]
    assert len(user) == 3 and all(i == user[0] for i in user)
    assert user[0]["userArn"] == "arn:aws:iam::000000000000:user/local"
    assert user[0]["accountId"] == "000000000000"
    assert user[0]["caller"] == user[0]["user"] and user[0]["caller"].startswith("AIDA")
    assert user[0]["sourceIp"] == "127.0.0.1"
    role = by_key[named.access_key]
    assert len(role) == 3 and all(i == role[0] for i in role)
    assert role[0]["userArn"] == ASSUMED and role[0]["accountId"] == "123456789012"
    assert role[0]["caller"].startswith("AROA") and role[0]["caller"].endswith(":alice")


def test_a_handshake_signed_in_its_headers_connects(serve, tmp_path):
    """A client that signs headers (Authorization, X-Amz-Date, and a header of its own) is
    admitted; the same headers with another value of its own header are not."""
    gateway = serve(template(tmp_path, AuthorizationType="AWS_IAM"))
    issued = gateway.access.issued
    request = AWSRequest(method="GET", url=gateway.websocket_url, headers={"X-Client": "one"})
    SigV4Auth(
        BotoCredentials(issued.access_key, issued.secret_key), "execute-api", "us-east-1"
    ).add_auth(request)
    headers = dict(request.headers.items())
    assert "x-client" in headers["Authorization"]
    with ws_connect(gateway.websocket_url, additional_headers=headers, open_timeout=DEADLINE):
        pass
    changed = {**headers, "X-Client": "two"}
    status, body = refusal(gateway.websocket_url, additional_headers=changed)
    assert status == 403 and body["message"].startswith("The request signature we calculated")
    assert wait_for(lambda: len(events(tmp_path, "$disconnect")) == 1)
    assert events(tmp_path, "$connect")[0]["requestContext"]["identity"]["accessKey"] == (
        issued.access_key
    )


def test_an_api_key_connect_takes_only_the_stages_enabled_keys(serve, tmp_path):
    """ApiKeyRequired on $connect: no key, an unknown one, a disabled one or one of another
    stage's plan is 403 Forbidden before any function runs; the plan's enabled key, or one
    given on the command line (`--api-key`), connects, and its events carry apiKey and
    apiKeyId."""
    tree = template(tmp_path, ApiKeyRequired=True)
    tree["Resources"] = with_api_keys(tree["Resources"])
    gateway = serve(tree, api_keys=("cli-key-0123456789abcdef",))
    url = gateway.websocket_url
    assert refusal(url) == (403, {"message": "Forbidden"})
    for value in (
        "nobodys-key-0123456789",
        "off-key-0123456789abcdef",
        "prod-key-0123456789abcdef",
    ):
        assert refusal(url, additional_headers={"x-api-key": value}) == (
            403,
            {"message": "Forbidden"},
        )
    assert list(tmp_path.glob("*.json")) == []
    for value in ("team-key-0123456789abcdef", "cli-key-0123456789abcdef"):
        with ws_connect(url, additional_headers={"x-api-key": value}, open_timeout=DEADLINE) as c:
            c.send(json.dumps({"action": "echo"}))
            c.recv(timeout=DEADLINE)
    assert wait_for(lambda: len(events(tmp_path, "echo")) == 2)
    seen = {}
    for event in events(tmp_path, "$connect") + events(tmp_path, "echo"):
        identity = event["requestContext"]["identity"]
        seen.setdefault(identity["apiKey"], set()).add(identity["apiKeyId"])
    assert set(seen) == {"team-key-0123456789abcdef", "cli-key-0123456789abcdef"}
    ids = [next(iter(i)) for i in seen.values()]
    assert all(len(i) == 1 for i in seen.values()) and len(set(ids)) == 2
    assert all(len(i) == 10 and i.isalnum() and i.islower() for i in ids)


def test_a_connect_without_authorization_puts_no_caller_in_the_events(serve, tmp_path):
    """AuthorizationType NONE, no API key: anyone connects, identity holds only sourceIp
    (and whatever else API Gateway puts for everyone), no IAM or key fields."""
    gateway = serve(template(tmp_path))
    assert gateway.access.issued is None
    with ws_connect(gateway.websocket_url, open_timeout=DEADLINE):
        pass
    assert wait_for(lambda: events(tmp_path, "$connect"))
    identity = events(tmp_path, "$connect")[0]["requestContext"]["identity"]
    assert not {"accessKey", "userArn", "caller", "apiKey", "apiKeyId"} & set(identity)


@pytest.mark.parametrize(
    ("route_key", "properties"),
    [
        ("$disconnect", {"AuthorizationType": "CUSTOM", "AuthorizerId": {"Ref": "Authorizer"}}),
        ("$disconnect", {"AuthorizationType": "AWS_IAM"}),
        ("echo", {"AuthorizationType": "AWS_IAM"}),
        ("$connect", {"AuthorizationType": "JWT"}),
    ],
    ids=["disconnect-custom", "disconnect-iam", "message-route-iam", "connect-jwt"],
)
def test_authorization_other_than_on_connect_is_refused_at_load(tmp_path, route_key, properties):
    """As API Gateway refuses it at deploy: authorization is for $connect only (and of a
    WebSocket API's kinds)."""
    tree = template(tmp_path)
    tree["Resources"]["Authorizer"] = {
        "Type": "AWS::ApiGatewayV2::Authorizer",
        "Properties": {
            "ApiId": API,
            "AuthorizerType": "REQUEST",
            "AuthorizerUri": {"Fn::Sub": "arn:aws:apigateway:us-east-1:lambda:path/${Record.Arn}"},
            "IdentitySource": ["route.request.querystring.token"],
        },
    }
    name = "".join(c for c in route_key if c.isalnum()).title()
    tree["Resources"][f"{name}R"]["Properties"].update(properties)
    with pytest.raises(TemplateError, match=re.escape(f"route {route_key}:")):
        read_api(tree, template_dir=HERE)


def test_api_keys_from_an_authorizer_are_refused_at_load(tmp_path):
    """`ApiKeySelectionExpression: $context.authorizer.usageIdentifierKey` is not read locally:
    said when the template loads rather than refusing every caller."""
    tree = template(tmp_path, ApiKeyRequired=True)
    tree["Resources"]["Api"]["Properties"]["ApiKeySelectionExpression"] = (
        "$context.authorizer.usageIdentifierKey"
    )
    with pytest.raises(TemplateError, match="x-api-key only"):
        read_api(tree, template_dir=HERE)


def test_the_command_line_prints_the_keys_it_accepts(tmp_path):
    """`--credentials` and `--api-key`: the gateway prints the IAM key it issued and the API
    keys; a handshake presigned with the printed key, carrying a printed API key, connects."""
    from devstack.dynamodb import free_port

    project = tmp_path / "project"
    project.mkdir()
    (project / "functions").symlink_to(HERE / "functions")
    records = tmp_path / "records"
    records.mkdir()
    tree = template(records, AuthorizationType="AWS_IAM", ApiKeyRequired=True)
    (project / "template.json").write_text(json.dumps(tree))  # JSON is YAML
    port = free_port()
    command = [sys.executable, "-m", "emulator", "--port", str(port), "--no-tls"]
    command += ["--template", str(project / "template.json"), "--api-key", "cli-key-0123456789"]
    command += ["--credentials", f"AKIADEVELOPER0000001:dev-secret:{ASSUMED}"]
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    log = tmp_path / "gateway.log"
    with log.open("w") as out:
        gateway = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, gateway)
        assert wait_for(lambda: "IAM credentials" in log.read_text())
        printed = log.read_text()
        line = next(x for x in printed.splitlines() if x.startswith("IAM credentials"))
        issued = Credentials.parse(line.split()[-1])
        assert "API key            cli-key-0123456789" in printed
        url = presigned(f"ws://127.0.0.1:{port}/local", issued)
        key = {"x-api-key": "cli-key-0123456789"}
        with ws_connect(url, additional_headers=key, open_timeout=DEADLINE):
            pass
        named = Credentials.parse(f"AKIADEVELOPER0000001:dev-secret:{ASSUMED}")
        with ws_connect(
            presigned(f"ws://127.0.0.1:{port}/local", named),
            additional_headers=key,
            open_timeout=DEADLINE,
        ):
            pass
        assert refusal(url)[0] == 403  # signed, but no API key
    finally:
        gateway.terminate()
        gateway.wait(30)
    arns = {e["requestContext"]["identity"]["userArn"] for e in events(records, "$connect")}
    assert arns == {issued.user_arn, ASSUMED}
