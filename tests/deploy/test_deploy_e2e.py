"""`python -m deploy deploy` end to end against moto and recorded-answer fakes: the real path, in
order, idempotent, refusing failed stacks and over-reserved stages before anything is uploaded.

The two packages are stand-ins here (small zips, one with Zappa's volatile build stamp): building
them takes minutes and is covered by test_lambda_package.py, test_site_package.py and `make
check`. The template's offline check (samtranslator, cfn-lint, checkov) is covered by
test_checks.py and `make check`; the stage check runs for real.
"""

from __future__ import annotations

import io
import json
import subprocess
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

import deploy.__main__ as cli
from chat.edge import edge_secret
from deploy import aws, lambda_package, site_package, site_release, steps
from deploy.config import ssm_names
from deploy.lambda_package import LambdaPackage
from tests.deploy.fake_aws import (
    Call,
    Clock,
    FakeCloudFormation,
    FakeLambda,
    FakeSession,
)

REGION = "us-east-1"
BUCKET = "dynamowave-artifacts"
API_ID = "wsapi12345"
SITE_API_ID = "siteapi678"
SITE_ORIGIN = f"https://{SITE_API_ID}.execute-api.{REGION}.amazonaws.com"
DEPLOY = ["deploy", "--stage", "dev", "--region", REGION, "--bucket", BUCKET]


def _outputs(stack_name: str, region: str = REGION) -> dict[str, str]:
    """A stack's outputs in `region` (REGION: the one-Region deploys')."""
    stage = stack_name.removeprefix("dynamowave-")
    return {
        "WebSocketUrl": f"wss://{API_ID}.execute-api.{region}.amazonaws.com/{stage}",
        "ManagementEndpoint": f"https://{API_ID}.execute-api.{region}.amazonaws.com/{stage}",
        "WebSocketApiId": API_ID,
        "TablePrefix": f"dynamowave-{stage}-",
        "SiteRoleArn": f"arn:aws:iam::123456789012:role/dynamowave-{stage}-SiteRole",
        "FanoutFailuresQueueUrl": "",
        "FanoutFunctionAlias": f"arn:aws:lambda:{region}:123456789012:function:fanout:live",
        "IndexFunctionAlias": f"arn:aws:lambda:{region}:123456789012:function:index:live",
        "IndexFailuresQueueUrl": "",
        "DatabaseHost": f"dynamowave-{stage}.cluster-x.{region}.rds.amazonaws.com",
        "DatabasePort": "5432",
        "DatabaseName": "dynamowave",
        "DatabaseSecretArn": f"arn:aws:secretsmanager:{region}:123456789012:secret:rds!{stage}",
        "SiteSubnetIds": "subnet-a,subnet-b",
        "SiteSecurityGroupId": "sg-site",
        "HealthCheckUrl": f"https://health-{region}.lambda-url.{region}.on.aws/health",
    }


@dataclass
class World:
    log: list[Call]
    cfn: FakeCloudFormation
    lambda_client: FakeLambda
    s3: object
    ssm: object
    build: Path
    cfns: dict[str, FakeCloudFormation]  # per Region (REGION's is `cfn`), made on first use

    def calls(self, service: str, operation: str | None = None) -> list[Call]:
        return [c for c in self.log if c.service == service and operation in (None, c.operation)]

    def zappa(self) -> list[tuple[str, ...]]:
        return [(c.operation, *c.args) for c in self.calls("zappa")]

    def objects(self) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        return sorted(o["Key"] for o in listed)

    def index(self, service: str, operation: str, *args: str) -> int:
        for n, call in enumerate(self.log):
            if (call.service, call.operation) == (service, operation) and all(
                a in call.args for a in args
            ):
                return n
        raise AssertionError(f"no {service}.{operation} {args} in {self.log}")


@pytest.fixture
def world(monkeypatch, tmp_path):
    """An account with the artifact bucket and the database URL, a deploy recorded call by call;
    Zappa's commands are recorded (and `deploy` makes its function, as Zappa would)."""
    for name in ("DEPLOY_BUCKET", "ALARM_TOPIC_ARN", "ALARM_EMAIL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        clock, log = Clock(), []
        cfn = FakeCloudFormation(clock=clock, outputs=_outputs)
        lambda_client = FakeLambda(
            boto3.client("lambda", region_name=REGION), concurrency=1000, unreserved=1000
        )
        session = FakeSession(
            region=REGION, clock=clock, cfn=cfn, lambda_client=lambda_client, log=log
        )
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        ssm = boto3.client("ssm", region_name=REGION)
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="zappa-recorder", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]

        def lambda_build(**_) -> LambdaPackage:
            log.append(Call("build", "lambda"))
            path = tmp_path / "lambda.zip"
            path.write_bytes(b"PK reproducible functions package")
            return LambdaPackage(tmp_path, path, 100, path.stat().st_size, "0" * 64, "arm64")

        def site_build(*, stage: str, output: Path, settings_file: Path) -> Path:
            log.append(Call("build", "site", (stage,)))
            settings = json.loads(settings_file.read_text())[stage]
            with zipfile.ZipFile(output, "w") as archive:
                archive.writestr("zappa_settings.py", json.dumps(settings, sort_keys=True))
                archive.writestr("package_info.json", json.dumps({"uuid": str(uuid.uuid4())}))
            return output

        def zappa(command: list[str], *, cwd: Path, env: dict[str, str]) -> None:
            action, stage, *rest = command[1 : command.index("-s")]
            log.append(Call("zappa", action, (stage, *rest)))
            if action == "deploy":
                name = f"dynamowave-site-{stage.replace('_', '-')}"
                code = io.BytesIO()
                zipfile.ZipFile(code, "w").writestr("handler.py", "")
                boto3.client("lambda", region_name=REGION).create_function(
                    FunctionName=name,
                    Runtime="python3.13",
                    Role=role,
                    Handler="handler.lambda_handler",
                    Code={"ZipFile": code.getvalue()},
                )
                if not stage.endswith("_migrate"):
                    cfn.site_apis[name] = SITE_API_ID

        sessions, cfns = {REGION: session}, {REGION: cfn}

        def session_for(region: str) -> FakeSession:
            """Each Region its own CloudFormation and Lambda fakes (moto is per Region)."""
            if region not in sessions:
                cfns[region] = FakeCloudFormation(
                    clock=clock, outputs=lambda name: _outputs(name, region)
                )
                sessions[region] = FakeSession(
                    region=region,
                    clock=clock,
                    cfn=cfns[region],
                    lambda_client=FakeLambda(
                        boto3.client("lambda", region_name=region),
                        concurrency=1000,
                        unreserved=1000,
                    ),
                    log=log,
                )
            return sessions[region]

        monkeypatch.setattr(aws, "aws_session", session_for)
        monkeypatch.setattr(cli, "template_check", lambda: 0)
        monkeypatch.setattr(steps, "BUILD", tmp_path)
        monkeypatch.setattr(site_release, "BUILD", tmp_path)
        monkeypatch.setattr(lambda_package, "lambda_package_build", lambda_build)
        monkeypatch.setattr(site_package, "site_package_build", site_build)
        monkeypatch.setattr(site_release, "run_command", zappa)
        yield World(log, cfn, lambda_client, s3, ssm, tmp_path, cfns)


def test_first_deploy_runs_every_step_in_order(world, capsys):
    """Preflight, keys, upload, change set, wait, outputs, the site packaged, migrated by the
    release's code in its own function, and only then deployed; the stack is created."""
    assert cli.main(DEPLOY) == 0

    wait = world.index("cloudformation", "get_waiter", "stack_create_complete")
    outputs = next(
        n
        for n, c in enumerate(world.log)
        if n > wait and (c.service, c.operation) == ("cloudformation", "describe_stacks")
    )
    order = [
        world.index("lambda", "get_account_settings"),  # preflight
        world.index("s3", "get_bucket_location"),
        world.index("ssm", "put_parameter"),  # keys
        world.index("s3", "upload_file"),
        world.index("cloudformation", "create_change_set"),
        world.index("cloudformation", "execute_change_set"),
        wait,
        outputs,
        world.index("build", "site"),
        world.index("zappa", "manage", "dev_migrate", "migrate"),
        world.index("zappa", "deploy", "dev"),
    ]
    assert order == sorted(order), order
    site_zip = str(world.build / "site-dev.zip")
    assert world.zappa() == [
        ("deploy", "dev_migrate", "--zip", site_zip),
        ("manage", "dev_migrate", "migrate"),
        ("manage", "dev_migrate", "rooms_backfill"),
        ("deploy", "dev", "--zip", site_zip),
        ("update", "dev", "--zip", site_zip),  # with the host the first deploy made
    ]
    # The site's address exists only once Zappa made it: the stack was created with the
    # template's SiteOrigin, then updated to that address (the uploads bucket's CORS).
    created = world.index("cloudformation", "get_waiter", "stack_create_complete")
    site_deployed = world.index("zappa", "deploy", "dev")
    origin_update = world.index("cloudformation", "get_waiter", "stack_update_complete")
    assert created < site_deployed < origin_update
    change_sets = world.calls("cloudformation", "create_change_set")
    first, second = [c.kwargs["Parameters"] for c in change_sets]
    assert "SiteOrigin" not in {p["ParameterKey"] for p in first}
    assert {p["ParameterKey"]: p["ParameterValue"] for p in second}["SiteOrigin"] == SITE_ORIGIN
    stack = world.cfn.stacks["dynamowave-dev"]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    parameters = dict(stack["_parameters"])
    assert parameters["StageName"] == "dev" and parameters["TokenPublicKeysVersion"] == "1"
    assert parameters["ThrottlingRateLimit"] == "100" and parameters["AlarmEmail"] == ""
    assert parameters["SiteOrigin"] == SITE_ORIGIN
    assert f"SiteOrigin {SITE_ORIGIN}: the site's address" in capsys.readouterr().out
    assert len(world.objects()) == 2  # the functions' zip and the packaged template
    # The stage deploys the API itself (AutoDeploy): the deploy never calls API Gateway v2.
    assert world.calls("apigatewayv2") == []
    settings = json.loads((world.build / "zappa_settings.json").read_text())
    host = f"{SITE_API_ID}.execute-api.{REGION}.amazonaws.com"
    assert settings["dev"]["environment_variables"]["DJANGO_ALLOWED_HOSTS"] == host
    assert settings["dev_migrate"]["apigateway_enabled"] is False
    assert settings["dev_migrate"]["events"] == [] and not settings["dev_migrate"]["keep_warm"]
    tags = world.lambda_client.get_function(FunctionName="dynamowave-site-dev")["Tags"]
    assert tags[site_release.DIGEST_TAG]


def test_a_custom_domain_in_the_stage_file_is_the_site_origin(world, tmp_path):
    """A stage file's SiteOrigin (the site behind a custom domain) goes to the stack as it is,
    and the site's own address never replaces it: one change set."""
    path = tmp_path / "custom.json"
    path.write_text(json.dumps({"SiteOrigin": "https://chat.example.com"}))

    assert cli.main([*DEPLOY, "--parameters", str(path)]) == 0

    assert len(world.calls("cloudformation", "create_change_set")) == 1
    stack = world.cfn.stacks["dynamowave-dev"]
    assert dict(stack["_parameters"])["SiteOrigin"] == "https://chat.example.com"
    assert world.zappa()[-1][:2] == ("update", "dev")  # the site was deployed all the same


def test_a_domain_stage_gets_cloudfronts_origin_once_the_site_exists(world, tmp_path, capsys):
    """A stage with a domain: SiteOrigin is https://<domain> and CloudFront's edge header the
    site's from the first change set; the
    site's REST API host (CloudFront's origin, SiteApiHost) exists only after `zappa deploy`,
    so a second change set gives it (and makes the distribution); a second run changes
    nothing."""
    path = tmp_path / "domain.json"
    path.write_text(
        json.dumps(
            {
                "DomainName": "chat.example.com",
                "WebSocketCertificateArn": f"arn:aws:acm:{REGION}:123456789012:certificate/ws",
                "SiteCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/site",
            }
        )
    )
    deploy = [*DEPLOY, "--parameters", str(path)]

    assert cli.main(deploy) == 0

    change_sets = world.calls("cloudformation", "create_change_set")
    first, second = [
        {p["ParameterKey"]: p["ParameterValue"] for p in c.kwargs["Parameters"]}
        for c in change_sets
    ]
    assert first["SiteOrigin"] == second["SiteOrigin"] == "https://chat.example.com"
    assert "SiteApiHost" not in first
    assert second["SiteApiHost"] == f"{SITE_API_ID}.execute-api.{REGION}.amazonaws.com"
    # CloudFront's edge header, from the site's secret key as the site derives it.
    secret_key = world.ssm.get_parameter(
        Name="/dynamowave/dev/site/django-secret-key", WithDecryption=True
    )["Parameter"]["Value"]
    assert first["SiteEdgeSecret"] == second["SiteEdgeSecret"] == edge_secret(secret_key=secret_key)
    assert world.index("zappa", "deploy", "dev") < world.index(
        "cloudformation", "get_waiter", "stack_update_complete"
    )
    assert f"SiteApiHost {SITE_API_ID}.execute-api" in capsys.readouterr().out
    world.log.clear()

    assert cli.main(deploy) == 0

    assert world.calls("cloudformation", "execute_change_set") == []


def test_a_second_run_with_nothing_changed_changes_nothing(world, capsys):
    """Same code, same parameters: an empty change set (deleted, never executed), no upload, no
    Zappa command, no SSM write."""
    assert cli.main(DEPLOY) == 0
    objects = world.objects()
    world.log.clear()

    assert cli.main(DEPLOY) == 0

    assert world.calls("cloudformation", "execute_change_set") == []
    assert len(world.calls("cloudformation", "delete_change_set")) == 1
    assert world.calls("s3", "upload_file") == [] and world.objects() == objects
    assert world.zappa() == []
    assert world.calls("ssm", "put_parameter") == []
    assert world.calls("lambda", "tag_resource") == []
    out = capsys.readouterr().out
    assert "stack dynamowave-dev unchanged" in out and "site unchanged" in out


def test_a_rotation_updates_the_stack_and_releases_the_site(world):
    """A new key version changes the stack's parameters: the update is executed, then the site
    released again so its fresh instances read the new signing key (the API's stage deploys any
    change to the API itself: no API deployment is made)."""
    assert cli.main(DEPLOY) == 0
    assert cli.main(["rotate-keys", "--stage", "dev", "--region", REGION]) == 0
    world.log.clear()

    assert cli.main(DEPLOY) == 0

    stack = world.cfn.stacks["dynamowave-dev"]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert dict(stack["_parameters"])["TokenPublicKeysVersion"] == "2"
    order = [
        world.index("cloudformation", "execute_change_set"),
        world.index("cloudformation", "get_waiter", "stack_update_complete"),
        world.index("zappa", "manage", "dev_migrate", "migrate"),
        world.index("zappa", "update", "dev"),
    ]
    assert order == sorted(order)
    assert world.calls("apigatewayv2") == []


def test_a_failed_first_create_stops_until_replaced(world, capsys):
    """ROLLBACK_COMPLETE: the failed run and the next one stop with the remedy and exit 4, the
    next one before anything is uploaded; --replace-failed deletes the stack and creates it."""
    world.cfn.fail_next = (
        "Specified ReservedConcurrentExecutions for function decreases account's"
        " UnreservedConcurrentExecution below its minimum value of [100]."
    )
    assert cli.main(DEPLOY) == 4
    assert world.cfn.stacks["dynamowave-dev"]["StackStatus"] == "ROLLBACK_COMPLETE"
    assert world.zappa() == []
    err = capsys.readouterr().err
    assert "the create failed and was rolled back" in err and "--replace-failed" in err
    assert "MessagingFunctions: Specified ReservedConcurrentExecutions" in err
    world.log.clear()

    assert cli.main(DEPLOY) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is in ROLLBACK_COMPLETE" in err[0]
    assert "delete it" in err[0] and "or run again with --replace-failed" in err[0]
    assert world.calls("s3", "upload_file") == [] and world.calls("ssm", "put_parameter") == []
    assert world.calls("cloudformation", "create_change_set") == []
    world.log.clear()

    assert cli.main([*DEPLOY, "--replace-failed"]) == 0
    order = [
        world.index("cloudformation", "delete_stack"),
        world.index("cloudformation", "get_waiter", "stack_delete_complete"),
        world.index("cloudformation", "create_change_set"),
        world.index("cloudformation", "get_waiter", "stack_create_complete"),
    ]
    assert order == sorted(order)
    # Created, then its SiteOrigin updated to the address of the site deployed after it.
    assert world.cfn.stacks["dynamowave-dev"]["StackStatus"] == "UPDATE_COMPLETE"
    assert "stack dynamowave-dev replaced" in capsys.readouterr().out


def _over_reserved(tmp_path: Path) -> Path:
    path = tmp_path / "over.json"
    path.write_text(
        json.dumps(
            {
                "ReservedConcurrencyConnections": "100",
                "ReservedConcurrencyMessaging": "200",
                "ReservedConcurrencyQueries": "50",
            }
        )
    )
    return path


def test_the_preflight_refuses_an_over_reserved_stage_before_any_call(world, tmp_path, capsys):
    """Issue 22's 100/200/50 reserved executions (2,155 with the index, thumbnail and health
    functions): refused offline (exit 1), one line saying what to lower: no AWS call at all, so
    no S3 object and no CloudFormation call."""
    path = _over_reserved(tmp_path)

    assert cli.main([*DEPLOY, "--parameters", str(path)]) == 1

    assert world.log == [] and world.objects() == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "Lambda: stage dev reserves 2,155 concurrent executions" in err[0]
    assert "ReservedConcurrencyMessaging 8 x 200" in err[0]
    assert "a default account in us-east-1 has 1,000 per Region of which 100 stay" in err[0]
    assert f"lower ReservedConcurrency*/ProvisionedConcurrency in {path} to 900" in err[0]
    # `make check` (python -m deploy check) refuses it the same way.
    assert cli.main(["check", "--stage", "dev", "--parameters", str(path)]) == 1


def test_the_preflight_refuses_what_the_account_cannot_take(world, capsys):
    """An account with 400 unreserved executions cannot take prod's 500 (100 stay free): the
    deploy stops with exit 3 before any write: no key, no upload, no change set."""
    world.lambda_client.settings["AccountLimit"]["UnreservedConcurrentExecutions"] = 400

    code = cli.main(["deploy", "--stage", "prod", "--region", REGION, "--bucket", BUCKET])

    assert code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2, err  # the concurrency, and prod's missing alarm target
    assert "Lambda: stage prod reserves 500 concurrent executions" in err[0]
    assert "account 123456789012 in us-east-1 leaves 400" in err[0]
    assert "request a higher 'Concurrent executions'" in err[0]
    assert "Alarms: stage prod must notify someone" in err[1] and "--alarm-email" in err[1]
    mutating = ("put_parameter", "upload_file", "create_change_set", "delete_stack")
    assert [c for c in world.log if c.operation in mutating] == []
    assert world.objects() == []


def test_production_keeps_the_alarm_email_for_later_deploys(world):
    """--alarm-email once: kept in SSM and given to the stack as AlarmEmail; the next deploy
    without it notifies the same address."""
    prod = ["deploy", "--stage", "prod", "--region", REGION, "--bucket", BUCKET]
    assert cli.main([*prod, "--alarm-email", "ops@example.com"]) == 0
    kept = world.ssm.get_parameter(Name=ssm_names("prod")["alarm_email"])["Parameter"]["Value"]
    assert kept == "ops@example.com"
    stack = world.cfn.stacks["dynamowave-prod"]
    assert dict(stack["_parameters"])["AlarmEmail"] == "ops@example.com"
    world.log.clear()

    assert cli.main(prod) == 0

    assert world.calls("cloudformation", "execute_change_set") == []  # the same parameters


def test_a_failed_migration_leaves_the_site_on_its_previous_code(world, monkeypatch, capsys):
    """The release's migrations run first: when they fail, the site's function is never given
    the new code, and the deploy exits 10."""
    assert cli.main(DEPLOY) == 0
    # A new release: the Django secret key changed (the site reads it at cold start).
    world.ssm.put_parameter(
        Name=ssm_names("dev")["secret_key"], Value="rotated", Type="SecureString", Overwrite=True
    )
    record = site_release.run_command

    def failing(command, *, cwd, env):
        record(command, cwd=cwd, env=env)
        if "migrate" in command:
            raise subprocess.CalledProcessError(1, command)

    monkeypatch.setattr(site_release, "run_command", failing)
    world.log.clear()

    assert cli.main(DEPLOY) == 10

    assert world.zappa() == [
        ("update", "dev_migrate", "--zip", str(world.build / "site-dev.zip")),
        ("manage", "dev_migrate", "migrate"),
    ]
    assert "the site still serves its previous code" in capsys.readouterr().err


def test_bad_input_stops_with_one_line(world, tmp_path, capsys):
    """A malformed stage file, a missing bucket: one line each, non-zero."""
    broken = tmp_path / "broken.json"
    broken.write_text('{"ThrottlingRateLimit": "fast", "Nope": 1}')
    assert cli.main([*DEPLOY, "--parameters", str(broken)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"deploy: {broken}: ThrottlingRateLimit is 'fast', not a number",
        f"deploy: {broken}: Nope is not a parameter of template.yaml",
    ]
    assert cli.main(["deploy", "--stage", "dev", "--region", REGION]) == 2
    assert "--bucket" in capsys.readouterr().err

    assert (
        cli.main(["deploy", "--stage", "dev", "--region", REGION, "--bucket", "nope-bucket"]) == 3
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "S3: bucket nope-bucket does not exist" in err[0]


def test_failed_fanout_shards_are_redriven_from_the_stack_outputs(world):
    """redrive-fanout reads the queue and the alias from the stack's outputs."""
    assert cli.main(DEPLOY) == 0
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="dynamowave-dev-fanout-failures")["QueueUrl"]
    world.cfn.stacks["dynamowave-dev"]["Outputs"] = [
        {"OutputKey": k, "OutputValue": url if k == "FanoutFailuresQueueUrl" else v}
        for k, v in _outputs("dynamowave-dev").items()
    ]
    body = {"requestPayload": {"room": "r", "message_id": "m1", "connection_ids": ["c1"]}}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))

    assert cli.main(["redrive-fanout", "--stage", "dev", "--region", REGION]) == 0

    assert [call["InvocationType"] for call in world.lambda_client.invoked] == ["Event"]
    assert json.loads(world.lambda_client.invoked[0]["Payload"])["message_id"] == "m1"


def test_failed_index_changes_are_redriven_from_the_stack_outputs(world):
    """redrive-index invokes the index function's alias again with each record's event."""
    assert cli.main(DEPLOY) == 0
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="dynamowave-dev-index-failures")["QueueUrl"]
    world.cfn.stacks["dynamowave-dev"]["Outputs"] = [
        {"OutputKey": k, "OutputValue": url if k == "IndexFailuresQueueUrl" else v}
        for k, v in _outputs("dynamowave-dev").items()
    ]
    body = {"requestPayload": {"changes": [{"message_id": "m1", "rev": 3}]}}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))

    assert cli.main(["redrive-index", "--stage", "dev", "--region", REGION]) == 0

    (call,) = world.lambda_client.invoked
    assert (call["FunctionName"], call["InvocationType"]) == (
        _outputs("dynamowave-dev")["IndexFunctionAlias"],
        "Event",
    )
    assert json.loads(call["Payload"]) == body["requestPayload"]
