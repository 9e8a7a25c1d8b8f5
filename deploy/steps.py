"""The real deploy, step by step (DEPLOY.md, "What the deploy command does"): preflight, keys,
artifacts, the stack, its outputs, the site.

Each step starts only when the ones before it succeeded; the preflight makes no change at all,
so a refusal leaves the account exactly as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

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


@dataclass
class Target:
    """One Region's stack as a deploy sees it: the Region's clients, its artifact bucket, the
    variant of the template it deploys, and what the preflight learnt."""

    region: str
    bucket: str
    template: dict
    session: object
    existing: dict | None = None  # the stack as it was before this deploy, or None
    alarm: preflight.AlarmTarget = field(default_factory=preflight.AlarmTarget)
    template_url: str = ""
    clients: dict = field(default_factory=dict)

    def client(self, service: str):
        if service not in self.clients:
            self.clients[service] = self.session.client(service)
        return self.clients[service]

    @property
    def cfn(self):
        return self.client("cloudformation")

    @property
    def ssm(self):
        return self.client("ssm")


def target_for(region: str, bucket: str, template: dict) -> Target:
    return Target(region, bucket, template, aws.aws_session(region))


def target_preflight(
    args, stage: Stage, target: Target, *, topic: str, email: str, say: Callable[..., None]
) -> None:
    """Step 1, reads only: the Region's quotas, its bucket, the alarm target, the stack's state
    and drift. PreflightRefused (nothing changed) when the Region cannot take the stage."""
    name, region = stack_name(stage.name), target.region
    quotas = preflight.account_quotas(
        target.session, region=region, template=target.template, stage=stage, stack_name=name
    )
    problems, notes = stage_problems(target.template, stage, quotas)
    problems += preflight.bucket_problems(
        s3=target.client("s3"), bucket=target.bucket, region=region
    )
    cfn = target.cfn
    target.existing = stack.stack_read(cfn, name)
    target.alarm, alarm_problems = preflight.alarm_target(
        ssm=target.ssm,
        stage=stage,
        region=region,
        topic=topic,
        email=email,
        previous_topic=_previous(target.existing, "AlarmTopicArn"),
        template=target.template,
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
    alarm = target.alarm
    shown = alarm.topic or (alarm.email and f"{alarm.email} (the stack's own topic)") or "none"
    say(f"preflight passed in {region}", "\n    ".join([*notes, *state, f"alarms notify: {shown}"]))


def target_artifacts(stage: Stage, target: Target, say: Callable[..., None]) -> None:
    """Step 3: the functions' zip and the packaged template in the Region's bucket (CloudFormation
    and Lambda read artifacts from the stack's own Region), named by content."""
    from deploy import lambda_package
    from deploy.template import template_with_code

    s3, bucket = target.client("s3"), target.bucket
    package = lambda_package.lambda_package_build()
    code_uri = aws.artifact_upload(s3=s3, bucket=bucket, path=package.zip_path, prefix="dynamowave")
    packaged = BUILD / f"template-{stage.name}-{target.region}.json"
    packaged.write_text(json.dumps(template_with_code(target.template, code_uri), sort_keys=True))
    template_uri = aws.artifact_upload(s3=s3, bucket=bucket, path=packaged, prefix="dynamowave")
    key = template_uri.removeprefix(f"s3://{bucket}/")
    target.template_url = f"https://{bucket}.s3.{target.region}.amazonaws.com/{key}"
    say(f"artifacts in {target.region}", f"{code_uri}\n    {template_uri}")


def target_stack(args, stage: Stage, target: Target, parameters: dict[str, str]) -> str:
    """Step 4: the Region's stack through a change set ("created", "updated", ...)."""
    return stack.stack_deploy(
        cfn=target.cfn,
        stack_name=stack_name(stage.name),
        template_url=target.template_url,
        parameters=parameters,
        tags={"project": "dynamowave", "stage": stage.name},
        replace_failed=args.replace_failed,
    )


def deploy_for_real(args, stage: Stage, template: dict, say: Callable[..., None]) -> int:
    from deploy import site_release

    region, name = args.region, stack_name(stage.name)
    target = target_for(region, args.bucket, template)
    cfn, ssm = target.cfn, target.ssm

    # 1. Preflight: reads only.
    target_preflight(args, stage, target, topic=args.alarm_topic, email=args.alarm_email, say=say)
    existing, alarm = target.existing, target.alarm

    # 2. Keys and secrets (created once, kept), and the alarms' address for later deploys.
    keys = aws.keys_ensure(ssm=ssm, stage=stage.name)
    edge = aws.edge_secret_read(ssm=ssm, stage=stage.name) if stage.domain else ""
    if alarm.store_email and aws.alarm_email_keep(ssm=ssm, stage=stage.name, email=alarm.email):
        say("alarm e-mail kept", f"{alarm.email} for later deploys of {stage.name}")
    say("keys", f"{keys.public_keys_parameter} version {keys.public_keys_version}")

    # 3. Artifacts, named by content: an unchanged package is not uploaded again.
    target_artifacts(stage, target, say)

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
    result = target_stack(args, stage, target, parameters)
    say(f"stack {name} {result}")

    # 5. Its outputs. (No API deployment to make: the stage deploys every change to the API
    # itself, AutoDeploy, as SAM's AWS::Serverless::WebSocketApi declares it.)
    outputs = stack.stack_outputs(cfn=cfn, stack_name=name)

    # 6. The site: migrations with the release's code first, then the release.
    site = site_release.site_release(
        cfn=cfn,
        lambda_client=target.client("lambda"),
        stage=stage.name,
        region=region,
        bucket=target.bucket,
        outputs=outputs,
        secrets=aws.secrets_versions(ssm=ssm, stage=stage.name),
        say=say,
    )

    # 7. A first deploy learns the site's address only now: the stack's SiteOrigin follows it
    # (a change set of that one parameter), and with a domain, CloudFront's origin (SiteApiHost:
    # the distribution is made by this change set). A stage file's own SiteOrigin (or the
    # domain's) is never replaced.
    outputs = site_address_follow(
        args,
        stage,
        target,
        parameters,
        keys_version=parameters.get("TokenPublicKeysVersion", ""),
        edge=edge,
        outputs=outputs,
        say=say,
    )
    say(
        f"deployed (stack {result}, site {site})",
        f"WebSocket: {outputs['WebSocketUrl']}\n    site: "
        + (outputs.get("SiteUrl") or f"`zappa status {stage.name}`"),
    )
    return 0


def site_address_follow(
    args,
    stage: Stage,
    target: Target,
    parameters: dict[str, str],
    *,
    keys_version: str,
    edge: str,
    outputs: dict[str, str],
    say: Callable[..., None],
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Step 7: once the site exists, its address into the stack (SiteOrigin, and with a domain
    SiteApiHost); the stack's outputs after it. `parameters` is updated in place."""
    name = stack_name(stage.name)
    site_function = config.SITE_FUNCTION.format(stage=stage.name)
    host = aws.site_host(cfn=target.cfn, name=site_function, region=target.region)
    wanted = stack_parameters(
        stage,
        target.template,
        keys_version=keys_version,
        alarm_topic=target.alarm.topic,
        alarm_email=target.alarm.email,
        origin=site_origin(host) if host else parameters.get("SiteOrigin", ""),
        site_api_host=host or parameters.get("SiteApiHost", ""),
        edge_secret=edge,
    )
    wanted.update(extra or {})
    changed = {k: v for k, v in wanted.items() if parameters.get(k) != v}
    if host and changed:
        parameters.update(changed)
        updated = target_stack(args, stage, target, parameters)
        shown = ", ".join(f"{k} {v}" for k, v in sorted(changed.items()))
        say(f"stack {name} {updated} in {target.region}", f"{shown}: the site's address")
        outputs = stack.stack_outputs(cfn=target.cfn, stack_name=name)
    return outputs
