"""Each function's execution environments: started on a cold invocation, kept warm, capped.

Lambda's rules, locally: an environment runs one invocation at a time and keeps its module state
between them; a function never runs more invocations at once than its concurrency limit
(ReservedConcurrentExecutions, else the gateway's default), and a synchronous invocation beyond
it is throttled (429) while an asynchronous one waits, as Lambda's event queue does. Each
environment sees its own function's variables only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

from emulator.iam import function_arn
from emulator.meter import Meter
from emulator.runtime import INIT_TIMEOUT, Environment, InitFailed, Outcome, RuntimeApi
from emulator.template import Function
from emulator.zygote import Zygote, ZygoteGone

logger = logging.getLogger("emulator.lambda")

CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# A Lambda environment always holds its role's credentials. Without any on this machine, local
# placeholders: dynalite and the local gateway accept any key, and SDKs need one to sign.
PLACEHOLDER_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ASIALOCALGATEWAY0000",
    "AWS_SECRET_ACCESS_KEY": "local-placeholder",
    "AWS_SESSION_TOKEN": "local-placeholder",
}


class Throttled(Exception):
    """The function is at its concurrency limit: Lambda's 429 TooManyRequestsException."""

    def __init__(self, function: Function) -> None:
        super().__init__("Rate Exceeded.")
        self.reason = (
            "ReservedFunctionConcurrentInvocationLimitExceeded"
            if function.reserved_concurrency is not None
            else "ConcurrentInvocationLimitExceeded"
        )


def lambda_variables(
    function: Function, *, region: str, code_dir: Path, runtime_dir: Path | None = None
) -> dict[str, str]:
    """The variables the Lambda service sets in every environment of a function."""
    name = function.name or function.logical_id
    return {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": (
            f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}"
        ),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
        "LAMBDA_TASK_ROOT": str(code_dir),
        "_HANDLER": function.handler,
        # Lambda's own PATH is its image's; locally the worker needs this machine's.
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        # Lambda's /var/runtime (awslambdaric) first when given, then the code (/var/task).
        "PYTHONPATH": os.pathsep.join(str(path) for path in (runtime_dir, code_dir) if path),
    }


class FunctionPool:
    """One function's environments: reused while warm, started on demand up to its limit."""

    def __init__(
        self,
        function: Function,
        *,
        api: RuntimeApi,
        variables: dict[str, str],
        limit: int,
        throttles: bool = True,
        python: str,
        region: str,
        cold_starts: int = 1,
        warm_wait: float = 0.2,
        preload: tuple[str, ...] | None = None,
        runtime_dir: Path | None = None,
        meter: Meter | None = None,
    ) -> None:
        self.function, self.api, self.limit, self.python = function, api, limit, python
        self.meter = meter  # each invocation's duration, as Lambda bills it
        # A function with ReservedConcurrentExecutions is throttled beyond it, as on AWS. One
        # without draws on the account's pool (1,000 by default), which a local burst never
        # exhausts: locally its environments are capped to spare the machine, and invocations
        # beyond the cap wait for one instead of failing where AWS would not.
        self.throttles = throttles
        self.code_dir = function.code_uri or Path.cwd()
        # The execution role's credentials, then the template's variables, then Lambda's own
        # (which a template cannot override), then the local overrides (`sam local --env-vars`).
        self.variables = {
            **(
                {name: os.environ[name] for name in CREDENTIALS if name in os.environ}
                if "AWS_ACCESS_KEY_ID" in os.environ
                else PLACEHOLDER_CREDENTIALS
            ),
            **function.environment,
            **lambda_variables(
                function, region=region, code_dir=self.code_dir, runtime_dir=runtime_dir
            ),
            **variables,
        }
        self.arn = function_arn(function, region)
        # Lambda starts an environment for every invocation that finds none free. Here cold
        # starts share this machine's few CPUs and one costs about a hundred warm invocations,
        # so an invocation first waits `warm_wait` seconds for an environment to free up, only a
        # few start at once, and a waiting invocation takes the first free one, warm or new.
        self.cold_starts, self.warm_wait = cold_starts, warm_wait
        self.environments: set[Environment] = set()  # starting, idle or busy
        self.cold_started = 0
        self._idle: list[Environment] = []
        self._starting = 0
        self._in_flight = 0
        # Invocations admitted but without an environment yet, oldest first, since when.
        self._waiting: deque[tuple[float, asyncio.Future[Environment]]] = deque()
        self._queued: deque[asyncio.Future[None]] = deque()  # asynchronous events over the limit
        self._tasks: set[asyncio.Task] = set()
        self._closed = False  # stopping: nothing more runs
        # None: every environment a fresh interpreter. Else a zygote that has imported these
        # libraries forks the environments (zygote.py), started with the first of them.
        self.preload = preload
        self._zygote: Zygote | None = None
        self._zygote_lock = asyncio.Lock()
        self._retiring = False  # replaced: what was accepted runs, then its environments go

    def _count_output(self, events: int, size: int) -> None:
        """Log lines the function's processes printed: CloudWatch Logs ingestion."""
        if self.meter is not None:
            self.meter.logged(self.function.logical_id, events=events, size=size)

    async def invoke(self, payload: bytes, *, asynchronous: bool = False) -> Outcome:
        """One invocation in an environment of this function; raises Throttled over the limit."""
        request_id = str(uuid.uuid4())
        await self._admit(asynchronous)
        try:
            try:
                environment = await self._acquire()
            except InitFailed as failed:
                logger.error("%s: init failed: %s", self.function.logical_id, failed.error_type)
                return failed.outcome(request_id)
            started = time.monotonic()
            try:
                return await environment.invoke(
                    payload, request_id=request_id, timeout=self.function.timeout, arn=self.arn
                )
            except BaseException:
                environment.kill()  # cancelled while its handler runs: it is not free for another
                raise
            finally:
                self._release(environment)
                if self.meter is not None:
                    self.meter.invoked(
                        self.function.logical_id,
                        memory_mb=self.function.memory_size,
                        architecture=self.function.architecture,
                        duration_ms=(time.monotonic() - started) * 1000,
                    )
        finally:
            self._in_flight -= 1
            while self._queued:
                waiter = self._queued.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    break

    async def retire(self) -> None:
        """Let what runs finish and start nothing more: the function's configuration changed."""
        self._retiring = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(e.stop() for e in idle), return_exceptions=True)
        if not self.environments:
            await self._stop_zygote()

    async def close(self) -> None:
        """Stop every environment (the gateway is going, and so are its functions)."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(e.stop() for e in list(self.environments)), return_exceptions=True)
        await self._stop_zygote()

    async def prewarm(self) -> None:
        """Start the zygote now rather than on the first cold start (nothing with no preload)."""
        if self.preload is not None and not self._closed:
            await self._zygote_ready()

    async def _stop_zygote(self) -> None:
        zygote, self._zygote = self._zygote, None
        if zygote is not None:
            await zygote.stop()

    async def _zygote_ready(self) -> Zygote:
        """The function's zygote, started (again, if it died) on a cold start that needs it."""
        async with self._zygote_lock:
            if self._zygote is None or not self._zygote.alive:
                zygote = Zygote(
                    name=f"zygote:{self.function.logical_id}",
                    python=self.python,
                    code_dir=self.code_dir,
                    variables=self.variables,
                    preload=self.preload or (),
                    count_output=self._count_output,
                )
                try:
                    await zygote.start(INIT_TIMEOUT)
                except OSError as error:
                    raise InitFailed("Runtime.InvalidEntrypoint", str(error)) from None
                except ZygoteGone as gone:
                    message = f"Runtime exited with error: {gone}"
                    raise InitFailed("Runtime.ExitError", message) from None
                self._zygote = zygote
            return self._zygote

    async def _admit(self, asynchronous: bool) -> None:
        waits = asynchronous or not self.throttles
        if self._in_flight >= self.limit and (not waits or self.limit == 0):
            raise Throttled(self.function)
        while self._in_flight >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._queued.append(waiter)
            try:
                await waiter
            finally:
                with contextlib.suppress(ValueError):
                    self._queued.remove(waiter)
        self._in_flight += 1

    async def _acquire(self) -> Environment:
        if self._idle:
            return self._idle.pop()  # the most recently used: the warmest
        loop = asyncio.get_running_loop()
        waiting = (loop.time(), loop.create_future())
        self._waiting.append(waiting)
        self._grow()
        if self.environments:  # busy ones may free up before a cold start would be done
            loop.call_later(self.warm_wait, self._grow)
        waiter = waiting[1]
        try:
            return await waiter
        except BaseException:
            if waiter.cancelled() or waiter.exception() is not None:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(waiting)
            else:  # handed an environment just as we were cancelled: pass it on
                self._release(waiter.result())
            raise

    def _grow(self) -> None:
        """Start environments for invocations that wait, within the limit and a few at a time."""
        patience = asyncio.get_running_loop().time() - self.warm_wait
        while (
            not self._closed
            and len(self._waiting) > self._starting
            and self._starting < self.cold_starts
            and len(self.environments) < self.limit
            and (not self.environments or self._waiting[self._starting][0] <= patience)
        ):
            environment = Environment(
                self.api,
                handler=self.function.handler,
                code_dir=self.code_dir,
                variables=self.variables,
                python=self.python,
                on_exit=self._lost,
                count_output=self._count_output,
            )
            self.environments.add(environment)
            self._starting += 1
            task = asyncio.create_task(self._cold_start(environment))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _cold_start(self, environment: Environment) -> None:
        try:
            if self.preload is not None:
                environment.zygote = await self._zygote_ready()
            await environment.start()
        except InitFailed as failed:
            self.environments.discard(environment)
            # Lambda reports an init failure to the invocation that was waiting for it.
            while self._waiting:
                _, waiter = self._waiting.popleft()
                if not waiter.done():
                    waiter.set_exception(failed)
                    break
        except BaseException:
            self.environments.discard(environment)
            await environment.stop()
            raise
        else:
            self.cold_started += 1
            self._offer(environment)
        finally:
            self._starting -= 1
        self._grow()

    def _offer(self, environment: Environment) -> None:
        while self._waiting:
            _, waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(environment)
                return
        if self._retiring:
            environment.kill()  # its exit removes it
        else:
            self._idle.append(environment)

    def _release(self, environment: Environment) -> None:
        if environment.alive and not self._closed:
            self._offer(environment)
        else:
            environment.kill()
            self._lost(environment)

    def _lost(self, environment: Environment) -> None:
        """An environment that died (timed out, crashed, killed) is replaced on demand."""
        self.environments.discard(environment)
        with contextlib.suppress(ValueError):
            self._idle.remove(environment)
        if self._retiring and not self.environments:  # the last one of a replaced pool
            task = asyncio.create_task(self._stop_zygote())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._grow()
