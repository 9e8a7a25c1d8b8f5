"""What `make run` prints: one line per request or event worth seeing, dependencies' noise dropped.

The stack's processes write to pipes; `runstack` hands every line to a `TerminalFilter`, which
keeps page requests, WebSocket connects, route invocations and disconnects (the gateway's access
lines), warnings and errors (with their traceback), and drops what a developer does not act on:
CloudWatch metric blobs, Powertools' INFO records (the access line says the same), dynalite's
warnings, PostgreSQL's routine LOG lines, the dev server's banner, static files, pages'
background polls and frames (pings, typing, read positions) that succeed, boto/urllib3 retries,
and the tracebacks of sockets that simply went away. `verbose` keeps every line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator

# The dev server's request lines: [06/Dec/2026 18:19:18] "GET /rooms/ HTTP/1.1" 200 4813
REQUEST = re.compile(
    r'^\[[^\]]+\] "(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) \S+$'
)
# Paths a page requests by itself, again and again: counted by the pages, not worth a line each.
POLLS = ("/api/unread/", "/api/online/", "/favicon.ico", "/static/", "/jsi18n/")
# The gateway's and its functions' `logging` lines: "<date> <time>,<ms> <logger> <message>".
LOGGING = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<name>[\w.]+) (?P<message>.*)$")
NOISY_LOGGERS = ("botocore", "urllib3", "aiohttp.access", "asyncio", "pynamodb", "boto3")
NOISE = [
    re.compile(pattern)
    for pattern in (
        # dynalite (Node) and its HTTP server, when a client closes a connection early
        r"bytes read on a total of .* expected bytes",
        r"^\(node:\d+\) \w*Warning",
        r"^\(Use `node --trace-",
        # the dev server's banner, printed on every start
        r"^Performing system checks\.\.\.$",
        r"^System check identified no issues",
        r"^\w+ \d\d, \d{4} - \d\d:\d\d:\d\d$",
        r"^Django version [\d.]+, using settings",
        r"^Starting development server at",
        r"^Quit the server with CONTROL-C\.$",
        r"^WARNING: This is a development server\.",
        r"^For more information on production servers see",
        # PostgreSQL's LOG lines (starting, listening, checkpoints, shutting down): its
        # WARNING, ERROR and FATAL lines, and the DETAIL or STATEMENT under them, are shown
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \w+ \[\d+\] LOG:  ",
        # a browser that closed its tab mid-response
        r"Broken pipe from \(",
        r"^\s*$",
    )
]
# Exceptions that only say a peer went away: expected whenever a tab closes or a stack stops.
EXPECTED_DISCONNECTS = re.compile(
    r"^(?:[\w.]+\.)?(?:BrokenPipeError|ConnectionResetError|ConnectionAbortedError|"
    r"ConnectionClosed\w*|ClientConnectionResetError|CancelledError|IncompleteRead)\b"
)
# Frames a page sends by itself: its keep-alive pings, typing notices (one per composing burst),
# read positions. Seen only if they fail.
BACKGROUND = re.compile(r"^(?:ping|typing|markread) \S+ → 200 ")
CHAIN_HEADERS = ("During handling of the above exception", "The above exception was the direct")
WIDTH = 8  # the source column


class TerminalFilter:
    """Feed it the lines of one source (`site`, `gateway`, `dynalite`, `postgres`) in order; it
    answers the lines to print. Stateful only for tracebacks, which are kept or dropped whole."""

    def __init__(self, source: str, *, verbose: bool = False) -> None:
        self.source, self.verbose = source, verbose
        self._traceback: list[str] | None = None
        # After a traceback: whether it was shown, so the header of a chained one that follows
        # ("During handling of the above exception…") goes with it.
        self._chained: bool | None = None

    def feed(self, line: str) -> list[str]:
        line = line.rstrip("\r\n")
        if self.verbose:
            return [self._out(line)]
        if self._traceback is not None:
            return self._traceback_line(line)
        if self._chained is not None:
            if not line.strip() or line.startswith(CHAIN_HEADERS):
                return [self._out(line)] if self._chained else []
            self._chained = None
        if line.startswith("Traceback (most recent call last):"):
            self._traceback = [line]
            return []
        if line.startswith("{"):
            return [self._out(kept) for kept in self._records(line) if kept is not None]
        kept = self._line(line)
        return [] if kept is None else [self._out(kept)]

    def _records(self, line: str) -> Iterator[str | None]:
        """Each JSON record of a line: a `print()` writes its text and its newline apart, so two
        functions printing at once can put two records on one line."""
        decoder, at = json.JSONDecoder(), 0
        while at < len(line):
            if line[at] != "{":
                yield self._line(line[at:])
                return
            try:
                record, end = decoder.raw_decode(line, at)
            except ValueError:
                yield self._line(line[at:])
                return
            yield self._json(record, line[at:end])
            at = end

    def close(self) -> list[str]:
        """At the end of the stream: a traceback cut short is printed as it is."""
        pending, self._traceback = self._traceback, None
        return [self._out(line) for line in pending or []]

    def _out(self, text: str) -> str:
        return f"{self.source:<{WIDTH}} {text}"

    def _traceback_line(self, line: str) -> list[str]:
        assert self._traceback is not None
        self._traceback.append(line)
        if line.startswith((" ", "\t")):
            return []  # a frame
        lines, self._traceback = self._traceback, None
        self._chained = not EXPECTED_DISCONNECTS.match(line)
        if not self._chained:
            return []  # a peer went away: nothing to fix
        return [self._out(text) for text in lines]

    def _line(self, line: str) -> str | None:
        if any(pattern.search(line) for pattern in NOISE):
            return None
        request = REQUEST.match(line)
        if request:
            status, path = int(request["status"]), request["path"]
            if status < 400 and path.startswith(POLLS):
                return None
            return f"{request['method']} {path} → {status}"
        logged = LOGGING.match(line)
        if logged:
            name, message = logged["name"], logged["message"]
            if name.startswith(NOISY_LOGGERS) and not _is_error(message):
                return None
            if name == "emulator.gateway.access":
                return None if BACKGROUND.match(message) else message
            return f"{name}: {message}"
        return line  # anything else may matter: shown

    def _json(self, record: object, line: str) -> str | None:
        """A function's structured output: metrics dropped, records kept from WARNING up."""
        if not isinstance(record, dict):
            return line
        if "_aws" in record:
            return None  # an Embedded Metric Format blob: CloudWatch's, not a reader's
        level = str(record.get("level", "")).upper()
        if level in ("DEBUG", "INFO"):
            return None  # the gateway's access line already says the route ran, and how
        where = record.get("function_name") or record.get("location") or "function"
        text = f"{level or 'LOG'} {where}: {record.get('message', '')}"
        if record.get("route"):
            text += f" (route {record['route']}, connection {record.get('connection_id', '-')})"
        if record.get("exception"):
            last = str(record["exception"]).strip().splitlines()[-1:]
            text += f" — {last[0] if last else record.get('exception_name', '')}"
        return text


def _is_error(message: str) -> bool:
    return bool(re.search(r"\b(?:ERROR|CRITICAL|Traceback|Exception|failed)\b", message))


def filter_lines(lines: Iterable[str], *, source: str, verbose: bool = False) -> Iterator[str]:
    """Every line `TerminalFilter` keeps of `lines`, in order."""
    terminal = TerminalFilter(source, verbose=verbose)
    for line in lines:
        yield from terminal.feed(line)
    yield from terminal.close()
