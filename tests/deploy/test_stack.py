"""The stack's states as CloudFormation defines them: which an update may start from, and the
one line and exit code for each that it may not (DEPLOY.md, "Stack states and exit codes")."""

from __future__ import annotations

import pytest

from deploy import stack
from deploy.errors import (
    StackBusy,
    StackChangeFailed,
    StackDeleteFailed,
    StackDrifted,
    StackFailedCreate,
    StackRollbackFailed,
)
from tests.deploy.fake_aws import Clock, FakeCloudFormation

NAME = "dynamowave-dev"


@pytest.fixture
def cfn() -> FakeCloudFormation:
    return FakeCloudFormation(clock=Clock(), outputs=lambda name: {"TablePrefix": "p"})


def _deploy(cfn, *, url: str = "https://b.s3/t.json", replace_failed: bool = False, **values):
    return stack.stack_deploy(
        cfn=cfn,
        stack_name=NAME,
        template_url=url,
        parameters={"StageName": "dev", **values},
        tags={"stage": "dev"},
        replace_failed=replace_failed,
    )


@pytest.mark.parametrize(
    ("status", "error", "code", "remedy"),
    [
        ("ROLLBACK_COMPLETE", StackFailedCreate, 4, "or run again with --replace-failed"),
        ("CREATE_FAILED", StackFailedCreate, 4, "or run again with --replace-failed"),
        ("UPDATE_ROLLBACK_FAILED", StackRollbackFailed, 5, "continue-update-rollback"),
        ("IMPORT_ROLLBACK_FAILED", StackRollbackFailed, 5, "continue-update-rollback"),
        ("CREATE_IN_PROGRESS", StackBusy, 6, "wait until it ends"),
        ("UPDATE_IN_PROGRESS", StackBusy, 6, "wait until it ends"),
        ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", StackBusy, 6, "wait until it ends"),
        ("UPDATE_ROLLBACK_IN_PROGRESS", StackBusy, 6, "wait until it ends"),
        ("ROLLBACK_IN_PROGRESS", StackBusy, 6, "wait until it ends"),
        ("DELETE_IN_PROGRESS", StackBusy, 6, "wait until it ends"),
        ("IMPORT_IN_PROGRESS", StackBusy, 6, "wait until it ends"),
        ("DELETE_FAILED", StackDeleteFailed, 7, "--retain-resources"),
        ("ROLLBACK_FAILED", StackDeleteFailed, 7, "--retain-resources"),
    ],
)
def test_a_stack_that_cannot_be_updated_is_refused_with_its_code(cfn, status, error, code, remedy):
    """One line naming the stack, its state, why (the failed resource) and what to do."""
    cfn.stack_in(NAME, status, reason="Resource handler returned message: Rate exceeded")
    with pytest.raises(error) as refused:
        stack.stack_check(cfn=cfn, stack_name=NAME, replace_failed=False, allow_drift=False)
    assert refused.value.exit_code == code
    (line,) = refused.value.lines
    assert line.startswith(f"stack {NAME} is in {status}: ") and remedy in line
    if not status.endswith("_IN_PROGRESS"):
        assert "ConnectFunction: Resource handler returned message: Rate exceeded" in line
    # stack_deploy refuses the same state the same way, before creating a change set.
    with pytest.raises(error):
        _deploy(cfn)
    assert cfn.change_sets == {}


@pytest.mark.parametrize(
    "status",
    [
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
        "UPDATE_FAILED",
    ],
)
def test_a_stack_that_can_be_updated_passes(cfn, status):
    cfn.stack_in(NAME, status)
    found, notes = stack.stack_check(
        cfn=cfn, stack_name=NAME, replace_failed=False, allow_drift=False
    )
    assert found["StackStatus"] == status and notes == [f"stack {NAME} is in {status}"]


def test_a_stack_a_change_set_left_unexecuted_is_created_by_the_next(cfn):
    """REVIEW_IN_PROGRESS: a CREATE change set made the stack and nobody executed it."""
    cfn.stack_in(NAME, "REVIEW_IN_PROGRESS")
    assert _deploy(cfn) == "created"
    assert cfn.stacks[NAME]["StackStatus"] == "CREATE_COMPLETE"


def test_create_update_and_nothing_to_change(cfn):
    """Create, update with a new value, then the same again: CloudFormation's empty change set
    is deleted and nothing is executed."""
    assert _deploy(cfn) == "created"
    assert _deploy(cfn, TokenPublicKeysVersion="2") == "updated"
    assert _deploy(cfn, TokenPublicKeysVersion="2") == "unchanged"
    executed = [cs["ChangeSetType"] for cs in cfn.change_sets.values()]
    assert executed == ["CREATE", "UPDATE"]  # the empty one was deleted
    assert all(cs["ExecutionStatus"] == "EXECUTE_COMPLETE" for cs in cfn.change_sets.values())


def test_a_failed_update_is_rolled_back_and_reported(cfn):
    """UPDATE_ROLLBACK_COMPLETE after this deploy's update: exit 9, the previous release runs."""
    _deploy(cfn)
    cfn.fail_next = "Resource limit exceeded"
    with pytest.raises(StackChangeFailed) as failed:
        _deploy(cfn, TokenPublicKeysVersion="2")
    assert failed.value.exit_code == 9
    assert "the update failed and was rolled back (MessagingFunctions: Resource limit" in str(
        failed.value
    )
    assert cfn.stacks[NAME]["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert _deploy(cfn, TokenPublicKeysVersion="2") == "updated"  # updatable again


def test_a_change_set_that_fails_says_why(cfn):
    _deploy(cfn)
    cfn.change_set_failure = "Parameters: [Nope] do not exist in the template"
    with pytest.raises(StackChangeFailed, match=r"failed: Parameters: \[Nope\] do not exist"):
        _deploy(cfn, Nope="1")


def test_replacing_a_failed_create_that_cannot_be_deleted(cfn):
    """--replace-failed on a stack whose deletion fails: DELETE_FAILED, exit 7, and why."""
    cfn.stack_in(NAME, "ROLLBACK_COMPLETE")
    cfn.delete_fails = True
    with pytest.raises(StackDeleteFailed) as failed:
        _deploy(cfn, replace_failed=True)
    assert failed.value.exit_code == 7
    assert "RoomsTable: deletion protection is enabled" in str(failed.value)


def test_drift_is_refused_unless_allowed_and_the_deploys_own_is_not_drift(cfn):
    """Resources changed outside CloudFormation stop the deploy (exit 8, one line each); auto
    scaling's table capacity is the stack's own."""
    _deploy(cfn)
    cfn.drifts = [
        {
            "LogicalResourceId": "RoomsTable",
            "ResourceType": "AWS::DynamoDB::Table",
            "StackResourceDriftStatus": "MODIFIED",
            "PropertyDifferences": [{"PropertyPath": "/ProvisionedThroughput/ReadCapacityUnits"}],
        },
    ]
    check = {"cfn": cfn, "stack_name": NAME, "replace_failed": False}
    assert stack.stack_check(**check, allow_drift=False)[1] == [
        f"stack {NAME} is in CREATE_COMPLETE"
    ]
    cfn.drifts.append(
        {
            "LogicalResourceId": "SendMessageFunction",
            "ResourceType": "AWS::Lambda::Function",
            "StackResourceDriftStatus": "MODIFIED",
            "PropertyDifferences": [{"PropertyPath": "/MemorySize"}],
        }
    )
    with pytest.raises(StackDrifted) as drifted:
        stack.stack_check(**check, allow_drift=False)
    assert drifted.value.exit_code == 8
    assert drifted.value.lines[0] == (
        f"stack {NAME} drifted: SendMessageFunction (AWS::Lambda::Function): /MemorySize"
    )
    assert "--allow-drift" in drifted.value.lines[-1]
    _, notes = stack.stack_check(**check, allow_drift=True)
    assert "drift (overwritten, --allow-drift): SendMessageFunction" in notes[-1]
    _, notes = stack.stack_check(**check, allow_drift=False, drift=False)  # --skip-drift-check
    assert notes == [f"stack {NAME} is in CREATE_COMPLETE"]
