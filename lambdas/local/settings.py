"""How a local gateway is set up: API Gateway's limits, the stage, and how functions run."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message limit (131,072 bytes)
IDLE_TIMEOUT = 10 * 60
MAX_LIFETIME = 2 * 60 * 60


def _environ_path(name: str) -> Path | None:
    return Path(os.environ[name]) if os.environ.get(name) else None


@dataclass
class Settings:
    stage: str = "local"
    api_id: str = "local"
    region: str = "us-east-1"
    idle_timeout: float = IDLE_TIMEOUT
    max_lifetime: float = MAX_LIFETIME
    max_message_bytes: int = MAX_MESSAGE_BYTES
    workers: int = 16  # thread mode: the pool every handler runs in
    # Seconds each @connections POST waits before delivering: emulates API Gateway's round trip
    # so fan-out benchmarks measure parallelism rather than loopback speed.
    post_delay: float = 0.0
    mode: str = "thread"  # or "process": each function in execution environments of its own
    # Process mode: how many environments a function without ReservedConcurrentExecutions may
    # have; invocations beyond it wait for one (AWS's account pool would not throttle them).
    concurrency: int = 10
    # Variables on top of every function's environment (`sam local --env-vars`' "Parameters"),
    # then those of one function, by logical id: the local endpoints the template cannot name.
    environment_overrides: dict[str, str] = field(default_factory=dict)
    function_overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    python: str = sys.executable  # the workers' interpreter: this one has the dependencies
    # Lambda's /var/runtime: a folder holding awslambdaric for `python`, first on the workers'
    # PYTHONPATH (the package under test brings everything else); None: `python`'s own.
    runtime_dir: Path | None = None
    # Scale-up on this machine's few CPUs (lambdas/local/pool.py): environments of one function
    # initialising at once, and how long an invocation waits for a busy one to free up first.
    cold_starts: int = 1
    warm_wait: float = 0.2
    # Process mode: libraries each function's zygote imports before forking its environments
    # (lambdas/local/zygote.py); None starts every environment as a fresh interpreter.
    preload: tuple[str, ...] | None = ("boto3",)
    # Start every function's zygote when the gateway starts (the CLI does), not on first use.
    prewarm: bool = False
    # Process mode: each function signs with credentials of its own role, whose policies (from
    # the template) its DynamoDB, @connections and Invoke calls must satisfy (iam.py).
    iam: bool = True
    # Appended to with each grant the first time it allows a call (many gateways may share it),
    # for `make iam-report`: the grants no test exercised. Default: $DYNAMOWAVE_IAM_USAGE.
    iam_usage: Path | None = field(default_factory=lambda: _environ_path("DYNAMOWAVE_IAM_USAGE"))
    # The HTTPS (and wss://) listener, with certificates of a development CA made in this folder
    # on first use (lambdas/local/tls.py); None: plain HTTP only, and `domainName` is its host.
    tls_dir: Path | None = None
    tls_port: int = 0
