"""Shared fixtures: captured AWS events, token keys, a real dynalite server, the local gateway."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from lambdas.config import RATE_DEFAULTS  # reads no environment at import

# Every test runs against local endpoints with throwaway credentials; no real AWS account is
# reachable or wanted. The session's stack is template.yaml's with StageName "test": its tables
# are the ones the functions' roles grant (IAM is enforced locally, emulator/iam.py).
os.environ.update(
    AWS_ACCESS_KEY_ID="test",
    AWS_SECRET_ACCESS_KEY="test",
    AWS_DEFAULT_REGION="us-east-1",
    STAGE="test",
    TABLE_PREFIX="dynamowave-test-",
    # Per-user limits are out of the way unless a test sets them (tests/lambdas/test_limits.py):
    # most tests send and connect as the same user far faster than a person would. (Every
    # route's bucket, and the flood cutoff: tests/lambdas/test_flood.py.)
    **{
        f"RATE_{bucket.upper()}_{part}": "1000000"
        for bucket in RATE_DEFAULTS
        for part in ("PER_SECOND", "BURST")
    },
    FLOOD_REFUSALS_ALLOWED="1000000",
    MAX_CONNECTIONS_PER_USER="1000000",
    LOGIN_FAILURES_ALLOWED="1000000",
    # Presence bursts coalesce within 50 ms rather than 250: every announcement's first waits
    # that long, and the suite announces hundreds of times (the coalescing test sets its own).
    PRESENCE_COALESCE_MS="50",
    # A change number whose write is missing 3 s later is empty for good (35 s in AWS, past a
    # function's timeout): no write of the suite's takes that long, and clients move on sooner.
    CHANGE_SETTLE_SECONDS="3",
    ROOMS_PER_USER_PER_DAY="1000000",
    SIGNUPS_PER_IP_PER_HOUR="1000000",
    # Metrics are printed only where a test captures them (tests/lambdas/test_metrics.py).
    POWERTOOLS_METRICS_DISABLED="true",
)
for name in (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "DYNAMODB_ENDPOINT_URL",
    "MANAGEMENT_ENDPOINT_URL",
    "LAMBDA_ENDPOINT_URL",
    "FANOUT_FUNCTION_NAME",
    "FANOUT_SHARD_SIZE",
    "INDEX_FUNCTION_NAME",
    "SEARCH_DATABASE_ARN",
    "SEARCH_SECRET_ARN",
    "SEARCH_DATABASE_NAME",
    "RDS_DATA_ENDPOINT_URL",
    "S3_ENDPOINT_URL",
    "UPLOADS_BUCKET",
    "TOKEN_PUBLIC_KEYS",
    "TOKEN_PUBLIC_KEY_FILE",
):
    os.environ.pop(name, None)


from tests.helpers import AUDIENCE, DEADLINE, ISSUER, ROOT, Keys, bind_config  # noqa: E402

# Every grant of the functions' roles that allowed a call, from every gateway the session starts
# (in this process or not): `make test` then reports the grants no test exercised
# (emulator/iam_report.py).
IAM_USAGE = ROOT / "test-artifacts" / "iam-usage.jsonl"


# The fast tier (`make test-fast`: pytest -m "not server and not tool") runs every test that
# needs no server and runs no deploy tool. Tests are marked here by the fixtures they use,
# directly or through others (make_room, room, connect, site...), so nobody has to remember to
# mark them; a test that starts a server or a stack of its own, or runs cfn-lint, is marked by
# hand. Browser tests are `browser` (tests/browser/conftest.py), hence `server` too.
# PostgreSQL (`postgres`, under every test that uses the database) is not a `server` here: it
# starts in about a second, once per session, and most of the site's tests need nothing else.
MARKED_BY_FIXTURE = {
    "dynamodb": "server",  # dynalite
    "s3": "server",  # moto's server and the S3 relay
    "gateway": "server",  # the local gateway, functions in processes
    "live_server": "server",  # the Django site on a port
    "lambda_package": "tool",  # pip installs the functions' dependencies
    "site_zip": "tool",  # a Python 3.13 virtualenv for Zappa, then `zappa package`
}


BROWSER_TESTS = Path(__file__).parent / "browser"


# `make test` runs the suite in two pytest-xdist workers, each with its own session servers
# (dynalite, PostgreSQL, S3, a gateway). The deploy's tests share build/deploy/ (the packages,
# the translated template, the 3.13 runtime): they all run in one worker, one after another.
# (A scheduler of our own: xdist 3.8's `xdist_group` marks are lost under pytest 9, which keeps
# a node's id where xdist no longer writes it.)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from xdist.scheduler import LoadScopeScheduling

    class DeployTestsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "tests/deploy" if nodeid.startswith("tests/deploy/") else nodeid

    return DeployTestsTogether(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        marks = {MARKED_BY_FIXTURE[name] for name in used & MARKED_BY_FIXTURE.keys()}
        if BROWSER_TESTS in item.path.parents:
            marks.add("server")
        for mark in sorted(marks):
            item.add_marker(mark)


def pytest_sessionstart(session: pytest.Session) -> None:
    # Under pytest-xdist (`make test` runs two workers) the workers append to the file the
    # controller emptied before it started them.
    if not hasattr(session.config, "workerinput"):
        IAM_USAGE.parent.mkdir(exist_ok=True)
        IAM_USAGE.write_text("")
    os.environ["EMULATOR_IAM_USAGE"] = str(IAM_USAGE)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """A token key pair for the session; the authorizer reads the public half from a file."""
    keys = Keys()
    path = tmp_path_factory.mktemp("keys") / "token-public-key.pem"
    path.write_text(keys.public_pem)
    os.environ.update(TOKEN_PUBLIC_KEY_FILE=str(path), TOKEN_ISSUER=ISSUER, TOKEN_AUDIENCE=AUDIENCE)
    bind_config()
    return keys


@pytest.fixture(scope="session")
def dynamodb(keys: Keys) -> Iterator[str]:
    """A real dynalite server (in memory) with the tables created; yields its endpoint."""
    from devstack.dynamodb import Dynalite, ensure_tables

    with Dynalite() as server:
        # The session's stack, set once: the processes tests start inherit it (GatewayProcess,
        # the packaged functions); this process binds it.
        os.environ["DYNAMODB_ENDPOINT_URL"] = server.endpoint_url
        bind_config()
        ensure_tables()
        yield server.endpoint_url
        os.environ.pop("DYNAMODB_ENDPOINT_URL", None)


# Which database the site's tests use: a PostgreSQL server of the session's own, as deployed
# sites do; `TEST_DATABASE=sqlite` asks for SQLite in memory instead (no server at all).
TEST_DATABASES = ("postgres", "sqlite")


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A real PostgreSQL server (devstack/postgres.py) in a temporary folder, for the whole
    session; yields its URL."""
    from devstack.postgres import PostgreSQL

    log = Path(tempfile.mkdtemp(prefix="dynamowave-postgres-log-")) / "postgres.log"
    with PostgreSQL(log=log) as server:
        yield server.url
    shutil.rmtree(log.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def data_api(postgres: str):
    """The local RDS Data API (devstack/data_api.py) on the session's PostgreSQL, as `make run`
    serves it for the search index; started by the tests that ask for it."""
    from devstack.data_api import DataApi

    with DataApi(postgres) as server:
        yield server


@pytest.fixture
def stack_tmp_path() -> Iterator[Path]:
    """A temporary folder for a stack or PostgreSQL cluster of the test's own. As root, the
    server runs as the `postgres` user, which may not enter pytest's tmp_path (under
    /tmp/pytest-of-root, 0700): this one lets it pass through (0711), not list."""
    path = Path(tempfile.mkdtemp(prefix="dynamowave-stack-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request: pytest.FixtureRequest) -> None:
    """pytest-django's hook, just before it creates the test database: the settings were
    loaded before any conftest (pytest-django sets Django up first), from the environment's
    DATABASE_URL or the SQLite default, so the connection is pointed at the session's server
    here; pytest-django then creates `test_dynamowave` on it. Only tests that use the database
    start the server."""
    choice = os.environ.get("TEST_DATABASE") or "postgres"
    if choice not in TEST_DATABASES:
        raise pytest.UsageError(f"TEST_DATABASE={choice}: one of {', '.join(TEST_DATABASES)}")
    from devstack.postgres import django_database_use

    django_database_use(
        request.getfixturevalue("postgres") if choice == "postgres" else "sqlite://:memory:"
    )
    request.getfixturevalue("django_db_modify_db_settings_parallel_suffix")


@pytest.fixture(scope="session")
def s3(dynamodb: str):
    """The local S3 (devstack/s3.py: moto's server behind the emulator's relay) with the
    template's uploads bucket, for the session: the site and the functions reach it as
    S3_ENDPOINT_URL. Its object-created notifications reach the thumbnail function once the
    session's gateway is up."""
    from devstack.s3 import LocalS3, uploads_bucket_name

    bucket = uploads_bucket_name(os.environ["STAGE"])
    with LocalS3(bucket=bucket, secrets={"test": "test"}) as server:
        os.environ.update(S3_ENDPOINT_URL=server.endpoint_url, UPLOADS_BUCKET=bucket)
        bind_config()
        yield server
        for name in ("S3_ENDPOINT_URL", "UPLOADS_BUCKET"):
            os.environ.pop(name, None)


@pytest.fixture(scope="session")
def gateway(dynamodb: str, s3):
    """The local gateway serving template.yaml's routes on an ephemeral port, its functions in
    this process or, with GATEWAY_MODE=process, in execution environments like Lambda's."""
    from tests.helpers import gateway_thread

    runner = gateway_thread()
    gateway = runner.start()
    # The site (the staff dashboard) reaches connections through @connections, as `make run`
    # tells it. (A thread-mode gateway has given its in-process handlers this already, through
    # Settings.thread_environment: tests.helpers.share_thread_variables.)
    os.environ["MANAGEMENT_ENDPOINT_URL"] = gateway.management_url
    bind_config()
    s3.notifier.lambda_url = gateway.lambda_url
    gateway.runner = runner
    yield gateway
    runner.stop()


@pytest.fixture
def make_room(dynamodb: str) -> Callable[..., str]:
    """Create rooms in DynamoDB (as the site does); returns the room's name."""
    from chat.services.rooms import room_create

    def make(name: str | None = None, *, title: str = "", created_by: str = "test") -> str:
        name = name or f"room-{uuid.uuid4().hex[:12]}"
        return room_create(name=name, title=title, description="", created_by=created_by).name

    return make


@pytest.fixture
def configure(dynamodb):
    """Set variables (limits, mostly) for one test, as a freshly configured Lambda would read
    them (and the functions of process-mode gateways, in their next execution environments);
    each call adds to the test's earlier ones, and the session's configuration comes back after."""
    overrides: dict[str, object] = {}

    def configure(**env: object) -> None:
        overrides.update(env)
        bind_config(**overrides)

    yield configure
    bind_config()


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """Time as the limits service (buckets, strikes, the cooldown) sees it: tests move now[0]
    instead of sleeping. (tests/lambdas/test_changes.py has a clock of its own.)"""
    from datetime import UTC, datetime

    from lambdas.services import limits

    now = [datetime(2026, 6, 1, tzinfo=UTC).timestamp()]
    monkeypatch.setattr(limits, "clock", lambda: now[0])
    return now


@pytest.fixture
def presence_waits(monkeypatch) -> list[float]:
    """The coalescing window of presence announcements passes at once: each announcement's
    wait (lambdas.services.connections.sleep) is recorded instead of slept, and the clock the
    window is measured by (limits.clock, as it is: the `clock` fixture's if requested first)
    moves on by it, so announcements one after the other never join a window that would have
    closed. Returns the waits, in seconds."""
    from lambdas.services import connections, limits

    waits: list[float] = []
    clock = limits.clock
    monkeypatch.setattr(limits, "clock", lambda: clock() + sum(waits))
    monkeypatch.setattr(connections, "sleep", waits.append)
    return waits


@pytest.fixture
def room(make_room: Callable[..., str]) -> str:
    """A room of this test's own, so tests never see each other's messages."""
    return make_room()


@pytest.fixture
def connect(gateway, keys: Keys) -> Iterator[Callable]:
    """Open real WebSocket clients to the gateway; all are closed after the test."""
    from websockets.sync.client import connect as ws_connect

    with contextlib.ExitStack() as opened:

        def open_client(
            room: str | None = None,
            *,
            token: str | None = None,
            lobby: bool = False,
            **user: object,
        ):
            token = keys.token(**user) if token is None else token
            params = {"token": token} | ({"room": room} if room is not None else {})
            params |= {"lobby": "1"} if lobby else {}
            url = f"{gateway.websocket_url}?{urlencode(params)}"
            client = ws_connect(url, open_timeout=DEADLINE, close_timeout=2)
            return opened.enter_context(client)

        yield open_client
