"""`python -m emulator`: the local gateway on a port, until SIGINT or SIGTERM.

Functions run in process mode unless `--mode thread`; their variables are template.yaml's plus
`--env-vars FILE.json` (sam local's format) and `--env NAME[=VALUE]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import time
from pathlib import Path

from emulator.gateway import IDLE_TIMEOUT, MAX_LIFETIME, LocalGateway, Settings
from emulator.settings import PostFaults
from emulator.sigv4 import Credentials
from emulator.template import DEFAULT_TEMPLATE, WebSocketApi, load_template, read_api


async def serve(host: str, port: int, settings: Settings, api: WebSocketApi) -> None:
    gateway = LocalGateway(api, settings)
    await gateway.start(host, port)
    print(f"WebSocket API      {gateway.websocket_url}", flush=True)
    print(f"@connections API   {gateway.management_url}/@connections/{{id}}", flush=True)
    if gateway.domain_name:
        print(f"  and over TLS      https://{gateway.domain_name}/{settings.stage}", flush=True)
        print(f"  (development CA  {gateway.certificates.ca})", flush=True)
    print(f"Lambda API         {gateway.lambda_url} ({settings.mode} mode)", flush=True)
    print(f"Meter              {gateway.meter_url} (what AWS would bill)", flush=True)
    access = gateway.access
    if access.issued is not None:  # AWS_IAM on $connect: sign the handshake with this key
        issued = access.issued
        print(f"IAM credentials    {issued.access_key}:{issued.secret_key}", flush=True)
        print(f"  (signs as        {issued.user_arn}; also --credentials)", flush=True)
    if access.key_required:
        for key in access.api_keys.values():
            print(f"API key            {key.value} ({key.name}, id {key.id})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        if gateway.prewarmed is not None:
            started = time.monotonic()
            await asyncio.wait([gateway.prewarmed, stopping], return_when=asyncio.FIRST_COMPLETED)
            if not stop.is_set():
                zygotes = len(gateway.pools)
                seconds = time.monotonic() - started
                print(f"Zygotes ready      {zygotes} functions in {seconds:.1f} s", flush=True)
        await stopping
    finally:
        await gateway.stop()  # closes every socket with 1001, so $disconnect runs for each
        print(gateway.meter.summary(), flush=True)


def read_env_vars(path: Path) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """`sam local --env-vars` JSON: {"Parameters": {every function}, "<LogicalId>": {...}}."""
    sections = json.loads(path.read_text())
    if not isinstance(sections, dict) or not all(isinstance(v, dict) for v in sections.values()):
        raise ValueError(f'{path}: expected {{"Parameters": {{...}}, "<LogicalId>": {{...}}}}')
    text = {name: {k: str(v) for k, v in values.items()} for name, values in sections.items()}
    return text.pop("Parameters", {}), text


def _assignment(text: str) -> tuple[str, str]:
    """NAME=VALUE, or NAME alone for this process's own value (as `docker run -e NAME`)."""
    name, equals, value = text.partition("=")
    if not equals:
        if name not in os.environ:
            raise argparse.ArgumentTypeError(f"{name} is not set here; write {name}=VALUE")
        value = os.environ[name]
    return name, value


def environment_credentials() -> tuple[Credentials, ...]:
    """The standard AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the emulator's environment,
    as a signing key that AWS_IAM routes accept (a developer's own profile keys, say)."""
    access_key = os.environ.get("AWS_ACCESS_KEY_ID")
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
    return (Credentials(access_key, secret_key),) if access_key and secret_key else ()


def default_tls_dir() -> Path:
    """LOCAL_KEYS_DIR's tls/ (as the site's keys), else this checkout's git-ignored .dev-keys/."""
    keys = os.environ.get("LOCAL_KEYS_DIR") or Path(__file__).resolve().parents[1] / ".dev-keys"
    return Path(keys) / "tls"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--region",
        default="us-east-1",
        help="the Region this gateway plays: AWS::Region, the functions' AWS_REGION, ARNs",
    )
    parser.add_argument(
        "--stage", help="the stage to serve (default: the template's Stage resource, or local)"
    )
    parser.add_argument("--template", default=str(DEFAULT_TEMPLATE))
    parser.add_argument(
        "--parameter-overrides",
        type=_assignment,
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="template parameters, instead of their defaults (as `sam deploy`'s)",
    )
    parser.add_argument(
        "--code-dir", type=Path, help="run every function's code from here, not its CodeUri"
    )
    parser.add_argument("--mode", choices=("process", "thread"), default="process")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=Settings.concurrency,
        help="environments of a function without ReservedConcurrentExecutions; invocations "
        "beyond wait for one (process mode)",
    )
    parser.add_argument(
        "--env-vars", type=Path, help="variables for the functions, in sam local's JSON format"
    )
    parser.add_argument(
        "--env",
        type=_assignment,
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="a variable for every function (after --env-vars)",
    )
    parser.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT)
    parser.add_argument("--max-lifetime", type=float, default=MAX_LIFETIME)
    parser.add_argument(
        "--post-delay-ms", type=float, default=0.0, help="delay each @connections POST (ms)"
    )
    parser.add_argument(
        "--post-faults",
        type=PostFaults.parse,
        default=PostFaults.parse(os.environ.get("LOCAL_POST_FAULTS", "")),
        metavar="drop=P,error=P,timeout=P,delay=S",
        help="make this fraction of @connections POSTs fail: answered 200 and not delivered "
        "(drop), 500 (error), unanswered (timeout); delay each by S seconds "
        "(default: $LOCAL_POST_FAULTS)",
    )
    parser.add_argument(
        "--tls-port", type=int, default=0, help="the HTTPS/wss listener's port (default: any free)"
    )
    parser.add_argument(
        "--tls-dir",
        type=Path,
        default=default_tls_dir(),
        help="the development CA and certificate, made here on first run (default: %(default)s)",
    )
    parser.add_argument("--no-tls", action="store_true", help="serve plain HTTP only")
    parser.add_argument(
        "--preload",
        type=lambda text: tuple(name for name in text.split(",") if name),
        default=Settings.preload,
        metavar="MODULE,...",
        help="libraries each function's zygote imports before forking its environments "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--no-prewarm",
        action="store_true",
        help="start each function's zygote on its first cold start, not when the gateway starts",
    )
    parser.add_argument(
        "--throttle",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="enforce the stage's throttles, as API Gateway does (the template's "
        "DefaultRouteSettings and RouteSettings, with --parameter-overrides): frames past them "
        "get API Gateway's Too Many Requests frame and reach no function; --no-throttle for "
        "load tests that mean to go past them",
    )
    parser.add_argument(
        "--credentials",
        type=Credentials.parse,
        action="append",
        default=[],
        metavar="ACCESS_KEY:SECRET[:USER_ARN]",
        help="an access key that may sign the handshake of an AWS_IAM $connect (besides the "
        "one printed at start, and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of this "
        "environment); events name USER_ARN as the caller",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="VALUE",
        help="an API key an ApiKeyRequired $connect accepts in x-api-key (besides the "
        "template's AWS::ApiGateway::ApiKey resources in a usage plan of the stage)",
    )
    parser.add_argument(
        "--no-iam",
        action="store_true",
        help="do not enforce the functions' roles on @connections and Invoke (see iam.py)",
    )
    parser.add_argument(
        "--meter-dynamodb",
        action="store_true",
        help="meter the functions' DynamoDB units too (GET /@meter): each call asks for its "
        "consumed capacity and each single-item write reads the item before and after it",
    )
    parser.add_argument(
        "--fresh-interpreters",
        action="store_true",
        help="start every environment as a new interpreter instead of forking it from a zygote",
    )
    parser.add_argument(
        "--retry-delays",
        type=_seconds_list,
        default=(60.0, 120.0),
        help="seconds before a failed asynchronous invocation's 1st, 2nd retry (AWS: 60,120)",
    )
    parser.add_argument(
        "--failed-events",
        type=Path,
        default=None,
        help="a JSON-lines file receiving each asynchronous event given up (what its "
        "OnFailure destination would receive); they are logged either way",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="DEBUG adds each environment's init time and each invocation's duration",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")
    overrides, per_function = read_env_vars(args.env_vars) if args.env_vars else ({}, {})
    template = Path(args.template).resolve()
    code_dir = args.code_dir.resolve() if args.code_dir else None
    api = read_api(
        load_template(template),
        template_dir=template.parent,
        code_dir=code_dir,
        parameters=dict(args.parameter_overrides),
        region=args.region,
    )
    settings = Settings(
        stage=args.stage or api.stage or "local",
        region=args.region,
        idle_timeout=args.idle_timeout,
        max_lifetime=args.max_lifetime,
        post_delay=args.post_delay_ms / 1000,
        post_faults=args.post_faults,
        mode=args.mode,
        concurrency=args.concurrency,
        environment_overrides={**overrides, **dict(args.env)},
        function_overrides=per_function,
        tls_dir=None if args.no_tls else args.tls_dir.resolve(),
        tls_port=args.tls_port,
        preload=None if args.fresh_interpreters else args.preload,
        prewarm=args.mode == "process" and not args.fresh_interpreters and not args.no_prewarm,
        iam=not args.no_iam,
        throttle=args.throttle,
        credentials=(*args.credentials, *environment_credentials()),
        api_keys=tuple(args.api_key),
        meter_dynamodb=args.meter_dynamodb,
        retry_delays=args.retry_delays,
        failed_events=args.failed_events.resolve() if args.failed_events else None,
        # Thread mode: this process is the functions' own, so their variables become its
        # environment once, when the gateway starts and before any handler is imported.
        thread_environment=os.environ.update if args.mode == "thread" else None,
    )
    asyncio.run(serve(args.host, args.port, settings, api))


def _seconds_list(text: str) -> tuple[float, ...]:
    """`60,120`: seconds, each at least 0."""
    try:
        delays = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seconds separated by commas, not {text!r}") from None
    if not delays or any(delay < 0 for delay in delays):
        raise argparse.ArgumentTypeError("delays are seconds, at least 0")
    return delays
