"""Why a deploy stops: one typed error per kind, each with its exit code (DEPLOY.md lists them).

`python -m deploy` prints an error's lines (one per problem, each saying what to do) and exits
with its code; nothing else turns a failure into an exit code.
"""

from __future__ import annotations


class DeployError(RuntimeError):
    """The deploy cannot go on; the message says what to do."""

    exit_code = 1

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class CheckFailed(DeployError):
    """The offline check failed: the template, cfn-lint, checkov, or the stage's parameters
    against a default account's quotas."""

    exit_code = 1


class BadInput(DeployError):
    """A missing or malformed argument or stage file."""

    exit_code = 2


class PreflightRefused(DeployError):
    """The account cannot take this stage as it is: a quota, the bucket, the database URL, the
    alarm target. Nothing was uploaded or changed."""

    exit_code = 3


class StackFailedCreate(DeployError):
    """ROLLBACK_COMPLETE or CREATE_FAILED: the stack's first create failed; it can only be
    deleted (`--replace-failed` does that, then creates it again)."""

    exit_code = 4


class StackRollbackFailed(DeployError):
    """UPDATE_ROLLBACK_FAILED (or IMPORT_ROLLBACK_FAILED): CloudFormation could not roll an
    update back; `continue-update-rollback` first."""

    exit_code = 5


class StackBusy(DeployError):
    """Another operation on the stack is under way (*_IN_PROGRESS)."""

    exit_code = 6


class StackDeleteFailed(DeployError):
    """DELETE_FAILED or ROLLBACK_FAILED: some resource could not be deleted."""

    exit_code = 7


class StackDrifted(DeployError):
    """Resources were changed outside CloudFormation; this deploy would overwrite them."""

    exit_code = 8


class StackChangeFailed(DeployError):
    """This deploy's change set failed, or its update failed and was rolled back."""

    exit_code = 9


class SiteFailed(DeployError):
    """A Zappa step (deploy, update, migrate) failed; the site still runs its previous code."""

    exit_code = 10
