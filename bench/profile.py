"""BENCH_PROFILE=1: py-spy on a server and its children, summed up for bench/RESULTS.md."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.stack import LOGS, ROOT

PROFILE = LOGS / "gateway-profile.txt"  # py-spy's raw (collapsed stacks) output


class Profiler:
    """`py-spy record` of a process and its children (a gateway may run functions in workers)
    for as long as the `with` lasts; stopped by SIGINT, on which py-spy writes its output."""

    def __init__(self, pid: int) -> None:
        self.pid, self.error, self.popen = pid, None, None

    async def __aenter__(self) -> Profiler:
        LOGS.mkdir(parents=True, exist_ok=True)
        PROFILE.unlink(missing_ok=True)
        spy = Path(sys.executable).with_name("py-spy")
        args = [str(spy), "record", "--pid", str(self.pid), "--subprocesses", "--nonblocking"]
        try:
            self.popen = subprocess.Popen(
                [*args, "--format", "raw", "-o", str(PROFILE)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        except OSError as error:
            self.error = f"py-spy could not start: {error}"
            return self
        await asyncio.sleep(1.0)  # attaching takes a moment; a refusal exits at once
        if self.popen.poll() is not None:
            self.error = f"py-spy could not attach: {self.popen.stdout.read().strip()}"
        return self

    async def __aexit__(self, *exc) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGINT)
        output, _ = await asyncio.to_thread(self.popen.communicate, timeout=60)
        if not PROFILE.exists():
            self.error = f"py-spy wrote no profile: {output.strip()}"

    def summary(self, top: int = 6) -> dict:
        """Own time (leaf samples) per function and per package, and the innermost frame of our
        own code (lambdas/) in each sample: which of our calls the time is spent under."""
        if self.error or not PROFILE.exists():
            return {"error": self.error or "no profile"}
        functions, packages, ours, total = Counter(), Counter(), Counter(), 0
        processes = Counter()
        for line in PROFILE.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            parts = stack.split(";")
            chain = [part for part in parts if part.startswith("process ")]
            frames = [_frame(frame) for frame in parts[len(chain) :]]
            if not frames:
                continue
            processes[_process_name(chain[-1] if chain else "")] += int(count)
            name, path = frames[-1]
            functions[f"{name} ({path})"] += int(count)
            packages[path.split("/")[0].removesuffix(".py").strip("<>")] += int(count)
            mine = [f"{n} ({p})" for n, p in frames if p.startswith("lambdas/")]
            ours[mine[-1] if mine else "(no lambdas/ frame)"] += int(count)
            total += int(count)
        return {
            "samples": total,
            "functions": functions.most_common(top),
            "packages": packages.most_common(top),
            "ours": ours.most_common(top),
            "processes": processes.most_common(top),
            "file": str(PROFILE.relative_to(ROOT)),
        }


def _process_name(frame: str) -> str:
    """py-spy's `process PID:"command line"` -> the gateway, a function (its zygote's name and
    the environments it forked), or what else it ran."""
    command = frame.partition(":")[2].strip('"')
    for word in command.split():
        if word.startswith("zygote:"):
            return word.removeprefix("zygote:")
    if re.search(r"-m emulator(\.gateway)?( |$)", command):
        return "gateway"
    return command.split(" ")[-1][:40] or "?"


def _frame(frame: str) -> tuple[str, str]:
    """`name (path:line)`, py-spy's raw frame (paths relative to sys.path) -> (name, path)."""
    name, _, where = frame.partition(" (")
    return name, where.rstrip(")").rsplit(":", 1)[0]


def profile_lines(profile: dict) -> list[str]:
    if "error" in profile:
        return [f"Profile (BENCH_PROFILE=1): not recorded. {profile['error']}"]
    total = profile["samples"] or 1

    def shares(pairs: list) -> str:
        return ", ".join(f"`{name}` {n / total:.0%}" for name, n in pairs)

    return [
        f"**Profile of the gateway during a DynamoWave burst** (BENCH_PROFILE=1; an extra burst "
        f"after the measured runs, as sampling slows the stack down: `py-spy "
        f"record --subprocesses --nonblocking`, {profile['samples']:,} samples of running "
        f"code, idle threads excluded; collapsed stacks in `{profile['file']}`). Own time by "
        f"package: {shares(profile['packages'])}. Functions with the most own time: "
        f"{shares(profile['functions'])}. Time by the innermost frame of our code "
        f"(`lambdas/`), i.e. which of our calls the time goes under: {shares(profile['ours'])}. "
        f"By process (a function: its environments and zygote): "
        f"{shares(profile.get('processes', []))}.",
    ]
