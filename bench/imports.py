"""Cold start: what importing each Lambda handler module costs a fresh interpreter."""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys

from bench.stack import ROOT

HANDLERS = sorted(
    p.stem for p in (ROOT / "lambdas" / "handlers").glob("*.py") if not p.stem.startswith("_")
)
REPEATS = 5
TARGET_MS = 150.0


def _cpu_seconds(statement: str) -> float:
    """CPU time (user + system) of a fresh interpreter running `statement`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", statement], cwd=ROOT, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _imports(statement: str) -> dict[str, int]:
    """Self time (µs) of each module a fresh interpreter imports to run `statement`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    times = {}
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, _, name = line[len("import time:") :].split("|")
            times[name.strip()] = int(self_us)
    return times


def _peak_mb(statement: str) -> float:
    """The peak resident memory (MB) of a fresh interpreter running `statement`."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{statement}\nimport resource\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.split()[-1]) / 1024  # Linux reports kilobytes


def measure(module: str, startup: set[str], bare_cpu: float) -> dict:
    """Medians over REPEATS runs: the import's wall time and CPU time (ms); its heaviest packages.

    Wall time is what -X importtime reports; CPU time (the interpreter's minus a bare one's) is
    also given because it is far less sensitive to other work on a shared machine.
    """
    totals, cpu, last = [], [], {}
    for _ in range(REPEATS):
        last = {k: v for k, v in _imports(f"import {module}").items() if k not in startup}
        totals.append(sum(last.values()) / 1000)
        cpu.append((_cpu_seconds(f"import {module}") - bare_cpu) * 1000)
    packages: dict[str, int] = {}
    for module, us in last.items():
        packages[module.split(".")[0]] = packages.get(module.split(".")[0], 0) + us
    heaviest = sorted(packages.items(), key=lambda kv: kv[1], reverse=True)[:4]
    return {
        "wall": statistics.median(totals),
        "cpu": statistics.median(cpu),
        "peak_mb": _peak_mb(f"import {module}"),
        "heavy": heaviest,
        "own": packages.get("lambdas", 0) / 1000,  # our own modules, wall ms
    }


def run(*, log) -> dict:
    startup = set(_imports("pass"))
    bare_cpu = statistics.median(_cpu_seconds("pass") for _ in range(REPEATS))
    _imports("import lambdas.handlers.connect")  # write the .pyc files first
    rows = []
    for name in HANDLERS:
        result = measure(f"lambdas.handlers.{name}", startup, bare_cpu)
        rows.append((name, result))
        log(f"import lambdas.handlers.{name}: {result['wall']:.0f} ms, cpu {result['cpu']:.0f} ms")
    return {"rows": rows, "boto3": measure("boto3", startup, bare_cpu)}


def report(data: dict) -> str:
    lines = [
        "## Cold start: import time of each handler module",
        "",
        "`python -X importtime -c 'import lambdas.handlers.X'` in a fresh interpreter, sum of "
        "the self times of every module the import loads beyond interpreter start-up, median "
        f"of {REPEATS} runs (.pyc files already written); CPU time = user + system time of "
        "`python -c 'import …'` minus that of `python -c pass` (insensitive to other load on "
        "the machine). No baseline exists for a handler; as a reference, `import boto3` alone: "
        f"{data['boto3']['wall']:.0f} ms wall, {data['boto3']['cpu']:.0f} ms CPU. The target is "
        "judged on wall time.",
        "",
        "| handler | import (wall) | import (CPU) | memory after import | target | met "
        "| heaviest packages (wall, last run) |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for name, r in data["rows"]:
        heavy = ", ".join(f"{module} {us / 1000:.0f} ms" for module, us in r["heavy"])
        met = "yes" if r["wall"] < TARGET_MS else "**no**"
        peak = f"{r['peak_mb']:.0f} MB" if "peak_mb" in r else "–"
        lines.append(
            f"| {name} | {r['wall']:.0f} ms | {r['cpu']:.0f} ms | {peak} | < {TARGET_MS:.0f} ms "
            f"| {met} | {heavy} |"
        )
    peaks = [r["peak_mb"] for _, r in data["rows"] if "peak_mb" in r]
    if peaks:
        lines += [
            "",
            f"**Memory.** A handler's environment holds {min(peaks):.0f}–{max(peaks):.0f} MB "
            "once imported (peak resident set of the interpreter; a fan-out of thousands adds "
            "its sockets and frames), well inside the functions' 512 MB: that size is bought "
            "for CPU, which Lambda gives in proportion to memory (a full vCPU at 1,769 MB), "
            "because fan-out is CPU-bound (its CPU per delivery is in the fan-out section "
            "above). Halving it would save at most half the Lambda duration line of "
            "bench/COST.md (a few dollars of the team's month) and double every large room's "
            "fan-out time.",
        ]
    slow = [name for name, r in data["rows"] if r["wall"] >= TARGET_MS]
    if slow:
        lines += [
            "",
            f"{len(slow)} of {len(data['rows'])} handlers miss the target. The cost is the "
            "libraries, not our code (the `lambdas` modules themselves: at most "
            f"{max(r.get('own', 0) for _, r in data['rows']):.0f} ms): botocore is needed by "
            "PynamoDB and cannot go; `import boto3` (which also loads s3transfer) at module "
            "level in `lambdas/management.py` and `lambdas/services/broadcast.py` could be "
            "replaced by botocore sessions or deferred to first use; `cryptography` (PyJWT's "
            "EdDSA) is loaded by every handler through `lambdas.tokens`, though only the "
            "authorizer verifies tokens; Powertools' Logger/Metrics add their share. Wall "
            "times also include waiting for a CPU on this shared machine (see the load "
            "average above); the CPU column is the steadier figure.",
        ]
    return "\n".join(lines) + "\n"
