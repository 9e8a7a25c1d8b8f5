"""`make run`'s terminal: the filter drops dependencies' noise and keeps requests, events and
errors (with their tracebacks); `--verbose` keeps every line."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.terminal import TerminalFilter, filter_lines

SAMPLE = Path(__file__).parent / "samples" / "run_output.txt"
KEEP = "  # keep"


def sample() -> list[tuple[str, str, bool]]:
    """(source, line, must be kept) for every line of the captured sample."""
    rows = []
    for raw in SAMPLE.read_text().splitlines():
        if raw.startswith("#"):
            continue
        source, line = raw.split("|", 1)
        keep = line.endswith(KEEP)
        rows.append((source, line.removesuffix(KEEP), keep))
    return rows


def run(rows, *, verbose: bool = False) -> list[str]:
    filters: dict[str, TerminalFilter] = {}
    printed = []
    for source, line, _ in rows:
        terminal = filters.setdefault(source, TerminalFilter(source, verbose=verbose))
        printed += terminal.feed(line + "\n")
    for terminal in filters.values():
        printed += terminal.close()
    return printed


def test_noise_is_dropped_and_what_matters_is_kept():
    """Of the sample, exactly the lines marked `keep` are printed (one line each, or the
    traceback it belongs to), and nothing else."""
    rows = sample()
    printed = run(rows)
    assert len(printed) == sum(keep for *_, keep in rows)
    text = "\n".join(printed)
    for noise in (
        "bytes read on a total",
        "CloudWatchMetrics",
        '"message sent"',
        "Performing system checks",
        "development server",
        "/static/chat/chat.js",
        "/api/online/",
        "Broken pipe",
        "BrokenPipeError",
        "ConnectionResetError",
        "ConnectionClosedError",
        "Retrying",
        "retrying request",
        "aiohttp.access",
        "node --trace-warnings",
    ):
        assert noise not in text, noise


def test_each_kept_line_reads_as_one_event():
    """Requests and gateway events are one short line with their source, status and time."""
    printed = run(sample())
    assert "site     GET /rooms/general/ → 200" in printed
    assert "site     GET /api/unread/ → 500" in printed  # a failing poll is not noise
    assert "site     GET /static/chat/missing.js → 404" in printed
    assert "gateway  connect pn1bTkEi5lUrjng= general → 200 in 280 ms" in printed
    assert "gateway  connect 2tfm7y2TO618XCo= lobby → 200 in 31 ms" in printed
    assert "gateway  sendmessage ykiZX8Sx9ioDUvk= → 200 in 761 ms" in printed
    assert "gateway  disconnect ykiZX8Sx9ioDUvk= close 1006 → 200 in 9 ms" in printed


def test_errors_reach_the_terminal_with_their_cause():
    printed = run(sample())
    text = "\n".join(printed)
    # A site error keeps its whole traceback, in order.
    start = printed.index("site     Traceback (most recent call last):")
    assert printed[start + 3] == "site     KeyError: 'user_id'"
    # A function's error record: what failed, where, and the exception's last line.
    assert (
        "gateway  ERROR PresenceFunction: presence announcement failed "
        "(route presence, connection b_mpj-rbmq2E0O0=) — ValueError: boom"
    ) in printed
    assert "emulator.gateway: route sendmessage failed: the function timed out" in text
    assert "dynalite Error: EADDRINUSE: address already in use 127.0.0.1:8002" in printed
    # PostgreSQL: an error with its detail and statement; none of its routine LOG lines.
    assert [line for line in printed if line.startswith("postgres")] == [
        "postgres 2026-12-07 06:48:51.599 UTC [30364] ERROR:  duplicate key value violates "
        'unique constraint "auth_user_username_key"',
        "postgres 2026-12-07 06:48:51.599 UTC [30364] DETAIL:  Key (username)=(alice) already "
        "exists.",
        "postgres 2026-12-07 06:48:51.599 UTC [30364] STATEMENT:  INSERT INTO auth_user VALUES "
        "('alice')",
    ]


def test_verbose_keeps_every_line():
    rows = sample()
    printed = run(rows, verbose=True)
    assert printed == [f"{source:<8} {line}" for source, line, _ in rows]


@pytest.mark.parametrize("verbose", [False, True])
def test_a_traceback_cut_short_by_the_end_of_the_stream_is_printed(verbose):
    lines = ["Traceback (most recent call last):", '  File "x.py", line 1, in <module>']
    assert list(filter_lines(lines, source="site", verbose=verbose)) == [
        f"site     {line}" for line in lines
    ]


def test_the_gateway_access_line_never_carries_a_query_string():
    """What the gateway logs of a connect is the room, whatever a client sends as one."""
    import logging

    from emulator import gateway

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    gateway.access_logger.addHandler(handler)
    old = gateway.access_logger.level
    gateway.access_logger.setLevel(logging.INFO)
    try:
        gateway._access("connect", "abc=", "general", 200, 0.0)
    finally:
        gateway.access_logger.removeHandler(handler)
        gateway.access_logger.setLevel(old)
    (record,) = records
    assert record.getMessage().startswith("connect abc= general → 200 in ")
    assert gateway._PRINTABLE.fullmatch("general\ntoken=x") is None
