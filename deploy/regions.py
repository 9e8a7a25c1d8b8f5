"""A stage in two Regions (`--regions PRIMARY,SECONDARY`; DEPLOY.md, "Two Regions"): both
Regions' preflights, then the primary's stack (its global tables make the secondary's
replicas), the secondary's stack, each stack told the other's health URL, and the site, which
runs in the primary only.

Nothing is changed until both preflights pass. A failure in the secondary stops the deploy
with the Region named: the primary's stack is deployed by then and serves as before (its domain
points to it; the secondary was only ever its standby), and the site keeps its previous
release until a run gets past the secondary.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from deploy import aws, config, stack
from deploy.config import stack_name
from deploy.errors import BadInput, DeployError
from deploy.stage import Stage, site_origin, stack_parameters
from deploy.steps import (
    Target,
    _previous,
    site_address_follow,
    target_artifacts,
    target_for,
    target_preflight,
    target_stack,
)
from deploy.variants import primary_variant, secondary_variant

REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
# The secondary's stack has no distribution (one per domain: CloudFront refuses an alias another
# distribution holds) and so none of its inputs.
PRIMARY_ONLY = ("SiteCertificateArn", "SiteApiHost", "SiteEdgeSecret")


def regions_parse(text: str) -> list[str]:
    """--regions "us-east-1,us-west-2": the primary first; one or two distinct Regions."""
    regions = [r.strip() for r in text.split(",") if r.strip()]
    problems = [
        f"--regions: {r!r} is not a Region's name" for r in regions if not REGION.fullmatch(r)
    ]
    if len(regions) != len(set(regions)):
        problems.append(f"--regions {text}: a Region is named twice")
    if len(regions) > 2:
        problems.append(f"--regions {text}: two Regions at most, the primary and its secondary")
    if problems:
        raise BadInput(*problems)
    return regions


def buckets_for(text: str, regions: list[str]) -> list[str]:
    """--bucket: one artifact bucket per Region, in --regions' order (each stack reads its
    artifacts from its own Region)."""
    buckets = [b.strip() for b in text.split(",") if b.strip()]
    if len(buckets) != len(regions):
        raise BadInput(
            f"--bucket: {len(regions)} Regions need {len(regions)} buckets, one in each Region, in"
            f" --regions' order (--bucket ARTIFACTS-{regions[0]},ARTIFACTS-{regions[-1]})"
        )
    return buckets


def region_problems(stage: Stage, regions: list[str]) -> list[str]:
    """Offline: a domain's WebSocket certificate must be in each Region (API Gateway's Regional
    domains read certificates of their own Region only)."""
    problems = []
    for region in regions:
        arn = stage.in_region(region).parameters.get("WebSocketCertificateArn", "")
        if arn and arn.split(":")[3] != region:
            where = f'"Deploy": {{"Regions": {{"{region}": {{"WebSocketCertificateArn": ...}}}}}}'
            problems.append(
                f"{stage.file}: WebSocketCertificateArn in {region} is {arn}, a certificate of"
                f" {arn.split(':')[3]}: give one of {region} in {where}"
            )
    return problems


def variants(template: dict, regions: list[str]) -> dict[str, dict]:
    """Each Region's template: the primary's owns the global tables, the secondary's names them."""
    primary, secondary = regions
    return {primary: primary_variant(template, [secondary]), secondary: secondary_variant(template)}


def role_parameters(regions: list[str], region: str, *, peer_url: str) -> dict[str, str]:
    """What tells a Region's stack its role."""
    return {
        "PrimaryRegion": regions[0],
        "PeerHealthUrl": peer_url,
        "DnsFailoverRole": "PRIMARY" if region == regions[0] else "SECONDARY",
    }


def _outputs_or_empty(target: Target, name: str) -> dict[str, str]:
    return stack.stack_outputs(cfn=target.cfn, stack_name=name) if target.existing else {}


def _in_secondary(region: str, primary: str, exc: DeployError) -> DeployError:
    """The secondary's error, with the Region named and what it leaves."""
    error = type(exc)(
        f"{region} (secondary): {exc.lines[0]}",
        *exc.lines[1:],
        f"the primary {primary} is deployed and serving (the domain points to it); the site was"
        f" not released by this run; fix {region} and run the same command again",
    )
    return error


def deploy_regions(args, stage: Stage, template: dict, say: Callable[..., None]) -> int:
    from deploy import site_release

    regions = args.regions
    primary_region, secondary_region = regions
    name = stack_name(stage.name)
    problems = region_problems(stage, regions)
    if problems:
        raise BadInput(*problems)
    templates = variants(template, regions)
    buckets = dict(zip(regions, buckets_for(args.bucket, regions), strict=True))
    primary = target_for(primary_region, buckets[primary_region], templates[primary_region])
    secondary = target_for(secondary_region, buckets[secondary_region], templates[secondary_region])
    primary_stage, secondary_stage = (
        stage.in_region(primary_region),
        stage.in_region(secondary_region),
    )

    # 1. Both preflights (reads only). The secondary's alarms need a topic of their own Region:
    # the stack makes one for the primary's address, unless --alarm-topic is in that Region.
    target_preflight(
        args, primary_stage, primary, topic=args.alarm_topic, email=args.alarm_email, say=say
    )
    in_secondary = args.alarm_topic if f":sns:{secondary_region}:" in args.alarm_topic else ""
    try:
        target_preflight(
            args,
            secondary_stage,
            secondary,
            topic=in_secondary,
            email=primary.alarm.email,
            say=say,
        )
    except DeployError as exc:
        raise _in_secondary(secondary_region, primary_region, exc) from None

    # 2. Keys: made in the primary (the site signs there); the authorizers of both Regions trust
    # the same public keys, so the primary's public-keys parameter is copied (the signing key
    # and the site's secrets stay in the primary).
    keys = aws.keys_ensure(ssm=primary.ssm, stage=stage.name)
    mirrored = aws.keys_mirror(source=primary.ssm, target=secondary.ssm, stage=stage.name)
    edge = aws.edge_secret_read(ssm=primary.ssm, stage=stage.name) if stage.domain else ""
    alarm = primary.alarm
    if alarm.store_email and aws.alarm_email_keep(
        ssm=primary.ssm, stage=stage.name, email=alarm.email
    ):
        say("alarm e-mail kept", f"{alarm.email} for later deploys of {stage.name}")
    say(
        "keys",
        f"{keys.public_keys_parameter} version {keys.public_keys_version} in {primary_region},"
        f" version {mirrored.public_keys_version} in {secondary_region} (the same keys)",
    )

    # 3. Artifacts, in each Region's bucket.
    target_artifacts(primary_stage, primary, say)
    target_artifacts(secondary_stage, secondary, say)

    # 4. The primary's stack: its global tables make (or update) the replicas in the secondary.
    # Each stack is told the other's health URL: known now if the other stack exists, else
    # after it is made (step 6).
    site_function = config.SITE_FUNCTION.format(stage=stage.name)
    host = aws.site_host(cfn=primary.cfn, name=site_function, region=primary_region)
    origin = site_origin(host) if host else _previous(primary.existing, "SiteOrigin")
    peer_of_primary = _outputs_or_empty(secondary, name).get("HealthCheckUrl", "")
    primary_parameters = {
        **stack_parameters(
            primary_stage,
            primary.template,
            keys_version=str(keys.public_keys_version),
            alarm_topic=alarm.topic,
            alarm_email=alarm.email,
            origin=origin,
            site_api_host=host or _previous(primary.existing, "SiteApiHost"),
            edge_secret=edge,
        ),
        **role_parameters(regions, primary_region, peer_url=peer_of_primary),
    }
    result = target_stack(args, primary_stage, primary, primary_parameters)
    say(f"stack {name} {result} in {primary_region} (primary: the global tables)")
    primary_outputs = stack.stack_outputs(cfn=primary.cfn, stack_name=name)

    # 5. The secondary's stack: no global table resource, the replicas by name; no distribution.
    # Its SiteOrigin is the primary's (the uploads bucket's CORS: pages come from the one site).
    try:
        secondary_parameters = {
            **{
                k: v
                for k, v in stack_parameters(
                    secondary_stage,
                    secondary.template,
                    keys_version=str(mirrored.public_keys_version),
                    alarm_topic=secondary.alarm.topic,
                    alarm_email=secondary.alarm.email,
                    origin=primary_parameters.get("SiteOrigin", ""),
                ).items()
                if k not in PRIMARY_ONLY
            },
            **role_parameters(
                regions, secondary_region, peer_url=primary_outputs.get("HealthCheckUrl", "")
            ),
        }
        result = target_stack(args, secondary_stage, secondary, secondary_parameters)
        say(f"stack {name} {result} in {secondary_region} (secondary: the replicas by name)")
        secondary_outputs = stack.stack_outputs(cfn=secondary.cfn, stack_name=name)
    except DeployError as exc:
        raise _in_secondary(secondary_region, primary_region, exc) from None

    # 6. The primary learns the secondary's health URL (a first deploy: the secondary's stack
    # did not exist at step 4).
    peer = secondary_outputs.get("HealthCheckUrl", "")
    if primary_parameters["PeerHealthUrl"] != peer:
        primary_parameters["PeerHealthUrl"] = peer
        updated = target_stack(args, primary_stage, primary, primary_parameters)
        say(f"stack {name} {updated} in {primary_region}", f"PeerHealthUrl {peer}")
        primary_outputs = stack.stack_outputs(cfn=primary.cfn, stack_name=name)

    # 7. The site, in the primary only (its database is there: DEPLOY.md, "Two Regions").
    site = site_release.site_release(
        cfn=primary.cfn,
        lambda_client=primary.client("lambda"),
        stage=stage.name,
        region=primary_region,
        bucket=primary.bucket,
        outputs=primary_outputs,
        secrets=aws.secrets_versions(ssm=primary.ssm, stage=stage.name),
        say=say,
    )

    # 8. A first deploy learns the site's address only now (as in one Region).
    primary_outputs = site_address_follow(
        args,
        primary_stage,
        primary,
        primary_parameters,
        keys_version=primary_parameters.get("TokenPublicKeysVersion", ""),
        edge=edge,
        outputs=primary_outputs,
        say=say,
        extra=role_parameters(regions, primary_region, peer_url=peer),
    )
    say(
        f"deployed in {primary_region} (primary) and {secondary_region} (secondary), site {site}",
        f"WebSocket: {primary_outputs['WebSocketUrl']}\n    health: "
        f"{primary_outputs.get('HealthCheckUrl', '')} and {peer}\n    site: "
        + (primary_outputs.get("SiteUrl") or f"`zappa status {stage.name}`"),
    )
    return 0


def regions_plan(args, stage: Stage, parameters: dict[str, str]) -> list[str]:
    """The dry run's plan of a two-Region deploy (nothing is called)."""
    primary, secondary = args.regions
    name = stack_name(stage.name)
    names = config.ssm_names(stage.name)
    buckets = args.bucket or f"<--bucket one in {primary}>,<one in {secondary}>"
    shown = {k: v for k, v in parameters.items() if k != "SiteEdgeSecret"}
    return [
        f"Preflight (reads only) in {primary} and in {secondary}: quotas, the artifact buckets"
        f" ({buckets}), the alarm target, stack {name}'s state and drift in each",
        f"SSM in {primary}: ensure {names['signing_key']}, {names['secret_key']} and"
        f" {names['public_keys']}; copy {names['public_keys']} to {secondary} (the signing key"
        " stays in the primary)",
        "S3: the functions' zip and each Region's template in its Region's bucket",
        f"CloudFormation in {primary}: stack {name} (primary variant: rooms, messages, members,"
        f" limits, client-messages and follows as global tables with a replica in {secondary};"
        f" connections and uploads per Region) with {shown}, PrimaryRegion {primary},"
        " DnsFailoverRole PRIMARY",
        f"CloudFormation in {secondary}: stack {name} (secondary variant: the replicas by name,"
        f" no distribution), PrimaryRegion {primary}, DnsFailoverRole SECONDARY, PeerHealthUrl"
        f" = {primary}'s output HealthCheckUrl",
        f"CloudFormation in {primary}: PeerHealthUrl = {secondary}'s HealthCheckUrl (when it"
        " changed: a first deploy)",
        f"Zappa in {primary}: migrate with the release's code, then release the site (it runs in"
        f" the primary only); its address into stack {name} in {primary} on a first deploy",
    ]
