"""The deploy's calls to AWS, each taking its boto3 client (moto stands in for tests); the
stack's own are in deploy/stack.py, the preflight's reads in deploy/preflight.py."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from chat.edge import edge_secret
from chat.keys import keypair_generate, public_pem_from
from deploy.config import ssm_names
from deploy.errors import DeployError

PEM_END = "-----END PUBLIC KEY-----"


def aws_session(region: str):
    """The one boto3 session a deploy makes its clients from (tests put moto and fakes here)."""
    import boto3

    return boto3.session.Session(region_name=region)


# ---------------------------------------------------------------------------------------------
# Keys and secrets (SSM Parameter Store)
# ---------------------------------------------------------------------------------------------


def _get(ssm, name: str, *, decrypt: bool = False) -> dict | None:
    try:
        return ssm.get_parameter(Name=name, WithDecryption=decrypt)["Parameter"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ParameterNotFound":
            return None
        raise


def public_pems(text: str) -> list[str]:
    """The PEM blocks of a public-keys parameter, normalised."""
    return [part.strip() + "\n" + PEM_END + "\n" for part in text.split(PEM_END) if part.strip()]


@dataclass(frozen=True)
class Keys:
    public_keys_parameter: str
    public_keys_version: int
    created: tuple[str, ...]  # parameter names this run created


def keys_ensure(*, ssm, stage: str) -> Keys:
    """The stage's token keys and Django secret exist in SSM; the signing key's public half is
    among the keys the authorizer trusts. Existing values are kept, so this is safe to rerun."""
    names = ssm_names(stage)
    created: list[str] = []
    signing = _get(ssm, names["signing_key"], decrypt=True)
    if signing is None:
        private_pem, _ = keypair_generate()
        ssm.put_parameter(Name=names["signing_key"], Value=private_pem, Type="SecureString")
        created.append(names["signing_key"])
        signing_pem = private_pem
    else:
        signing_pem = signing["Value"]
    if _get(ssm, names["secret_key"]) is None:
        ssm.put_parameter(
            Name=names["secret_key"], Value=secrets.token_urlsafe(50), Type="SecureString"
        )
        created.append(names["secret_key"])
    public = _get(ssm, names["public_keys"])
    trusted = public_pems(public["Value"]) if public else []
    current = public_pem_from(signing_pem)
    if current not in trusted:
        ssm.put_parameter(
            Name=names["public_keys"],
            Value="".join([current, *trusted]),
            Type="String",
            Overwrite=True,
        )
        if public is None:
            created.append(names["public_keys"])
    version = ssm.get_parameter(Name=names["public_keys"])["Parameter"]["Version"]
    return Keys(names["public_keys"], int(version), tuple(created))


def keys_mirror(*, source, target, stage: str) -> Keys:
    """The public-keys parameter of `source`'s Region (keys_ensure made it) in `target`'s too,
    so a second Region's authorizer trusts the tokens the site signs; written only when it
    differs (its version is what that Region's stack pins). The signing key is not copied."""
    name = ssm_names(stage)["public_keys"]
    wanted = source.get_parameter(Name=name)["Parameter"]["Value"]
    current = _get(target, name)
    created: tuple[str, ...] = ()
    if current is None or current["Value"] != wanted:
        target.put_parameter(Name=name, Value=wanted, Type="String", Overwrite=True)
        created = (name,) if current is None else ()
    version = target.get_parameter(Name=name)["Parameter"]["Version"]
    return Keys(name, int(version), created)


def edge_secret_read(*, ssm, stage: str) -> str:
    """The header value CloudFront adds to the site's requests (chat/edge.py): derived from the
    site's Django secret key (keys_ensure made it), so a new key changes both at one deploy."""
    secret_key = ssm.get_parameter(Name=ssm_names(stage)["secret_key"], WithDecryption=True)
    return edge_secret(secret_key=secret_key["Parameter"]["Value"])


def keys_rotate(*, ssm, stage: str) -> Keys:
    """Rotation, step 1: a new signing key, trusted beside the old one (tokens live minutes)."""
    names = ssm_names(stage)
    public = _get(ssm, names["public_keys"])
    trusted = public_pems(public["Value"]) if public else []
    private_pem, public_pem = keypair_generate()
    ssm.put_parameter(
        Name=names["public_keys"],
        Value="".join([public_pem, *trusted]),
        Type="String",
        Overwrite=True,
    )
    ssm.put_parameter(
        Name=names["signing_key"], Value=private_pem, Type="SecureString", Overwrite=True
    )
    version = ssm.get_parameter(Name=names["public_keys"])["Parameter"]["Version"]
    return Keys(names["public_keys"], int(version), ())


def keys_prune(*, ssm, stage: str) -> Keys:
    """Step 2 of a rotation: trust only the current signing key's public half."""
    names = ssm_names(stage)
    signing = _get(ssm, names["signing_key"], decrypt=True)
    if signing is None:
        raise DeployError(f"{names['signing_key']} does not exist: deploy the stage first")
    ssm.put_parameter(
        Name=names["public_keys"],
        Value=public_pem_from(signing["Value"]),
        Type="String",
        Overwrite=True,
    )
    version = ssm.get_parameter(Name=names["public_keys"])["Parameter"]["Version"]
    return Keys(names["public_keys"], int(version), ())


def secrets_versions(*, ssm, stage: str) -> str:
    """The versions of the site's secrets in SSM ("name=version,..."): the site reads them at
    cold start, so a new version (a rotated key) must release it again. (The database's password
    is not one: RDS rotates it, and the site reads it again when refused, rotating_postgres.)"""
    names = ssm_names(stage)
    wanted = [names["signing_key"], names["secret_key"]]
    found = ssm.get_parameters(Names=wanted)["Parameters"]  # versions need no decryption
    versions = {p["Name"].rsplit("/", 1)[-1]: p["Version"] for p in found}
    return ",".join(f"{name}={version}" for name, version in sorted(versions.items()))


def alarm_email_keep(*, ssm, stage: str, email: str) -> bool:
    """Keep the alarms' e-mail address for the stage's later deploys; True when it changed."""
    name = ssm_names(stage)["alarm_email"]
    current = _get(ssm, name)
    if current is not None and current["Value"] == email:
        return False
    ssm.put_parameter(Name=name, Value=email, Type="String", Overwrite=True)
    return True


# ---------------------------------------------------------------------------------------------
# Artifacts (S3) and the stack (CloudFormation)
# ---------------------------------------------------------------------------------------------


def artifact_key(path: Path, prefix: str) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:20]
    return f"{prefix}/{path.stem}-{digest}{path.suffix}"


def artifact_upload(*, s3, bucket: str, path: Path, prefix: str) -> str:
    """Upload once per content (the key carries the hash); returns the s3:// URI."""
    key = artifact_key(path, prefix)
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        s3.upload_file(str(path), bucket, key)
    return f"s3://{bucket}/{key}"


@dataclass(frozen=True)
class Function:
    arn: str
    tags: dict[str, str]


def function_read(*, lambda_client, name: str) -> Function | None:
    """A Lambda function's ARN and tags; None when there is no such function."""
    try:
        found = lambda_client.get_function(FunctionName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise
    return Function(found["Configuration"]["FunctionArn"], dict(found.get("Tags") or {}))


def site_host(*, cfn, name: str, region: str) -> str | None:
    """The host of the site's REST API, which Zappa's CloudFormation stack (named after the
    function) holds as its resource `Api`; None before the first deploy made it."""
    try:
        found = cfn.describe_stack_resource(StackName=name, LogicalResourceId="Api")
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ValidationError":  # no such stack or resource
            return None
        raise
    api_id = found["StackResourceDetail"].get("PhysicalResourceId")
    return f"{api_id}.execute-api.{region}.amazonaws.com" if api_id else None


@dataclass
class Redriven:
    sent: int = 0  # shard events invoked again
    kept: int = 0  # left in the queue: their invocation failed again
    skipped: int = 0  # not an on-failure record of an invocation (left in the queue)


def fanout_redrive(
    *, sqs, lambda_client, queue_url: str, function: str, limit: int = 1000
) -> Redriven:
    """Invoke the fan-out function again (asynchronously) with each failed shard's event from
    its on-failure queue, deleting each record once its invocation is accepted. Late copies are
    harmless: clients keep the newest state of each message by its change number (`rev`).
    (The index function's failures are redriven alike: its writes apply only over older ones.)"""
    done = Redriven()
    while done.sent + done.kept + done.skipped < limit:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
        ).get("Messages", [])
        if not batch:
            break
        for record in batch:
            try:
                payload = json.loads(record["Body"])["requestPayload"]
            except (ValueError, KeyError, TypeError):
                done.skipped += 1
                continue
            try:
                lambda_client.invoke(
                    FunctionName=function,
                    InvocationType="Event",
                    Payload=json.dumps(payload).encode(),
                )
            except Exception:  # noqa: BLE001 - kept for the next redrive; the count says so
                done.kept += 1
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=record["ReceiptHandle"])
            done.sent += 1
    return done
