"""The custom domain and Route 53, on one machine: one address in front of two "Regions'"
gateways that sends each new connection where Route 53's failover routing would.

What it plays (docs/multi-region.md; template.yaml's failover records and health checks):

- **Health checks**: each Region's health route (its HealthFunction's function URL) is asked
  every `interval` seconds with a `timeout`; `threshold` failures in a row make the Region
  unhealthy, `threshold` successes in a row healthy again (Route 53's failure threshold).
- **Failover routing**: the answer is the primary while it is healthy, else the secondary if it
  is; when both are unhealthy Route 53 answers the primary, and so does this.
- **DNS caching**: an answer is kept `ttl` seconds (the record's TTL), so for that long after a
  switch new connections still go where the old answer said (and fail there, as a browser's
  would, until its resolver asks again).

It never closes a socket: Route 53 moves only new connections. A Region that dies closes its
own sockets (its gateway is gone); one still alive keeps its pages, which is what the
active-Region fence is for. A connection the chosen Region refuses or cannot take is refused
here too (502, no upgrade), as a browser's handshake to a dead endpoint fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from aiohttp import ClientSession, ClientTimeout, ClientWSTimeout, WSMsgType, web
from aiohttp.client_exceptions import ClientError, WSServerHandshakeError

logger = logging.getLogger("devstack.front")


@dataclass
class Region:
    name: str
    websocket: str  # the gateway's ws://host:port (the stage's path comes from the request)
    health: str  # its health route's URL
    healthy: bool = True  # Route 53 starts a new check as healthy
    streak: int = 0  # checks in a row that disagreed with `healthy`
    checks: int = 0
    failures: int = 0
    changed: list[tuple[float, bool]] = field(default_factory=list)  # (monotonic, healthy)


class Front:
    """An aiohttp server relaying WebSockets to the Region failover routing picks."""

    def __init__(
        self,
        primary: Region,
        secondary: Region,
        *,
        interval: float = 30.0,
        threshold: int = 3,
        timeout: float = 2.0,
        ttl: float = 60.0,
        clock=time.monotonic,
    ) -> None:
        self.primary, self.secondary = primary, secondary
        self.clock = clock
        self.interval, self.threshold, self.timeout, self.ttl = interval, threshold, timeout, ttl
        self.port: int | None = None
        self.relayed: dict[str, int] = {primary.name: 0, secondary.name: 0}  # connections
        self.refused: dict[str, int] = {primary.name: 0, secondary.name: 0}
        self.answers: list[tuple[float, str]] = []  # (monotonic, Region) each time DNS changed
        self._answer: tuple[Region, float] | None = None  # the cached answer, when it was got
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._probe: asyncio.Task | None = None

    @property
    def regions(self) -> tuple[Region, Region]:
        return self.primary, self.secondary

    def url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Front:
        # No limit on a relayed socket's life; 10 s to connect and to hear the handshake.
        self._session = ClientSession(
            timeout=ClientTimeout(total=None, sock_connect=10, sock_read=None)
        )
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._connect)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._probe = asyncio.create_task(self._check_forever())
        return self

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # -- Route 53 --------------------------------------------------------------------------------

    def choose(self) -> Region:
        """Failover routing: the primary if healthy, else a healthy secondary, else the
        primary."""
        if self.primary.healthy or not self.secondary.healthy:
            return self.primary
        return self.secondary

    def resolve(self) -> Region:
        """What a client's resolver answers now: the routing's answer, cached `ttl` seconds."""
        now = self.clock()
        if self._answer is None or now - self._answer[1] >= self.ttl:
            region = self.choose()
            if self._answer is None or self._answer[0] is not region:
                self.answers.append((now, region.name))
            self._answer = (region, now)
        return self._answer[0]

    async def check(self, region: Region) -> bool:
        """One health check: a 2xx within the timeout."""
        assert self._session is not None
        try:
            async with self._session.get(
                region.health, timeout=ClientTimeout(total=self.timeout)
            ) as answer:
                await answer.read()
                return 200 <= answer.status < 300
        except (ClientError, TimeoutError, OSError):
            return False

    async def check_all(self) -> None:
        results = await asyncio.gather(*(self.check(region) for region in self.regions))
        now = self.clock()
        for region, ok in zip(self.regions, results, strict=True):
            region.checks += 1
            region.failures += not ok
            region.streak = 0 if ok == region.healthy else region.streak + 1
            if region.streak >= self.threshold:
                region.healthy, region.streak = ok, 0
                region.changed.append((now, ok))
                logger.warning("%s is now %s", region.name, "healthy" if ok else "unhealthy")

    async def _check_forever(self) -> None:
        while True:
            started = time.monotonic()
            await self.check_all()
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    # -- the relay -------------------------------------------------------------------------------

    async def _connect(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        region = self.resolve()
        try:
            upstream = await self._session.ws_connect(
                region.websocket + request.path_qs,
                timeout=ClientWSTimeout(ws_close=10.0),
                autoping=False,
                max_msg_size=0,
            )
        except WSServerHandshakeError as refused:  # the Region answered: pass its status on
            self.refused[region.name] += 1
            return web.Response(status=refused.status, text=f"{region.name}: {refused.message}")
        except (ClientError, TimeoutError, OSError) as error:
            self.refused[region.name] += 1
            return web.Response(status=502, text=f"{region.name} unreachable: {error}")
        self.relayed[region.name] += 1
        ws = web.WebSocketResponse(autoping=False, max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            await asyncio.gather(_pipe(ws, upstream), _pipe(upstream, ws))
        finally:
            self._sockets.discard(ws)
            await upstream.close()
            await ws.close()
        return ws


async def _pipe(source, destination) -> None:
    """Frames from one side to the other until either closes; closing one closes the other
    with the same code."""
    async for message in source:
        if message.type == WSMsgType.TEXT:
            await destination.send_str(message.data)
        elif message.type == WSMsgType.BINARY:
            await destination.send_bytes(message.data)
        elif message.type == WSMsgType.PING:
            await destination.ping(message.data)
        elif message.type == WSMsgType.PONG:
            await destination.pong(message.data)
        else:
            break
    code = source.close_code
    sendable = code is not None and 1000 <= code < 5000 and code not in (1005, 1006, 1015)
    await destination.close(code=code if sendable else 1011)
