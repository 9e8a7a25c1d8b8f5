"""Runs the benchmarks (`python -m bench.run bench`) or the load test (`... load`) and writes
bench/RESULTS.md with the machine, the date and the command.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import stack

LOAD_MARK = "<!-- load -->"


def _log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def _load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


def _header(command: str, seconds: float, load_before: str) -> str:
    return (
        "# Benchmark results\n\n"
        "Written by `bench/run.py`; do not edit by hand.\n\n"
        f"- machine: {stack.machine()}\n"
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- command: `{command}` (took {seconds:.0f} s)\n"
        f"- open-file limit: {stack.raise_nofile():,}\n"
        f"- 1-minute load average before / after the run: {load_before} / {_load()} "
        "(anything above 0 is other work sharing the CPUs, e.g. test suites running at the "
        "same time; it slows every figure below)\n\n"
    )


def bench(command: str) -> None:
    from bench import capacity, e2e, fanout, imports
    from lambdas.local.dynamodb import free_port

    started, load_before = time.monotonic(), _load()
    sections = [imports.report(imports.run(log=_log))]
    with tempfile.TemporaryDirectory() as work:
        keys = stack.configure(Path(work))
        dynalite = stack.start_dynalite()
        try:
            sections.append(fanout.report(fanout.run(port=free_port(), log=_log)))
            sections.append(e2e.report(e2e.run(port=free_port(), keys=keys, log=_log)))
            sections.append(capacity.report(capacity.run(log=_log)))
        finally:
            dynalite.stop()
    order = [1, 2, 3, 0]  # fan-out, end to end, capacity, imports
    text = _header(command, time.monotonic() - started, load_before) + "\n".join(
        sections[i] for i in order
    )
    load = _load_section()
    stack.RESULTS.write_text(text + (f"\n{load}" if load else ""))
    _log(f"wrote {stack.RESULTS}")


def _load_section() -> str:
    if not stack.RESULTS.exists():
        return ""
    text = stack.RESULTS.read_text()
    return text[text.index(LOAD_MARK) :] if LOAD_MARK in text else ""


def load(command: str) -> None:
    from bench import load as load_test
    from lambdas.local.dynamodb import free_port

    started, load_before = time.monotonic(), _load()
    with tempfile.TemporaryDirectory() as work:
        keys = stack.configure(Path(work))
        dynalite = stack.start_dynalite()
        try:
            data = load_test.run(port=free_port(), keys=keys, log=_log)
        finally:
            dynalite.stop()
    section = (
        f"{LOAD_MARK}\n"
        f"_Load test: `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{stack.machine()}, took {time.monotonic() - started:.0f} s, 1-minute load average "
        f"{load_before} before and {_load()} after._\n\n" + load_test.report(data)
    )
    existing = stack.RESULTS.read_text() if stack.RESULTS.exists() else "# Benchmark results\n"
    if LOAD_MARK in existing:
        existing = existing[: existing.index(LOAD_MARK)].rstrip() + "\n"
    stack.RESULTS.write_text(existing + "\n" + section)
    _log(f"wrote {stack.RESULTS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["bench", "load"])
    args = parser.parse_args()
    stack.raise_nofile()
    command = shlex.join(["python", "-m", "bench.run", *sys.argv[1:]])
    if "MAKELEVEL" in os.environ:
        command = f"make {args.what}"
    (bench if args.what == "bench" else load)(command)


if __name__ == "__main__":
    main()
