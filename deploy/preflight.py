"""The preflight: what a stage needs from the account, read before anything is uploaded.

The account's own quotas (Lambda's GetAccountSettings, API Gateway's account throttle, DynamoDB's
limits and tables) for deploy/quotas.py to hold the stage against, the artifact bucket's Region,
and, where the stage requires one, the alarms' notification target. (The database is the
stack's own: template.yaml's DatabaseCluster.)
Every problem is one line saying what to do; only reads are made, so a refusal changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from botocore.exceptions import BotoCoreError, ClientError

from deploy.config import ssm_names
from deploy.figures import resolver_for, tables
from deploy.quotas import Quotas, default_quotas
from deploy.stage import Stage


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def stack_claim(*, cfn, lambda_client, stack_name: str) -> int:
    """What the stack's functions hold now (reserved, or provisioned without a reservation):
    an update gives that back before it takes the new figures."""
    try:
        pages = cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name)
        functions = [
            r["PhysicalResourceId"]
            for page in pages
            for r in page["StackResourceSummaries"]
            if r["ResourceType"] == "AWS::Lambda::Function"
            and r.get("PhysicalResourceId")
            and r.get("ResourceStatus") != "DELETE_COMPLETE"  # a rolled-back create's
        ]
    except ClientError as exc:
        if _code(exc) == "ValidationError":  # no such stack
            return 0
        raise
    held = 0
    for name in functions:
        try:
            reserved = lambda_client.get_function_concurrency(FunctionName=name)
            configs = lambda_client.list_provisioned_concurrency_configs(FunctionName=name)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                continue
            raise
        provisioned = sum(
            c.get("RequestedProvisionedConcurrentExecutions", 0)
            for c in configs.get("ProvisionedConcurrencyConfigs", [])
        )
        held += max(reserved.get("ReservedConcurrentExecutions") or 0, provisioned)
    return held


def _service_quota(quotas_client, service: str, *, code: str = "", name: str = "") -> float | None:
    """An applied quota from Service Quotas, by code or by name; None where it cannot say."""
    try:
        if code:
            return float(
                quotas_client.get_service_quota(ServiceCode=service, QuotaCode=code)["Quota"][
                    "Value"
                ]
            )
        for page in quotas_client.get_paginator("list_service_quotas").paginate(
            ServiceCode=service
        ):
            for quota in page["Quotas"]:
                if quota["QuotaName"] == name:
                    return float(quota["Value"])
    except (ClientError, BotoCoreError):
        return None
    return None


def account_quotas(
    session, *, region: str, template: dict, stage: Stage, stack_name: str
) -> Quotas:
    """The Region's own figures, read (never written); AWS's defaults where a read fails."""
    account = session.client("sts").get_caller_identity()["Account"]
    quotas = replace(default_quotas(region), source=f"account {account} in {region}", offline=False)
    service_quotas = session.client("service-quotas")
    lam = session.client("lambda")
    limits = lam.get_account_settings()["AccountLimit"]
    held = stack_claim(
        cfn=session.client("cloudformation"), lambda_client=lam, stack_name=stack_name
    )
    quotas = replace(
        quotas,
        lambda_concurrency=int(limits["ConcurrentExecutions"]),
        lambda_unreserved=int(limits["UnreservedConcurrentExecutions"]) + held,
    )
    try:
        throttle = session.client("apigateway").get_account()["throttleSettings"]
        quotas = replace(
            quotas, api_rate=float(throttle["rateLimit"]), api_burst=int(throttle["burstLimit"])
        )
    except (ClientError, BotoCoreError, KeyError):
        rate = _service_quota(service_quotas, "apigateway", code="L-8A5B8E43")
        if rate:
            quotas = replace(quotas, api_rate=rate)
    connections = _service_quota(service_quotas, "apigateway", code="L-9ED1E49A")
    dynamodb = session.client("dynamodb")
    names = [
        n for page in dynamodb.get_paginator("list_tables").paginate() for n in page["TableNames"]
    ]
    resolver = resolver_for(template, stage)
    new = [t for t in tables(template, resolver) if t.name not in set(names)]
    table_quota = _service_quota(service_quotas, "dynamodb", name="Maximum number of tables")
    limits = dynamodb.describe_limits()
    return replace(
        quotas,
        new_connections=int(connections or quotas.new_connections),
        tables=int(table_quota or quotas.tables),
        tables_existing=len(names),
        tables_new=len(new),
        table_max_read=limits["TableMaxReadCapacityUnits"],
        table_max_write=limits["TableMaxWriteCapacityUnits"],
        account_max_read=limits["AccountMaxReadCapacityUnits"],
        account_max_write=limits["AccountMaxWriteCapacityUnits"],
    )


def bucket_problems(*, s3, bucket: str, region: str) -> list[str]:
    """The artifact bucket exists, can be read, and is in the deploy's Region (CloudFormation
    reads the template, and Lambda the code, from a bucket in the stack's own Region)."""
    try:
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except ClientError as exc:
        if _code(exc) == "NoSuchBucket":
            return [
                f"S3: bucket {bucket} does not exist: create it (aws s3 mb s3://{bucket}"
                f" --region {region}) or pass another --bucket"
            ]
        return [
            f"S3: bucket {bucket} cannot be read ({_code(exc)}): check --bucket and the credentials"
        ]
    found = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
    if found != region:
        return [
            f"S3: bucket {bucket} is in {found}, the deploy in {region}: use a bucket in {region}"
            f" (or deploy with --region {found})"
        ]
    return []


TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class AlarmTarget:
    topic: str = ""  # AlarmTopicArn
    email: str = ""  # AlarmEmail: the stack makes a topic and subscribes it
    store_email: bool = False  # given now: keep it in SSM for later deploys


def alarm_flag_problems(*, topic: str, email: str, region: str) -> list[str]:
    """--alarm-topic and --alarm-email as given, checked offline."""
    problems = []
    match = TOPIC_ARN.fullmatch(topic) if topic else None
    if topic and not match:
        problems.append(
            f"--alarm-topic {topic} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
        )
    elif match and match[1] != region:
        problems.append(
            f"--alarm-topic {topic} is not in {region}: alarms notify topics of their own Region"
        )
    if email and not EMAIL.fullmatch(email):
        problems.append(f"--alarm-email {email!r} is not an e-mail address")
    return problems


def alarm_target(
    *, ssm, stage: Stage, region: str, topic: str, email: str, previous_topic: str, template: dict
) -> tuple[AlarmTarget, list[str]]:
    """Where alarms go: --alarm-topic, else the stack's current topic, plus --alarm-email or the
    address kept in SSM. A stage whose file says AlarmTargetRequired refuses to go without."""
    problems = alarm_flag_problems(topic=topic, email=email, region=region)
    name = ssm_names(stage.name)["alarm_email"]
    kept = ""
    if not email:
        try:
            kept = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ClientError as exc:
            if _code(exc) != "ParameterNotFound":
                raise
    target = AlarmTarget(
        topic=topic or previous_topic, email=email or kept, store_email=bool(email)
    )
    if target.email and not target.topic and "AlarmEmail" not in template.get("Parameters", {}):
        problems.append("this template has no AlarmEmail parameter: give --alarm-topic ARN instead")
    if stage.alarm_target_required and not (target.topic or target.email):
        problems.append(
            f"Alarms: stage {stage.name} must notify someone ({stage.file}: AlarmTargetRequired):"
            f" give --alarm-topic arn:aws:sns:{region}:ACCOUNT:NAME, or --alarm-email ADDRESS"
            f" once (kept in SSM as {name})"
        )
    return target, problems
