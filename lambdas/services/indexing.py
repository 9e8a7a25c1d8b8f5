"""The search index kept current: each message change handed to the indexing function, and
applied there to the site's PostgreSQL through the RDS Data API (lambdas/services/search_index.py
holds the statement).

The functions that change messages (sendmessage, editmessage, deletemessage; the site's staff
deletes) call `search_index_enqueue` once per change, after the room has heard of it: one
asynchronous Lambda `Invoke` (InvocationType=Event), whose failure is logged and counted but
never fails or delays the change (the backfill command repairs what was not enqueued). Lambda
runs the indexing function (lambdas/handlers/index.py) soon after, retries it when it raises
(twice, IndexInvokeConfig in template.yaml) and sends an event it could not apply to the index
failures queue. The write is idempotent by message id and change number, so a retry, a repeat or
a late change arriving after a newer one changes nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence

from lambdas.clients import cached_client
from lambdas.config import Config, get_config
from lambdas.metrics import metric_count, metric_ms
from lambdas.services.search_index import UPSERT, IndexChange

logger = logging.getLogger(__name__)

# A paused Aurora Serverless v2 cluster (0 ACUs) answers DatabaseResumingException while it
# resumes, which takes about 15 s: waiting for it here delivers the change in seconds, where a
# raise would wait for Lambda's first retry (a minute). After RESUME_WAIT_SECONDS (inside the
# function's 29 s Timeout, with the last request's time), raise.
RESUME_WAIT_SECONDS = 20.0
RESUME_POLL_SECONDS = 5.0
RESUMING = "DatabaseResumingException"


@cached_client("lambda", endpoint="lambda_endpoint_url")
def index_lambda_client(config: Config) -> dict:
    """The Lambda client that hands changes to the indexing function (boto3 imported lazily:
    every function that changes messages imports this module, and calls it once per change):
    short timeouts and one retry, since it runs inside the change's own function, after its
    reply is known."""
    return {
        "retries": {"max_attempts": 1, "mode": "standard"},
        "connect_timeout": 1,
        "read_timeout": 2,
    }


@cached_client("rds-data", endpoint="rds_data_endpoint_url")
def data_api_client(config: Config) -> dict:
    """The RDS Data API client of the indexing function (boto3 is in Lambda's runtime: no
    database driver in the package, no VPC, no connection to keep). A write takes milliseconds:
    three attempts of at most 8 s each fit in the function's 29 s."""
    return {
        "retries": {"max_attempts": 2, "mode": "standard"},
        "connect_timeout": 2,
        "read_timeout": 6,
    }


def index_change_of(message: object, *, rev: int, deleted: bool = False) -> IndexChange:
    """The index's view of a stored message after the change numbered `rev`. A reply's parent
    (`thread`) is read where messages have one."""
    return IndexChange(
        message_id=message.message_id,
        room=message.room,
        user_id=message.user_id,
        username=message.username,
        text="" if deleted else (message.text or ""),
        sent_at=message.sent_at,
        rev=int(rev),
        deleted=deleted,
        thread=getattr(message, "thread", None) or None,
    )


def search_index_enqueue(*, message: object, rev: int, deleted: bool = False) -> bool:
    """Hand one change of `message` to the indexing function, asynchronously; whether Lambda
    accepted it. Never raises: the change is stored and delivered whatever happens here."""
    config = get_config()
    if not config.index_function_name:  # no indexing function here (unit tests)
        return False
    try:
        change = index_change_of(message, rev=rev, deleted=deleted)
        event = {"changes": [change.as_event()], "enqueued_at": round(time.time() * 1000)}
        index_lambda_client().invoke(
            FunctionName=config.index_function_name,
            InvocationType="Event",
            Payload=json.dumps(event, separators=(",", ":")).encode(),
        )
    except Exception:
        logger.exception(
            "search index change not enqueued (the backfill command repairs it)",
            extra={"message_id": getattr(message, "message_id", None), "rev": rev},
        )
        metric_count("IndexEnqueueFailures")
        return False
    return True


def changes_of(event: dict) -> list[IndexChange]:
    """The changes an indexing event carries; ValueError if it carries none or a malformed one
    (a raise: Lambda retries it, then it waits in the failures queue to be looked at)."""
    fields = event.get("changes") if isinstance(event, dict) else None
    if not isinstance(fields, list) or not fields:
        raise ValueError("an indexing event carries a non-empty list of changes")
    try:
        return [IndexChange.from_event(one) for one in fields]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"malformed change in an indexing event: {error!r}") from None


def typed(value: object) -> dict[str, object]:
    """One Data API `Field` for a parameter's value."""
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):  # before int: bool is an int
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def sql_parameters(parameters: dict[str, object]) -> list[dict[str, object]]:
    """A statement's `:name` parameters as the Data API's typed SqlParameter list."""
    return [{"name": name, "value": typed(value)} for name, value in parameters.items()]


def index_apply(
    *,
    changes: Sequence[IndexChange],
    enqueued_at_ms: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Apply the changes to the index in one Data API request; how many rows changed (a change
    older than the row's is no change). Raises on any failure, so that Lambda retries the event.

    Without a search database (SEARCH_DATABASE_ARN and SEARCH_SECRET_ARN, both ARNs) nothing is
    applied, and that is said in the log: a deployed stack always names its own cluster, so
    only an environment run without one (no Data API to write through) indexes nothing."""
    config = get_config()
    names = (config.search_database_arn or "", config.search_secret_arn or "")
    if not all(name.startswith("arn:") for name in names):
        logger.warning("no search database configured: %d changes not indexed", len(changes))
        return 0
    client = data_api_client()
    target = {
        "resourceArn": config.search_database_arn,
        "secretArn": config.search_secret_arn,
        "database": config.search_database_name,
        "sql": UPSERT,
    }
    sets = [sql_parameters(c.parameters(language=config.search_language)) for c in changes]
    waited, started = 0.0, time.monotonic()
    while True:
        try:
            if len(sets) == 1:
                answer = client.execute_statement(**target, parameters=sets[0])
                applied = int(answer.get("numberOfRecordsUpdated", 0))
            else:
                # BatchExecuteStatement says nothing of the rows each set changed.
                client.batch_execute_statement(**target, parameterSets=sets)
                applied = len(sets)
            break
        except Exception as error:
            code = getattr(error, "response", {}).get("Error", {}).get("Code")
            if code != RESUMING or waited >= RESUME_WAIT_SECONDS:
                raise
            logger.info("search database resuming; waiting", extra={"waited_s": waited})
            sleep(RESUME_POLL_SECONDS)
            waited += RESUME_POLL_SECONDS
    metric_ms("IndexWriteMs", (time.monotonic() - started) * 1000)
    metric_count("IndexChangesApplied", applied)
    if len(sets) == 1 and not applied:
        metric_count("IndexChangesStale")  # a retry, a repeat, or older than the row
    if enqueued_at_ms is not None:
        metric_ms("IndexLagMs", max(0.0, time.time() * 1000 - enqueued_at_ms))
    return applied
