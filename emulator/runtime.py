"""The Lambda Runtime API, served to awslambdaric: each worker process is one execution environment.

An environment is `python -m awslambdaric <Handler>` with AWS_LAMBDA_RUNTIME_API pointing at a
port of its own: awslambdaric takes host:port only (a path prefix breaks its /init/error), so
the port a request arrives on tells which environment is asking. awslambdaric enforces no
deadline, so this side does: an invocation past its function's Timeout kills the process, and
a process that dies fails only the invocation it was running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from emulator.output import Counter, start_forwarding, stop_forwarding
from emulator.zygote import ForkedProcess, Zygote, ZygoteGone

logger = logging.getLogger("emulator.lambda")

RUNTIME = "/2018-06-01/runtime"
INIT_TIMEOUT = 10.0  # Lambda's limit on an on-demand environment's init phase, in seconds
MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # a synchronous invocation's response payload limit
TRACE_ID = "Root=1-00000000-000000000000000000000000;Sampled=0"
# `python -m awslambdaric <handler>`, but dying with the gateway (Linux): a worker stuck in its
# handler would otherwise outlive a gateway that was killed.
BOOTSTRAP = """# awslambdaric worker of the local gateway (emulator/runtime.py)
import os, signal, sys
os.environ.pop("_BOOTSTRAP")
gateway = int(os.environ.pop("_GATEWAY_PID"))
if sys.platform == "linux":
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != gateway:
        sys.exit(1)  # the gateway died before prctl
from awslambdaric.__main__ import main
main(sys.argv)
"""
# One short command line (no newline nor semicolon) that `ps` and profilers show whole.
LAUNCH = "exec(__import__('os').environ['_BOOTSTRAP'])"
# How the Lambda service words a runtime's death (Go's names for the signals).
SIGNALS = {
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
}


@dataclass(frozen=True)
class Outcome:
    """What Lambda answers for one invocation: the payload, and X-Amz-Function-Error on failure."""

    payload: bytes
    error: str | None = None  # "Unhandled" when the payload is an error document


def failure(error_type: str, message: str) -> Outcome:
    """An error the Lambda service itself reports (a timeout, a crash), not the handler."""
    document = {"errorMessage": message, "errorType": error_type}
    return Outcome(json.dumps(document).encode(), "Unhandled")


class InitFailed(Exception):
    """An environment could not start; the invocation that waited for it gets this error."""

    def __init__(self, error_type: str, message: str, document: bytes | None = None) -> None:
        super().__init__(message)
        self.error_type, self.message, self.document = error_type, message, document

    def outcome(self, request_id: str) -> Outcome:
        if (
            self.document is not None
        ):  # what awslambdaric posted to /init/error, as Lambda relays it
            return Outcome(self.document, "Unhandled")
        return failure(self.error_type, f"RequestId: {request_id} Error: {self.message}")


@dataclass
class Invocation:
    """One event handed to an environment, and the future its result settles."""

    request_id: str
    payload: bytes
    deadline_ms: int
    arn: str
    outcome: asyncio.Future[Outcome]

    def settle(self, outcome: Outcome) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)


def exit_reason(returncode: int) -> str:
    """'exit status 1' or 'signal: killed', as Lambda's Runtime.ExitError words it."""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            sig = signal.Signals(-returncode)
            return f"signal: {SIGNALS.get(sig, sig.name.lower())}"
    return f"exit status {returncode}"


class Environment:
    """One worker process running one function's handler, one invocation at a time."""

    def __init__(
        self,
        api: RuntimeApi,
        *,
        handler: str,
        code_dir: Path,
        variables: dict[str, str],
        python: str,
        on_exit: Callable[[Environment], None] = lambda environment: None,
        count_output: Counter | None = None,
    ) -> None:
        self.api, self.handler, self.code_dir = api, handler, code_dir
        self.variables, self.python, self.on_exit = variables, python, on_exit
        self.count_output = count_output  # a spawned worker's log lines (a zygote's count its own)
        self._output: list[asyncio.Task] = []
        self.zygote: Zygote | None = None  # forks the worker when set (zygote.py); else spawned
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()  # its first GET /next
        self.init_error: asyncio.Future[bytes] = loop.create_future()  # POST /init/error
        self.inbox: asyncio.Queue[Invocation] = asyncio.Queue(maxsize=1)
        self.current: Invocation | None = None
        self.process: asyncio.subprocess.Process | ForkedProcess | None = None
        self.exited: asyncio.Task[int] | None = None
        self.port: int | None = None
        self.invocations = 0
        self.killed = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None and not self.killed

    async def start(self) -> None:
        """Spawn the worker and wait until it asks for work; raises InitFailed as Lambda reports."""
        started = time.monotonic()
        self.port = await self.api.open(self)
        variables = {**self.variables, "AWS_LAMBDA_RUNTIME_API": f"{self.api.host}:{self.port}"}
        try:
            if self.zygote is not None:
                self.process = await self.zygote.spawn(self.handler, variables)
            else:
                self.process = await self._spawn(variables)
                self._output = start_forwarding(self.process, self.count_output)
        except OSError as error:
            await self.api.close(self)
            raise InitFailed("Runtime.InvalidEntrypoint", str(error)) from None
        except ZygoteGone as gone:
            await self.api.close(self)
            raise InitFailed("Runtime.ExitError", f"Runtime exited with error: {gone}") from None
        self.exited = asyncio.create_task(self._watch())
        waiting = (self.ready, self.init_error, self.exited)
        await asyncio.wait(waiting, timeout=INIT_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        if self.ready.done() and self.alive:
            logger.debug("%s: init %.0f ms", self.handler, (time.monotonic() - started) * 1000)
            return
        self.kill()
        if self.init_error.done():
            document = self.init_error.result()
            error_type = json.loads(document).get("errorType") or "Runtime.Unknown"
            raise InitFailed(error_type, "init failed", document)
        if self.exited.done():
            reason = exit_reason(self.exited.result())
            raise InitFailed("Runtime.ExitError", f"Runtime exited with error: {reason}")
        raise InitFailed("Sandbox.Timedout", f"Init timed out after {INIT_TIMEOUT:.2f} seconds")

    async def _spawn(self, variables: dict[str, str]) -> asyncio.subprocess.Process:
        """A fresh interpreter (no zygote): `python -m awslambdaric <handler>`, as Lambda's."""
        return await asyncio.create_subprocess_exec(
            *(self.python, "-c", LAUNCH, self.handler),
            cwd=self.code_dir,
            env={**variables, "_GATEWAY_PID": str(os.getpid()), "_BOOTSTRAP": BOOTSTRAP},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,  # its log (output.py), passed on to ours
            stderr=asyncio.subprocess.PIPE,
            # Its own process group: killed as a whole, never by the terminal's Ctrl-C. (No
            # preexec_fn: that path runs this process's at-fork hooks in the child, where
            # objects they drop can unregister sockets from an epoll shared with us.)
            process_group=0,
        )

    async def invoke(self, payload: bytes, *, request_id: str, timeout: float, arn: str) -> Outcome:
        """Hand the event to the worker; its result, or the error Lambda reports for it."""
        if not self.alive:
            return failure("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited")
        deadline_ms = int((time.time() + timeout) * 1000)
        outcome = asyncio.get_running_loop().create_future()
        invocation = Invocation(request_id, payload, deadline_ms, arn, outcome)
        self.current, self.invocations = invocation, self.invocations + 1
        self.inbox.put_nowait(invocation)
        started = time.monotonic()
        try:
            # shield: a timeout must not cancel the future the worker's /response settles.
            result = await asyncio.wait_for(asyncio.shield(outcome), timeout)
            duration = (time.monotonic() - started) * 1000
            logger.debug(
                "%s REPORT RequestId: %s Duration: %.2f ms", self.handler, request_id, duration
            )
            return result
        except TimeoutError:
            # The handler is still running and nothing inside it will stop it: the process goes.
            logger.warning(
                "%s %s Task timed out after %.2f seconds", self.handler, request_id, timeout
            )
            self.kill()
            message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            return failure("Sandbox.Timedout", message)
        finally:
            self.current = None

    def kill(self) -> None:
        """SIGKILL the worker's process group (its handler may have started processes too)."""
        if self.alive:
            self.killed = True  # at once: it must not be handed another invocation meanwhile
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    async def stop(self) -> None:
        self.kill()
        if self.exited is not None:
            await self.exited  # which also closes its port
        else:
            await self.api.close(self)

    async def _watch(self) -> int:
        returncode = await self.process.wait()
        await stop_forwarding(self._output)
        await self.api.close(self)
        if self.current is not None:
            reason = exit_reason(returncode)
            logger.warning("%s %s exited: %s", self.handler, self.current.request_id, reason)
            message = (
                f"RequestId: {self.current.request_id} Error: Runtime exited with error: {reason}"
            )
            self.current.settle(failure("Runtime.ExitError", message))
        self.on_exit(self)
        return returncode


class RuntimeApi:
    """The Runtime API's endpoints, listening on one port per environment."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._environments: dict[int, Environment] = {}
        self._sites: dict[int, web.TCPSite] = {}
        # Room above the payload limit, so an oversized response is reported as Lambda reports
        # it rather than refused (a non-2xx answer makes awslambdaric exit).
        app = web.Application(client_max_size=2 * MAX_RESPONSE_BYTES)
        app.router.add_get(f"{RUNTIME}/invocation/next", self.next_invocation)
        app.router.add_post(f"{RUNTIME}/invocation/{{request_id}}/response", self.response)
        app.router.add_post(f"{RUNTIME}/invocation/{{request_id}}/error", self.error)
        app.router.add_post(f"{RUNTIME}/init/error", self.init_error)
        # handler_cancellation: a worker that dies while parked in /next cancels that request,
        # so no invocation is handed to a connection nobody reads.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)

    async def start(self) -> None:
        await self._runner.setup()

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def open(self, environment: Environment) -> int:
        """A port of the environment's own; its requests are recognised by it."""
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._environments[port], self._sites[port] = environment, site
        return port

    async def close(self, environment: Environment) -> None:
        self._environments.pop(environment.port, None)
        site = self._sites.pop(environment.port, None)
        if site is not None:
            await site.stop()

    def _environment(self, request: web.Request) -> Environment:
        port = request.transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
        environment = self._environments.get(port)
        if environment is None:
            raise web.HTTPForbidden(text="unknown environment")
        return environment

    def _invocation(self, request: web.Request) -> Invocation:
        current = self._environment(request).current
        if current is None or current.request_id != request.match_info["request_id"]:
            # Lambda answers 400 InvalidRequestID too (and awslambdaric exits: it is confused).
            raise web.HTTPBadRequest(text='{"errorType": "InvalidRequestID"}')
        return current

    async def next_invocation(self, request: web.Request) -> web.Response:
        environment = self._environment(request)
        if not environment.ready.done():
            environment.ready.set_result(None)  # init is over: the handler module is imported
        invocation = await environment.inbox.get()
        return web.Response(
            body=invocation.payload,
            content_type="application/json",
            headers={
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": invocation.arn,
                "Lambda-Runtime-Trace-Id": TRACE_ID,
            },
        )

    async def response(self, request: web.Request) -> web.Response:
        invocation = self._invocation(request)
        body = await request.read()
        if len(body) > MAX_RESPONSE_BYTES:
            message = (
                "Response payload size exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes)."
            )
            invocation.settle(failure("Function.ResponseSizeTooLarge", message))
        else:
            invocation.settle(Outcome(body))
        return _accepted()

    async def error(self, request: web.Request) -> web.Response:
        invocation = self._invocation(request)
        invocation.settle(Outcome(await request.read(), "Unhandled"))
        return _accepted()

    async def init_error(self, request: web.Request) -> web.Response:
        environment = self._environment(request)
        body = await request.read()
        try:
            valid = isinstance(json.loads(body), dict)
        except ValueError:
            valid = False
        if not valid:  # relayed to the caller as an error document all the same
            body = failure("Runtime.Unknown", body.decode(errors="replace")).payload
        if not environment.init_error.done():
            environment.init_error.set_result(body)
        return _accepted()


def _accepted() -> web.Response:
    # awslambdaric expects exactly 202 here; anything else makes it exit.
    return web.json_response({"status": "OK"}, status=202)
