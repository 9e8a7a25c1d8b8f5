"""A local API Gateway WebSocket API that runs the very same handlers as AWS.

It reads routes, route selection and the authorizer from template.yaml, serves WebSocket clients
at ws://HOST:PORT/<stage> and the Management API (`@connections`) at http://HOST:PORT/<stage>
(with a development CA, also over TLS: events' `domainName` names that listener, so handlers
that call back to `https://{domainName}/{stage}` as AWS's examples do reach it), and enforces
API Gateway's limits (message size, binary frames, idle and maximum lifetime) and, when asked, the
stage's throttles (throttles.py).
It also answers the Lambda Invoke API (POST /2015-03-31/functions/{name}/invocations) for the
template's functions, so asynchronous fan-out shards take the same code path as in AWS.

Functions run in one of two modes (emulator/functions.py). `process` (the CLI's default):
Lambda-like execution environments, worker processes speaking the Runtime API (runtime.py,
pool.py), each with its own function's environment, Timeout and concurrency limit. `thread`
(tests that patch handlers in this process): every handler in this process, in a bounded thread
pool. Either way nothing blocking runs on the event loop. The command line is in cli.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import WSCloseCode, WSMsgType, web

from emulator import events
from emulator.authorizers import RouteAccess, authorizer_context, identity_value, policy_allows
from emulator.connections import Client, ConnectionsApi, request_id
from emulator.dynamodb_proxy import DynamoDbProxy
from emulator.frames import LimitedWebSocketResponse, handshake_refusal
from emulator.function_urls import PREFIX as FUNCTION_URLS
from emulator.function_urls import FunctionUrls
from emulator.functions import FunctionError, LambdaService
from emulator.functions import aws_json as _json
from emulator.iam import Iam, role_policies, template_digest
from emulator.meter import Meter
from emulator.pool import FunctionPool, Throttled
from emulator.runtime import RuntimeApi
from emulator.settings import IDLE_TIMEOUT, MAX_LIFETIME, MAX_MESSAGE_BYTES, Settings
from emulator.template import Function, WebSocketApi
from emulator.throttles import TOO_MANY_REQUESTS, StageThrottles, Throttling
from emulator.tls import DevCertificates, dev_certificates_ensure

logger = logging.getLogger("emulator.gateway")

# What API Gateway answers when an integration runs past its timeout: recorded for message routes
# (the frame: mangum#128, chalice#1406); for $connect undocumented, so the same message with the
# status REST APIs give it, 504.
TIMED_OUT = "Endpoint request timed out"


class IntegrationTimeout(Exception):
    """The integration ran past Settings.integration_timeout (its function runs on)."""


# Settings and API Gateway's limits are defined in settings.py; callers import them from here.
__all__ = ["GatewayThread", "LocalGateway", "Settings"]
__all__ += ["IDLE_TIMEOUT", "MAX_LIFETIME", "MAX_MESSAGE_BYTES"]


# One line per connection, frame and disconnect (`make run` shows them; `--log-level WARNING`
# hides them): what happened, to which connection, the integration's status and its duration.
access_logger = logging.getLogger("emulator.gateway.access")
_PRINTABLE = re.compile(r"[\w.-]+")


def _access(what: str, connection_id: str, detail: str, status: object, started: float) -> None:
    if access_logger.isEnabledFor(logging.INFO):
        took = (time.monotonic() - started) * 1000
        extra = f" {detail}" if detail else ""
        access_logger.info("%s %s%s → %s in %.0f ms", what, connection_id, extra, status, took)


def _failed(what: str, error: Exception) -> None:
    """Log a failed invocation: the function's error as Lambda reports it, or a bug of ours."""
    if isinstance(error, FunctionError | Throttled):
        logger.warning("%s failed: %s", what, error)
    else:
        logger.exception("%s failed", what)


class LocalGateway(LambdaService, ConnectionsApi, DynamoDbProxy, FunctionUrls):
    """The aiohttp application, the registry of open connections and the functions it runs."""

    def __init__(self, api: WebSocketApi, settings: Settings | None = None) -> None:
        self.api = api
        self.settings = settings or Settings()
        self.clients: dict[str, Client] = {}
        self.accepting = True  # False once stopping: handshakes get 503
        self._sessions: set[asyncio.Task] = set()  # open sockets, until their $disconnect ran
        self._events: set[asyncio.Task] = set()  # asynchronous invocations still running
        self.stopping = asyncio.Event()
        self.failed_events: list[dict] = []  # asynchronous events given up (functions.py)
        self.invocations: dict[str, int] = {}  # Invoke API calls accepted, per logical id
        self.meter = Meter()  # what AWS would bill for what this gateway serves (meter.py)
        self.executor = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="lambda")
        self._functions: dict[str, Callable] = {}  # thread mode: handlers imported here
        self.runtime: RuntimeApi | None = None  # process mode: the Runtime API and the pools
        self.pools: dict[tuple[str, str], FunctionPool] = {}
        self.retired: list[FunctionPool] = []  # replaced by reconfigure()
        self.prewarmed: asyncio.Task | None = None  # Settings.prewarm: the zygotes starting
        self.iam: Iam | None = None  # process mode: the functions' roles, enforced (iam.py)
        # IAM on: a listener per DynamoDB endpoint the functions name (dynamodb_proxy.py)
        self._dynamodb_listeners: dict = {}
        self._dynamodb_servers: list = []
        self._dynamodb_connections: set[asyncio.Task] = set()
        self._dynamodb_tables: dict[str, dict | None] = {}
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port: int | None = None
        self.certificates: DevCertificates | None = None
        self.tls_port: int | None = None
        self.throttling: Throttling | None = None
        self.access = RouteAccess(api, self.settings)  # AWS_IAM and API keys on $connect
        if self.settings.throttle or self.settings.throttles is not None:
            self.throttle(self.settings.throttles or api.throttles)
        stage = self.settings.stage
        self.app = web.Application(client_max_size=4 * 1024 * 1024)
        self.app.router.add_get(f"/{stage}", self.websocket)
        self.app.router.add_get(f"/{stage}/", self.websocket)
        self.app.router.add_post(
            f"/{stage}/@connections/{{connection_id}}", self.post_to_connection
        )
        self.app.router.add_get(f"/{stage}/@connections/{{connection_id}}", self.get_connection)
        self.app.router.add_delete(
            f"/{stage}/@connections/{{connection_id}}", self.delete_connection
        )
        self.app.router.add_post(
            "/2015-03-31/functions/{function_name}/invocations", self.invoke_function
        )
        self.app.router.add_get("/@meter", self.meter_read)  # local only: no AWS API has it
        # Each function URL is its own host on AWS; here, a path (emulator/function_urls.py).
        self.app.router.add_route("*", FUNCTION_URLS + "{function}/{path:.*}", self.function_url)
        # Last: any other stage (a handshake, or @connections) is API Gateway's 403, not a 404.
        self.app.router.add_route("*", "/{path:.*}", self.unknown_path)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Bind (port 0 picks a free one), get the functions ready to run, return the port."""
        if self.settings.mode not in ("thread", "process"):
            raise ValueError(f"unknown mode {self.settings.mode!r}")
        self.loop = asyncio.get_running_loop()
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        self.port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.host = host
        if self.settings.tls_dir is not None:
            self.certificates = dev_certificates_ensure(self.settings.tls_dir)
            context = self.certificates.server_context()
            tls = web.TCPSite(self._runner, host, self.settings.tls_port, ssl_context=context)
            await tls.start()
            self.tls_port = tls._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self.settings.mode == "process":
            if self.settings.iam:  # each function's role, or the stack refuses to start
                functions = list(self.api.functions)
                self.iam = Iam(
                    role_policies(
                        self.api.template,
                        functions,
                        parameters=self.api.parameters,
                        region=self.settings.region,
                        api_id=self.settings.api_id,
                    ),
                    usage=self.settings.iam_usage,
                    template=template_digest(self.api.template),
                )
            self.runtime = RuntimeApi()
            await self.runtime.start()
            if self.settings.prewarm:
                self.prewarmed = asyncio.create_task(self.prewarm())
        else:
            self._share_environment()
        return self.port

    @property
    def websocket_url(self) -> str:
        return f"ws://{self.host}:{self.port}/{self.settings.stage}"

    @property
    def management_url(self) -> str:
        return f"http://{self.host}:{self.port}/{self.settings.stage}"

    @property
    def domain_name(self) -> str | None:
        """The host events name as `domainName`: the TLS listener's, as API Gateway's is."""
        # The certificate is for localhost and 127.0.0.1; a name keeps SNI and checks simple.
        return None if self.tls_port is None else f"localhost:{self.tls_port}"

    @property
    def api_endpoint(self) -> str:
        """`Fn::GetAtt <Api>.ApiEndpoint` here: AWS's is wss://{api-id}.execute-api.{region}.
        amazonaws.com (no stage); locally this gateway's wss:// listener, else its ws:// one."""
        if self.tls_port is not None:
            return f"wss://localhost:{self.tls_port}"
        return f"ws://{self.host}:{self.port}"

    @property
    def lambda_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def function_url_of(self, logical_id: str) -> str:
        """Where the function's URL answers (AWS: https://<url-id>.lambda-url.<region>.on.aws/)."""
        return f"http://{self.host}:{self.port}{FUNCTION_URLS}{logical_id}/"

    @property
    def meter_url(self) -> str:
        return f"http://{self.host}:{self.port}/@meter"

    async def stop(self) -> None:
        # Refuse new sockets first: clients that reconnect at once must not keep us waiting.
        # The listener stays up until the $disconnect invocations are done: they announce
        # presence through @connections, which must answer (410) rather than refuse to connect.
        self.accepting = False
        # All at once: each close waits for the client's reply, and clients can be slow to give
        # it. (A copy: closing a client removes it from the registry.)
        await asyncio.gather(
            *(c.close(WSCloseCode.GOING_AWAY, "Going away") for c in list(self.clients.values())),
            return_exceptions=True,
        )
        if self._sessions:  # let each socket's $disconnect finish before the server goes
            await asyncio.wait(self._sessions, timeout=10)
        self.stopping.set()  # events waiting for a retry are not retried
        if self._events:  # and the asynchronous invocations already accepted
            await asyncio.wait(self._events, timeout=30)
        if self.prewarmed is not None:
            self.prewarmed.cancel()
            await asyncio.gather(self.prewarmed, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()  # stops listening
        await asyncio.gather(*(pool.close() for pool in [*self.pools.values(), *self.retired]))
        await self.dynamodb_close()
        if self.runtime is not None:
            await self.runtime.stop()
        self.executor.shutdown(wait=True)

    def throttle(
        self, throttles: StageThrottles | None, *, clock: Callable[[], float] = time.monotonic
    ) -> Throttling | None:
        """Enforce these stage throttles from now on, with full buckets (None: none)."""
        # One reference, swapped whole: the loop reads it once per frame.
        self.throttling = None if throttles is None else Throttling(throttles, clock)
        return self.throttling

    def _api(self, request: web.Request) -> events.Api:
        return events.Api(
            api_id=self.settings.api_id,
            stage=self.settings.stage,
            domain_name=self.domain_name or request.host,
            region=self.settings.region,
        )

    # -- the WebSocket side ------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """Handshake ($connect with its authorizer), then one route invocation per frame."""
        if not self.accepting:
            return _json(503, {"message": "Service Unavailable"})
        if refusal := handshake_refusal(request):  # not an upgrade: nothing is invoked
            return refusal
        throttling = self.throttling
        if throttling is not None and not throttling.take("$connect"):
            return _json(429, {"message": TOO_MANY_REQUESTS})
        api = self._api(request)
        user_agent = request.headers.get("User-Agent", "")
        caller = events.Caller(
            connection_id=events.new_id(),
            connected_at=events.now_ms(),
            source_ip=request.remote or "127.0.0.1",
            user_agent=user_agent,
        )
        headers = [
            *request.headers.items(),
            ("X-Forwarded-For", caller.source_ip),
            ("X-Forwarded-Port", str(self.port)),
            ("X-Forwarded-Proto", request.scheme),
        ]
        if "X-Amzn-Trace-Id" not in request.headers:  # API Gateway starts the request's trace
            headers.append(("X-Amzn-Trace-Id", events.trace_id()))
        query = list(request.query.items())
        started = time.monotonic()
        # The room (or the rooms page's `lobby`), never the query string: it carries the token.
        where = request.query.get("room") or ("lobby" if request.query.get("lobby") else "-")
        where = where[:64] if _PRINTABLE.fullmatch(where) else "?"  # no line breaks into the log
        rejection = await self._authorize(request, api, caller, headers, query)
        if rejection is None:  # an AWS_IAM signature, an API key (authorizers.py)
            rejection = self.access.admit(request, caller)
        if rejection is not None:
            _access("connect", caller.connection_id, where, rejection.status, started)
            return rejection
        connect = self.api.routes.get("$connect")
        if connect is not None:
            event = events.connect_event(api, caller, headers=headers, query=query)
            try:
                result = await self.integrate(
                    self.function(connect.function, connect.handler), event
                )
            except IntegrationTimeout:
                _access("connect", caller.connection_id, where, 504, started)
                return _json(504, {"message": TIMED_OUT})
            except Exception as error:
                _failed("$connect", error)
                _access("connect", caller.connection_id, where, 500, started)
                return _json(500, {"message": "Internal server error"})
            status = result.get("statusCode", 200) if isinstance(result, dict) else 200
            if not 200 <= int(status) < 300:
                body = result.get("body") if isinstance(result, dict) else None
                _access("connect", caller.connection_id, where, int(status), started)
                return web.Response(status=int(status), text=body or "")
        _access("connect", caller.connection_id, where, 200, started)

        ws = LimitedWebSocketResponse(
            max_frame_bytes=self.settings.max_frame_bytes,
            max_message_bytes=self.settings.max_message_bytes,
            autoping=True,
        )
        client = Client(caller=caller, ws=ws, last_active_at=caller.connected_at, meter=self.meter)
        self.meter.opened(caller.connection_id)
        try:
            await ws.prepare(request)
        except ConnectionResetError:
            # Gone during the upgrade, after $connect let it in (and the function may have
            # stored it): API Gateway follows with $disconnect (1006), as for any lost socket.
            self.meter.closed(caller.connection_id)
            await self._disconnect(api, client)
            return ws
        self.clients[caller.connection_id] = client
        session = asyncio.current_task()
        self._sessions.add(session)
        watchdog = asyncio.create_task(self._watchdog(client))
        try:
            await self._serve(api, client)
        finally:
            del self.clients[caller.connection_id]
            self.meter.closed(caller.connection_id)
            watchdog.cancel()
            await self._disconnect(api, client)
            self._sessions.discard(session)
        return ws

    async def meter_read(self, request: web.Request) -> web.Response:
        """`GET /@meter`: what AWS would bill for what this gateway served (meter.py)."""
        return web.json_response(self.meter.snapshot())

    async def _authorize(self, request, api, caller, headers, query) -> web.Response | None:
        connect = self.api.routes.get("$connect")
        authorizer = connect.authorizer if connect else None
        if authorizer is None:
            return None
        for source in authorizer.identity_sources:
            if not identity_value(source, request):
                # API Gateway answers 401 without invoking the authorizer.
                return _json(401, {"message": "Unauthorized"})
        event = events.authorizer_event(api, caller, headers=headers, query=query)
        function = self.function(authorizer.function, authorizer.handler)
        started = time.monotonic()
        try:
            response = await self.invoke(function, event)
            allowed = policy_allows(response, event["methodArn"])
            context = authorizer_context(response)
        except FunctionError as error:
            # Lambda authorizers refuse a caller by raising Exception("Unauthorized").
            if error.document.get("errorMessage") == "Unauthorized":
                return _json(401, {"message": "Unauthorized"})
            _failed("the authorizer", error)
            return _json(500, {"message": "Internal server error"})
        except Exception as error:
            _failed("the authorizer", error)
            return _json(500, {"message": "Internal server error"})
        if not allowed:
            return _json(403, {"message": "Forbidden"})
        caller.authorizer = {"principalId": str(response["principalId"]), **context}
        caller.authorizer_latency = round((time.monotonic() - started) * 1000)
        return None

    async def _serve(self, api: events.Api, client: Client) -> None:
        """Read frames until the socket closes; frames of one client are handled in order."""
        ws = client.ws
        while True:
            message = await ws.receive()
            if message.type == WSMsgType.TEXT:
                self.meter.received(len(message.data.encode()))
                client.last_active_at = events.now_ms()
                client.last_active_mono = time.monotonic()
                await self._dispatch(api, client, message.data)
            elif message.type == WSMsgType.BINARY:
                await client.close(WSCloseCode.UNSUPPORTED_DATA, "Binary frames are not supported")
                return
            else:  # CLOSE, CLOSING, CLOSED or ERROR (aiohttp closed with 1009 if too big)
                return

    def select_route(self, body: str) -> str:
        """Evaluate the route selection expression ($request.body.<path>) against a frame."""
        try:
            value: object = json.loads(body)
        except ValueError:
            return "$default"
        for part in self.api.selection_path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and not value.startswith("$") and value in self.api.routes:
            return value
        return "$default"

    async def _dispatch(self, api: events.Api, client: Client, body: str) -> None:
        route_key = self.select_route(body)
        route = self.api.routes.get(route_key)
        if route is None:  # no route matched and there is no $default: API Gateway's answer
            context = events.message_event(api, client.caller, route_key=route_key, body=body)
            reply = {"message": "Forbidden", "connectionId": client.caller.connection_id}
            reply["requestId"] = context["requestContext"]["requestId"]
            with contextlib.suppress(ConnectionError):
                await client.send(json.dumps(reply))
            return
        event = events.message_event(api, client.caller, route_key=route_key, body=body)
        throttling = self.throttling
        if throttling is not None and not throttling.take(route_key):
            # The stage's or the route's throttle: API Gateway answers, the integration never
            # hears of the frame.
            context = event["requestContext"]
            reply = {"message": TOO_MANY_REQUESTS, "connectionId": context["connectionId"]}
            reply["requestId"] = context["requestId"]
            with contextlib.suppress(ConnectionError):
                await client.send(json.dumps(reply))
            return
        started = time.monotonic()
        try:
            result = await self.integrate(self.function(route.function, route.handler), event)
        except IntegrationTimeout:
            _access(route_key, client.caller.connection_id, "", 504, started)
            context = event["requestContext"]
            reply = json.dumps(
                {
                    "message": TIMED_OUT,
                    "connectionId": context["connectionId"],
                    "requestId": context["requestId"],
                }
            )
        except Exception as error:
            _failed(f"route {route_key}", error)
            _access(route_key, client.caller.connection_id, "", 500, started)
            context = event["requestContext"]
            reply = json.dumps(
                {
                    "message": "Internal server error",
                    "connectionId": context["connectionId"],
                    "requestId": context["requestId"],
                }
            )
        else:
            status = result.get("statusCode", 200) if isinstance(result, dict) else 200
            _access(route_key, client.caller.connection_id, "", status, started)
            # With a route response, the integration's body goes back to the caller.
            reply = result.get("body") if route.two_way and isinstance(result, dict) else None
        if reply and not client.ws.closed:
            # The client may leave while its frame is handled: API Gateway drops the reply then.
            with contextlib.suppress(ConnectionError):
                await client.send(reply)

    async def integrate(self, function: Function, event: dict) -> object:
        """Invoke as a route's integration does: IntegrationTimeout past the integration
        timeout, while the function runs on up to its own Timeout (its late result dropped)."""
        invocation = asyncio.ensure_future(self.invoke(function, event))
        try:
            return await asyncio.wait_for(
                asyncio.shield(invocation), self.settings.integration_timeout
            )
        except TimeoutError:
            self._events.add(invocation)  # the gateway's stop() waits for it as for events
            invocation.add_done_callback(functools.partial(self._late, function.logical_id))
            raise IntegrationTimeout from None

    def _late(self, logical_id: str, invocation: asyncio.Future) -> None:
        self._events.discard(invocation)
        error = None if invocation.cancelled() else invocation.exception()
        if error is not None:  # the client has had its answer: the function's own log tells
            logger.warning("%s, past the integration timeout, failed: %s", logical_id, error)

    async def unknown_path(self, request: web.Request) -> web.Response:
        """Another stage than this gateway's (or no stage): API Gateway's 403."""
        if "/@connections/" in request.path:  # the Management API's typed error
            return request_id(_json(403, {"message": "Forbidden"}, error_type="ForbiddenException"))
        return _json(403, {"message": "Forbidden"})

    async def _watchdog(self, client: Client) -> None:
        """Close with 1001 after the idle timeout or the maximum connection lifetime."""
        settings = self.settings
        while True:
            idle_deadline = client.last_active_mono + settings.idle_timeout
            max_deadline = client.opened_mono + settings.max_lifetime
            wait = min(idle_deadline, max_deadline) - time.monotonic()
            if wait <= 0:
                await client.close(WSCloseCode.GOING_AWAY, "Going away")
                return
            await asyncio.sleep(wait)

    async def _disconnect(self, api: events.Api, client: Client) -> None:
        if client.closed_by_server is not None:
            code, reason = client.closed_by_server
        elif client.ws.close_code in (None, WSCloseCode.ABNORMAL_CLOSURE):
            code, reason = 1006, "Connection closed abnormally"
        elif client.ws.close_code in (0, 1005):
            code, reason = 1005, "Client-side close frame status not set"
        else:
            code, reason = client.ws.close_code, "Client closed the connection"
        route = self.api.routes.get("$disconnect")
        if route is None:
            return
        event = events.disconnect_event(api, client.caller, status_code=code, reason=reason)
        started = time.monotonic()
        try:
            await self.invoke(self.function(route.function, route.handler), event)
        except Exception as error:
            _failed("$disconnect", error)
            _access("disconnect", client.caller.connection_id, f"close {code}", 500, started)
        else:
            _access("disconnect", client.caller.connection_id, f"close {code}", 200, started)


class GatewayThread:
    """Runs a LocalGateway on its own event loop in a background thread (tests, benchmarks)."""

    def __init__(self, api: WebSocketApi, settings: Settings | None = None) -> None:
        self.gateway = LocalGateway(api, settings)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="gateway", daemon=True)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> LocalGateway:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.gateway.start(host, port), self.loop).result(10)
        return self.gateway

    def call(self, coroutine, timeout: float = 10):
        """Run a coroutine on the gateway's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.call(self.gateway.stop(), timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


if __name__ == "__main__":
    from emulator.cli import main

    main()
