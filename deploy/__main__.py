"""`python -m deploy check|package|deploy|rotate-keys|redrive-fanout`: the deploy command
(DEPLOY.md).

`deploy --dry-run` does everything that needs no AWS account: the template translated, linted
and scanned, both packages built, and the plan printed. That is what CI runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from deploy import config
from deploy.config import BUILD, LAMBDA_ZIP, PARAMETERS_DIR, ROOT, TRANSLATED, stack_name

DRY_RUN_CODE_URI = "s3://dry-run-artifacts/dynamowave/lambda.zip"
DRY_RUN_OUTPUTS = {
    "WebSocketUrl": "wss://API_ID.execute-api.{region}.amazonaws.com/{stage}",
    "ManagementEndpoint": "https://API_ID.execute-api.{region}.amazonaws.com/{stage}",
    "TablePrefix": "dynamowave-{stage}-",
    "SiteRoleArn": "arn:aws:iam::ACCOUNT_ID:role/{stage}-SiteRole",
    "WebSocketApiId": "API_ID",
}
DRY_RUN_SITE_HOST = "SITE_API_ID.execute-api.{region}.amazonaws.com"


def _say(step: str, detail: str = "") -> None:
    print(f"==> {step}" + (f"\n    {detail}" if detail else ""), flush=True)


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def stage_parameters(stage: str, *, keys_version: str = "", alarm_topic: str = "") -> dict:
    """CloudFormation parameters of a stage: deploy/parameters/<stage>.json plus what we know."""
    path = PARAMETERS_DIR / f"{stage}.json"
    values = json.loads(path.read_text()) if path.exists() else {}
    values.update(
        StageName=stage,
        TokenPublicKeysParameterName=config.ssm_names(stage)["public_keys"],
        TokenPublicKeysVersion=keys_version,
    )
    if alarm_topic:
        values["AlarmTopicArn"] = alarm_topic
    return values


def _template_for(args) -> dict:
    from deploy.template import template_load
    from deploy.variants import global_tables

    template = template_load()
    return global_tables(template, args.replica_regions) if args.replica_regions else template


def run_check(args) -> int:
    """Translate (and the global-tables variant), cfn-lint, checkov. 0 when all pass."""
    from deploy.template import (
        cfn_lint,
        checkov,
        template_load,
        template_translate,
        template_with_code,
        template_write,
    )
    from deploy.variants import global_tables

    started = time.monotonic()
    failed = False
    template = template_load()
    variants = {
        TRANSLATED: template,
        BUILD / "template-global.json": global_tables(template, ["us-west-2", "eu-west-1"]),
    }
    for path, variant in variants.items():
        translated = template_translate(template_with_code(variant, DRY_RUN_CODE_URI))
        template_write(translated, path)
        types: dict[str, int] = {}
        for resource in translated["Resources"].values():
            types[resource["Type"]] = types.get(resource["Type"], 0) + 1
        _say(f"translated {path.relative_to(ROOT)}", f"{len(translated['Resources'])} resources")
        lint = cfn_lint(path)
        _say("cfn-lint", "no errors or warnings" if lint.returncode == 0 else lint.stdout)
        failed |= lint.returncode != 0
    code, summary = checkov(TRANSLATED)
    counts = {k: summary.get(k) for k in ("passed", "failed", "skipped", "parsing_errors")}
    _say("checkov --skip-download", f"{counts} (skip list: {config.CHECKOV_CONFIG.name})")
    for line in summary["failed_list"]:
        print("    FAILED", line)
    failed |= code != 0 or bool(summary.get("failed")) or bool(summary.get("parsing_errors"))
    _say("check " + ("FAILED" if failed else "passed"), f"{time.monotonic() - started:.0f} s")
    return 1 if failed else 0


def build_packages(stage: str, settings_file: Path | None = None) -> tuple:
    from deploy.lambda_package import lambda_package_build
    from deploy.site_package import site_package_build

    lambda_package = lambda_package_build()
    _say(
        f"Lambda package {lambda_package.zip_path.relative_to(ROOT)}",
        f"{_mib(lambda_package.unzipped_bytes)} unzipped, {_mib(lambda_package.zipped_bytes)} "
        f"zipped, sha256 {lambda_package.sha256[:16]}",
    )
    site_zip = site_package_build(
        stage=stage,
        output=BUILD / f"site-{stage}.zip",
        settings_file=settings_file or config.ZAPPA_SETTINGS,
    )
    _say(f"Zappa package {site_zip.relative_to(ROOT)}", _mib(site_zip.stat().st_size))
    return lambda_package, site_zip


def run_package(args) -> int:
    build_packages(args.stage)
    return 0


def _plan(args, parameters: dict) -> list[str]:
    stage, region = args.stage, args.region
    names = config.ssm_names(stage)
    bucket = args.bucket or "<--bucket>"
    return [
        f"SSM: ensure {names['signing_key']} and {names['secret_key']} (SecureString, generated"
        f" once) and {names['public_keys']} (String, trusts the signing key's public half);"
        f" require {names['database_url']}",
        f"S3: upload {LAMBDA_ZIP.relative_to(ROOT)} and the packaged template to s3://{bucket}/"
        "dynamowave/ (keys named by content hash)",
        f"CloudFormation: change set on stack {stack_name(stage)} in {region} with"
        f" {json.dumps(parameters, sort_keys=True)}, CAPABILITY_IAM + CAPABILITY_AUTO_EXPAND;"
        " execute and wait",
        "CloudFormation: read outputs (WebSocketUrl, ManagementEndpoint, TablePrefix, SiteRoleArn)",
        f"API Gateway: new deployment of the WebSocket API to stage {stage}",
        f"Zappa: write {BUILD.relative_to(ROOT)}/zappa_settings.json (stage {stage} wired to the"
        " outputs; ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS: the site's REST API host, read from"
        f" Zappa's stack), package, then `zappa deploy|update {stage} --zip`; after a first"
        " deploy, which makes that host, write it in and `zappa update` again",
        f"Zappa: `zappa manage {stage} migrate` (Django migrations against DATABASE_URL), then"
        f" `zappa manage {stage} rooms_backfill` (rooms stored before the by-status index)",
    ]


def run_deploy(args) -> int:
    from deploy.site_package import zappa_settings_for

    region, stage = args.region, args.stage
    if not args.dry_run and not args.bucket:
        print("deploy: --bucket (an S3 bucket you own in the Region) is required", file=sys.stderr)
        return 2
    if run_check(args) != 0:
        return 1
    parameters = stage_parameters(stage, alarm_topic=args.alarm_topic)
    if args.dry_run:
        outputs = {k: v.format(region=region, stage=stage) for k, v in DRY_RUN_OUTPUTS.items()}
        settings = zappa_settings_for(
            stage=stage,
            outputs=outputs,
            region=region,
            bucket=args.bucket or "dry-run-bucket",
            site_host=DRY_RUN_SITE_HOST.format(region=region),
        )
        settings_file = BUILD / "zappa_settings.json"
        settings_file.write_text(json.dumps(settings, indent=4))
        build_packages(stage, settings_file)
        _say(f"PLAN for stage {stage} in {region} (dry run: nothing below was done)")
        for number, step in enumerate(_plan(args, parameters), 1):
            print(f"    {number}. {step}")
        return 0
    return _deploy_for_real(args, parameters)


def _deploy_for_real(args, parameters: dict) -> int:  # pragma: no cover - needs an AWS account
    import boto3

    from deploy import aws
    from deploy.lambda_package import lambda_package_build
    from deploy.site_package import site_package_build, zappa_settings_for
    from deploy.template import template_with_code

    stage, region, bucket = args.stage, args.region, args.bucket
    session = boto3.session.Session(region_name=region)
    ssm, s3, cfn = session.client("ssm"), session.client("s3"), session.client("cloudformation")
    for number, step in enumerate(_plan(args, parameters), 1):
        print(f"    {number}. {step}")
    keys = aws.keys_ensure(ssm=ssm, stage=stage)
    aws.database_url_check(ssm=ssm, stage=stage)
    _say("keys", f"{keys.public_keys_parameter} version {keys.public_keys_version}")
    parameters["TokenPublicKeysVersion"] = str(keys.public_keys_version)
    package = lambda_package_build()
    code_uri = aws.artifact_upload(s3=s3, bucket=bucket, path=package.zip_path, prefix="dynamowave")
    packaged = BUILD / f"template-{stage}.json"
    packaged.write_text(json.dumps(template_with_code(_template_for(args), code_uri)))
    template_uri = aws.artifact_upload(s3=s3, bucket=bucket, path=packaged, prefix="dynamowave")
    key = template_uri.removeprefix(f"s3://{bucket}/")
    template_url = f"https://{bucket}.s3.{region}.amazonaws.com/{key}"
    result = aws.stack_deploy(
        cfn=cfn,
        stack_name=stack_name(stage),
        template_url=template_url,
        parameters=parameters,
        tags={"project": "dynamowave", "stage": stage},
    )
    _say(f"stack {stack_name(stage)} {result}")
    outputs = aws.stack_outputs(cfn=cfn, stack_name=stack_name(stage))
    aws.api_redeploy(
        apigw=session.client("apigatewayv2"), api_id=outputs["WebSocketApiId"], stage=stage
    )
    settings_file = BUILD / "zappa_settings.json"
    site = config.SITE_FUNCTION.format(stage=stage)
    zappa = [str(config.ZAPPA_VENV / "bin" / "zappa")]
    env = {**os.environ, "VIRTUAL_ENV": str(config.ZAPPA_VENV), "TMPDIR": str(config.ZAPPA_TMP)}

    def site_upload(action: str, host: str | None) -> None:
        settings = zappa_settings_for(
            stage=stage, outputs=outputs, region=region, bucket=bucket, site_host=host
        )
        settings_file.write_text(json.dumps(settings, indent=4))
        site_zip = site_package_build(
            stage=stage, output=BUILD / f"site-{stage}.zip", settings_file=settings_file
        )
        subprocess.run(
            [*zappa, action, stage, "-s", str(settings_file), "--zip", str(site_zip)],
            cwd=ROOT,
            env=env,
            check=True,
        )

    host = aws.site_host(cfn=cfn, name=site, region=region)
    exists = aws.site_function_exists(lambda_client=session.client("lambda"), name=site)
    site_upload("update" if exists else "deploy", host)
    if host is None:  # the first deploy made the site's API: only its host may reach Django
        host = aws.site_host(cfn=cfn, name=site, region=region)
        if host is None:
            raise aws.DeployError(f"Zappa's stack {site} has no REST API (resource Api)")
        _say("site host", host)
        site_upload("update", host)
    for command in ("migrate", "rooms_backfill"):  # Django's tables; rooms older than the index
        subprocess.run(
            [*zappa, "manage", stage, command, "-s", str(settings_file)],
            cwd=ROOT,
            env=env,
            check=True,
        )
    _say("deployed", f"WebSocket: {outputs['WebSocketUrl']}\n    site: `zappa status {stage}`")
    return 0


def run_rotate(args) -> int:  # pragma: no cover - needs an AWS account
    import boto3

    from deploy import aws

    ssm = boto3.client("ssm", region_name=args.region)
    keys = (aws.keys_prune if args.finish else aws.keys_rotate)(ssm=ssm, stage=args.stage)
    _say(
        f"{keys.public_keys_parameter} is now version {keys.public_keys_version}",
        "now run `make deploy STAGE=...` so the authorizer and the site pick it up",
    )
    return 0


def run_redrive(args) -> int:  # pragma: no cover - needs an AWS account (fanout_redrive: moto)
    import boto3

    from deploy import aws

    session = boto3.Session(region_name=args.region)
    outputs = aws.stack_outputs(
        cfn=session.client("cloudformation"), stack_name=stack_name(args.stage)
    )
    done = aws.fanout_redrive(
        sqs=session.client("sqs"),
        lambda_client=session.client("lambda"),
        queue_url=outputs["FanoutFailuresQueueUrl"],
        function=outputs["FanoutFunctionAlias"],
        limit=args.limit,
    )
    _say(
        f"{done.sent} shard(s) invoked again",
        f"{done.kept} kept (invoke failed), {done.skipped} not shards",
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def stage_command(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--stage", default="dev")
        command.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
        command.add_argument(
            "--replica-regions",
            type=lambda text: [r.strip() for r in text.split(",") if r.strip()],
            default=[],
            help="comma-separated Regions: deploy the tables as global tables (first deploy)",
        )
        return command

    stage_command("check", "translate the template, cfn-lint it, checkov it")
    stage_command("package", "build the Lambda package and the Zappa zip")
    deploy = stage_command("deploy", "check, package, deploy the stack and the site")
    deploy.add_argument("--dry-run", action="store_true", help="no AWS calls; print the plan")
    deploy.add_argument("--bucket", default=os.environ.get("DEPLOY_BUCKET", ""))
    deploy.add_argument("--alarm-topic", default=os.environ.get("ALARM_TOPIC_ARN", ""))
    rotate = stage_command("rotate-keys", "start (or --finish) a token signing key rotation")
    rotate.add_argument("--finish", action="store_true")
    redrive = stage_command("redrive-fanout", "invoke failed fan-out shards again from their queue")
    redrive.add_argument("--limit", type=int, default=1000, help="at most this many records")
    args = parser.parse_args(argv)
    handlers = {
        "check": run_check,
        "package": run_package,
        "deploy": run_deploy,
        "rotate-keys": run_rotate,
        "redrive-fanout": run_redrive,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
