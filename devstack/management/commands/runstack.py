"""`manage.py runstack`: the whole stack on this machine (DynamoDB, PostgreSQL, WebSocket gateway,
site)."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from chat.keys import dev_keypair_ensure
from dynamowave_site.local_stack import (
    DYNALITE_PORT,
    GATEWAY_PORT,
    HOST,
    STAGE,
    stack_state_remove,
    stack_state_write,
)

# The gateway waits up to 10 s for $disconnect and 30 s for asynchronous invocations it accepted.
GATEWAY_STOP_SECONDS = 45


class _Stop(Exception):
    """SIGINT or SIGTERM arrived: shut everything down."""


class Command(BaseCommand):
    help = "Run dynalite, PostgreSQL, the local WebSocket gateway and the site until Ctrl-C."
    requires_system_checks = []  # the signing key check would warn before we create the key

    def add_arguments(self, parser) -> None:
        parser.add_argument("--site-port", type=int, default=8000)
        parser.add_argument("--gateway-port", type=int, default=GATEWAY_PORT)
        parser.add_argument(
            "--gateway-tls-port", type=int, default=8443, help="its HTTPS/wss listener (0: any)"
        )
        parser.add_argument(
            "--retry-seconds",
            type=float,
            default=15,
            help="how often chat sessions that could not be ended are tried again",
        )
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="print every line of every process (by default: one line per request or "
            "event worth seeing, warnings and errors; devstack/terminal.py)",
        )

    def handle(
        self,
        *args,
        site_port: int,
        gateway_port: int,
        gateway_tls_port: int,
        retry_seconds: float,
        verbose: bool = False,
        **options,
    ) -> None:
        # Imported here: they load PynamoDB and boto3, which no other site command needs.
        from devstack import FUNCTION_SETTINGS, PRELOAD
        from devstack.data_api import DataApi, search_settings
        from devstack.dynamodb import (
            Dynalite,
            connections_forget_all,
            ensure_tables,
            local_aws_environment,
        )
        from devstack.postgres import PostgreSQL, django_database_use
        from devstack.s3 import LocalS3, uploads_bucket_name
        from devstack.terminal import TerminalFilter
        from emulator.processes import shielded, terminate
        from lambdas.config import configure, load_config

        self._pumps = {}  # source -> the thread printing its output

        private_key, public_key = dev_keypair_ensure(folder=settings.DEV_KEYS_DIR)
        # Both signals explicitly: a shell starting us in the background ignores SIGINT, and
        # Python keeps an inherited "ignore".
        previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        dynalite = postgres = data_api = s3 = None
        children: dict[str, subprocess.Popen] = {}
        stopping = threading.Event()
        state_written = False
        try:
            endpoint = os.environ.get("DYNAMODB_ENDPOINT_URL")
            if not endpoint:
                port = int(os.environ.get("DYNALITE_PORT") or DYNALITE_PORT)
                dynalite = Dynalite(path=settings.DATA_DIR / "dynalite", port=port, shielded=True)
                try:
                    dynalite.start()
                except RuntimeError as exc:  # node or dynalite missing, or the port is taken
                    raise CommandError(str(exc)) from exc
                endpoint = dynalite.endpoint_url
                # Its stderr is a pipe: read it, or a chatty dynalite would block on a full one.
                self._pump("dynalite", dynalite.process.stderr, TerminalFilter, verbose)
            # The site's database, as deployed sites have: PostgreSQL, unless DATABASE_URL names
            # one (kept in <data dir>/postgres across runs).
            database_url = os.environ.get("DATABASE_URL")
            if not database_url:
                postgres = PostgreSQL(
                    path=settings.DATA_DIR / "postgres",
                    port=int(os.environ.get("POSTGRES_PORT") or 0) or None,
                )
                try:
                    postgres.start()
                except RuntimeError as exc:  # not installed, its folder, or the port is taken
                    raise CommandError(str(exc)) from exc
                self._pump("postgres", postgres.process.stderr, TerminalFilter, verbose)
                database_url = postgres.url
                # This process's own work (migrations, revocations) too: its settings were read
                # before the server existed.
                django_database_use(database_url)
                self._sqlite_users_mention(settings.DATA_DIR / "db.sqlite3")
            # The search index's writes, as the deployed indexing function makes them: the RDS
            # Data API, here served on the site's PostgreSQL (devstack/data_api.py).
            search = {}
            if database_url.startswith(("postgres://", "postgresql://")):
                data_api = DataApi(database_url).start()
                search = search_settings(data_api, database_url)
            # Files in messages: moto's S3 behind the emulator's relay, which checks presigned
            # requests and delivers the bucket's notifications to the thumbnail function once
            # the gateway is up (devstack/s3.py). In memory: uploads last as long as the run.
            credentials = local_aws_environment()
            stage = load_config({**os.environ}).stage
            s3 = LocalS3(
                bucket=uploads_bucket_name(stage),
                secrets={credentials["AWS_ACCESS_KEY_ID"]: credentials["AWS_SECRET_ACCESS_KEY"]},
                shielded=True,
            )
            try:
                s3.start()
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
            websocket_url = f"ws://{HOST}:{gateway_port}/{STAGE}"
            env = {
                **os.environ,
                **local_aws_environment(),
                "DYNAMODB_ENDPOINT_URL": endpoint,
                "TOKEN_PUBLIC_KEY_FILE": str(public_key),
                "TOKEN_SIGNING_KEY_FILE": str(private_key),
                "WEBSOCKET_URL": websocket_url,
                # The dashboard reaches live connections through the gateway's @connections.
                "MANAGEMENT_ENDPOINT_URL": f"http://{HOST}:{gateway_port}/{STAGE}",
                "DJANGO_DEBUG": "true",
                "DATABASE_URL": database_url,
                "S3_ENDPOINT_URL": s3.endpoint_url,
                "UPLOADS_BUCKET": s3.bucket,
                **search,
            }
            # Both halves must be the dev pair: a key pasted into the environment would win over
            # the files and make every token fail verification.
            for name in ("TOKEN_SIGNING_KEY", "TOKEN_PUBLIC_KEYS"):
                env.pop(name, None)
                os.environ.pop(name, None)
            # The site and the functions must agree on the tables: the template's own STAGE and
            # TABLE_PREFIX name a deployed stage's.
            config = load_config(env)
            # The functions' roles (enforced locally) grant the template's tables, which are
            # named after its StageName: the stage's own prefix, or every call is refused.
            if config.table_prefix != f"dynamowave-{config.stage}-":
                raise CommandError(
                    f"TABLE_PREFIX={config.table_prefix} is not the tables of stage "
                    f"{config.stage} (dynamowave-{config.stage}-): set STAGE instead"
                )
            env.update(STAGE=config.stage, TABLE_PREFIX=config.table_prefix)
            # This process's own work before the children start (tables, migrations) is the
            # site's: its boto3 reads the local credentials from the environment.
            os.environ.update(env)
            configure(config)
            created = ensure_tables()
            if created:
                self.stdout.write(f"Created or rebuilt tables: {', '.join(created)}")
            # The gateway about to start knows no connection: any item is a ghost of an earlier
            # run (killed before its $disconnect ran) and would count against its user's cap.
            forgotten = connections_forget_all()
            if forgotten:
                self.stdout.write(f"Forgot {forgotten} connections left by an earlier run")
            call_command("migrate", interactive=False, verbosity=1 if verbose else 0)
            call_command("rooms_backfill")  # rooms kept from before the by-status index
            # For `manage.py shell`, createsuperuser and the rest in another terminal: the same
            # endpoints and tables (dynamowave_site/local_stack.py), until the stack stops.
            stack_state_write(folder=settings.DATA_DIR, env=env, own_database=postgres is not None)
            state_written = True

            # Both children write into one pipe each, read line by line by a filter thread; a
            # pipe makes Python buffer whole blocks, so lines are flushed as they are written.
            piped = {**env, "PYTHONUNBUFFERED": "1"}
            output = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "bufsize": 1}
            output |= {"text": True, "errors": "replace"}
            children["gateway"] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "emulator",
                    "--host",
                    HOST,
                    "--port",
                    str(gateway_port),
                    # The template's stage is the site's (its tables); clients connect to /local.
                    "--parameter-overrides",
                    f"StageName={config.stage}",
                    "--stage",
                    STAGE,
                    # Every function in execution environments of its own, from the source tree
                    # (template.yaml's CodeUri is the package build).
                    "--mode",
                    "process",
                    "--code-dir",
                    str(settings.BASE_DIR),
                    # https://{domainName}/{stage} and wss://, with a development CA made on first
                    # run next to the site's development keys.
                    "--tls-dir",
                    str(settings.DEV_KEYS_DIR / "tls"),
                    "--tls-port",
                    str(gateway_tls_port),
                    # Environments forked from a zygote per function that imported these first.
                    "--preload",
                    ",".join(PRELOAD),
                    # Handed over by name (`--env NAME`: the gateway's own value, never written
                    # down or shown in `ps`).
                    *(f"--env={name}" for name in FUNCTION_SETTINGS if env.get(name)),
                    # Its access lines: a connect, a frame's route, a disconnect, each with the
                    # integration's status and duration (emulator/gateway.py `_access`).
                    "--log-level",
                    "INFO",
                    # What AWS would bill, DynamoDB's units included (GET /@meter, and a line
                    # when the stack stops).
                    "--meter-dynamodb",
                    # Asynchronous events Lambda would give up (the search index's, fan-out
                    # shards'), as their failure destinations would receive them.
                    "--failed-events",
                    str(settings.DATA_DIR / "failed-events.jsonl"),
                ],
                cwd=settings.BASE_DIR,
                env=piped,
                **output,
                **shielded(),
            )
            self._pump("gateway", children["gateway"].stdout, TerminalFilter, verbose)
            s3.notifier.lambda_url = f"http://{HOST}:{gateway_port}"
            # The site's staff deletes reach the index through the gateway's Lambda API, as the
            # deployed site's through Lambda (template.yaml's IndexFunctionAlias output).
            site_env = {**piped}
            if search:
                site_env["INDEX_FUNCTION_NAME"] = "IndexFunction:live"
                site_env["LAMBDA_ENDPOINT_URL"] = f"http://{HOST}:{gateway_port}"
            children["site"] = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"{HOST}:{site_port}", "--noreload"],
                cwd=settings.BASE_DIR,
                env=site_env,
                **output,
                **shielded(),
            )
            self._pump("site", children["site"].stdout, TerminalFilter, verbose)
            self.stdout.write(
                "\n"
                f"  Site               http://{HOST}:{site_port}\n"
                f"  WebSocket API      {websocket_url}\n"
                f"  @connections API   http://{HOST}:{gateway_port}/{STAGE}\n"
                f"  over TLS           https://localhost:{gateway_tls_port}/{STAGE} (CA in "
                f"{settings.DEV_KEYS_DIR / 'tls' / 'local-ca.pem'})\n"
                f"  DynamoDB endpoint  {endpoint}\n"
                f"  PostgreSQL         {_shown(database_url)}\n"
                f"  RDS Data API       {search.get('RDS_DATA_ENDPOINT_URL', 'off')}\n"
                f"  S3 (uploads)       {s3.endpoint_url}/{s3.bucket}\n"
                "  Create a user at /accounts/signup/ or with `manage.py createsuperuser`.\n"
                "  Ctrl-C stops everything.\n"
            )
            self.stdout.flush()
            # Chat sessions a deactivation or demotion failed to end (also while no stack ran).
            threading.Thread(
                target=self._retry_revocations,
                args=(stopping, retry_seconds),
                name="revocations-retry",
                daemon=True,
            ).start()
            name, code = _wait_for_exit(children)
            raise CommandError(f"the {name} exited with status {code}; stopping the stack")
        except (KeyboardInterrupt, _Stop):
            self.stdout.write("\nStopping…")
        finally:
            # In order, each after the one before has exited: the gateway closes its sockets and
            # runs their $disconnect (which write to DynamoDB), then the site, then DynamoDB, and
            # PostgreSQL last (the revocations thread may still be reading it).
            # The children are shielded from the terminal's Ctrl-C; a second one is ignored.
            stopping.set()
            for sig in previous:
                signal.signal(sig, _still_stopping)
            for name in ("gateway", "site"):
                if name in children:
                    timeout = GATEWAY_STOP_SECONDS if name == "gateway" else 5
                    terminate(children[name], timeout=timeout)
                    if name in self._pumps:  # its last words: the gateway's meter
                        self._pumps[name].join(timeout=2)
            if s3 is not None:
                s3.stop()
            if data_api is not None:
                data_api.stop()
            if dynalite is not None:
                dynalite.stop()
            if postgres is not None:
                connection.close()
                postgres.stop()
            if state_written:
                stack_state_remove(folder=settings.DATA_DIR)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _sqlite_users_mention(self, path) -> None:
        """Say so when the data folder keeps a SQLite database with users from before the stack
        ran PostgreSQL: they are not in PostgreSQL, and nothing moves them silently."""
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                (users,) = db.execute("SELECT count(*) FROM auth_user").fetchone()
        except sqlite3.Error:  # no such file, or no such table
            return
        if users:
            self.stdout.write(
                f"{path} holds {users} users from before `make run` used PostgreSQL; they are "
                "not in it. To copy them over, while the stack runs:\n"
                f"  DATABASE_URL=sqlite:///{path} .venv/bin/python manage.py dumpdata "
                "--natural-foreign --natural-primary -e contenttypes -e auth.permission "
                "-e sessions -e admin.logentry -o sqlite-data.json\n"
                "  .venv/bin/python manage.py loaddata sqlite-data.json\n"
                f"then remove {path}."
            )

    def _pump(self, source: str, stream, make_filter, verbose: bool) -> None:
        """Print what `make_filter` keeps of a child's output, from a daemon thread that ends
        with the stream (the child's exit); `self._pumps[source]` is that thread."""

        def pump() -> None:
            terminal = make_filter(source, verbose=verbose)
            lines = stream if hasattr(stream, "encoding") else _decoded(stream)
            for line in lines:
                self._print(terminal.feed(line))
            self._print(terminal.close())

        thread = threading.Thread(target=pump, name=f"output-{source}", daemon=True)
        self._pumps[source] = thread
        thread.start()

    _print_lock = threading.Lock()

    def _print(self, lines: list[str]) -> None:
        if not lines:
            return
        with self._print_lock:  # three pumps and the command itself write to one terminal
            for line in lines:
                self.stdout.write(line)
            self.stdout.flush()

    def _retry_revocations(self, stopping: threading.Event, every: float) -> None:
        """Every `every` seconds until the stack stops: what Zappa's schedule does deployed."""
        from chat.revocations import revocations_retry

        while True:
            try:
                report = revocations_retry()
                for username in report.ended:
                    self.stdout.write(f"Chat sessions of {username} ended (retried)")
                for error in report.failed:
                    self.stderr.write(error.message)
            except Exception as exc:  # the database itself, say: try again next round
                self.stderr.write(f"Retrying pending revocations failed: {exc}")
            finally:
                connection.close()  # this thread's own (sqlite: not held open between rounds)
            if stopping.wait(every):
                return


def _shown(url: str) -> str:
    """A database URL without its password, if it has one."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def _decoded(stream):
    """A binary pipe's lines as text (dynalite's stderr)."""
    for raw in iter(stream.readline, b""):
        yield raw.decode("utf-8", "replace")


def _raise_stop(signum, frame) -> None:
    raise _Stop


def _still_stopping(signum, frame) -> None:
    sys.stdout.write("\nStill stopping: waiting for the gateway's $disconnect calls…\n")
    sys.stdout.flush()


def _wait_for_exit(children: dict[str, subprocess.Popen]) -> tuple[str, int]:
    """Block until one child exits; its name and exit status."""
    while True:
        for name, child in children.items():
            code = child.poll()
            if code is not None:
                return name, code
        time.sleep(0.25)
