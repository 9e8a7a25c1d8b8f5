"""Every call the deploy makes to AWS, each taking its boto3 client (moto stands in for tests)."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from chat.keys import keypair_generate, public_pem_from
from deploy.config import ssm_names

PEM_END = "-----END PUBLIC KEY-----"


class DeployError(RuntimeError):
    """The deploy cannot go on; the message says what to do."""


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


def database_url_check(*, ssm, stage: str) -> None:
    """The site's DATABASE_URL must be in SSM: a Lambda's own disk is neither shared nor kept."""
    name = ssm_names(stage)["database_url"]
    if _get(ssm, name) is None:
        raise DeployError(
            f"SSM parameter {name} is missing. Create the database (DEPLOY.md: PostgreSQL), "
            "then run\n"
            f"  aws ssm put-parameter --type SecureString --name {name} "
            "--value 'postgres://USER:PASSWORD@HOST:5432/DB'"
        )


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


def _stack(cfn, stack_name: str) -> dict | None:
    try:
        return cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in exc.response["Error"].get("Message", ""):
            return None
        raise


def stack_deploy(
    *, cfn, stack_name: str, template_url: str, parameters: dict[str, str], tags: dict[str, str]
) -> str:
    """Create or update the stack through a change set; returns what happened."""
    existing = _stack(cfn, stack_name)
    created = existing is not None and existing["StackStatus"] != "REVIEW_IN_PROGRESS"
    change_type = "UPDATE" if created else "CREATE"
    name = f"deploy-{int(time.time())}"
    cfn.create_change_set(
        StackName=stack_name,
        ChangeSetName=name,
        ChangeSetType=change_type,
        TemplateURL=template_url,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=stack_name, ChangeSetName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
        )
    except Exception:
        change_set = cfn.describe_change_set(StackName=stack_name, ChangeSetName=name)
        reason = change_set.get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates" in reason:
            cfn.delete_change_set(StackName=stack_name, ChangeSetName=name)
            return "unchanged"
        raise DeployError(f"change set {name} failed: {reason}") from None
    cfn.execute_change_set(StackName=stack_name, ChangeSetName=name)
    waiter = "stack_create_complete" if change_type == "CREATE" else "stack_update_complete"
    cfn.get_waiter(waiter).wait(
        StackName=stack_name, WaiterConfig={"Delay": 10, "MaxAttempts": 360}
    )
    return change_type.lower() + "d"


def stack_outputs(*, cfn, stack_name: str) -> dict[str, str]:
    """{OutputKey: OutputValue} of a deployed stack."""
    stack = _stack(cfn, stack_name)
    if stack is None:
        raise DeployError(f"stack {stack_name} does not exist")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def api_redeploy(*, apigw, api_id: str, stage: str) -> str:
    """A fresh deployment of the WebSocket API to its stage, so changed routes go live."""
    return apigw.create_deployment(ApiId=api_id, StageName=stage)["DeploymentId"]


def site_function_exists(*, lambda_client, name: str) -> bool:
    try:
        lambda_client.get_function(FunctionName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return True


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
    harmless: clients keep the newest state of each message by its change number (`rev`)."""
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
