"""Search at scale (`make bench`, section `search`): 1,000,000 generated messages in 1,000 rooms
in the site's index on a real PostgreSQL, the site's own search query timed on them, and the
index's size.

The text: a seeded vocabulary of 20,000 made-up words drawn with Zipf's law (s = 1.07, as
word frequencies in English chat are), 3 to 30 words a message, one in four words an English
stop word (dropped by the `english` configuration, as in real text). The rows go in as the
index's one write would leave them (the document is `to_tsvector(language, text)`), loaded by
COPY with the GIN index dropped and then rebuilt by its own definition (as a backfill of an
existing chat would be done).

Queries: the site's `message_search` SQL (chat/selectors/search.py) as the user it runs for
(here one who may read all 1,000 rooms: the widest filter), each timed on the server (the
query's execution, not Python's) and round trip; word queries by word frequency rank, and
two-word phrase queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.stack import ROOT, percentile

MESSAGES = 1_000_000
ROOMS = 1_000
USERS = 500
VOCABULARY = 20_000
ZIPF_S = 1.07
STOP_WORDS = [
    "the",
    "a",
    "to",
    "and",
    "of",
    "is",
    "in",
    "it",
    "that",
    "for",
    "on",
    "you",
    "i",
    "this",
    "be",
    "with",
    "we",
    "are",
]
SEED = 26
LANGUAGE = "english"
START = datetime(2026, 1, 1, tzinfo=UTC)


def vocabulary(rng: random.Random) -> list[str]:
    """VOCABULARY distinct pronounceable made-up words, most frequent first."""
    onsets = [
        "b",
        "c",
        "d",
        "f",
        "g",
        "h",
        "j",
        "k",
        "l",
        "m",
        "n",
        "p",
        "r",
        "s",
        "t",
        "v",
        "w",
        "z",
        "br",
        "cr",
        "dr",
        "fl",
        "gr",
        "pl",
        "pr",
        "sl",
        "st",
        "tr",
    ]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "oo", "ou"]
    codas = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st"]
    words: dict[str, None] = {}
    while len(words) < VOCABULARY:
        syllables = rng.choice((1, 2, 2, 3))
        word = "".join(
            rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables)
        )
        if len(word) >= 3:
            words[word] = None
    return list(words)


@dataclass
class Corpus:
    words: list[str]
    cumulative: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        weights = [1 / (rank**ZIPF_S) for rank in range(1, len(self.words) + 1)]
        self.cumulative = list(itertools.accumulate(weights))

    def text(self, rng: random.Random) -> str:
        count = rng.randint(3, 30)
        chosen = rng.choices(self.words, cum_weights=self.cumulative, k=count)
        return " ".join(rng.choice(STOP_WORDS) if rng.random() < 0.25 else word for word in chosen)


def rows(corpus: Corpus, rng: random.Random, count: int):
    """(message_id, room, user_id, username, text, sent_at, rev): ULID-like ids in time order."""
    span = 365 * 24 * 3600
    for n in range(count):
        at = START + timedelta(seconds=span * n / count)
        user = rng.randrange(USERS)
        yield (
            f"{n:026d}",
            f"room-{rng.randrange(ROOMS):04d}",
            f"u{user}",
            f"user{user}",
            corpus.text(rng),
            at.isoformat(),
            n + 1,
        )


def load(url: str, *, count: int = MESSAGES, log=print) -> dict:
    """The index filled with `count` generated messages; timings of each step."""
    import psycopg

    rng = random.Random(SEED)
    corpus = Corpus(vocabulary(rng))
    timings: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as connection:
        definition = connection.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'chat_search_document'"
        ).fetchone()[0]
        connection.execute("DROP INDEX chat_search_document")
        connection.execute(
            "CREATE UNLOGGED TABLE staging (message_id text, room text, user_id text,"
            " username text, text text, sent_at timestamptz, rev bigint)"
        )
        started = time.monotonic()
        with connection.cursor() as cursor, cursor.copy("COPY staging FROM STDIN") as copy:
            for row in rows(corpus, rng, count):
                copy.write_row(row)
        timings["generate and COPY"] = time.monotonic() - started
        log(f"search bench: {count:,} messages copied in {timings['generate and COPY']:.0f} s")
        started = time.monotonic()
        connection.execute(
            "INSERT INTO chat_searchentry (message_id, room, thread, user_id, username, text,"
            " sent_at, rev, deleted, document, indexed_at)"
            " SELECT message_id, room, NULL, user_id, username, text, sent_at, rev, false,"
            f" to_tsvector('{LANGUAGE}', text), now() FROM staging"
        )
        connection.execute("DROP TABLE staging")
        timings["to_tsvector and insert"] = time.monotonic() - started
        started = time.monotonic()
        connection.execute("SET maintenance_work_mem = '256MB'")
        connection.execute(definition)
        timings["GIN index build"] = time.monotonic() - started
        connection.execute("VACUUM ANALYZE chat_searchentry")
        log(f"search bench: index built in {timings['GIN index build']:.0f} s")
    return {"timings": timings, "corpus": corpus}


def sizes(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as connection:
        table, index, total, count = connection.execute(
            "SELECT pg_table_size('chat_searchentry'),"
            " pg_relation_size('chat_search_document'),"
            " pg_total_relation_size('chat_searchentry'),"
            " (SELECT count(*) FROM chat_searchentry)"
        ).fetchone()
    return {"table": table, "gin": index, "total": total, "rows": count}


def migrate(url: str) -> None:
    """The site's migrations, so the table is the one the site makes."""
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "dynamowave_site.settings"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def _timed(connection, statement: str, parameters) -> tuple[float, float, int]:
    """(execution ms on the server, round-trip ms, rows) of one query."""
    started = time.perf_counter()
    plan = connection.execute(
        "EXPLAIN (ANALYZE, FORMAT JSON, TIMING OFF) " + statement, parameters
    ).fetchone()[0][0]
    round_trip = (time.perf_counter() - started) * 1000
    return plan["Execution Time"], round_trip, plan["Plan"].get("Actual Rows", 0)


def run(*, count: int = MESSAGES, lag: bool = True, log=print) -> dict:
    from devstack.postgres import PostgreSQL

    log_file = Path(tempfile.mkdtemp(prefix="dynamowave-bench-pg-")) / "postgres.log"
    with PostgreSQL(log=log_file) as server:
        migrate(server.url)
        loaded = load(server.url, count=count, log=log)
        result = {"count": count, "timings": loaded["timings"], "sizes": sizes(server.url)}
        result["queries"] = queries(server.url, loaded["corpus"], log=log)
    if lag:
        result["lag"] = lag_run(log=log)
    return result


def _pairs(url: str, rng: random.Random, count: int) -> list[str]:
    """Two adjacent words of stored messages (neither a stop word): phrases that are there."""
    import psycopg

    with psycopg.connect(url) as connection:
        texts = [
            row[0]
            for row in connection.execute(
                "SELECT text FROM chat_searchentry TABLESAMPLE SYSTEM (1) REPEATABLE (26)"
                " LIMIT 2000"
            )
        ]
    pairs = []
    while len(pairs) < count:
        words = rng.choice(texts).split()
        starts = [
            n for n in range(len(words) - 1) if not {words[n], words[n + 1]} & set(STOP_WORDS)
        ]
        if starts:
            at = rng.choice(starts)
            pairs.append(f"{words[at]} {words[at + 1]}")
    return pairs


def queries(url: str, corpus: Corpus, *, log=print) -> dict:
    """Timed queries: words by frequency rank, and phrases, with every room readable."""
    import psycopg

    from chat.selectors.search import search_query_parse, search_statement  # the site's own

    rng = random.Random(SEED + 1)
    rooms = {f"room-{n:04d}" for n in range(ROOMS)}
    kinds = {
        "word, rank 1-100 (common)": [rng.choice(corpus.words[:100]) for _ in range(40)],
        "word, rank 100-5,000": [rng.choice(corpus.words[100:5000]) for _ in range(100)],
        "word, rank 5,000-20,000 (rare)": [rng.choice(corpus.words[5000:]) for _ in range(60)],
        "phrase of two words": [f'"{pair}"' for pair in _pairs(url, rng, 100)],
    }
    results = {}
    with psycopg.connect(url) as connection:
        connection.execute("SELECT 1")  # warm the connection, not the cache
        for kind, texts in kinds.items():
            server, round_trip, found = [], [], []
            for text in texts:
                statement, parameters = search_statement(
                    parsed=search_query_parse(text), rooms=rooms, language=LANGUAGE, limit=21
                )
                ms, rt, n = _timed(connection, statement, parameters)
                server.append(ms)
                round_trip.append(rt)
                found.append(n)
            results[kind] = {
                "queries": len(texts),
                "p50": percentile(server, 50),
                "p95": percentile(server, 95),
                "max": max(server),
                "round_trip_p95": percentile(round_trip, 95),
                "found": sum(1 for n in found if n),  # queries with at least one result
            }
            log(f"search bench: {kind}: p95 {results[kind]['p95']:.1f} ms")
    return results


def _mb(size: int) -> str:
    return f"{size / 1_000_000:,.0f} MB"


TARGET_MS = 200.0


def report(result: dict) -> str:
    count, sizes, timings = result["count"], result["sizes"], result["timings"]
    per_million = 1_000_000 / count
    lines = [
        "## Search",
        "",
        f"{count:,} generated messages in {ROOMS:,} rooms from {USERS} users "
        "(`bench/search.py`: a seeded vocabulary of 20,000 made-up words drawn by Zipf's law, "
        "3-30 words a message, a quarter of them English stop words) in the site's index on a "
        "real PostgreSQL (`devstack/postgres.py`, the table the site's migrations make). Each "
        "query is the site's own (`chat.selectors.search.search_statement`, 21 rows: a page "
        "and one more) for a user who may read all 1,000 rooms, the widest filter; the time is "
        "the server's execution time (`EXPLAIN ANALYZE`), the round trip from this process in "
        "the last column. Words by their frequency rank (rank 1-100 appear in 1-20 % of all "
        "messages); phrases are two adjacent words of stored messages.",
        "",
        "| query | queries | p50 | p95 | max | round trip p95 | target | met |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for kind, row in result["queries"].items():
        met = "yes" if row["p95"] < TARGET_MS else f"**no** ({row['p95'] / TARGET_MS:.1f}×)"
        lines.append(
            f"| {kind} | {row['queries']} | {row['p50']:.1f} ms | {row['p95']:.1f} ms | "
            f"{row['max']:.1f} ms | {row['round_trip_p95']:.1f} ms | p95 < 200 ms | {met} |"
        )
    lines += [
        "",
        f"**Index size per million messages**: {_mb(sizes['total'] * per_million)} in all "
        f"({_mb(sizes['table'] * per_million)} the table, text and `tsvector` together; "
        f"{_mb(sizes['gin'] * per_million)} the GIN index; the rest the B-tree indexes on the "
        "id, room, author and time). Loading took "
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
        + ".",
        "",
    ]
    lines += [
        "**What the plans showed** (`EXPLAIN ANALYZE` on this index). Ranking every match "
        "first: a word in one message of five had 206,207 rows read and ranked, 900 ms; the "
        "query now ranks the newest 1,051 matches (every page a cursor reaches), which the "
        "planner finds by reading the `sent_at` index backwards for a common word (16-31 ms) "
        "or by the GIN index and a top-N sort for a rare one. The phrase tail is the same "
        "choice made wrong: PostgreSQL estimates a phrase as the AND of its words (18,453 rows "
        "for one that matches about 1,500), so for a rare phrase of common words it reads "
        "backwards through most of the table (671,366 rows filtered for that one, 280-330 ms). "
        "Tried and measured, both worse at p95: forcing the GIN path (334 ms: every message "
        "holding both words is read back from the table to check their positions) and a "
        "window of 251 (260 ms: the planner picks the backward scan more often). Left to try: "
        "a two-step query bounded to the newest 100,000 messages first, and a narrower index "
        "table (the text beside the `tsvector` makes each row ~450 bytes, so each page read "
        "holds ten rows).",
        "",
    ]
    if "lag" in result:
        lines += lag_report(result["lag"])
    return "\n".join(lines)


LAG_RATE = 20  # messages per second, the rate
LAG_SECONDS = 30
LAG_CLIENTS = 20
LAG_TARGET_S = 5.0
CLUSTER = "arn:aws:rds:us-east-1:000000000000:cluster:bench"
SECRET = "arn:aws:secretsmanager:us-east-1:000000000000:secret:bench"


async def _send_paced(port: int, keys, room: str, count: int) -> dict[str, float]:
    """`count` messages at LAG_RATE from LAG_CLIENTS clients; each one's id -> when the
    sender's acknowledgement (its own `message` frame) arrived (wall clock, epoch s)."""
    import json

    from websockets.asyncio.client import connect

    from bench.stack import websocket_url

    acked: dict[str, float] = {}
    sockets = [
        await connect(
            websocket_url(port, keys, user_id=f"lag{i}", room=room),
            open_timeout=30,
            max_queue=None,
            ping_interval=None,
        )
        for i in range(LAG_CLIENTS)
    ]
    mine: dict[str, int] = {}  # clientMessageId -> sender

    async def read(i: int, ws) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            cmid = frame.get("client_message_id")
            if frame.get("type") == "message" and mine.get(cmid) == i and frame["id"] not in acked:
                acked[frame["id"]] = time.time()

    readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets)]
    started = time.monotonic()
    for n in range(count):
        i = n % LAG_CLIENTS
        cmid = f"lag-{n}"
        mine[cmid] = i
        frame = {"action": "sendmessage", "message": f"lag test {n}", "clientMessageId": cmid}
        await sockets[i].send(json.dumps(frame))
        await asyncio.sleep(max(0.0, started + (n + 1) / LAG_RATE - time.monotonic()))
    deadline = time.monotonic() + 60
    while len(acked) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for task in readers:
        task.cancel()
    for ws in sockets:
        await ws.close()
    return acked


@contextlib.contextmanager
def _environment_restored():
    """The process's environment and bound configuration as they were, afterwards: the run
    points both at a stack (keys, dynalite, the Data API) that is gone once it ends."""
    from lambdas.config import configure, get_config

    environment, config = dict(os.environ), get_config()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environment)
        configure(config)


def lag_run(*, log=print, seconds: int = LAG_SECONDS) -> dict:
    """Messages sent through the real gateway at LAG_RATE a second; for each, the time from
    its storing (`sent_at`, set by sendmessage) to its index row's commit (`indexed_at`), both
    read off this machine's one clock: the indexing function invoked asynchronously, writing
    through the local Data API into PostgreSQL."""
    import asyncio

    import psycopg

    from bench import stack
    from chat.services.rooms import room_create
    from devstack.data_api import DataApi
    from devstack.dynamodb import free_port
    from devstack.postgres import PostgreSQL

    count = seconds * LAG_RATE
    with _environment_restored(), tempfile.TemporaryDirectory() as work:
        keys = stack.configure(Path(work))
        dynalite = stack.start_dynalite()
        try:
            with PostgreSQL() as server, DataApi(server.url) as data_api:
                migrate(server.url)
                os.environ.update(
                    RDS_DATA_ENDPOINT_URL=data_api.endpoint_url,
                    SEARCH_DATABASE_ARN=CLUSTER,
                    SEARCH_SECRET_ARN=SECRET,
                    SEARCH_DATABASE_NAME=server.database,
                )
                port = free_port()
                gateway = stack.start_gateway(port)
                try:
                    room = room_create(
                        name="lag", title="bench", description="", created_by="bench"
                    ).name
                    acked = asyncio.run(_send_paced(port, keys, room, count))
                    with psycopg.connect(server.url) as connection:
                        deadline = time.monotonic() + 60
                        while time.monotonic() < deadline:
                            rows = connection.execute(
                                "SELECT message_id, sent_at, indexed_at FROM chat_searchentry"
                            ).fetchall()
                            if len(rows) >= len(acked):
                                break
                            time.sleep(0.2)
                finally:
                    gateway.stop()
        finally:
            dynalite.stop()
    lags = [(indexed - sent).total_seconds() for _, sent, indexed in rows]
    after_ack = [
        indexed.timestamp() - acked[message_id]
        for message_id, _, indexed in rows
        if message_id in acked
    ]
    result = {
        "seconds": seconds,
        "sent": count,
        "acknowledged": len(acked),
        "indexed": len(rows),
        "p50": percentile(lags, 50),
        "p99": percentile(lags, 99),
        "max": max(lags, default=float("nan")),
        "after_ack_p99": percentile(after_ack, 99),
    }
    log(f"search bench: indexing lag p99 {result['p99']:.2f} s of {len(rows)} messages")
    return result


def lag_report(lag: dict) -> list[str]:
    met = "yes" if lag["p99"] < LAG_TARGET_S and lag["indexed"] == lag["sent"] else "**no**"
    return [
        f"**Indexing lag** while {LAG_RATE} messages a second are sent for {lag['seconds']} s "
        f"through the real gateway by {LAG_CLIENTS} clients (`bench.search.lag_run`): from a "
        "message's storing in `sendmessage` to its index row's commit, the indexing function "
        "invoked asynchronously (InvocationType=Event) and writing through the local RDS Data "
        "API (`devstack/data_api.py`) into PostgreSQL.",
        "",
        "| sent | acknowledged | indexed | lag p50 | lag p99 | max | after the sender's "
        "acknowledgement, p99 | target | met |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|",
        f"| {lag['sent']} | {lag['acknowledged']} | {lag['indexed']} | {lag['p50']:.2f} s | "
        f"{lag['p99']:.2f} s | {lag['max']:.2f} s | {lag['after_ack_p99']:.2f} s | "
        f"p99 < {LAG_TARGET_S:.0f} s, every message | {met} |",
        "",
    ]
