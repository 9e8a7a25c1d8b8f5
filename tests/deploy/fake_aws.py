"""Stand-ins for the AWS answers moto cannot give a deploy, and a session that records every call.

moto creates no stack of this template's resource types and does not implement Lambda's
GetAccountSettings, so those answer here, as AWS documents them: `FakeCloudFormation` follows
CloudFormation's state machine for the calls the deploy makes (REVIEW_IN_PROGRESS ->
CREATE_IN_PROGRESS -> CREATE_COMPLETE, or ROLLBACK_COMPLETE when a create fails;
UPDATE_IN_PROGRESS -> UPDATE_COMPLETE or UPDATE_ROLLBACK_COMPLETE; DELETE_IN_PROGRESS -> gone; an
UPDATE change set with nothing new FAILS with CloudFormation's own reason). Everything
else (SSM, S3, STS, DynamoDB, API Gateway's account, Lambda functions and tags) is moto's.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import boto3
from botocore.exceptions import ClientError, WaiterError

ACCOUNT = "123456789012"
NO_CHANGES = (
    "The submitted information didn't contain changes. Submit different information to create a"
    " change set."
)


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class Clock:
    """One time line for every fake, a second per reading."""

    def __init__(self) -> None:
        self._ticks = itertools.count()
        self._start = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._start + timedelta(seconds=next(self._ticks))


@dataclass
class Call:
    service: str
    operation: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    region: str = ""  # the client's Region (a two-Region deploy's calls are told apart by it)


class Recorded:
    """A client whose every call is appended to the shared log before it runs."""

    def __init__(self, service: str, client, log: list[Call], region: str = "") -> None:
        self._service, self._client, self._log, self._region = service, client, log, region

    def __getattr__(self, name: str):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            self._log.append(Call(self._service, name, args, kwargs, self._region))
            return attribute(*args, **kwargs)

        return call


class _Waiter:
    def __init__(self, name: str, finish) -> None:
        self.name, self._finish = name, finish

    def wait(self, **kwargs) -> None:
        failure = self._finish(**{k: v for k, v in kwargs.items() if k != "WaiterConfig"})
        if failure is not None:
            raise WaiterError(
                name=self.name,
                reason="Waiter encountered a terminal failure state",
                last_response=failure,
            )


class _Pages:
    def __init__(self, pages) -> None:
        self._pages = pages

    def paginate(self, **kwargs):
        return self._pages(**kwargs)


class FakeCloudFormation:
    UPDATABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")

    def __init__(self, *, clock: Clock, outputs) -> None:
        self.clock = clock
        self.stacks: dict[str, dict] = {}
        self.change_sets: dict[tuple[str, str], dict] = {}
        self.outputs = outputs  # stack name -> its outputs once created
        self.fail_next: str | None = None  # the next executed change set fails with this reason
        self.change_set_failure: str | None = None  # the next change set FAILS with this reason
        self.delete_fails = False  # delete_stack ends in DELETE_FAILED
        self.drifts: list[dict] = []
        self.site_apis: dict[str, str] = {}  # Zappa's stacks: function name -> REST API id

    def stack_in(self, name: str, status: str, *, reason: str = "") -> dict:
        """A stack left in `status` by an earlier operation (whose failure, if any, says why)."""
        self.stacks[name] = {
            "StackName": name,
            "StackId": f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{name}/0",
            "StackStatus": status,
            "CreationTime": self.clock.now(),
            "Parameters": [],
            "_events": [
                self._event(name, name, "UPDATE_IN_PROGRESS", "AWS::CloudFormation::Stack")
            ],
        }
        if reason:
            failed = self._event(
                name, "ConnectFunction", "UPDATE_FAILED", "AWS::Lambda::Function", reason
            )
            self.stacks[name]["_events"].append(failed)
        return self.stacks[name]

    # -- reads --------------------------------------------------------------------------------
    def _stack(self, name: str, operation: str) -> dict:
        if name not in self.stacks:
            raise _error("ValidationError", f"Stack with id {name} does not exist", operation)
        return self.stacks[name]

    def describe_stacks(self, *, StackName):  # noqa: N803 - boto3's names
        stack = self._stack(StackName, "DescribeStacks")
        public = {k: v for k, v in stack.items() if not k.startswith("_")}
        return {"Stacks": [public]}

    def describe_stack_events(self, *, StackName):  # noqa: N803
        return {
            "StackEvents": list(reversed(self._stack(StackName, "DescribeStackEvents")["_events"]))
        }

    def describe_stack_resource(self, *, StackName, LogicalResourceId):  # noqa: N803
        if StackName not in self.site_apis or LogicalResourceId != "Api":
            raise _error(
                "ValidationError", f"Stack '{StackName}' does not exist", "DescribeStackResource"
            )
        return {"StackResourceDetail": {"PhysicalResourceId": self.site_apis[StackName]}}

    def get_paginator(self, name: str):
        assert name == "list_stack_resources", name

        def pages(*, StackName):  # noqa: N803
            self._stack(StackName, "ListStackResources")
            return [{"StackResourceSummaries": []}]  # its functions: none claimed in moto

        return _Pages(pages)

    # -- change sets --------------------------------------------------------------------------
    def create_change_set(
        self, *, StackName, ChangeSetName, ChangeSetType, TemplateURL, Parameters, **_
    ):  # noqa: N803, E501
        stack = self.stacks.get(StackName)
        if ChangeSetType == "CREATE":
            if stack and stack["StackStatus"] != "REVIEW_IN_PROGRESS":
                raise _error(
                    "ValidationError",
                    f"Stack [{StackName}] already exists and cannot be created again with the"
                    f" changeSet [{ChangeSetName}].",
                    "CreateChangeSet",
                )
            stack = self.stacks.setdefault(
                StackName,
                {
                    "StackName": StackName,
                    "StackId": f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{StackName}/1",
                    "StackStatus": "REVIEW_IN_PROGRESS",
                    "CreationTime": self.clock.now(),
                    "_events": [],
                },
            )
        elif stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
            raise _error(
                "ValidationError", f"Stack [{StackName}] does not exist", "CreateChangeSet"
            )
        elif stack["StackStatus"] not in self.UPDATABLE:
            raise _error(
                "ValidationError",
                f"Stack:{stack['StackId']} is in {stack['StackStatus']} state and can not be"
                " updated.",
                "CreateChangeSet",
            )
        self.change_sets[StackName, ChangeSetName] = {
            "ChangeSetName": ChangeSetName,
            "StackName": StackName,
            "ChangeSetType": ChangeSetType,
            "Status": "CREATE_PENDING",
            "ExecutionStatus": "UNAVAILABLE",
            "_template": TemplateURL,
            "_parameters": sorted((p["ParameterKey"], p["ParameterValue"]) for p in Parameters),
        }
        return {"Id": f"{StackName}/{ChangeSetName}", "StackId": stack["StackId"]}

    def _change_set(self, StackName, ChangeSetName):  # noqa: N803
        try:
            return self.change_sets[StackName, ChangeSetName]
        except KeyError:
            raise _error(
                "ChangeSetNotFound",
                f"ChangeSet [{ChangeSetName}] does not exist",
                "DescribeChangeSet",
            ) from None

    def describe_change_set(self, *, StackName, ChangeSetName):  # noqa: N803
        change_set = self._change_set(StackName, ChangeSetName)
        return {k: v for k, v in change_set.items() if not k.startswith("_")}

    def delete_change_set(self, *, StackName, ChangeSetName):  # noqa: N803
        self.change_sets.pop((StackName, ChangeSetName))

    def execute_change_set(self, *, StackName, ChangeSetName):  # noqa: N803
        change_set = self._change_set(StackName, ChangeSetName)
        if change_set["ExecutionStatus"] != "AVAILABLE":
            raise _error(
                "InvalidChangeSetStatus", "ChangeSet is not executable", "ExecuteChangeSet"
            )
        stack = self.stacks[StackName]
        creating = change_set["ChangeSetType"] == "CREATE"
        stack["StackStatus"] = "CREATE_IN_PROGRESS" if creating else "UPDATE_IN_PROGRESS"
        if not creating:
            stack["LastUpdatedTime"] = self.clock.now()
        stack["_events"].append(
            self._event(StackName, StackName, stack["StackStatus"], "AWS::CloudFormation::Stack")
        )
        stack["_pending"] = (change_set, self.fail_next)
        self.fail_next = None
        change_set["ExecutionStatus"] = "EXECUTE_IN_PROGRESS"

    def _event(self, stack: str, logical: str, status: str, kind: str, reason: str = "") -> dict:
        return {
            "StackName": stack,
            "LogicalResourceId": logical,
            "ResourceType": kind,
            "ResourceStatus": status,
            "ResourceStatusReason": reason,
            "Timestamp": self.clock.now(),
        }

    # -- stacks -------------------------------------------------------------------------------
    def delete_stack(self, *, StackName):  # noqa: N803
        if StackName in self.stacks:
            self.stacks[StackName]["StackStatus"] = "DELETE_IN_PROGRESS"

    def detect_stack_drift(self, *, StackName):  # noqa: N803
        self._stack(StackName, "DetectStackDrift")
        return {"StackDriftDetectionId": "drift-1"}

    def describe_stack_drift_detection_status(self, *, StackDriftDetectionId):  # noqa: N803
        status = "DRIFTED" if self.drifts else "IN_SYNC"
        return {"DetectionStatus": "DETECTION_COMPLETE", "StackDriftStatus": status}

    def describe_stack_resource_drifts(self, *, StackName, StackResourceDriftStatusFilters):  # noqa: N803
        return {"StackResourceDrifts": self.drifts}

    def get_waiter(self, name: str) -> _Waiter:
        finish = {
            "change_set_create_complete": self._change_set_ready,
            "stack_create_complete": lambda StackName: self._finish(StackName, "CREATE"),  # noqa: N803
            "stack_update_complete": lambda StackName: self._finish(StackName, "UPDATE"),  # noqa: N803
            "stack_delete_complete": self._deleted,
        }[name]
        return _Waiter(name, finish)

    def _change_set_ready(self, *, StackName, ChangeSetName):  # noqa: N803
        change_set = self._change_set(StackName, ChangeSetName)
        stack = self.stacks[StackName]
        same = (stack.get("_template"), stack.get("_parameters")) == (
            change_set["_template"],
            change_set["_parameters"],
        )
        nothing_new = change_set["ChangeSetType"] == "UPDATE" and same
        reason = self.change_set_failure or (NO_CHANGES if nothing_new else None)
        self.change_set_failure = None
        if reason:
            change_set.update(Status="FAILED", StatusReason=reason)
            return self.describe_change_set(StackName=StackName, ChangeSetName=ChangeSetName)
        change_set.update(Status="CREATE_COMPLETE", ExecutionStatus="AVAILABLE")
        return None

    def _finish(self, name: str, operation: str):
        stack = self.stacks.get(name)
        if stack is None:
            return {"Error": {"Message": f"Stack with id {name} does not exist"}}
        if stack["StackStatus"].endswith("_IN_PROGRESS") and "_pending" in stack:
            change_set, failure = stack.pop("_pending")
            change_set["ExecutionStatus"] = "EXECUTE_COMPLETE" if not failure else "EXECUTE_FAILED"
            if failure:
                stack["_events"].append(
                    self._event(
                        name,
                        "MessagingFunctions",
                        f"{operation}_FAILED",
                        "AWS::Lambda::Function",
                        failure,
                    )
                )
                stack["StackStatus"] = (
                    "ROLLBACK_COMPLETE" if operation == "CREATE" else "UPDATE_ROLLBACK_COMPLETE"
                )
            else:
                stack["StackStatus"] = f"{operation}_COMPLETE"
                stack["_template"], stack["_parameters"] = (
                    change_set["_template"],
                    change_set["_parameters"],
                )
                stack["Parameters"] = [
                    {"ParameterKey": k, "ParameterValue": v} for k, v in change_set["_parameters"]
                ]
                stack["Outputs"] = [
                    {"OutputKey": k, "OutputValue": v} for k, v in self.outputs(name).items()
                ]
        if stack["StackStatus"] == f"{operation}_COMPLETE":
            return None
        return self.describe_stacks(StackName=name)

    def _deleted(self, *, StackName):  # noqa: N803
        stack = self.stacks.get(StackName)
        if stack is None:
            return None
        if stack["StackStatus"] == "DELETE_IN_PROGRESS" and self.delete_fails:
            stack["StackStatus"] = "DELETE_FAILED"
            stack["_events"].append(
                self._event(
                    StackName,
                    "RoomsTable",
                    "DELETE_FAILED",
                    "AWS::DynamoDB::Table",
                    "deletion protection is enabled",
                )
            )
        elif stack["StackStatus"] == "DELETE_IN_PROGRESS":
            del self.stacks[StackName]
            return None
        return self.describe_stacks(StackName=StackName)


class FakeLambda:
    """moto's Lambda, plus the account settings (recorded answer) and invocations it lacks."""

    def __init__(self, moto_client, *, concurrency: int, unreserved: int) -> None:
        self._client = moto_client
        self.settings = {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": 262144000,
                "CodeSizeZipped": 52428800,
                "ConcurrentExecutions": concurrency,
                "UnreservedConcurrentExecutions": unreserved,
            },
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
        }
        self.invoked: list[dict] = []

    def get_account_settings(self):
        return self.settings

    def list_provisioned_concurrency_configs(self, *, FunctionName):  # noqa: N803
        return {"ProvisionedConcurrencyConfigs": []}

    def invoke(self, **kwargs):
        self.invoked.append(kwargs)
        return {"StatusCode": 202}

    def __getattr__(self, name: str):
        return getattr(self._client, name)


class FakeServiceQuotas:
    """Service Quotas as an account without applied quotas for these services answers."""

    def get_service_quota(self, *, ServiceCode, QuotaCode):  # noqa: N803
        raise _error(
            "NoSuchResourceException",
            "The request failed because the specified service does not exist.",
            "GetServiceQuota",
        )

    def get_paginator(self, name: str):
        def pages(**_):
            raise _error(
                "NoSuchResourceException",
                "The request failed because the specified service does not exist.",
                "ListServiceQuotas",
            )

        return _Pages(pages)


class FakeSession:
    """What deploy.aws.aws_session returns in the tests: moto's clients and the fakes above,
    every call recorded in `log` (created inside mock_aws)."""

    def __init__(
        self,
        *,
        region: str,
        clock: Clock,
        cfn: FakeCloudFormation,
        lambda_client: FakeLambda,
        log: list[Call],
    ) -> None:  # noqa: E501
        self.region, self.clock, self.log = region, clock, log
        self.fakes = {
            "cloudformation": cfn,
            "lambda": lambda_client,
            "service-quotas": FakeServiceQuotas(),
        }

    def client(self, service: str, **_):
        client = self.fakes.get(service) or boto3.client(service, region_name=self.region)
        return Recorded(service, client, self.log, self.region)
