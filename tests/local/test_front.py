"""The local front plays the custom domain and Route 53 for the drill (devstack/front.py): new
connections go to the primary while its health checks pass, to the secondary once `threshold`
of them in a row fail, back once as many pass; a DNS answer is kept for the TTL; a Region that
refuses is refused; frames and close codes pass both ways. The two "Regions" here are small
aiohttp servers with a health route and a WebSocket echo (the stand-ins of API Gateway and a
function URL; the drill's test runs the real gateways)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiohttp import WSMsgType, web
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from devstack.front import Front, Region
from tests.helpers import Clock


class Upstream:
    """A Region's endpoint: /health answers `status`; any other path is a WebSocket that
    answers each text frame with `<name>:<frame>` and closes with 4000+n on "close n"."""

    def __init__(self, name: str) -> None:
        self.name, self.status, self.accept = name, 200, True
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> Upstream:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/{tail:.*}", self._socket)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.port = self.runner.addresses[0][1]
        return self

    def region(self) -> Region:
        base = f"127.0.0.1:{self.port}"
        return Region(self.name, f"ws://{base}", f"http://{base}/health")

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(status=self.status)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if not self.accept:
            return web.Response(status=403)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(f"{self.name}:{request.path_qs}")
        async for message in ws:
            if message.type == WSMsgType.TEXT and message.data.startswith("close "):
                await ws.close(code=4000 + int(message.data.split()[1]))
            elif message.type == WSMsgType.TEXT:
                await ws.send_str(f"{self.name}:{message.data}")
        return ws


@pytest.fixture
def regions():
    loop = asyncio.new_event_loop()
    a, b = (loop.run_until_complete(Upstream(name).start()) for name in ("A", "B"))
    yield loop, a, b
    for upstream in (a, b):
        loop.run_until_complete(upstream.runner.cleanup())
    loop.close()


@contextlib.asynccontextmanager
async def running(front: Front):
    await front.start()
    try:
        yield front
    finally:
        await front.stop()


def front_of(a: Upstream, b: Upstream, **options) -> Front:
    # No checks of its own between the test's (check_all): a long interval after the first.
    return Front(a.region(), b.region(), interval=3600, **options)


async def hello(front: Front, path: str = "/local?room=general") -> str:
    async with connect(front.url(path)) as ws:
        return await ws.recv()


def test_frames_and_close_codes_pass_both_ways(regions):
    loop, a, b = regions

    async def scenario():
        async with running(front_of(a, b)) as front:
            async with connect(front.url("/local?token=t")) as ws:
                assert await ws.recv() == "A:/local?token=t"  # the path and query, as sent
                await ws.send("hi")
                assert await ws.recv() == "A:hi"
                await ws.send("close 1")
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
            assert closed.value.rcvd.code == 4001
            assert front.relayed == {"A": 1, "B": 0}

    loop.run_until_complete(scenario())


def test_failover_after_threshold_failures_and_back_after_as_many_passes(regions):
    loop, a, b = regions

    async def scenario():
        async with running(front_of(a, b, threshold=3, ttl=0)) as front:
            assert await hello(front) == "A:/local?room=general"
            a.status = 503
            for _ in range(2):  # two failures: still the primary
                await front.check_all()
            assert front.primary.healthy and (await hello(front)).startswith("A:")
            await front.check_all()
            assert not front.primary.healthy
            assert (await hello(front)).startswith("B:")
            a.status = 200
            for _ in range(2):
                await front.check_all()
            assert (await hello(front)).startswith("B:")  # not yet: three passes in a row
            await front.check_all()
            assert (await hello(front)).startswith("A:")
            assert [ok for _, ok in front.primary.changed] == [False, True]

    loop.run_until_complete(scenario())


def test_an_answer_is_kept_for_the_ttl(regions):
    loop, a, b = regions
    clock = Clock()

    async def scenario():
        async with running(front_of(a, b, threshold=1, ttl=60, clock=clock)) as front:
            assert (await hello(front)).startswith("A:")
            a.status = 503
            await front.check_all()
            assert not front.primary.healthy
            clock.now += 59  # cached: still the primary, which is down
            assert (await hello(front)).startswith("A:")
            clock.now += 1
            assert (await hello(front)).startswith("B:")
            assert [name for _, name in front.answers] == ["A", "B"]

    loop.run_until_complete(scenario())


def test_both_unhealthy_answers_the_primary(regions):
    loop, a, b = regions

    async def scenario():
        async with running(front_of(a, b, threshold=1, ttl=0)) as front:
            a.status = b.status = 503
            await front.check_all()
            assert not front.primary.healthy and not front.secondary.healthy
            assert (await hello(front)).startswith("A:")

    loop.run_until_complete(scenario())


def test_a_region_that_refuses_or_is_gone_is_refused(regions):
    loop, a, b = regions

    async def scenario():
        async with running(front_of(a, b, ttl=0)) as front:
            a.accept = False
            with pytest.raises(InvalidStatus) as refused:
                await hello(front)
            assert refused.value.response.status_code == 403  # the Region's own answer
            await a.runner.cleanup()  # the Region is gone: nothing listens
            with pytest.raises(InvalidStatus) as gone:
                await hello(front)
            assert gone.value.response.status_code == 502
            assert front.refused == {"A": 2, "B": 0}
            assert not await front.check(front.primary)

    loop.run_until_complete(scenario())
