"""A function's zygote: one process that has imported its libraries and forks its environments.

A cold start costs a fresh interpreter about half a second of CPU here, nearly all of it
importing libraries (botocore, PynamoDB, aiohttp...), which on this machine's few CPUs slows
every other invocation while a function scales up. So each function gets one zygote, started
with exactly that function's environment, which imports the libraries named by `preload` (never
the function's own code) and then forks each new execution environment: the child takes the
environment's own variables and runs awslambdaric, whose init imports the handler module as on
Lambda. Module state is therefore never shared between environments or functions; what the
children share is the already-imported library code, as Lambda's own pre-initialised runtime
sandboxes do. A `botocore:SERVICE` entry also parses botocore's data files for that service
once, in the zygote (every botocore Loader then shares that cache: the files never change), so
building a client costs an environment ~15 ms of CPU instead of ~90.

The gateway talks to the zygote over a socket pair, one JSON object per line: it asks for
{"spawn": id, "handler": ..., "variables": {...}}; the zygote answers {"spawned": id, "pid": pid}
and, when a child exits, {"exited": pid, "returncode": code} (negative: killed by that signal, as
subprocess reports it). Each child leads a process group of its own and dies with the zygote,
which dies with the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
from pathlib import Path

from emulator.output import Counter, start_forwarding, stop_forwarding

SOURCE = r"""# zygote of the local gateway (emulator/zygote.py)
import importlib, json, os, selectors, signal, socket, sys, traceback
os.environ.pop("_ZYGOTE_SOURCE")
gateway = int(os.environ.pop("_GATEWAY_PID"))
control = socket.socket(fileno=int(os.environ.pop("_ZYGOTE_FD")))
linux = sys.platform == "linux"
if linux:
    import ctypes
    prctl = ctypes.CDLL(None).prctl
    prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the gateway
    if os.getppid() != gateway:
        sys.exit(1)
for name in sys.argv[2:]:  # argv[1] names the function, for `ps` and profilers
    try:
        if not name.startswith("botocore:"):
            importlib.import_module(name)
    except Exception:
        pass  # not installed for this interpreter: the environments import what they need
services = [name.partition(":")[2] for name in sys.argv[2:] if name.startswith("botocore:")]
if services:  # botocore's data files, parsed once here rather than by each environment
    try:
        import botocore.loaders, botocore.session
        shared = {}
        loader_init = botocore.loaders.Loader.__init__
        def shared_cache(self, *args, **kwargs):
            loader_init(self, *args, **kwargs)
            self._cache = shared  # the files never change: every session may share one parse
        botocore.loaders.Loader.__init__ = shared_cache
        session = botocore.session.get_session()
        for service in services:
            session.create_client(
                service,
                region_name=os.environ.get("AWS_REGION", "us-east-1"),
                aws_access_key_id="zygote",
                aws_secret_access_key="zygote",
            )
        del session
    except Exception:
        traceback.print_exc()

def send(message):
    try:
        control.sendall(json.dumps(message).encode() + b"\n")
    except (BrokenPipeError, ConnectionResetError):
        os._exit(0)  # the gateway went (stopping): nobody to tell, the children follow

def spawn(request):
    zygote = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setpgid(0, 0)  # a process group of its own: killed as a whole
        if linux:
            prctl(1, signal.SIGKILL)
            if os.getppid() != zygote:
                os._exit(1)
        waiting.close()
        control.close()
        os.close(wake_read)
        os.close(wake_write)
        os.environ.clear()
        os.environ.update(request["variables"])
        sys.argv = ["awslambdaric", request["handler"]]
        from awslambdaric.__main__ import main

        main(sys.argv)
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)

def reap():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        send({"exited": pid, "returncode": os.waitstatus_to_exitcode(status)})

wake_read, wake_write = os.pipe()
os.set_blocking(wake_write, False)
signal.set_wakeup_fd(wake_write)
signal.signal(signal.SIGCHLD, lambda signum, frame: None)
send({"ready": os.getpid()})
pending = b""
# Not select(): a gateway with many sockets open hands its zygotes descriptors past 1,024.
waiting = selectors.DefaultSelector()
waiting.register(control, selectors.EVENT_READ)
waiting.register(wake_read, selectors.EVENT_READ)
while True:
    readable = [key.fileobj for key, _ in waiting.select()]
    if wake_read in readable:
        os.read(wake_read, 4096)
        reap()
    if control in readable:
        data = control.recv(1 << 20)
        if not data:
            sys.exit(0)  # the gateway went: the children follow (their parent-death signal)
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            send({"spawned": request["spawn"], "pid": spawn(request)})
"""


# The command line runs SOURCE from the environment: one short line, no newline nor semicolon,
# so `ps` and profilers (py-spy's collapsed stacks) show it whole. SOURCE pops its variable.
LAUNCH = "exec(__import__('os').environ['_ZYGOTE_SOURCE'])"


class ZygoteGone(Exception):
    """The zygote exited: its environments went with it, and it must be started again."""


class ForkedProcess:
    """An environment forked by a zygote: what runtime.Environment needs of a process."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._exited = asyncio.get_running_loop().create_future()

    def exited(self, returncode: int) -> None:
        if self.returncode is None:
            self.returncode = returncode
            self._exited.set_result(returncode)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)


class Zygote:
    """One function's zygote process, as seen from the gateway."""

    def __init__(
        self,
        *,
        name: str,
        python: str,
        code_dir: Path,
        variables: dict[str, str],
        preload: tuple[str, ...],
        count_output: Counter | None = None,
    ) -> None:
        self.name, self.python, self.code_dir = name, python, code_dir
        self.variables, self.preload = variables, preload
        # Its environments inherit its stdout and stderr: what they print is the function's log.
        self.count_output = count_output
        self._output: list[asyncio.Task] = []
        self.process: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self._ids = itertools.count(1)
        self._spawning: dict[int, asyncio.Future[int]] = {}
        self._children: dict[int, ForkedProcess] = {}
        self._exits: dict[int, int] = {}  # exits reported before their spawn was answered
        self.alive = False

    async def start(self, timeout: float) -> None:
        """Start the zygote and wait until its imports are done; raises ZygoteGone if it dies."""
        ours, theirs = socket.socketpair()
        try:
            self.process = await asyncio.create_subprocess_exec(
                *(self.python, "-c", LAUNCH, self.name, *self.preload),
                cwd=self.code_dir,
                env={
                    **self.variables,
                    "_ZYGOTE_SOURCE": SOURCE,
                    "_GATEWAY_PID": str(os.getpid()),
                    "_ZYGOTE_FD": str(theirs.fileno()),
                },
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                process_group=0,  # never reached by the terminal's Ctrl-C
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._output = start_forwarding(self.process, self.count_output)
        reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        try:
            first = await asyncio.wait_for(reader.readline(), timeout)
        except TimeoutError:
            await self.stop()
            raise ZygoteGone(f"its imports took longer than {timeout:.0f} s") from None
        if not first:
            await self.stop()
            raise ZygoteGone(f"it exited with {await self.process.wait()}")
        self.alive = True
        self._reader_task = asyncio.create_task(self._read(reader))

    async def spawn(self, handler: str, variables: dict[str, str]) -> ForkedProcess:
        """Fork one environment running awslambdaric with `handler` and exactly `variables`."""
        if not self.alive or self._writer is None:
            raise ZygoteGone("not running")
        request_id = next(self._ids)
        answer = asyncio.get_running_loop().create_future()
        self._spawning[request_id] = answer
        message = {"spawn": request_id, "handler": handler, "variables": variables}
        self._writer.write(json.dumps(message).encode() + b"\n")
        try:
            await self._writer.drain()
            pid = await answer
        finally:
            self._spawning.pop(request_id, None)
        child = ForkedProcess(pid)
        if pid in self._exits:  # it died before we heard of its birth
            child.exited(self._exits.pop(pid))
        else:
            self._children[pid] = child
        return child

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                message = json.loads(line)
                if "spawned" in message:
                    answer = self._spawning.get(message["spawned"])
                    if answer is not None and not answer.done():
                        answer.set_result(message["pid"])
                elif "exited" in message:
                    child = self._children.pop(message["exited"], None)
                    if child is None:
                        self._exits[message["exited"]] = message["returncode"]
                    else:
                        child.exited(message["returncode"])
        finally:
            # The zygote is gone, and its children with it (their parent-death signal).
            self.alive = False
            for answer in self._spawning.values():
                if not answer.done():
                    answer.set_exception(ZygoteGone("it exited"))
            for child in self._children.values():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.exited(-signal.SIGKILL)
            self._children.clear()

    async def stop(self) -> None:
        """Stop the zygote; environments it forked die with it."""
        self.alive = False
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            await asyncio.gather(self._reader_task, return_exceptions=True)
        await stop_forwarding(self._output)
