"""A local RDS Data API: the REST-JSON operations boto3's `rds-data` client calls, run by psycopg
on the local PostgreSQL (devstack/postgres.py), for the indexing function on this machine.

What it serves (botocore's service model for rds-data, 2018-08-01): POST /Execute
(ExecuteStatement), /BatchExecute (BatchExecuteStatement), /BeginTransaction,
/CommitTransaction, /RollbackTransaction. Statements take `:name` parameters, each a typed
`Field` (stringValue, longValue, doubleValue, booleanValue, blobValue, isNull) with an optional
typeHint (a cast); results come back as `records` of typed fields (or `formattedRecords`, JSON),
`numberOfRecordsUpdated`, and `columnMetadata` when asked. Errors have AWS's shape: the
`x-amzn-ErrorType` header and {"message"}: DatabaseErrorException (400) with PostgreSQL's message
for a statement PostgreSQL refused, BadRequestException (400) for a malformed call,
TransactionNotFoundException (404), DatabaseUnavailableException (504) when the server cannot
be reached.

Where it differs from AWS: `resourceArn` and `secretArn` must be present but are not checked
(any cluster ARN means the local server; no Secrets Manager, no IAM), signatures are not
checked, there are no result size limits, transactions never time out, and parameters are
interpolated by psycopg's client-side binding (as the site's Django does) rather than sent
typed. Tests can make the next requests fail (`fail_next`), and read how many requests each
operation served (`requests`): what AWS would bill, $0.35 per million.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import datetime
import decimal
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator

from aiohttp import web

logger = logging.getLogger(__name__)

# A statement's `:name` parameters, outside string literals, quoted identifiers and `::` casts.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|:([A-Za-z_][A-Za-z0-9_]*)|%")
_HINTS = {
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "DECIMAL": "numeric",
    "UUID": "uuid",
    "JSON": "jsonb",
}
OPERATIONS = {
    "/Execute": "ExecuteStatement",
    "/BatchExecute": "BatchExecuteStatement",
    "/BeginTransaction": "BeginTransaction",
    "/CommitTransaction": "CommitTransaction",
    "/RollbackTransaction": "RollbackTransaction",
}


class DataApiError(Exception):
    """An error answer: AWS's error type (the x-amzn-ErrorType header) and HTTP status."""

    def __init__(self, error_type: str, status: int, message: str | None = None) -> None:
        super().__init__(message or error_type)
        self.error_type, self.status, self.message = error_type, status, message


def bad_request(message: str) -> DataApiError:
    return DataApiError("BadRequestException", 400, message)


def statement(sql: str, parameters: list[dict]) -> tuple[str, dict[str, object]]:
    """The SQL with its `:name` parameters as psycopg's `%(name)s`, and their values; a
    parameter the SQL names but the call does not give is a BadRequestException."""
    values: dict[str, object] = {}
    hints: dict[str, str] = {}
    for parameter in parameters or []:
        name = parameter.get("name")
        if not isinstance(name, str) or not name:
            raise bad_request("Parameter name must be specified")
        field = parameter.get("value") or {}
        values[name] = field_value(field)
        if "doubleValue" in field:  # AWS sends it as a double; interpolated, it reads as numeric
            hints[name] = "double precision"
        hint = parameter.get("typeHint")
        if hint is not None:
            if hint not in _HINTS:
                raise bad_request(f"Invalid type hint {hint!r} for parameter {name}")
            hints[name] = _HINTS[hint]

    def replace(match: re.Match) -> str:
        text, name = match.group(0), match.group(1)
        if text == "%":
            return "%%"
        if name is None:  # a literal, a quoted identifier, `::`: % is psycopg's to escape
            return text.replace("%", "%%")
        if name not in values:
            raise bad_request(f"No value specified for parameter: {name}")
        placeholder = f"%({name})s"
        return f"CAST({placeholder} AS {hints[name]})" if name in hints else placeholder

    return _TOKENS.sub(replace, sql), values


def field_value(field: dict) -> object:
    """A Python value from a Data API `Field` (exactly one member set)."""
    if len(field) != 1:
        raise bad_request("A parameter value must have exactly one member set")
    ((kind, value),) = field.items()
    if kind == "isNull":
        return None
    if kind in ("stringValue", "booleanValue", "longValue", "doubleValue"):
        return value
    if kind == "blobValue":
        return base64.b64decode(value)
    raise bad_request(f"Unsupported parameter type: {kind}")


def typed_field(value: object) -> dict[str, object]:
    """A result column's value as a Data API `Field`."""
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (bytes, memoryview)):
        return {"blobValue": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime.datetime):
        # The Data API's form: "YYYY-MM-DD HH:MM:SS[.ffffff]", in UTC for timestamptz.
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return {"stringValue": value.isoformat(sep=" ")}
    if isinstance(value, (datetime.date, datetime.time, decimal.Decimal, uuid.UUID)):
        return {"stringValue": str(value)}
    if isinstance(value, (dict, list)):
        return {"stringValue": json.dumps(value)}
    return {"stringValue": str(value)}


def _plain(value: object) -> object:
    """A result value as formatRecordsAs JSON shows it."""
    field = typed_field(value)
    return None if "isNull" in field else next(iter(field.values()))


class DataApi:
    """The Data API on `host:port` (0: any free port) for the PostgreSQL server at
    `database_url`; the `database` of each call picks the database on it (default: the URL's).
    Runs on an event loop of its own, in a thread; blocking psycopg calls go to worker threads."""

    def __init__(self, database_url: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.database_url, self.host, self.port = database_url, host, port
        self.requests: collections.Counter[str] = collections.Counter()
        self._faults: collections.deque[str] = collections.deque()
        self._transactions: dict[str, object] = {}  # id -> its psycopg connection
        self._idle: dict[str | None, list] = collections.defaultdict(list)  # database -> conns
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail_next(self, count: int = 1, error: str = "DatabaseUnavailableException") -> None:
        """The next `count` statements (Execute, BatchExecute) fail with `error` (any of the
        service's error types), as a database that cannot be reached or is resuming would."""
        with self._lock:
            self._faults.extend([error] * count)

    def start(self) -> DataApi:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as error:  # reported to start()'s caller
                failure.append(error)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="data-api", daemon=True)
        self._thread.start()
        started.wait(30)
        if failure:
            raise RuntimeError(f"the local Data API could not start: {failure[0]}")
        return self

    async def _serve(self) -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/{operation}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None
        with self._lock:
            connections = list(self._transactions.values())
            self._transactions.clear()
        for connection in connections:
            connection.close()
        self.close_idle()

    def close_idle(self) -> None:
        """Close the connections kept between requests (a database about to be dropped, such as
        a test's, must have none)."""
        with self._lock:
            connections = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for connection in connections:
            connection.close()

    def __enter__(self) -> DataApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        operation = OPERATIONS.get(f"/{request.match_info['operation']}")
        try:
            if operation is None:
                raise DataApiError("UnknownOperationException", 404, "Unknown operation")
            try:
                body = json.loads(await request.read() or b"{}")
            except ValueError:
                raise bad_request("The request body is not JSON") from None
            if not isinstance(body, dict):
                raise bad_request("The request body is not a JSON object")
            self.requests[operation] += 1
            answer = await asyncio.to_thread(getattr(self, f"_{operation}"), body)
        except DataApiError as error:
            document = {"message": error.message} if error.message else {}
            return web.json_response(
                document, status=error.status, headers={"x-amzn-ErrorType": error.error_type}
            )
        return web.json_response(answer)

    # --- the operations (worker threads) ---------------------------------------------------

    def _ExecuteStatement(self, body: dict) -> dict:  # noqa: N802 (AWS's operation names)
        self._check_target(body, "sql")
        self._fault()
        sql, values = statement(body["sql"], body.get("parameters") or [])
        with self._connection(body) as connection, connection.cursor() as cursor:
            self._run(cursor, sql, [values])
            answer: dict[str, object] = {"numberOfRecordsUpdated": max(cursor.rowcount, 0)}
            answer["generatedFields"] = []
            if cursor.description is not None:
                rows = cursor.fetchall()
                names = [column.name for column in cursor.description]
                answer["numberOfRecordsUpdated"] = 0
                if body.get("formatRecordsAs") == "JSON":
                    records = [dict(zip(names, map(_plain, row), strict=True)) for row in rows]
                    answer["formattedRecords"] = json.dumps(records)
                else:
                    answer["records"] = [[typed_field(v) for v in row] for row in rows]
                if body.get("includeResultMetadata"):
                    answer["columnMetadata"] = [
                        {"name": n, "label": n, "typeName": self._type_name(connection, c)}
                        for n, c in zip(names, cursor.description, strict=True)
                    ]
        return answer

    def _BatchExecuteStatement(self, body: dict) -> dict:  # noqa: N802
        self._check_target(body, "sql")
        self._fault()
        sets = body.get("parameterSets") or [[]]
        prepared = [statement(body["sql"], parameters) for parameters in sets]
        # One transaction for the batch (a savepoint in the caller's): all or nothing, as AWS.
        with (
            self._connection(body) as connection,
            connection.cursor() as cursor,
            connection.transaction(),
        ):
            self._run(cursor, prepared[0][0], [values for _, values in prepared])
        return {"updateResults": [{"generatedFields": []} for _ in prepared]}

    def _BeginTransaction(self, body: dict) -> dict:  # noqa: N802
        self._check_target(body)
        connection = self._connect(body.get("database"))
        connection.autocommit = False
        transaction_id = base64.b64encode(uuid.uuid4().bytes * 2).decode()
        with self._lock:
            self._transactions[transaction_id] = connection
        return {"transactionId": transaction_id}

    def _CommitTransaction(self, body: dict) -> dict:  # noqa: N802
        connection = self._end(body)
        try:
            connection.commit()
        except Exception as error:
            raise DataApiError("DatabaseErrorException", 400, _message(error)) from None
        finally:
            connection.close()
        return {"transactionStatus": "Transaction Committed"}

    def _RollbackTransaction(self, body: dict) -> dict:  # noqa: N802
        connection = self._end(body)
        connection.rollback()
        connection.close()
        return {"transactionStatus": "Rollback Complete"}

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _check_target(body: dict, *required: str) -> None:
        for name in ("resourceArn", "secretArn", *required):
            if not isinstance(body.get(name), str) or not body[name]:
                raise bad_request(f"{name} must be specified")
        if not body["resourceArn"].startswith("arn:"):
            raise bad_request(f"Invalid resourceArn: {body['resourceArn']}")

    def _fault(self) -> None:
        with self._lock:
            error = self._faults.popleft() if self._faults else None
        if error is not None:
            status = 504 if error == "DatabaseUnavailableException" else 400
            raise DataApiError(error, status, None if status == 504 else f"{error} (injected)")

    def _end(self, body: dict):
        self._check_target(body, "transactionId")
        with self._lock:
            connection = self._transactions.pop(body["transactionId"], None)
        if connection is None:
            raise DataApiError("TransactionNotFoundException", 404, "Transaction not found")
        return connection

    def _connect(self, database: str | None):
        import psycopg  # only the local stack runs this server: no import for the rest

        try:
            return psycopg.connect(
                self.database_url,
                **({"dbname": database} if database else {}),
                cursor_factory=psycopg.ClientCursor,
                connect_timeout=5,
                autocommit=True,
            )
        except psycopg.OperationalError as error:
            if "does not exist" in str(error):
                raise DataApiError("DatabaseNotFoundException", 404, _message(error)) from None
            raise DataApiError("DatabaseUnavailableException", 504) from None

    @contextlib.contextmanager
    def _connection(self, body: dict) -> Iterator:
        """The call's transaction's connection, or an autocommit one from the idle pool."""
        transaction_id = body.get("transactionId")
        if transaction_id:
            with self._lock:
                connection = self._transactions.get(transaction_id)
            if connection is None:
                raise DataApiError("TransactionNotFoundException", 404, "Transaction not found")
            yield connection
            return
        database = body.get("database") or None
        with self._lock:
            connection = self._idle[database].pop() if self._idle[database] else None
        if connection is None or connection.closed:
            connection = self._connect(database)
        try:
            yield connection
        except Exception:
            connection.close()  # in an unknown state: never pooled again
            raise
        with self._lock:
            self._idle[database].append(connection)

    @staticmethod
    def _run(cursor, sql: str, sets: list[dict]) -> None:
        import psycopg

        try:
            if len(sets) == 1:
                cursor.execute(sql, sets[0])
            else:
                cursor.executemany(sql, sets)
        except psycopg.OperationalError:
            raise DataApiError("DatabaseUnavailableException", 504) from None
        except psycopg.Error as error:
            raise DataApiError("DatabaseErrorException", 400, _message(error)) from None

    @staticmethod
    def _type_name(connection, column) -> str:
        from psycopg.postgres import types

        info = types.get(column.type_code)
        return info.name if info is not None else str(column.type_code)


def _message(error: Exception) -> str:
    """PostgreSQL's message as the Data API words it: `ERROR: …; SQLState: 42P01`."""
    state = getattr(getattr(error, "diag", None), "sqlstate", None) or getattr(
        error, "sqlstate", None
    )
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"ERROR: {text}; SQLState: {state}" if state else f"ERROR: {text}"


# What the local stack names its Data API's cluster and secret: any ARN works here.
LOCAL_CLUSTER_ARN = "arn:aws:rds:us-east-1:000000000000:cluster:dynamowave-local"
LOCAL_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:dynamowave-local"


def search_settings(data_api: DataApi, database_url: str) -> dict[str, str]:
    """The functions' variables that point the search index at this server and the database of
    `database_url` (handed over as the stack's FUNCTION_SETTINGS)."""
    from urllib.parse import urlsplit

    return {
        "RDS_DATA_ENDPOINT_URL": data_api.endpoint_url,
        "SEARCH_DATABASE_ARN": LOCAL_CLUSTER_ARN,
        "SEARCH_SECRET_ARN": LOCAL_SECRET_ARN,
        "SEARCH_DATABASE_NAME": urlsplit(database_url).path.lstrip("/") or "dynamowave",
    }
