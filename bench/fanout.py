"""Fan-out time to N real WebSocket connections, `broadcast()` against a sequential loop.

The gateway delays each @connections POST by 20 ms (API Gateway's round trip); the clients run
in their own process (10,000 sockets on each side do not fit one process's descriptor limit)
and count every frame they receive, so a loss or a duplicate shows. Fan-out time runs from the
call of `broadcast()` to the arrival of the last frame at a client. The same run measures the
client CPU per POST of boto3's `post_to_connection` and of the lean client side by side;
`python -m bench.fanout [--posts N]` measures only that, with N sockets.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench import stack
from bench.stack import Process

SIZES = (100, 1_000, 10_000)
SEQUENTIAL_SAMPLE = 1_000  # the sequential loop at 10,000 x 20 ms would take over 200 s
POST_DELAY_MS = 20.0
# (label, FANOUT_CONCURRENCY, sharded): sharded variants run only for rooms above the shard size.
VARIANTS = (("in-process", 64, False), ("in-process", 128, False), ("sharded", 64, True))
CPU_POSTS = 2_000  # posts per client for the CPU comparison (sequential boto3: a sample)
SEQUENTIAL_CPU_SAMPLE = 200
CPU_ROUNDS = 3
CPU_TARGET_MS = 0.2


@dataclass
class Row:
    size: int
    variant: str
    concurrency: int
    seconds: float  # broadcast() called -> last frame arrived
    returned: float  # broadcast() called -> returned
    expected: int
    delivered: int
    duplicates: int
    shards: int
    cpu_seconds: float


@dataclass
class CpuRow:
    client: str
    posts: int
    delivered: int
    duplicates: int
    cpu_seconds: float  # process_time() of this process: every thread, the loop's included
    seconds: float

    @property
    def ms_per_post(self) -> float:
        return self.cpu_seconds / self.posts * 1000


class Swarm:
    def __init__(self) -> None:
        self.process = Process(["-m", "bench.swarm"], ready="ready")

    def ask(self, line: str) -> dict:
        self.process.popen.stdin.write(line + "\n")
        self.process.popen.stdin.flush()
        return json.loads(self.process.popen.stdout.readline())


def _fill_room(room: str, connection_ids: list[str]) -> None:
    from lambdas.models import Connection, utcnow

    now = utcnow()
    with Connection.batch_write() as batch:
        for connection_id in connection_ids:
            batch.save(
                Connection(
                    connection_id,
                    user_id=connection_id[:6],
                    username="bench",
                    room=room,
                    connected_at=now,
                    expires_at=now + timedelta(hours=2),
                )
            )


def _sequential(api, room: str, payload: dict, limit: int) -> int:
    """The AWS sample's loop: boto3's post_to_connection to each connection in turn."""
    from lambdas.services.broadcast import room_connection_ids

    posted, data = 0, json.dumps(payload).encode()
    for connection_id in itertools.islice(room_connection_ids(room=room), limit):
        api.client.post_to_connection(ConnectionId=connection_id, Data=data)
        posted += 1
    return posted


def _cpu_per_post(url: str, ids: list[str], swarm: Swarm, seq: Callable[[], int]) -> list[CpuRow]:
    """Client CPU per POST to live sockets: boto3 (in turn; 32 threads, the former broadcast)
    against the lean client (64 in flight, FANOUT_CONCURRENCY's default), each warmed up."""
    from lambdas.config import get_config
    from lambdas.fanout_client import FanoutClient
    from lambdas.management import ManagementApi

    lean_client = FanoutClient(url, region=get_config().region, concurrency=64)
    api = ManagementApi(url, poster=lean_client)
    boto3_post = api.client.post_to_connection

    def in_turn(chunk: list[str], data: bytes) -> None:
        for connection_id in chunk:
            boto3_post(ConnectionId=connection_id, Data=data)

    def threads(chunk: list[str], data: bytes) -> None:
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda c: boto3_post(ConnectionId=c, Data=data), chunk))

    def lean(chunk: list[str], data: bytes) -> None:
        posted = api.post_many(chunk, data)
        assert posted.delivered == len(chunk), posted

    rows = []
    clients = (
        ("boto3 post_to_connection, one after another", in_turn, SEQUENTIAL_CPU_SAMPLE),
        ("boto3 post_to_connection, 32 threads (the former broadcast)", threads, len(ids)),
        ("lean client post_many (aiohttp + SigV4Auth), 64 in flight", lean, len(ids)),
    )
    for label, post, count in clients:
        post(ids[:50], json.dumps({"warm-up": True}).encode())  # pools, imports, first signing
        chunk, runs = ids[:count], []
        for _ in range(CPU_ROUNDS):
            n = seq()
            cpu, started = time.process_time(), time.perf_counter()
            post(chunk, json.dumps({"seq": n}).encode())
            cpu, seconds = time.process_time() - cpu, time.perf_counter() - started
            got = swarm.ask(f"wait {n} {len(chunk)} 30")
            runs.append(
                CpuRow(
                    label, len(chunk), got["sockets"], got["frames"] - got["sockets"], cpu, seconds
                )
            )
        # The median round: other work on the machine inflates some rounds' CPU time.
        median = sorted(runs, key=lambda row: row.cpu_seconds)[len(runs) // 2]
        median.delivered = min(row.delivered for row in runs)
        median.duplicates = max(row.duplicates for row in runs)
        rows.append(median)
    lean_client.close()
    return rows


def _configure(port: int, concurrency: int, sharded: bool) -> None:
    """This process's broadcasts (fan-out's caller, measured here) with `concurrency` posts in
    flight, in-process or, `sharded`, through the gateway's fan-out function."""
    from emulator.template import load_template, read_api
    from lambdas.config import configure, load_config

    env = {**os.environ, "FANOUT_CONCURRENCY": str(concurrency)}
    env |= {"FANOUT_FUNCTION_NAME": "", "LAMBDA_ENDPOINT_URL": ""}
    if sharded:  # as the gateway configures its own functions: shards go to its Invoke API
        env |= read_api(load_template()).function_variables
        env["LAMBDA_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    configure(load_config(env))


def run(*, port: int, log) -> dict:
    from lambdas.config import get_config
    from lambdas.management import management_api
    from lambdas.services.broadcast import broadcast, room_connection_ids

    gateway, swarm = _start(port)
    url = f"http://127.0.0.1:{port}/local"
    rows: list[Row] = []
    baselines: dict[int, tuple[int, float, int, int]] = {}
    hidden: dict[int, int] = {}
    seq = itertools.count(1)
    try:
        opened, ids = _open(port, swarm, max(SIZES), log)
        cpu_rows = _cpu_per_post(url, ids[:CPU_POSTS], swarm, lambda: next(seq))
        for row in cpu_rows:
            log(f"fan-out {row} {row.ms_per_post:.3f} ms CPU per post")
        for size in SIZES:
            room = f"fanout-{size}"
            _fill_room(room, ids[:size])
            # dynalite keys index entries by a 24-bit hash of the table key: in a room of
            # 10,000 a few entries collide and vanish from the index (DynamoDB has no such
            # limit). Deliveries are checked against what the index returns; the gap is reported.
            read = sum(1 for _ in room_connection_ids(room=room))
            hidden[size] = size - read
            for variant, concurrency, sharded in VARIANTS:
                _configure(port, concurrency, sharded)
                if sharded and size <= get_config().fanout_shard_size:
                    continue
                if sharded and not get_config().fanout_function_name:
                    log("fan-out: no fan-out function in template.yaml; sharded variant skipped")
                    continue
                n = next(seq)
                cpu = time.process_time()
                called = time.time()
                result = broadcast(api=management_api(url), room=room, payload={"seq": n})
                returned = time.time() - called
                cpu = time.process_time() - cpu
                got = swarm.ask(f"wait {n} {read} 60")
                row = Row(
                    size=size,
                    variant=variant,
                    concurrency=concurrency,
                    seconds=(got["last"] or called) - called,
                    returned=returned,
                    expected=read,
                    delivered=got["sockets"],
                    duplicates=got["frames"] - got["sockets"],
                    shards=getattr(result, "shards", 0),
                    cpu_seconds=cpu,
                )
                rows.append(row)
                log(f"fan-out {row}")
            _configure(port, 64, False)
            n = next(seq)
            limit = min(read, SEQUENTIAL_SAMPLE)
            started = time.perf_counter()
            posted = _sequential(management_api(url), room, {"seq": n}, limit)
            seconds = time.perf_counter() - started
            got = swarm.ask(f"wait {n} {posted} 30")
            lost, dup = posted - got["sockets"], got["frames"] - got["sockets"]
            baselines[size] = (posted, seconds, lost, dup)
            log(f"sequential N={size}: {posted} posts in {seconds:.2f}s, {got}")
    finally:
        swarm.process.stop()
        gateway.stop()
    return {
        "opened": opened,
        "rows": rows,
        "baselines": baselines,
        "hidden": hidden,
        "cpu": cpu_rows,
    }


def _start(port: int) -> tuple[Process, Swarm]:
    gateway = Process(
        ["-m", "bench.fanout_gateway", "--port", str(port), "--post-delay-ms", str(POST_DELAY_MS)],
        ready="@connections API",
        drain=True,
    )
    return gateway, Swarm()


def _open(port: int, swarm: Swarm, count: int, log) -> tuple[int, list[str]]:
    """Open `count` sockets; their connection ids, as the gateway knows them."""
    started = time.monotonic()
    opened = swarm.ask(f"open ws://127.0.0.1:{port}/local {count}")["opened"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/clients") as response:
        ids = json.load(response)
    log(
        f"fan-out: {opened} sockets open ({len(ids)} at the gateway) in "
        f"{time.monotonic() - started:.1f}s"
    )
    return opened, ids


def main() -> None:
    """Only the CPU comparison, with its own dynalite, gateway and swarm."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--posts", type=int, default=CPU_POSTS)
    args = parser.parse_args()
    from devstack.dynamodb import free_port

    stack.raise_nofile()
    with tempfile.TemporaryDirectory() as work:
        stack.configure(Path(work))
        dynalite = stack.start_dynalite()
        port = free_port()
        gateway, swarm = _start(port)
        seq = itertools.count(1)
        try:
            _, ids = _open(port, swarm, args.posts, print)
            rows = _cpu_per_post(f"http://127.0.0.1:{port}/local", ids, swarm, lambda: next(seq))
            from bench.fanout_report import report_cpu

            print(report_cpu(rows))
        finally:
            swarm.process.stop()
            gateway.stop()
            dynalite.stop()


if __name__ == "__main__":
    main()
