"""The local gateway for the fan-out benchmark: template.yaml's routes, but a trivial $connect.

The real $connect authorizes and announces presence to the whole room, so filling one room with
N sockets costs O(N^2) posts; here sockets join without either, and the benchmark writes their
connection items itself. Everything fan-out touches (the @connections API, its delay, the
sockets) is the gateway's own code.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import resource
from pathlib import Path

from aiohttp import web

from devstack import FUNCTION_SETTINGS, PRELOAD
from emulator.gateway import LocalGateway, Settings
from emulator.template import load_template, read_api

ROOT = Path(__file__).resolve().parents[1]


def bench_connect(event: dict, context: object) -> dict:
    return {"statusCode": 200}


async def serve(port: int, post_delay: float) -> None:
    # From the source tree, in execution environments as `make run` runs them: each fan-out shard
    # in an environment of the fan-out function, in parallel with the others.
    # The template's stage is the bench's (its tables, which the roles grant: bench/stack.py).
    stage = os.environ.get("STAGE", "local")
    api = read_api(load_template(), code_dir=ROOT, parameters={"StageName": stage})
    connect = dataclasses.replace(
        api.routes["$connect"], handler="bench.fanout_gateway.bench_connect", authorizer=None
    )
    api = dataclasses.replace(api, routes={**api.routes, "$connect": connect})
    local = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", *FUNCTION_SETTINGS)
    settings = Settings(
        post_delay=post_delay,
        mode="process",
        preload=PRELOAD,
        prewarm=True,
        environment_overrides={name: os.environ[name] for name in local if os.environ.get(name)},
    )
    gateway = LocalGateway(api, settings)

    async def clients(request: web.Request) -> web.Response:
        return web.json_response(list(gateway.clients))

    gateway.app.router.add_get("/bench/clients", clients)
    await gateway.start("127.0.0.1", port)
    await gateway.prewarmed
    print(f"@connections API   {gateway.management_url}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--post-delay-ms", type=float, default=20.0)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(serve(args.port, args.post_delay_ms / 1000))


if __name__ == "__main__":
    main()
