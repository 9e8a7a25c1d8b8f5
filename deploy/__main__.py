"""`python -m deploy check|package|deploy|rotate-keys|redrive-fanout|redrive-index|failback`:
the deploy command (DEPLOY.md).

`deploy --dry-run` does everything that needs no AWS account: every stage's parameters held
against a default account's quotas, the template translated, linted and scanned, both packages
built, and the plan printed. That is what CI runs. A failure prints one line per problem and
exits with its error's code (deploy/errors.py; DEPLOY.md lists them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from deploy import config
from deploy.config import BUILD, LAMBDA_ZIP, PARAMETERS_DIR, ROOT, TRANSLATED, stack_name
from deploy.errors import BadInput, CheckFailed, DeployError
from deploy.stage import Stage, stack_parameters, stage_load

DRY_RUN_CODE_URI = "s3://dry-run-artifacts/dynamowave/lambda.zip"
DRY_RUN_OUTPUTS = {
    "WebSocketUrl": "wss://API_ID.execute-api.{region}.amazonaws.com/{stage}",
    "ManagementEndpoint": "https://API_ID.execute-api.{region}.amazonaws.com/{stage}",
    "TablePrefix": "dynamowave-{stage}-",
    "SiteRoleArn": "arn:aws:iam::ACCOUNT_ID:role/{stage}-SiteRole",
    "WebSocketApiId": "API_ID",
    "DatabaseHost": "CLUSTER.cluster-ID.{region}.rds.amazonaws.com",
    "DatabasePort": "5432",
    "DatabaseName": "dynamowave",
    "DatabaseSecretArn": "arn:aws:secretsmanager:{region}:ACCOUNT_ID:secret:rds!cluster-ID",
    "SiteSubnetIds": "subnet-A,subnet-B",
    "SiteSecurityGroupId": "sg-SITE",
    "IndexFunctionAlias": "arn:aws:lambda:{region}:ACCOUNT_ID:function:{stage}-IndexFunction:live",
    "UploadsBucketName": "dynamowave-{stage}-uploads-ACCOUNT_ID",
    "SiteUrl": "",
}
DRY_RUN_SITE_HOST = "SITE_API_ID.execute-api.{region}.amazonaws.com"


def _say(step: str, detail: str = "") -> None:
    print(f"==> {step}" + (f"\n    {detail}" if detail else ""), flush=True)


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _two_regions(args) -> bool:
    return len(getattr(args, "regions", [])) == 2


def _template_for(args) -> dict:
    """The template the stage is held against: with two Regions, the primary's variant."""
    from deploy.stage import template_cached
    from deploy.variants import primary_variant

    template = template_cached()
    return primary_variant(template, args.regions[1:]) if _two_regions(args) else template


# The two Regions' variants as `make check` checks them: with a domain, its records and the
# health checks on (template parameter defaults set so), as a two-Region stage deploys them.
CHECK_REGIONS = ("us-east-1", "us-west-2")
CHECK_DOMAIN = {
    "DomainName": "chat.example.com",
    "HostedZoneId": "Z0123456789ABC",
    "PrimaryRegion": CHECK_REGIONS[0],
}
CHECK_PRIMARY = {
    **CHECK_DOMAIN,
    "WebSocketCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/ws",
    "SiteCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/site",
    "SiteApiHost": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "PeerHealthUrl": "https://peer.lambda-url.us-west-2.on.aws/health",
}
CHECK_SECONDARY = {
    **CHECK_DOMAIN,
    "WebSocketCertificateArn": "arn:aws:acm:us-west-2:123456789012:certificate/ws",
    "DnsFailoverRole": "SECONDARY",
    "PeerHealthUrl": "https://peer.lambda-url.us-east-1.on.aws/health",
}


def with_defaults(template: dict, values: dict[str, str]) -> dict:
    """The template with these parameters' defaults: a stage's values, for offline checks."""
    import copy

    variant = copy.deepcopy(template)
    for name, value in values.items():
        variant["Parameters"][name]["Default"] = value
    return variant


def check_variants(template: dict) -> dict[Path, dict]:
    """What `make check` translates, lints and scans: template.yaml as one Region deploys it,
    and the primary's and the secondary's variants of a two-Region stage with a domain."""
    from deploy.variants import primary_variant, secondary_variant

    return {
        TRANSLATED: template,
        BUILD / "template-primary.json": with_defaults(
            primary_variant(template, [CHECK_REGIONS[1]]), CHECK_PRIMARY
        ),
        BUILD / "template-secondary.json": with_defaults(
            secondary_variant(template), CHECK_SECONDARY
        ),
    }


def stage_check(args, template: dict) -> Stage:
    """The stage's file (--parameters, else deploy/parameters/<stage>.json) and every other
    shipped stage's, each valid and within a default account's quotas (CheckFailed if not)."""
    from deploy.preflight import alarm_flag_problems
    from deploy.quotas import default_quotas, stage_problems
    from deploy.stage import template_cached

    declared = template_cached()  # the stage files hold template.yaml's own parameters
    stage = stage_load(args.stage, template=declared, path=getattr(args, "parameters", None))
    others = [
        p for p in sorted(PARAMETERS_DIR.glob("*.json")) if p.resolve() != stage.path.resolve()
    ]
    problems: list[str] = []
    for checked in [stage, *(stage_load(p.stem, template=declared, path=p) for p in others)]:
        found, notes = stage_problems(template, checked, default_quotas(args.region))
        _say(f"stage {checked.name} ({checked.file})", "\n    ".join(notes))
        problems += found
    if problems:
        raise CheckFailed(*problems)
    flags = alarm_flag_problems(
        topic=getattr(args, "alarm_topic", ""),
        email=getattr(args, "alarm_email", ""),
        region=args.region,
    )
    if flags:
        raise BadInput(*flags)
    return stage


def template_check() -> int:
    """Translate (template.yaml and the two Regions' variants), cfn-lint, checkov. 0 when all
    pass."""
    from deploy.template import (
        cfn_lint,
        checkov,
        template_load,
        template_translate,
        template_with_code,
        template_write,
    )

    started = time.monotonic()
    failed = False
    variants = check_variants(template_load())
    sizes = {}
    for path, variant in variants.items():
        translated = template_translate(template_with_code(variant, DRY_RUN_CODE_URI))
        template_write(translated, path)
        sizes[path] = len(translated["Resources"])
    # The linters are processes of their own, each on one CPU: all at once (about half the time
    # on two CPUs), reported in order.
    with ThreadPoolExecutor(max_workers=len(variants) + 1) as pool:
        checked = pool.submit(checkov, list(variants))
        lints = {path: pool.submit(cfn_lint, path) for path in variants}
        for path, lint_run in lints.items():
            lint = lint_run.result()
            _say(f"translated {path.relative_to(ROOT)}", f"{sizes[path]} resources")
            _say("cfn-lint", "no errors or warnings" if lint.returncode == 0 else lint.stdout)
            failed |= lint.returncode != 0
        code, summary = checked.result()
    counts = {k: summary.get(k) for k in ("passed", "failed", "skipped", "parsing_errors")}
    _say("checkov --skip-download", f"{counts} (skip list: {config.CHECKOV_CONFIG.name})")
    for line in summary["failed_list"]:
        print("    FAILED", line)
    failed |= code != 0 or bool(summary.get("failed")) or bool(summary.get("parsing_errors"))
    _say("check " + ("FAILED" if failed else "passed"), f"{time.monotonic() - started:.0f} s")
    return 1 if failed else 0


def run_check(args) -> int:
    """The stages' parameters first (fast, and what a quota refusal needs), then the template."""
    stage_check(args, _template_for(args))
    return template_check()


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


def _plan(args, stage: Stage, parameters: dict) -> list[str]:
    region, name = args.region, stage.name
    names = config.ssm_names(name)
    bucket = args.bucket or "<--bucket>"
    site = config.SITE_FUNCTION.format(stage=name)
    migrate = config.MIGRATE_STAGE.format(stage=name)
    alarms = (
        args.alarm_topic
        or (args.alarm_email and f"{args.alarm_email} (kept in {names['alarm_email']})")
        or f"the stack's current topic, else the address in {names['alarm_email']}"
        + (" (required: refused without one)" if stage.alarm_target_required else "")
    )
    domain = stage.parameters.get("DomainName", "")
    origin = (
        f"SiteOrigin https://{domain}, the site behind CloudFront at {domain} (origin: Zappa's"
        f" REST API, SiteApiHost, read from Zappa's stack; on a first deploy, once the site"
        f" exists, a second change set makes the distribution), the WebSocket API at"
        f" wss://ws.{domain}"
        + (", both names' Route 53 records" if stage.parameters.get("HostedZoneId") else "")
        if domain
        else f"SiteOrigin {stage.parameters['SiteOrigin']} (the stage's file)"
        if "SiteOrigin" in stage.parameters
        else f"SiteOrigin: the site's address (https://<REST API id>.execute-api.{region}"
        ".amazonaws.com, read from Zappa's stack; on a first deploy, once the site exists, a"
        " second change set sets it)"
    )
    return [
        f"Preflight (reads only): Lambda concurrency (GetAccountSettings) against the stage's"
        f" reservations, API Gateway's account throttle against the stage's, DynamoDB's table and"
        f" capacity quotas, s3://{bucket} in {region},"
        f" the alarm target ({alarms}), stack {stack_name(name)}'s state and drift",
        f"SSM: ensure {names['signing_key']} and {names['secret_key']} (SecureString, generated"
        f" once) and {names['public_keys']} (String, trusts the signing key's public half)",
        f"S3: upload {LAMBDA_ZIP.relative_to(ROOT)} and the packaged template to s3://{bucket}/"
        "dynamowave/ (keys named by content hash)",
        f"CloudFormation: change set on stack {stack_name(name)} in {region} with"
        f" {json.dumps(parameters, sort_keys=True)}, CAPABILITY_IAM + CAPABILITY_AUTO_EXPAND;"
        f" execute and wait (nothing executed when the change set is empty); {origin}",
        "CloudFormation: read outputs (WebSocketUrl, ManagementEndpoint, TablePrefix, SiteRoleArn,"
        " the database's host, port, name and secret, the site's subnets and security group, the"
        " index function's alias)"
        f"; the API's stage {name} deployed the stack's route changes itself (AutoDeploy)",
        f"Zappa: write {BUILD.relative_to(ROOT)}/zappa_settings.json (stage {name} wired to the"
        " outputs; ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS: the site's REST API host, read from"
        f" Zappa's stack; and stage {migrate}: the same zip, no API, no schedule) and package;"
        f" nothing more when {site} already runs this release (its content digest tag)",
        f"Zappa: `zappa deploy|update {migrate} --zip` then `zappa manage {migrate} migrate` and"
        f" `rooms_backfill`: the release's migrations run before its code takes traffic",
        f"Zappa: `zappa deploy|update {name} --zip`; after a first deploy, which makes the site's"
        " host, write it in and `zappa update` again",
    ]


def run_deploy(args) -> int:
    from deploy.site_package import zappa_settings_for
    from deploy.site_release import settings_with_migrator

    region, name = args.region, args.stage
    if not args.dry_run and not args.bucket:
        raise BadInput(
            "--bucket (an S3 bucket you own in the Region, or DEPLOY_BUCKET) is required"
        )
    template = _template_for(args)
    stage = stage_check(args, template)  # before the slow checks: a quota refusal comes first
    if _two_regions(args):
        from deploy.regions import buckets_for, region_problems

        problems = region_problems(stage, args.regions)
        if problems:
            raise BadInput(*problems)
        if not args.dry_run:
            buckets_for(args.bucket, args.regions)
    if template_check() != 0:
        raise CheckFailed("the template check failed (above)")
    parameters = stack_parameters(
        stage, template, alarm_topic=args.alarm_topic, alarm_email=args.alarm_email
    )
    plan = _plan
    if _two_regions(args):
        from deploy.regions import regions_plan as plan

        region = " and ".join(args.regions)
    if not args.dry_run:
        from deploy.regions import deploy_regions
        from deploy.steps import deploy_for_real

        _say(f"PLAN for stage {name} in {region}")
        for number, step in enumerate(plan(args, stage, parameters), 1):
            print(f"    {number}. {step}")
        if _two_regions(args):
            from deploy.stage import template_cached

            return deploy_regions(args, stage, template_cached(), _say)
        return deploy_for_real(args, stage, template, _say)
    outputs = {k: v.format(region=region, stage=name) for k, v in DRY_RUN_OUTPUTS.items()}
    settings = zappa_settings_for(
        stage=name,
        outputs=outputs,
        region=region,
        bucket=args.bucket or "dry-run-bucket",
        site_host=DRY_RUN_SITE_HOST.format(region=region),
    )
    settings_file = BUILD / "zappa_settings.json"
    settings_file.write_text(json.dumps(settings_with_migrator(settings, name), indent=4))
    build_packages(name, settings_file)
    _say(f"PLAN for stage {name} in {region} (dry run: nothing below was done)")
    for number, step in enumerate(plan(args, stage, parameters), 1):
        print(f"    {number}. {step}")
    return 0


def run_rotate(args) -> int:
    from deploy import aws

    ssm = aws.aws_session(args.region).client("ssm")
    keys = (aws.keys_prune if args.finish else aws.keys_rotate)(ssm=ssm, stage=args.stage)
    _say(
        f"{keys.public_keys_parameter} is now version {keys.public_keys_version}",
        "now run `make deploy STAGE=...` so the authorizer and the site pick it up",
    )
    return 0


# redrive-*: the stack's outputs naming the failures queue and the function, and what an event is.
REDRIVES = {
    "redrive-fanout": ("FanoutFailuresQueueUrl", "FanoutFunctionAlias", "shard"),
    "redrive-index": ("IndexFailuresQueueUrl", "IndexFunctionAlias", "index change"),
}


def run_redrive(args) -> int:
    from deploy import aws, stack

    queue, function, what = REDRIVES[args.command]
    session = aws.aws_session(args.region)
    outputs = stack.stack_outputs(
        cfn=session.client("cloudformation"), stack_name=stack_name(args.stage)
    )
    done = aws.fanout_redrive(
        sqs=session.client("sqs"),
        lambda_client=session.client("lambda"),
        queue_url=outputs[queue],
        function=outputs[function],
        limit=args.limit,
    )
    _say(
        f"{done.sent} {what} event(s) invoked again",
        f"{done.kept} kept (invoke failed), {done.skipped} not invocation records",
    )
    return 0


def run_failback(args) -> int:
    """deploy/failback.py, for the stage and Region given (DEPLOY.md, "Failback runbook")."""
    from deploy import failback

    complete = ["--complete"] if args.complete else []
    return failback.main(["--stage", args.stage, "--region", args.region, *complete])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def stage_command(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--stage", default="dev")
        command.add_argument(
            "--parameters",
            type=Path,
            default=None,
            help="the stage's parameters file (default: deploy/parameters/<stage>.json)",
        )
        command.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
        command.add_argument(
            "--regions",
            default="",
            help="PRIMARY,SECONDARY: the stage in two Regions (DEPLOY.md, 'Two Regions'); the"
            " first is the primary (replaces --region)",
        )
        return command

    stage_command("check", "translate the template, cfn-lint it, checkov it")
    stage_command("package", "build the Lambda package and the Zappa zip")
    deploy = stage_command("deploy", "check, package, deploy the stack and the site")
    deploy.add_argument("--dry-run", action="store_true", help="no AWS calls; print the plan")
    deploy.add_argument("--bucket", default=os.environ.get("DEPLOY_BUCKET", ""))
    deploy.add_argument(
        "--alarm-topic",
        default=os.environ.get("ALARM_TOPIC_ARN", ""),
        help="SNS topic ARN the alarms notify (kept by the stack for later deploys)",
    )
    deploy.add_argument(
        "--alarm-email",
        default=os.environ.get("ALARM_EMAIL", ""),
        help="without a topic: the stack makes one and subscribes this address (kept in SSM)",
    )
    deploy.add_argument(
        "--replace-failed",
        action="store_true",
        help="delete a stack whose first create failed (ROLLBACK_COMPLETE) and create it again",
    )
    deploy.add_argument(
        "--allow-drift",
        action="store_true",
        help="deploy over resources changed outside CloudFormation (they are listed)",
    )
    deploy.add_argument(
        "--skip-drift-check", action="store_true", help="do not run drift detection first"
    )
    rotate = stage_command("rotate-keys", "start (or --finish) a token signing key rotation")
    rotate.add_argument("--finish", action="store_true")
    redrive = stage_command("redrive-fanout", "invoke failed fan-out shards again from their queue")
    redrive.add_argument("--limit", type=int, default=1000, help="at most this many records")
    redrive = stage_command(
        "redrive-index", "invoke failed search index changes again from their queue"
    )
    redrive.add_argument("--limit", type=int, default=1000, help="at most this many records")
    failback = stage_command(
        "failback", "hand the stage back to its primary (--region), by hand (DEPLOY.md)"
    )
    failback.add_argument(
        "--complete", action="store_true", help="name the primary active now (step 2)"
    )
    args = parser.parse_args(argv)
    handlers = {
        "failback": run_failback,
        "check": run_check,
        "package": run_package,
        "deploy": run_deploy,
        "rotate-keys": run_rotate,
        "redrive-fanout": run_redrive,
        "redrive-index": run_redrive,
    }
    try:
        if args.regions:
            from deploy.regions import regions_parse

            args.regions = regions_parse(args.regions)
            args.region = args.regions[0]
        else:
            args.regions = []
        return handlers[args.command](args)
    except DeployError as exc:
        for line in exc.lines:
            print(f"deploy: {line}", file=sys.stderr)
        return exc.exit_code
    except (ClientError, BotoCoreError) as exc:  # a call refused: credentials, permissions
        print(f"deploy: AWS refused a call: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
