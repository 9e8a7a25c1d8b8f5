"""Child processes of the local stack that stop when told to, in order, not with the terminal."""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _detach(death_signal: int) -> None:
    # Runs in the child between fork and exec. Its own process group: the terminal's Ctrl-C
    # (SIGINT to the foreground group) does not reach it, so the parent can stop it in order.
    os.setpgid(0, 0)
    if sys.platform == "linux":
        # ... and if the parent dies without stopping it (SIGKILL), it gets `death_signal`,
        # never lingering on its port. (Sent when the parent *thread* exits: start these from
        # the main thread. A change of user clears it, so Popen's `user=` must come first, as
        # it does: Python switches users before it calls preexec_fn.)
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, death_signal)


def shielded(*, death_signal: int = signal.SIGTERM) -> dict:
    """Popen arguments for a child that Ctrl-C does not stop but its parent's death does (with
    `death_signal`: PostgreSQL's fast shutdown is SIGINT, its SIGTERM waits for every client)."""
    return {"preexec_fn": functools.partial(_detach, death_signal)}


def terminate(process: subprocess.Popen, *, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; waits for it."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
