"""Child processes of the local stack that stop when told to, in order, not with the terminal."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _detach() -> None:
    # Runs in the child between fork and exec. Its own process group: the terminal's Ctrl-C
    # (SIGINT to the foreground group) does not reach it, so the parent can stop it in order.
    os.setpgid(0, 0)
    if sys.platform == "linux":
        # ... and if the parent dies without stopping it (SIGKILL), it gets SIGTERM, never
        # lingering on its port. (Sent when the parent *thread* exits: start these from the
        # main thread.)
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def shielded() -> dict:
    """Popen arguments for a child that Ctrl-C does not stop but its parent's death does."""
    return {"preexec_fn": _detach}


def terminate(process: subprocess.Popen, *, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; waits for it."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
