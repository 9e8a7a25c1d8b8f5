"""The real deploy, step by step (DEPLOY.md, "What the deploy command does"): preflight, keys,
artifacts, the stack, its outputs, the site.

Each step starts only when the ones before it succeeded; the preflight makes no change at all,
so a refusal leaves the account exactly as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from deploy import aws, config, preflight, stack
from deploy.config import BUILD, stack_name
from deploy.errors import PreflightRefused
from deploy.quotas import stage_problems
from deploy.stage import Stage, site_origin, stack_parameters


def _previous(existing: dict | None, name: str) -> str:
    for parameter in (existing or {}).get("Parameters", []):
        if parameter["ParameterKey"] == name:
            return parameter.get("ParameterValue", "")
    return ""


def deploy_for_real(args, stage: Stage, template: dict, say: Callable[..., None]) -> int:
    from deploy import lambda_package, site_release
    from deploy.template import template_with_code

    region, bucket, name = args.region, args.bucket, stack_name(stage.name)
    session = aws.aws_session(region)
    ssm, s3, cfn = session.client("ssm"), session.client("s3"), session.client("cloudformation")
    lambda_client = session.client("lambda")

    # 1. Preflight: reads only.
    quotas = preflight.account_quotas(
        session, region=region, template=template, stage=stage, stack_name=name
    )
    problems, notes = stage_problems(template, stage, quotas)
    problems += preflight.bucket_problems(s3=s3, bucket=bucket, region=region)
    existing = stack.stack_read(cfn, name)
    alarm, alarm_problems = preflight.alarm_target(
        ssm=ssm,
        stage=stage,
        region=region,
        topic=args.alarm_topic,
        email=args.alarm_email,
        previous_topic=_previous(existing, "AlarmTopicArn"),
        template=template,
    )
    problems += alarm_problems
    if problems:
        raise PreflightRefused(*problems)
    _, state = stack.stack_check(
        cfn=cfn,
        stack_name=name,
        replace_failed=args.replace_failed,
        allow_drift=args.allow_drift,
        drift=not args.skip_drift_check,
    )
    target = alarm.topic or (alarm.email and f"{alarm.email} (the stack's own topic)") or "none"
    say("preflight passed", "\n    ".join([*notes, *state, f"alarms notify: {target}"]))

    # 2. Keys and secrets (created once, kept), and the alarms' address for later deploys.
    keys = aws.keys_ensure(ssm=ssm, stage=stage.name)
    edge = aws.edge_secret_read(ssm=ssm, stage=stage.name) if stage.domain else ""
    if alarm.store_email and aws.alarm_email_keep(ssm=ssm, stage=stage.name, email=alarm.email):
        say("alarm e-mail kept", f"{alarm.email} for later deploys of {stage.name}")
    say("keys", f"{keys.public_keys_parameter} version {keys.public_keys_version}")

    # 3. Artifacts, named by content: an unchanged package is not uploaded again.
    package = lambda_package.lambda_package_build()
    code_uri = aws.artifact_upload(s3=s3, bucket=bucket, path=package.zip_path, prefix="dynamowave")
    packaged = BUILD / f"template-{stage.name}.json"
    packaged.write_text(json.dumps(template_with_code(template, code_uri), sort_keys=True))
    template_uri = aws.artifact_upload(s3=s3, bucket=bucket, path=packaged, prefix="dynamowave")
    key = template_uri.removeprefix(f"s3://{bucket}/")
    say("artifacts", f"{code_uri}\n    {template_uri}")

    # 4. The stack, through a change set. The uploads bucket's CORS admits the site's origin:
    # its address once Zappa has made it (known before the stack from the second deploy on),
    # else the one the stack has, else (a first deploy) the template's default until step 7.
    site_function = config.SITE_FUNCTION.format(stage=stage.name)
    host = aws.site_host(cfn=cfn, name=site_function, region=region)
    origin = site_origin(host) if host else _previous(existing, "SiteOrigin")
    parameters = stack_parameters(
        stage,
        template,
        keys_version=str(keys.public_keys_version),
        alarm_topic=alarm.topic,
        alarm_email=alarm.email,
        origin=origin,
        site_api_host=host or _previous(existing, "SiteApiHost"),
        edge_secret=edge,
    )

    def deploy_stack() -> str:
        return stack.stack_deploy(
            cfn=cfn,
            stack_name=name,
            template_url=f"https://{bucket}.s3.{region}.amazonaws.com/{key}",
            parameters=parameters,
            tags={"project": "dynamowave", "stage": stage.name},
            replace_failed=args.replace_failed,
        )

    result = deploy_stack()
    say(f"stack {name} {result}")

    # 5. Its outputs. (No API deployment to make: the stage deploys every change to the API
    # itself, AutoDeploy, as SAM's AWS::Serverless::WebSocketApi declares it.)
    outputs = stack.stack_outputs(cfn=cfn, stack_name=name)

    # 6. The site: migrations with the release's code first, then the release.
    site = site_release.site_release(
        cfn=cfn,
        lambda_client=lambda_client,
        stage=stage.name,
        region=region,
        bucket=bucket,
        outputs=outputs,
        secrets=aws.secrets_versions(ssm=ssm, stage=stage.name),
        say=say,
    )

    # 7. A first deploy learns the site's address only now: the stack's SiteOrigin follows it
    # (a change set of that one parameter), and with a domain, CloudFront's origin (SiteApiHost:
    # the distribution is made by this change set). A stage file's own SiteOrigin (or the
    # domain's) is never replaced.
    host = aws.site_host(cfn=cfn, name=site_function, region=region)
    wanted = stack_parameters(
        stage,
        template,
        keys_version=parameters.get("TokenPublicKeysVersion", ""),
        alarm_topic=alarm.topic,
        alarm_email=alarm.email,
        origin=site_origin(host) if host else parameters.get("SiteOrigin", ""),
        site_api_host=host or parameters.get("SiteApiHost", ""),
        edge_secret=edge,
    )
    changed = {k: v for k, v in wanted.items() if parameters.get(k) != v}
    if host and changed:
        parameters.update(changed)
        updated = deploy_stack()
        shown = ", ".join(f"{k} {v}" for k, v in sorted(changed.items()))
        say(f"stack {name} {updated}", f"{shown}: the site's address")
        outputs = stack.stack_outputs(cfn=cfn, stack_name=name)
    say(
        f"deployed (stack {result}, site {site})",
        f"WebSocket: {outputs['WebSocketUrl']}\n    site: "
        + (outputs.get("SiteUrl") or f"`zappa status {stage.name}`"),
    )
    return 0
