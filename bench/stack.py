"""The local stack for benchmarks: environment, dynalite, token keys, gateway subprocesses."""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from emulator.processes import terminate

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
LOGS = ROOT / "test-artifacts" / "bench"  # git-ignored; each child process's stderr
ISSUER, AUDIENCE = "dynamowave-site", "dynamowave-websocket"


def raise_nofile() -> int:
    """Raise the open-file limit to the hard limit (every socket is a descriptor)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Keys:
    """A throwaway Ed25519 key pair; the authorizer reads the public half from a file."""

    def __init__(self, directory: Path) -> None:
        self.private = Ed25519PrivateKey.generate()
        pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_file = directory / "token-public-key.pem"
        self.public_file.write_bytes(pem)

    def token(self, user_id: str, username: str) -> str:
        # As the site issues them: 5 minutes (the authorizer refuses more than 10).
        now = int(time.time())
        claims = {"sub": user_id, "username": username, "staff": False, "iss": ISSUER}
        claims |= {"aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 300}
        return jwt.encode(claims, self.private, algorithm="EdDSA")


def configure(work: Path) -> Keys:
    """Point this process (and the children it starts) at throwaway local tables and keys."""
    keys = Keys(work)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        # The template's tables for StageName "bench": the ones its roles grant (IAM is
        # enforced in the local stack); each section has a dynalite of its own.
        STAGE="bench",
        TABLE_PREFIX="dynamowave-bench-",
        TOKEN_PUBLIC_KEY_FILE=str(keys.public_file),
        TOKEN_ISSUER=ISSUER,
        TOKEN_AUDIENCE=AUDIENCE,
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "MANAGEMENT_ENDPOINT_URL"):
        os.environ.pop(name, None)
    return keys


def start_dynalite():
    """An in-memory dynalite with the tables created; the caller stops it."""
    from devstack.dynamodb import Dynalite, ensure_tables
    from lambdas.config import configure, load_config

    server = Dynalite().start()
    # In the environment too: the gateways and client swarms this process starts inherit it.
    os.environ["DYNAMODB_ENDPOINT_URL"] = server.endpoint_url
    configure(load_config())
    ensure_tables()
    return server


class Process:
    """A child Python process of the stack (a gateway, a client swarm) with its RSS."""

    def __init__(self, args: list[str], *, ready: str, drain: bool = False) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log = LOGS / f"{args[1] if args[0] == '-m' else Path(args[0]).stem}.log"
        with self.log.open("w") as log:
            self.popen = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
            )
        self.lines: list[str] = []
        while True:
            line = self.popen.stdout.readline()
            if not line:
                raise RuntimeError(f"{args} exited before it was ready; see {self.log}")
            self.lines.append(line)
            if ready in line:
                break
        if drain:
            # Powertools logs to stdout: a pipe nobody reads fills up and blocks every handler.
            threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        with self.log.open("a") as log:
            for line in self.popen.stdout:
                log.write(line)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        terminate(self.popen)


def start_gateway(
    port: int, *, post_delay_ms: float = 0.0, post_faults: str = "", meter_dynamodb: bool = False
) -> Process:
    """The real local gateway (`python -m emulator`) in its own process, running
    each function in execution environments of its own (as `make run` does); its meter at
    `/@meter`, DynamoDB's units included with `meter_dynamodb`."""
    from devstack import FUNCTION_SETTINGS, PRELOAD

    args = ["-m", "emulator", "--port", str(port), "--code-dir", str(ROOT)]
    args += ["--parameter-overrides", "StageName=bench", "--stage", "local"]
    args += ["--preload", ",".join(PRELOAD)]  # as `make run`
    args += ["--no-throttle"]  # benchmarks mean to go past a stage's throttles
    args += [f"--env={name}" for name in FUNCTION_SETTINGS if os.environ.get(name)]
    if post_faults:
        args += ["--post-faults", post_faults]
    if meter_dynamodb:
        args.append("--meter-dynamodb")
    return Process(
        [*args, "--post-delay-ms", str(post_delay_ms)], ready="Zygotes ready", drain=True
    )


def websocket_url(port: int, keys: Keys, *, user_id: str, room: str) -> str:
    token = keys.token(user_id, f"user{user_id}")
    return f"ws://127.0.0.1:{port}/local?{urlencode({'token': token, 'room': room})}"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {int(mem) // 1024} MB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


async def until(predicate, timeout: float = 60.0, progress=None) -> bool:
    """Poll until predicate() is truthy; False if `timeout` seconds pass first (a hang). With
    `progress` (a callable), the timeout counts from the last change of its value: slow but
    moving, as on a busy machine, is not a hang."""
    deadline = time.monotonic() + timeout
    seen = progress() if progress else None
    while not predicate():
        if progress and (now := progress()) != seen:
            seen, deadline = now, time.monotonic() + timeout
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]
