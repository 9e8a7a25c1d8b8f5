"""The deploy's AWS calls against moto: keys and secrets in SSM, artifacts, stack outputs."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from chat.keys import public_pem_from
from deploy import aws
from deploy.config import ssm_names
from deploy.errors import DeployError
from deploy.site_package import zappa_settings_for
from deploy.stack import stack_outputs

REGION = "us-east-1"


@pytest.fixture
def ssm():
    with mock_aws():
        yield boto3.client("ssm", region_name=REGION)


def _value(ssm, name: str) -> str:
    return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]


def test_keys_ensure_creates_the_stage_keys_once(ssm):
    """First run: signing key and Django secret as SecureStrings, the public half trusted."""
    names = ssm_names("dev")
    keys = aws.keys_ensure(ssm=ssm, stage="dev")
    assert set(keys.created) == {names["signing_key"], names["secret_key"], names["public_keys"]}
    signing = _value(ssm, names["signing_key"])
    assert aws.public_pems(_value(ssm, names["public_keys"])) == [public_pem_from(signing)]
    types = {
        p["Name"]: p["Type"] for p in ssm.describe_parameters()["Parameters"]
    }  # the secrets are encrypted, the public keys are not
    assert types[names["signing_key"]] == types[names["secret_key"]] == "SecureString"
    assert types[names["public_keys"]] == "String"
    # When it runs again, nothing changes and the version stays.
    again = aws.keys_ensure(ssm=ssm, stage="dev")
    assert again.created == () and again.public_keys_version == keys.public_keys_version
    assert _value(ssm, names["signing_key"]) == signing


def test_rotation_trusts_both_keys_then_only_the_new_one(ssm):
    """rotate: new signing key, old and new public keys trusted; prune: only the new one."""
    names = ssm_names("prod")
    aws.keys_ensure(ssm=ssm, stage="prod")
    old = _value(ssm, names["signing_key"])
    rotated = aws.keys_rotate(ssm=ssm, stage="prod")
    new = _value(ssm, names["signing_key"])
    assert new != old
    trusted = aws.public_pems(_value(ssm, names["public_keys"]))
    assert trusted == [public_pem_from(new), public_pem_from(old)]
    pruned = aws.keys_prune(ssm=ssm, stage="prod")
    assert aws.public_pems(_value(ssm, names["public_keys"])) == [public_pem_from(new)]
    assert pruned.public_keys_version > rotated.public_keys_version


def test_the_authorizer_reads_the_pinned_key_version(ssm, monkeypatch):
    """lambdas.config reads TOKEN_PUBLIC_KEYS_PARAMETER ("name:version") from SSM."""
    from lambdas.config import load_config

    names = ssm_names("dev")
    first = aws.keys_ensure(ssm=ssm, stage="dev")
    first_keys = _value(ssm, names["public_keys"])
    aws.keys_rotate(ssm=ssm, stage="dev")
    env = {"AWS_REGION": REGION, "TOKEN_PUBLIC_KEYS_PARAMETER": f"{names['public_keys']}:1"}
    assert first.public_keys_version == 1
    assert load_config(env).token_public_keys == tuple(aws.public_pems(first_keys))
    latest = load_config({**env, "TOKEN_PUBLIC_KEYS_PARAMETER": names["public_keys"]})
    assert len(latest.token_public_keys) == 2


def test_the_site_reads_its_secrets_from_ssm(ssm):
    """Settings' SSM helper fills unset secrets from the named parameters; set values win."""
    from dynamowave_site.ssm import ssm_secrets_read

    names = ssm_names("dev")
    aws.keys_ensure(ssm=ssm, stage="dev")
    environ = {
        "AWS_DEFAULT_REGION": REGION,
        "DJANGO_SECRET_KEY_SSM_PARAMETER": names["secret_key"],
        "TOKEN_SIGNING_KEY_SSM_PARAMETER": names["signing_key"],
        "TOKEN_SIGNING_KEY": "set directly",
    }
    secrets = ssm_secrets_read(environ)
    assert secrets == {"DJANGO_SECRET_KEY": _value(ssm, names["secret_key"])}
    assert ssm_secrets_read({"AWS_DEFAULT_REGION": REGION}) == {}


def test_the_site_reads_its_database_credentials_from_rds_secret(ssm):
    """DATABASE_URL without credentials gets the RDS-managed secret's (quoted); a URL with a
    password, one of a database that takes none, or no secret named, is left alone."""
    from dynamowave_site.ssm import database_secret_read

    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(
        Name="rds!cluster-1",
        SecretString=json.dumps({"username": "dynamowave", "password": "p@ss:/w#rd"}),
    )["ARN"]
    url = "postgres://db.example.com:5432/dynamowave?sslmode=require"
    environ = {"AWS_DEFAULT_REGION": REGION, "DATABASE_SECRET_ARN": arn, "DATABASE_URL": url}
    assert database_secret_read(environ) == {
        "DATABASE_URL": "postgres://dynamowave:p%40ss%3A%2Fw%23rd@db.example.com:5432/dynamowave"
        "?sslmode=require"
    }
    assert database_secret_read({**environ, "DATABASE_URL": "postgres://u:p@h/d"}) == {}
    assert database_secret_read({"DATABASE_URL": url}) == {}
    # SQLite takes no credentials: nothing is read (a packaged site run with a local file)
    assert database_secret_read({**environ, "DATABASE_URL": "sqlite:////tmp/site.db"}) == {}


def test_artifacts_are_uploaded_once_per_content(tmp_path):
    """The key carries the content hash; uploading the same file again changes nothing."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="artifacts")
        path = tmp_path / "lambda.zip"
        path.write_bytes(b"zip bytes")
        uri = aws.artifact_upload(s3=s3, bucket="artifacts", path=path, prefix="dynamowave")
        assert uri == aws.artifact_upload(s3=s3, bucket="artifacts", path=path, prefix="dynamowave")
        assert uri.startswith("s3://artifacts/dynamowave/lambda-") and uri.endswith(".zip")
        assert len(s3.list_objects_v2(Bucket="artifacts")["Contents"]) == 1


def test_stack_outputs_become_the_zappa_stage():
    """Outputs read from CloudFormation wire the Zappa stage: role, endpoints, tables, region."""
    outputs_template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "WebSocketUrl": {"Value": "wss://abc.execute-api.eu-west-1.amazonaws.com/dev"},
            "ManagementEndpoint": {"Value": "https://abc.execute-api.eu-west-1.amazonaws.com/dev"},
            "TablePrefix": {"Value": "dynamowave-dev-"},
            "SiteRoleArn": {"Value": "arn:aws:iam::123456789012:role/site"},
            "DatabaseHost": {"Value": "db.cluster-x.eu-west-1.rds.amazonaws.com"},
            "DatabasePort": {"Value": "5432"},
            "DatabaseName": {"Value": "dynamowave"},
            "DatabaseSecretArn": {
                "Value": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db"
            },
            "SiteSubnetIds": {"Value": "subnet-a,subnet-b"},
            "SiteSecurityGroupId": {"Value": "sg-site"},
            "IndexFunctionAlias": {
                "Value": "arn:aws:lambda:eu-west-1:123456789012:function:i:live"
            },
        },
    }
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name="eu-west-1")
        cfn.create_stack(StackName="dynamowave-dev", TemplateBody=json.dumps(outputs_template))
        outputs = stack_outputs(cfn=cfn, stack_name="dynamowave-dev")
        with pytest.raises(DeployError):
            stack_outputs(cfn=cfn, stack_name="dynamowave-nothing")
    host = "abc123.execute-api.eu-west-1.amazonaws.com"
    settings = zappa_settings_for(
        stage="dev", outputs=outputs, region="eu-west-1", bucket="b", site_host=host
    )
    stage = settings["dev"]
    assert stage["role_arn"] == "arn:aws:iam::123456789012:role/site"
    assert stage["aws_region"] == "eu-west-1" and stage["s3_bucket"] == "b"
    environment = stage["environment_variables"]
    assert environment["WEBSOCKET_URL"] == "wss://abc.execute-api.eu-west-1.amazonaws.com/dev"
    assert environment["MANAGEMENT_ENDPOINT_URL"] == outputs["ManagementEndpoint"]
    # The site's own host, exactly: no other API in the account (or Region) passes.
    assert environment["DJANGO_ALLOWED_HOSTS"] == host
    assert environment["DJANGO_CSRF_TRUSTED_ORIGINS"] == f"https://{host}"
    assert "extends" not in stage
    # The stack's database, its credentials in RDS's secret (no hand-made SSM parameter), and
    # the site in the stack's private subnets to reach it.
    assert environment["DATABASE_URL"] == (
        "postgres://db.cluster-x.eu-west-1.rds.amazonaws.com:5432/dynamowave?sslmode=require"
    )
    assert environment["DATABASE_SECRET_ARN"] == outputs["DatabaseSecretArn"]
    assert "DATABASE_URL_SSM_PARAMETER" not in environment
    assert environment["INDEX_FUNCTION_NAME"] == outputs["IndexFunctionAlias"]
    assert stage["vpc_config"] == {
        "SubnetIds": ["subnet-a", "subnet-b"],
        "SecurityGroupIds": ["sg-site"],
    }


def test_the_site_host_is_its_zappa_stacks_rest_api():
    """Before the first deploy there is none; after, the REST API Zappa's stack made."""
    site_stack = {
        "Resources": {"Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "s"}}}
    }
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name=REGION)
        assert aws.site_host(cfn=cfn, name="dynamowave-site-dev", region=REGION) is None
        cfn.create_stack(StackName="dynamowave-site-dev", TemplateBody=json.dumps(site_stack))
        host = aws.site_host(cfn=cfn, name="dynamowave-site-dev", region=REGION)
        api_id = boto3.client("apigateway", region_name=REGION).get_rest_apis()["items"][0]["id"]
    assert host == f"{api_id}.execute-api.{REGION}.amazonaws.com"
    unknown = zappa_settings_for(
        stage="dev",
        outputs={
            "TablePrefix": "p",
            "WebSocketUrl": "w",
            "ManagementEndpoint": "m",
            "SiteRoleArn": "r",
            **{name: "x" for name in ("DatabaseHost", "DatabasePort", "DatabaseName")},
            **{name: "x" for name in ("DatabaseSecretArn", "IndexFunctionAlias")},
            "SiteSubnetIds": "s1,s2",
            "SiteSecurityGroupId": "sg",
        },
        region=REGION,
        bucket="b",
        site_host=None,
    )["dev"]["environment_variables"]
    assert unknown["DJANGO_ALLOWED_HOSTS"] == unknown["DJANGO_CSRF_TRUSTED_ORIGINS"] == ""


def test_dry_run_plan_and_parameters():
    """The plan names every AWS step; stage parameters come from deploy/parameters/<stage>.json
    plus what the deploy knows (keys version, alarm target)."""
    from types import SimpleNamespace

    from deploy.__main__ import _plan
    from deploy.stage import stack_parameters, stage_load, template_cached

    template = template_cached()
    stage = stage_load("prod", template=template)
    parameters = stack_parameters(
        stage, template, keys_version="3", alarm_topic="arn:aws:sns:us-east-1:1:t"
    )
    assert parameters["ReservedConcurrencyMessaging"] == "40"
    assert parameters["TokenPublicKeysParameterName"] == "/dynamowave/prod/token-public-keys"
    assert parameters["TokenPublicKeysVersion"] == "3"
    assert parameters["AlarmTopicArn"] == "arn:aws:sns:us-east-1:1:t"
    assert stage.alarm_target_required and "Deploy" not in parameters

    args = SimpleNamespace(
        region="us-east-1", bucket="my-bucket", alarm_topic="", alarm_email="ops@example.com"
    )
    plan = "\n".join(_plan(args, stage, parameters))
    for words in (
        "Preflight (reads only)",
        "SSM",
        "s3://my-bucket/",
        "dynamowave-prod",
        "zappa manage prod_migrate migrate",
        "zappa deploy|update prod --zip",
        "ops@example.com (kept in /dynamowave/prod/alarm-email)",
    ):
        assert words in plan
    assert plan.index("prod_migrate migrate") < plan.index("zappa deploy|update prod --zip")


def test_failed_fanout_shards_are_invoked_again_from_their_queue():
    """Lambda's on-failure records (the event under `requestPayload`) go back to the fan-out
    function; a record whose invoke fails again stays, and so does one that is not a record."""
    shard = {"endpoint": "https://x/test", "room": "r", "data": "{}", "connection_ids": ["c1"]}
    record = {"version": "1.0", "requestContext": {"condition": "EventAgeExceeded"}}
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="dynamowave-dev-fanout-failures")["QueueUrl"]
        for n in range(3):
            body = {**record, "requestPayload": {**shard, "message_id": f"m{n}"}}
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
        sqs.send_message(QueueUrl=url, MessageBody="not a record")

        class Lambda:
            def __init__(self):
                self.invoked = []

            def invoke(self, *, FunctionName, InvocationType, Payload):  # noqa: N803
                event = json.loads(Payload)
                if event["message_id"] == "m1":
                    raise ConnectionError("throttled")
                self.invoked.append((FunctionName, InvocationType, event["message_id"]))

        client = Lambda()
        done = aws.fanout_redrive(
            sqs=sqs, lambda_client=client, queue_url=url, function="FanoutFunction:live", limit=10
        )
        assert (done.sent, done.kept, done.skipped) == (2, 1, 1)
        assert sorted(client.invoked) == [
            ("FanoutFunction:live", "Event", "m0"),
            ("FanoutFunction:live", "Event", "m2"),
        ]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        left = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        assert left == 2
