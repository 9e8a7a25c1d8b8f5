"""The Lambda side of the local gateway: the Invoke API, and running a template's functions.

Mixed into LocalGateway (emulator/gateway.py), whose routes invoke functions through it.
In process mode a function runs in execution environments of its own (pool.py, runtime.py); in
thread mode every handler runs in the gateway's process, in its thread pool, where tests can
patch them (`LocalGateway._function`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import json
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from emulator import events
from emulator.iam import Iam, function_arn, role_credentials
from emulator.intrinsics import Stack, Unresolvable, declared_variables, reads_attribute
from emulator.meter import Meter
from emulator.pool import FunctionPool, Throttled
from emulator.runtime import InitFailed, Outcome, RuntimeApi
from emulator.template import Function, WebSocketApi

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from emulator.settings import Settings
    from emulator.tls import DevCertificates

logger = logging.getLogger("emulator.gateway")


def aws_json(
    status: int, body: dict | None = None, *, error_type: str | None = None
) -> web.Response:
    """A JSON answer with the x-amzn-ErrorType header boto3 reads the exception's type from."""
    headers = {"x-amzn-ErrorType": error_type} if error_type else None
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.json_response(body, status=status, headers=headers)


class FunctionError(Exception):
    """The function failed (raised, timed out, crashed): its error document, as Lambda gives it."""

    def __init__(self, outcome: Outcome) -> None:
        try:
            document = json.loads(outcome.payload)
        except ValueError:
            document = {}
        document = document if isinstance(document, dict) else {}
        super().__init__(f"{document.get('errorType')}: {document.get('errorMessage')}")
        self.document = document


class LambdaService:
    """Runs the template's functions for LocalGateway, and answers the Lambda Invoke API."""

    api: WebSocketApi
    settings: Settings
    executor: ThreadPoolExecutor
    runtime: RuntimeApi | None
    pools: dict[tuple[str, str], FunctionPool]
    retired: list[FunctionPool]
    invocations: dict[str, int]
    meter: Meter
    _functions: dict[str, Callable]
    _events: set[asyncio.Task]
    stopping: asyncio.Event  # set when the gateway starts stopping: no more retries
    failed_events: list[dict]  # asynchronous events given up (record_failed_event)
    management_url: str
    certificates: DevCertificates | None
    iam: Iam | None
    lambda_url: str
    api_endpoint: str
    dynamodb_endpoint: Callable[[str], str]

    async def reconfigure(self, environment_overrides: dict[str, str]) -> None:
        """New local variables for every function: later invocations get new environments, as
        after UpdateFunctionConfiguration (thread mode: the embedding program's hook gets them)."""
        self.settings.environment_overrides = dict(environment_overrides)
        if self.runtime is None:
            self._share_environment()
        pools, self.pools = self.pools, {}
        self.retired.extend(pools.values())  # closed with the gateway if still busy by then
        await asyncio.gather(*(pool.retire() for pool in pools.values()))

    def local_variables(self, logical_id: str) -> dict[str, str]:
        """What a function's environment gets on top of the template's, on this machine."""
        variables = {
            # The template's variables that read the API's endpoint, which only now is known.
            **self.api_endpoint_variables(logical_id),
            # Where the Management API lives (API Gateway's https://{domainName}/{stage} is not
            # us) and the Lambda API that runs the functions they invoke (FANOUT_FUNCTION_NAME).
            "MANAGEMENT_ENDPOINT_URL": self.management_url,
            "LAMBDA_ENDPOINT_URL": self.lambda_url,
            **self.service_endpoints(),
            **self.trust_variables(),
            **self.settings.environment_overrides,
            **self.settings.function_overrides.get(logical_id, {}),
            # Last: a function signs as its role, whatever keys this machine has.
            **(role_credentials(logical_id) if self.iam is not None else {}),
        }
        function = self.api.functions.get(logical_id)
        declared = function.environment if function is not None else {}
        named = ("DYNAMODB_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB")
        endpoint = next(
            (
                value
                for name in named
                for value in (variables.get(name), declared.get(name))
                if value
            ),
            None,
        )
        if self.iam is not None and endpoint:  # its calls authorized first (dynamodb_proxy.py)
            relay = self.dynamodb_endpoint(endpoint)
            if "DYNAMODB_ENDPOINT_URL" in variables or "DYNAMODB_ENDPOINT_URL" in declared:
                variables["DYNAMODB_ENDPOINT_URL"] = relay
            # And for SDK clients made without an endpoint_url: the relay, never AWS.
            variables["AWS_ENDPOINT_URL_DYNAMODB"] = relay
        return variables

    def service_endpoints(self) -> dict[str, str]:
        """The SDKs' per-service endpoint variables (AWS_ENDPOINT_URL_<SERVICE ID>, read by
        boto3 and the other AWS SDKs) for the services this gateway serves, so a handler's
        client made without an endpoint_url reaches the gateway rather than AWS. (DynamoDB's
        is the relay's, when it relays: local_variables.)"""
        return {
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_url,
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": self.management_url,
        }

    def api_endpoint_variables(self, logical_id: str) -> dict[str, str]:
        """The function's template variables that read `Fn::GetAtt <Api>.ApiEndpoint`,
        resolved with this gateway's endpoint (read_api resolved them with AWS's form)."""
        variables: dict[str, str] = {}
        stack = Stack(
            self.api.template,
            parameters=dict(self.api.parameters),
            region=self.settings.region,
            api_id=self.settings.api_id,
            api_endpoint=self.api_endpoint,
        )
        for name, value in declared_variables(self.api.template, logical_id).items():
            if reads_attribute(value, "ApiEndpoint"):
                with contextlib.suppress(Unresolvable):
                    variables[name] = stack.text(value)
        return variables

    def trust_variables(self) -> dict[str, str]:
        """The usual roots plus the development CA, for botocore, requests and Python's ssl."""
        if self.certificates is None:
            return {}
        bundle = str(self.certificates.bundle)
        return {"AWS_CA_BUNDLE": bundle, "SSL_CERT_FILE": bundle, "REQUESTS_CA_BUNDLE": bundle}

    def thread_variables(self) -> dict[str, str]:
        """Thread mode: what the functions, sharing this process, would find in environments of
        their own on top of the template's: the local variables every function gets and the
        variables naming functions. (One process cannot tell functions apart: no per-function
        overrides, and no role credentials, since thread mode enforces no IAM.)"""
        return {**self.api.function_variables, **self.local_variables("")}

    def _share_environment(self) -> None:
        # The process's environment is the embedding program's: never rewritten here. It gets
        # the variables through its hook and applies them to its handlers as it sees fit.
        if self.settings.thread_environment is not None:
            self.settings.thread_environment(self.thread_variables())

    def function(self, logical_id: str, handler: str = "") -> Function:
        """The template's function, running `handler` if a caller swapped a route's handler."""
        function = self.api.functions.get(logical_id)
        if function is None:  # a route built by hand, without a function of the template
            return Function(logical_id=logical_id or handler, handler=handler, name=None)
        if handler and handler != function.handler:
            return dataclasses.replace(function, handler=handler)
        return function

    async def invoke(self, function: Function, event: dict) -> object:
        """One synchronous invocation, as an integration makes it: the result, or raises.

        Raises FunctionError when the function failed and Throttled over its concurrency limit.
        """
        outcome = await self._run(function, event)
        if outcome.error:
            raise FunctionError(outcome)
        return json.loads(outcome.payload)

    async def _run(self, function: Function, event: dict, *, asynchronous: bool = False) -> Outcome:
        if self.runtime is None:
            return await self._run_in_thread(function, event)
        pool = self.pool(function)
        payload = json.dumps(event).encode()
        return await pool.invoke(payload, asynchronous=asynchronous)

    def pool(self, function: Function) -> FunctionPool:
        """The function's environments (process mode), made on first use."""
        key = (function.logical_id, function.handler)
        if key not in self.pools:  # the function's first use
            self.pools[key] = FunctionPool(
                function,
                api=self.runtime,
                variables=self.local_variables(function.logical_id),
                limit=(
                    function.reserved_concurrency
                    if function.reserved_concurrency is not None
                    else self.settings.concurrency
                ),
                throttles=function.reserved_concurrency is not None,
                python=self.settings.python,
                region=self.settings.region,
                cold_starts=self.settings.cold_starts,
                warm_wait=self.settings.warm_wait,
                preload=self.settings.preload,
                runtime_dir=self.settings.runtime_dir,
                meter=self.meter,
            )
        return self.pools[key]

    async def prewarm(self) -> None:
        """Start every function's zygote, one after another, before any invocation needs it:
        the libraries are imported (no function code runs), so the first cold starts are cheap."""
        for function in self.api.functions.values():
            if function.handler:
                with contextlib.suppress(InitFailed):  # reported again by the invocation
                    await self.pool(function).prewarm()

    def _function(self, handler: str) -> Callable:
        if handler not in self._functions:
            module, _, name = handler.rpartition(".")
            self._functions[handler] = getattr(importlib.import_module(module), name)
        return self._functions[handler]

    async def _run_in_thread(self, function: Function, event: dict) -> Outcome:
        handler = self._function(function.handler)
        context = events.LambdaContext(
            function_name=function.name or function.logical_id,
            aws_request_id=str(uuid.uuid4()),
            region=self.settings.region,
            memory_limit_in_mb=function.memory_size,
            timeout_seconds=function.timeout,
        )
        loop = asyncio.get_running_loop()

        def timed() -> object:  # in the worker thread: billed from the handler's start
            started = time.monotonic()
            try:
                return handler(event, context)
            finally:
                self.meter.invoked(
                    function.logical_id,
                    memory_mb=function.memory_size,
                    architecture=function.architecture,
                    duration_ms=(time.monotonic() - started) * 1000,
                )

        try:
            result = await loop.run_in_executor(self.executor, timed)
        except Exception as error:
            logger.exception("function %s failed", function.logical_id)
            document = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "requestId": context.aws_request_id,
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
            return Outcome(json.dumps(document).encode(), "Unhandled")
        # Through JSON, as Lambda returns it: the caller sees what it would see in AWS.
        return Outcome(json.dumps(result, default=str).encode())

    async def invoke_function(self, request: web.Request) -> web.Response:
        """The Lambda Invoke API: Event runs in the background (202), RequestResponse waits."""
        name = request.match_info["function_name"]
        function = next(
            (f for f in self.api.functions.values() if f.answers_to(name) and f.handler), None
        )
        if function is None:
            return aws_json(
                404,
                {"Type": "User", "message": f"Function not found: {name}"},
                error_type="ResourceNotFoundException",
            )
        try:
            event = json.loads(await request.read() or b"{}")
        except ValueError:
            return aws_json(
                400,
                {"Type": "User", "message": "Could not parse request body into json"},
                error_type="InvalidRequestContentException",
            )
        if forbidden := self._invoke_forbidden(request, function, name):
            return forbidden
        kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if kind == "DryRun":
            return web.Response(status=204)
        self.invocations[function.logical_id] = self.invocations.get(function.logical_id, 0) + 1
        if kind == "Event":
            task = asyncio.create_task(self._invoke_event(function, event))
            self._events.add(task)
            task.add_done_callback(self._events.discard)
            return web.Response(status=202)
        try:
            outcome = await self._run(function, event)
        except Throttled as throttled:
            return aws_json(
                429,
                {"Reason": throttled.reason, "Type": "User", "message": str(throttled)},
                error_type="TooManyRequestsException",
            )
        headers = {"X-Amz-Executed-Version": "$LATEST"}
        if outcome.error:  # Lambda answers 200 with the error described in the body
            headers["X-Amz-Function-Error"] = outcome.error
        return web.Response(body=outcome.payload, content_type="application/json", headers=headers)

    def _invoke_forbidden(
        self, request: web.Request, function: Function, name: str
    ) -> web.Response | None:
        """403 AccessDeniedException when the calling function's role may not invoke this."""
        caller = self.iam.caller(request.headers.get("Authorization")) if self.iam else None
        if caller is None:
            return None
        if name.startswith("arn:"):
            arn = name
        else:
            qualifier = request.query.get("Qualifier") or name.partition(":")[2] or None
            arn = function_arn(function, self.settings.region, qualifier)
        if self.iam.allows(caller, "lambda:InvokeFunction", arn):
            return None
        message = self.iam.denial(caller, "lambda:InvokeFunction", arn)
        return aws_json(
            403, {"Message": message, "Type": "User"}, error_type="AccessDeniedException"
        )

    async def _invoke_event(self, function: Function, event: dict) -> None:
        """An asynchronous invocation as Lambda runs it: a failed attempt is retried up to the
        function's MaximumRetryAttempts (its EventInvokeConfig; Lambda's default 2), after
        Settings.retry_delays (AWS waits about a minute, then two); an event whose retries are
        spent, or that would pass MaximumEventAgeInSeconds, is given up and recorded in its
        OnFailure destination (record_failed_event)."""
        request_id = str(uuid.uuid4())
        received = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            try:
                outcome = await self._run(function, event, asynchronous=True)
            except Throttled:  # only with a reserved concurrency of 0: it never runs
                logger.error("asynchronous invocation of %s throttled", function.logical_id)
                self.record_failed_event(
                    function, event, request_id, attempts, "EventAgeExceeded", None
                )
                return
            if not outcome.error:
                return
            logger.error(
                "asynchronous invocation of %s failed (attempt %d of %d): %s",
                function.logical_id,
                attempts,
                function.max_retry_attempts + 1,
                FunctionError(outcome),
            )
            if attempts > function.max_retry_attempts:
                condition = "RetriesExhausted"
            else:
                delays = self.settings.retry_delays or (0.0,)
                delay = delays[min(attempts, len(delays)) - 1]
                condition = None
                if time.monotonic() - received + delay > function.max_event_age:
                    condition = "EventAgeExceeded"
            if condition is not None:
                self.record_failed_event(function, event, request_id, attempts, condition, outcome)
                return
            if await self._stopped_within(delay):
                logger.warning(
                    "the gateway stops: asynchronous invocation of %s not retried",
                    function.logical_id,
                )
                return

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait `seconds`, or less if the gateway starts stopping meanwhile: whether it did."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def record_failed_event(
        self,
        function: Function,
        event: dict,
        request_id: str,
        attempts: int,
        condition: str,
        outcome: Outcome | None,
    ) -> dict:
        """Give an asynchronous event up as Lambda does: the record its OnFailure destination
        receives (Lambda's "invocation record": the request, the condition, the last error),
        logged, kept in `failed_events` and appended to Settings.failed_events (JSON lines).
        Locally no queue or topic receives it: the record names the destination it was for."""
        response = None
        if outcome is not None:
            try:
                response = json.loads(outcome.payload)
            except ValueError:
                response = outcome.payload.decode(errors="replace")
        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {
                "requestId": request_id,
                "functionArn": function_arn(function, self.settings.region, "$LATEST"),
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                **({"functionError": outcome.error} if outcome is not None else {}),
            },
            "responsePayload": response,
            "destination": function.on_failure,
        }
        self.failed_events.append(record)
        logger.error(
            "asynchronous invocation of %s given up (%s after %d attempts)%s",
            function.logical_id,
            condition,
            attempts,
            f"; its event is for {function.on_failure}" if function.on_failure else "",
        )
        path = self.settings.failed_events
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as file:
                file.write(json.dumps(record, default=str) + "\n")
        return record
