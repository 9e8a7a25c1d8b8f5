"""The WebSocket stack through CloudFormation's states (DEPLOY.md, "Stack states"): refuse the
states an update cannot start from, each with its own exit code; replace a failed first create
only when asked; deploy through a change set and say why one failed.

CloudFormation's states, as its API reference lists them: a stack is updatable only when an
operation has ended well or been rolled back cleanly; ROLLBACK_COMPLETE (a first create that
failed) can only be deleted; *_ROLLBACK_FAILED needs `continue-update-rollback`; *_IN_PROGRESS
means another operation runs; REVIEW_IN_PROGRESS is a stack a CREATE change set made and nobody
executed, which another CREATE change set takes over.
"""

from __future__ import annotations

import secrets
import time

from botocore.exceptions import ClientError, WaiterError

from deploy.errors import (
    DeployError,
    StackBusy,
    StackChangeFailed,
    StackDeleteFailed,
    StackDrifted,
    StackFailedCreate,
    StackRollbackFailed,
)

UPDATABLE = frozenset(
    {
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
        "UPDATE_FAILED",  # an update run without rollback: CloudFormation takes another one
    }
)
FAILED_CREATE = frozenset({"ROLLBACK_COMPLETE", "CREATE_FAILED"})
ROLLBACK_FAILED = frozenset({"UPDATE_ROLLBACK_FAILED", "IMPORT_ROLLBACK_FAILED"})
DELETE_FAILED = frozenset({"DELETE_FAILED", "ROLLBACK_FAILED"})
NEW = "REVIEW_IN_PROGRESS"
# Drift the stack makes on purpose, not to be reported: auto scaling moves provisioned table
# capacity. (The API's stage deploys itself, AutoDeploy, and declares no DeploymentId to drift.)
EXPECTED_DRIFT = {
    "AWS::DynamoDB::Table": ("/ProvisionedThroughput", "/GlobalSecondaryIndexes"),
}
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


def stack_read(cfn, stack_name: str) -> dict | None:
    try:
        return cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        # CloudFormation answers a missing stack with a plain ValidationError: only its message
        # tells it from other validation errors.
        if "does not exist" in exc.response["Error"].get("Message", ""):
            return None
        raise


def failure_reason(cfn, stack_name: str) -> str:
    """The first resource that failed in the stack's latest operation, and why."""
    try:
        events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    except ClientError:
        return "see the stack's events"
    first = None
    for event in events:  # newest first, back to the start of the latest operation
        if event.get("ResourceStatus", "").endswith("_FAILED") and event.get(
            "ResourceStatusReason"
        ):
            first = event
        if event.get("ResourceType") == "AWS::CloudFormation::Stack" and event.get(
            "ResourceStatus"
        ) in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", NEW):
            break
    if first is None:
        return "see the stack's events"
    return f"{first['LogicalResourceId']}: {first['ResourceStatusReason']}"


def _refuse(cfn, stack_name: str, status: str) -> DeployError:
    """The error for a stack that cannot be updated from `status`."""
    events = f"aws cloudformation describe-stack-events --stack-name {stack_name}"
    if status in FAILED_CREATE:
        return StackFailedCreate(
            f"stack {stack_name} is in {status}: its first create failed"
            f" ({failure_reason(cfn, stack_name)}) and it can only be deleted: delete it"
            f" (aws cloudformation delete-stack --stack-name {stack_name}), or run again with"
            " --replace-failed"
        )
    if status in ROLLBACK_FAILED:
        return StackRollbackFailed(
            f"stack {stack_name} is in {status}: CloudFormation could not roll the last update"
            f" back ({failure_reason(cfn, stack_name)}): fix that resource, run aws cloudformation"
            f" continue-update-rollback --stack-name {stack_name} (--resources-to-skip for one"
            " that cannot be fixed), then deploy again"
        )
    if status in DELETE_FAILED:
        return StackDeleteFailed(
            f"stack {stack_name} is in {status}: some resources could not be deleted"
            f" ({failure_reason(cfn, stack_name)}): delete it again (aws cloudformation"
            f" delete-stack --stack-name {stack_name}, --retain-resources for what must stay),"
            " then deploy"
        )
    if status.endswith("_IN_PROGRESS"):
        return StackBusy(
            f"stack {stack_name} is in {status}: another operation is under way; wait until it"
            f" ends ({events}) and deploy again"
        )
    return StackChangeFailed(f"stack {stack_name} is in {status}, which this deploy cannot update")


def stack_drift(cfn, stack_name: str, *, timeout: float = 600, sleep=time.sleep) -> list[str]:
    """One line per resource changed outside CloudFormation (beyond EXPECTED_DRIFT)."""
    detection = cfn.detect_stack_drift(StackName=stack_name)["StackDriftDetectionId"]
    deadline = time.monotonic() + timeout
    while True:
        status = cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
        if status["DetectionStatus"] != "DETECTION_IN_PROGRESS":
            break
        if time.monotonic() > deadline:
            return []  # not worth holding a release for; said in DEPLOY.md
        sleep(5)
    if status.get("StackDriftStatus") != "DRIFTED":
        return []
    drifts, token = [], None
    while True:
        page = cfn.describe_stack_resource_drifts(
            StackName=stack_name,
            StackResourceDriftStatusFilters=["MODIFIED", "DELETED"],
            **({"NextToken": token} if token else {}),
        )
        drifts += page["StackResourceDrifts"]
        token = page.get("NextToken")
        if not token:
            break
    lines = []
    for drift in drifts:
        paths = [d["PropertyPath"] for d in drift.get("PropertyDifferences", [])]
        expected = EXPECTED_DRIFT.get(drift["ResourceType"], ())
        if (
            drift["StackResourceDriftStatus"] == "MODIFIED"
            and paths
            and all(path.startswith(expected) for path in paths)
        ):
            continue
        what = ", ".join(paths) if paths else drift["StackResourceDriftStatus"].lower()
        lines.append(f"{drift['LogicalResourceId']} ({drift['ResourceType']}): {what}")
    return lines


def stack_check(
    *, cfn, stack_name: str, replace_failed: bool, allow_drift: bool, drift: bool = True
) -> tuple[dict | None, list[str]]:
    """Before anything is uploaded: (the stack or None, notes); raises for a state this deploy
    cannot start from, and for drift unless allowed."""
    stack = stack_read(cfn, stack_name)
    status = stack["StackStatus"] if stack else None
    if status is None or status == NEW:
        return stack, [f"stack {stack_name} does not exist yet: it will be created"]
    if status in FAILED_CREATE and replace_failed:
        return stack, [
            f"stack {stack_name} is in {status}: --replace-failed deletes it and creates it again"
        ]
    if status not in UPDATABLE:
        raise _refuse(cfn, stack_name, status)
    notes = [f"stack {stack_name} is in {status}"]
    changed = stack_drift(cfn, stack_name) if drift else []
    if changed and not allow_drift:
        raise StackDrifted(
            *(f"stack {stack_name} drifted: {line}" for line in changed),
            "these were changed outside CloudFormation and this deploy would overwrite them:"
            " undo the changes, or run again with --allow-drift",
        )
    notes += [f"drift (overwritten, --allow-drift): {line}" for line in changed]
    return stack, notes


def stack_delete(*, cfn, stack_name: str) -> None:
    cfn.delete_stack(StackName=stack_name)
    try:
        cfn.get_waiter("stack_delete_complete").wait(
            StackName=stack_name, WaiterConfig={"Delay": 10, "MaxAttempts": 180}
        )
    except WaiterError:
        stack = stack_read(cfn, stack_name)
        raise _refuse(cfn, stack_name, stack["StackStatus"] if stack else "DELETE_FAILED") from None


def stack_deploy(
    *,
    cfn,
    stack_name: str,
    template_url: str,
    parameters: dict[str, str],
    tags: dict[str, str],
    replace_failed: bool = False,
) -> str:
    """Create, update or (with replace_failed, from a failed first create) replace the stack
    through a change set: "created", "updated", "replaced" or "unchanged"."""
    stack = stack_read(cfn, stack_name)
    status = stack["StackStatus"] if stack else None
    replaced = False
    if status in FAILED_CREATE and replace_failed:
        stack_delete(cfn=cfn, stack_name=stack_name)
        status, replaced = None, True
    elif status not in (None, NEW) and status not in UPDATABLE:
        raise _refuse(cfn, stack_name, status)
    change_type = "UPDATE" if status in UPDATABLE else "CREATE"
    name = f"deploy-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"  # unique per run
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
    except WaiterError:
        change_set = cfn.describe_change_set(StackName=stack_name, ChangeSetName=name)
        reason = change_set.get("StatusReason", "")
        if any(words in reason for words in NO_CHANGES):  # CloudFormation's only signal
            cfn.delete_change_set(StackName=stack_name, ChangeSetName=name)
            return "unchanged"
        raise StackChangeFailed(
            f"change set {name} of stack {stack_name} failed: {reason}"
        ) from None
    cfn.execute_change_set(StackName=stack_name, ChangeSetName=name)
    waiter = "stack_create_complete" if change_type == "CREATE" else "stack_update_complete"
    try:
        cfn.get_waiter(waiter).wait(
            StackName=stack_name, WaiterConfig={"Delay": 10, "MaxAttempts": 360}
        )
    except WaiterError:
        raise _failed(cfn, stack_name) from None
    return "replaced" if replaced else change_type.lower() + "d"


def _failed(cfn, stack_name: str) -> DeployError:
    """The error for an executed change set whose stack did not reach *_COMPLETE."""
    stack = stack_read(cfn, stack_name)
    status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
    reason = failure_reason(cfn, stack_name)
    if status == "ROLLBACK_COMPLETE":
        return StackFailedCreate(
            f"stack {stack_name}: the create failed and was rolled back ({reason}): fix that,"
            " then run again with --replace-failed (a failed create can only be deleted)"
        )
    if status == "UPDATE_ROLLBACK_COMPLETE":
        return StackChangeFailed(
            f"stack {stack_name}: the update failed and was rolled back ({reason}); the previous"
            " release still runs"
        )
    if status.endswith("_IN_PROGRESS"):
        return StackBusy(
            f"stack {stack_name} is still in {status} after an hour: watch it"
            f" (aws cloudformation describe-stacks --stack-name {stack_name}) and deploy again"
        )
    return _refuse(cfn, stack_name, status)


def stack_outputs(*, cfn, stack_name: str) -> dict[str, str]:
    """{OutputKey: OutputValue} of a deployed stack."""
    stack = stack_read(cfn, stack_name)
    if stack is None:
        raise DeployError(f"stack {stack_name} does not exist")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
