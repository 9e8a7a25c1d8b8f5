"""How a local gateway is set up: API Gateway's limits, the stage, and how functions run."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emulator.sigv4 import Credentials
from emulator.throttles import StageThrottles

# API Gateway's WebSocket quotas ("Quotas for configuring and running a WebSocket API in API
# Gateway"): a frame holds at most 32 KB, a message of several frames 128 KB (131,072 bytes);
# either one larger closes the connection with 1009. Integrations time out after 29 seconds.
MAX_FRAME_BYTES = 32 * 1024
MAX_MESSAGE_BYTES = 128 * 1024
INTEGRATION_TIMEOUT = 29.0
IDLE_TIMEOUT = 10 * 60
MAX_LIFETIME = 2 * 60 * 60


@dataclass
class PostFaults:
    """Faults the gateway injects into @connections POSTs, to prove recovery: each POST (to the
    connections or users named, or to all) fails with these probabilities — `drop`: answered
    200 but never delivered (what no caller can see), `error`: 500, `timeout`: no answer for
    `hang` seconds (the caller's timeout), then a 504 — and waits `delay` seconds more first.
    Changed at any time (tests target one page's user); from `--post-faults` for a whole stack.
    """

    drop: float = 0.0
    error: float = 0.0
    timeout: float = 0.0
    delay: float = 0.0
    hang: float = 10.0
    connections: frozenset[str] | None = None  # connection ids, or None: every connection
    users: frozenset[str] | None = None  # user ids (the authorizer's principal), or None
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("drop", "error", "timeout"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"post fault {name} is a probability, 0 to 1")
        if self.drop + self.error + self.timeout > 1:
            raise ValueError("post fault probabilities add up to more than 1")
        self._random = random.Random(self.seed)

    @classmethod
    def parse(cls, text: str) -> PostFaults:
        """`drop=0.1,error=0.01,timeout=0.01,delay=0.05,seed=7` (delay and hang in seconds)."""
        values: dict = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            if name not in ("drop", "error", "timeout", "delay", "hang", "seed"):
                raise ValueError(f"unknown post fault {name!r}")
            values[name] = int(value) if name == "seed" else float(value)
        return cls(**values)

    def pick(self, connection_id: str, user_id: str | None) -> str | None:
        """The fault for one POST ("drop", "error", "timeout") or None: delivered."""
        if self.connections is not None and connection_id not in self.connections:
            return None
        if self.users is not None and user_id not in self.users:
            return None
        roll = self._random.random()
        for name in ("drop", "error", "timeout"):
            chance = getattr(self, name)
            if roll < chance:
                return name
            roll -= chance
        return None


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
    max_frame_bytes: int = MAX_FRAME_BYTES
    # Seconds a route's integration may take before the client gets API Gateway's timeout
    # answer; the function runs on up to its own Timeout. (Tests make it short.)
    integration_timeout: float = INTEGRATION_TIMEOUT
    workers: int = 16  # thread mode: the pool every handler runs in
    # Seconds each @connections POST waits before delivering: emulates API Gateway's round trip
    # so fan-out benchmarks measure parallelism rather than loopback speed.
    post_delay: float = 0.0
    post_faults: PostFaults = field(default_factory=PostFaults)
    mode: str = "thread"  # or "process": each function in execution environments of its own
    # Process mode: how many environments a function without ReservedConcurrentExecutions may
    # have; invocations beyond it wait for one (AWS's account pool would not throttle them).
    concurrency: int = 10
    # Variables on top of every function's environment (`sam local --env-vars`' "Parameters"),
    # then those of one function, by logical id: the local endpoints the template cannot name.
    environment_overrides: dict[str, str] = field(default_factory=dict)
    function_overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    # Thread mode: the functions run in this process, whose environment the gateway leaves as it
    # is. It calls this with the variables they would find in environments of their own (those
    # above, the local endpoints, the variables naming functions) when it starts and after
    # reconfigure(), for the embedding program to configure its handlers from; None: nobody
    # needs them (handlers that read nothing, or configured otherwise).
    thread_environment: Callable[[dict[str, str]], None] | None = None
    python: str = sys.executable  # the workers' interpreter: this one has the dependencies
    # Lambda's /var/runtime: a folder holding awslambdaric for `python`, first on the workers'
    # PYTHONPATH (the package under test brings everything else); None: `python`'s own.
    runtime_dir: Path | None = None
    # Scale-up on this machine's few CPUs (emulator/pool.py): environments of one function
    # initialising at once, and how long an invocation waits for a busy one to free up first.
    cold_starts: int = 1
    warm_wait: float = 0.2
    # Process mode: libraries each function's zygote imports before forking its environments
    # (emulator/zygote.py); None starts every environment as a fresh interpreter.
    preload: tuple[str, ...] | None = ("boto3",)
    # Start every function's zygote when the gateway starts (the CLI does), not on first use.
    prewarm: bool = False
    # Process mode: each function signs with credentials of its own role, whose policies (from
    # the template) its DynamoDB, @connections and Invoke calls must satisfy (iam.py).
    iam: bool = True
    # Meter DynamoDB's units as functions call it through the relay (IAM on): each call asks
    # for its consumed capacity, each single-item write reads the item before and after.
    meter_dynamodb: bool = False
    # Appended to with each grant the first time it allows a call (many gateways may share it),
    # for `make iam-report`: the grants no test exercised. Default: $EMULATOR_IAM_USAGE.
    iam_usage: Path | None = field(default_factory=lambda: _environ_path("EMULATOR_IAM_USAGE"))
    # The HTTPS (and wss://) listener, with certificates of a development CA made in this folder
    # on first use (emulator/tls.py); None: plain HTTP only, and `domainName` is its host.
    tls_dir: Path | None = None
    tls_port: int = 0
    # API Gateway's stage and route throttles (emulator/throttles.py): the template's
    # (DefaultRouteSettings, RouteSettings) with `throttle`, or `throttles` if given. The command
    # line enforces them unless `--no-throttle`; a gateway embedded in a program (a test) does
    # only when asked, since one such gateway usually serves many tests at once.
    throttle: bool = False
    throttles: StageThrottles | None = None
    # Route authorization (authorizers.py): the access keys a SigV4-signed handshake may use
    # on an `AWS_IAM` $connect, besides the key the gateway issues when it starts (`issue_key`),
    # and the API keys an `ApiKeyRequired` $connect accepts besides the template's.
    # Asynchronous invocations (emulator/functions.py): the waits before a failed event's
    # first, second … retry (AWS: about a minute, then two; tests make them short), and a file
    # of JSON lines that receives each event given up (its OnFailure destination's record).
    retry_delays: tuple[float, ...] = (60.0, 120.0)
    failed_events: Path | None = None
    credentials: tuple[Credentials, ...] = ()
    issue_key: bool = True
    api_keys: tuple[str, ...] = ()
