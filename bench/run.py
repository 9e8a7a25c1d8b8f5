"""Runs the benchmarks (`python -m bench.run bench`) or the load test (`... load`) and writes
bench/RESULTS.md with the machine, the date and the command.

`bench --only e2e` (comma-separated: fanout, e2e, repair, capacity, search, imports) runs some
sections and writes them to test-artifacts/bench/RESULTS.partial.md; `--results PATH` writes
elsewhere (`--only search --results bench/RESULTS.md` replaces just that section in place);
BENCH_PROFILE=1 profiles the gateway with py-spy during the end-to-end burst.
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
# The search section between these: `--only search --results bench/RESULTS.md` replaces it in
# place, keeping the other sections of their own run (it needs no stack of the others' kind).
SEARCH_MARK, SEARCH_END = "<!-- search -->", "<!-- /search -->"
SECTIONS = (
    "fanout",
    "e2e",
    "repair",
    "capacity",
    "search",
    "imports",
)  # also their order in the results
PARTIAL = stack.LOGS / "RESULTS.partial.md"  # where `--only` writes by default


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


def bench(command: str, *, only: list[str], results: Path, profile: bool) -> None:
    from bench import capacity, e2e, fanout, fanout_report, imports, repair

    started, load_before = time.monotonic(), _load()
    sections: dict[str, str] = {}
    if "imports" in only:
        sections["imports"] = imports.report(imports.run(log=_log))
    if "search" in only:
        from bench import search

        search_started, search_load = time.monotonic(), _load()
        report = search.report(search.run(log=_log))
        sections["search"] = (
            f"{SEARCH_MARK}\n{report}\n_This section: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
            f"took {time.monotonic() - search_started:.0f} s, 1-minute load average "
            f"{search_load} before and {_load()} after._\n{SEARCH_END}\n"
        )
        if only == ["search"] and results == stack.RESULTS.resolve():
            _section_replace(results, sections["search"])
            return
    if set(only) & {"fanout", "e2e", "repair", "capacity"}:
        from devstack.dynamodb import free_port

        runs = {
            "fanout": lambda keys: fanout_report.report(fanout.run(port=free_port(), log=_log)),
            "e2e": lambda keys: e2e.report(e2e.run(keys=keys, log=_log, profile=profile)),
            "repair": lambda keys: repair.report(repair.run(keys=keys, log=_log)),
            "capacity": lambda keys: capacity.report(capacity.run(log=_log)),
        }
        with tempfile.TemporaryDirectory() as work:
            keys = stack.configure(Path(work))
            for name in (name for name in runs if name in only):
                # A fresh dynalite for each section: the fan-out's 10,000 connection items
                # (whose users the end-to-end clients share) would slow the next one down.
                dynalite = stack.start_dynalite()
                try:
                    sections[name] = runs[name](keys)
                finally:
                    dynalite.stop()
    text = _header(command, time.monotonic() - started, load_before) + "\n".join(
        sections[name] for name in SECTIONS if name in sections
    )
    load = _load_section(results)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(text + (f"\n{load}" if load else ""))
    _log(f"wrote {results}")


def _section_replace(results: Path, section: str) -> None:
    """The search section of `results` replaced by `section` (or put before the cold-start and
    load sections if it has none); every other section as it was."""
    text = results.read_text()
    if SEARCH_MARK in text and SEARCH_END in text:
        start = text.index(SEARCH_MARK)
        end = text.index(SEARCH_END) + len(SEARCH_END) + 1
        text = text[:start] + section + text[end:]
    else:
        at = min(
            (i for i in (text.find("## Cold start"), text.find(LOAD_MARK)) if i >= 0),
            default=len(text),
        )
        text = text[:at] + section + "\n" + text[at:]
    results.write_text(text)
    _log(f"wrote the search section of {results}")


def _load_section(results: Path) -> str:
    if not results.exists():
        return ""
    text = results.read_text()
    return text[text.index(LOAD_MARK) :] if LOAD_MARK in text else ""


def load(command: str, *, results: Path) -> None:
    from bench import load as load_test
    from devstack.dynamodb import free_port

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
    existing = results.read_text() if results.exists() else "# Benchmark results\n"
    if LOAD_MARK in existing:
        existing = existing[: existing.index(LOAD_MARK)].rstrip() + "\n"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(existing + "\n" + section)
    _log(f"wrote {results}")


def _sections(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = set(names) - set(SECTIONS)
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(SECTIONS)}, comma-separated")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["bench", "load"])
    parser.add_argument(
        "--only",
        type=_sections,
        help=f"bench: run only these sections ({', '.join(SECTIONS)}; comma-separated); "
        f"written to {PARTIAL.relative_to(stack.ROOT)} unless --results says otherwise",
    )
    parser.add_argument(
        "--results",
        type=Path,
        help=f"where to write (default {stack.RESULTS.relative_to(stack.ROOT)})",
    )
    args = parser.parse_args()
    stack.raise_nofile()
    command = shlex.join(["python", "-m", "bench.run", *sys.argv[1:]])
    if "MAKELEVEL" in os.environ:
        command = f"make {args.what}"
    if args.what == "load":
        load(command, results=args.results or stack.RESULTS)
        return
    # A partial run never overwrites the full results unless asked to.
    results = args.results or (PARTIAL if args.only else stack.RESULTS)
    # BENCH_PROFILE=1: py-spy records the gateway during the end-to-end burst.
    profile = os.environ.get("BENCH_PROFILE", "") not in ("", "0")
    bench(command, only=args.only or list(SECTIONS), results=results.resolve(), profile=profile)


if __name__ == "__main__":
    main()
