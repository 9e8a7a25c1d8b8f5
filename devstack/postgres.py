"""Starts a PostgreSQL server from the machine's packages (Debian's postgresql-NN) for the local
stack and the tests, with its database created."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from devstack.dynamodb import free_port
from emulator import processes

# Debian's packages put each major version's programs here (postgresql-15: .../15/bin).
DEBIAN_ROOT = Path("/usr/lib/postgresql")
# PostgreSQL refuses to run as root; as root, the server runs as the packages' own user.
SYSTEM_USER = "postgres"
# Test and throwaway clusters: nothing is kept after a crash, so nothing needs to reach the disk.
THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def postgres_bin_dir() -> Path:
    """The newest installed version's programs (initdb, postgres), or those on PATH."""
    versions = [
        path.parent
        for path in DEBIAN_ROOT.glob("*/bin/postgres")
        if re.fullmatch(r"\d+(\.\d+)?", path.parent.parent.name)
    ]
    if versions:
        return max(versions, key=lambda bin_dir: float(bin_dir.parent.name))
    on_path = shutil.which("postgres")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    raise RuntimeError(
        "PostgreSQL is not installed: `make run` and `make test` install Debian's postgresql "
        "(or: apt-get install postgresql)"
    )


class PostgreSQL:
    """A PostgreSQL server on 127.0.0.1 (trust authentication, loopback only) with `database`
    created, owned by the superuser `user`; its cluster kept in `path` across restarts (made by
    initdb when missing) or, without `path`, in a temporary folder removed by `stop()`.

    Always shielded (emulator/processes.py): Ctrl-C leaves it running until `stop()`, and if
    the parent dies it gets SIGINT, PostgreSQL's fast shutdown. `log`: a file for the server's
    messages; without one they go to a pipe, `process.stderr`, that the caller must read.
    """

    def __init__(
        self,
        *,
        path: Path | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        database: str = "dynamowave",
        user: str = "dynamowave",
        log: Path | None = None,
    ):
        self.path, self.host, self.database, self.user, self.log = path, host, database, user, log
        self.port = port or free_port(host)
        self.process: subprocess.Popen | None = None
        self._temporary: Path | None = None
        self._socket_dir: Path | None = None
        # As root: the `postgres` user's ids, for initdb, the server and the folders they own.
        self._owner: pwd.struct_passwd | None = None

    @property
    def url(self) -> str:
        """DATABASE_URL for the site: no password (trust on loopback), so never a secret."""
        return f"postgres://{self.user}@{self.host}:{self.port}/{self.database}"

    def start(self, timeout: float = 30.0) -> PostgreSQL:
        bin_dir = postgres_bin_dir()
        if os.geteuid() == 0:
            try:
                self._owner = pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                raise RuntimeError(
                    f"PostgreSQL refuses to run as root, and there is no `{SYSTEM_USER}` user "
                    "to run it as (Debian's postgresql package makes one)"
                ) from None
        try:
            self._launch(bin_dir)
            self._wait_ready(timeout)
            self._create_database()
        except BaseException:
            self.stop()  # and the temporary folders made so far
            raise
        return self

    def _launch(self, bin_dir: Path) -> None:
        """The cluster made if new, then the server started (not yet ready)."""
        if self.path is None:
            self._temporary = Path(tempfile.mkdtemp(prefix="dynamowave-postgres-"))
            self._own(self._temporary)
            data = self._temporary / "data"
        else:
            data = self.path
        self._check_reachable(data)
        if not (data / "PG_VERSION").exists():
            self._initdb(bin_dir, data)
        self._check_version(bin_dir, data)
        _stale_lock_remove(data)
        self._socket_dir = self._socket_folder(data)
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self._socket_dir),
            "logging_collector": "off",
            **(THROWAWAY_SETTINGS if self.path is None else {}),
        }
        command = [str(bin_dir / "postgres"), "-D", str(data)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        stderr = self.log.open("ab") if self.log is not None else subprocess.PIPE
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                **self._as_owner(),
                **processes.shielded(death_signal=signal.SIGINT),
            )
        finally:
            if self.log is not None:
                stderr.close()

    def _socket_folder(self, data: Path) -> Path:
        """A folder of its own for the server's socket, never the system's /var/run/postgresql
        (which a system cluster may use): beside the cluster, so that a killed run leaves
        nothing elsewhere, unless the socket's path would be too long there (sun_path holds
        107 bytes), then a temporary one."""
        folder = data.parent / f"{data.name}-socket"
        if len(str(folder / f".s.PGSQL.{self.port}.lock")) > 100:
            folder = Path(tempfile.mkdtemp(prefix="dynamowave-pgsock-"))
        folder.mkdir(exist_ok=True)
        self._own(folder)
        return folder

    def stop(self, timeout: float = 15.0) -> None:
        """What `pg_ctl stop -m fast` does (pg_ctl refuses root): SIGINT, then wait; SIGQUIT
        (immediate shutdown) and SIGKILL only if it hangs."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGQUIT)
                processes.terminate(self.process, timeout=5)
            self.process = None
        for folder in (self._socket_dir, self._temporary):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        self._socket_dir = self._temporary = None

    def __enter__(self) -> PostgreSQL:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the cluster's folder -------------------------------------------------------------------

    def _initdb(self, bin_dir: Path, data: Path) -> None:
        data.mkdir(parents=True, exist_ok=True)
        self._own(data)
        command = [str(bin_dir / "initdb"), "-D", str(data), "-U", self.user, "-E", "UTF8"]
        # C.UTF-8 exists on every glibc; the machine's own locale may not (containers).
        command += ["--locale=C.UTF-8", "--auth=trust"]
        if self.path is None:
            command += ["--no-sync"]
        done = subprocess.run(command, capture_output=True, text=True, **self._as_owner())
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed in {data}: {done.stderr.strip()[-2000:]}")
        # Trust, but only on loopback and the socket folder (the server listens nowhere else);
        # initdb's own file also trusts ::1 and replication.
        hba = data / "pg_hba.conf"
        hba.write_text(
            "# Written by devstack/postgres.py: the local stack's server, loopback only.\n"
            "local all all trust\n"
            "host all all 127.0.0.1/32 trust\n"
        )
        self._own(hba)

    def _check_version(self, bin_dir: Path, data: Path) -> None:
        made_by = (data / "PG_VERSION").read_text().strip()
        this = bin_dir.parent.name if bin_dir.parent.parent == DEBIAN_ROOT else None
        if this is not None and made_by != this.split(".")[0]:
            raise RuntimeError(
                f"{data} holds a PostgreSQL {made_by} cluster and the newest installed server is "
                f"{this}: install postgresql-{made_by} too, or remove {data} to start afresh"
            )

    def _check_reachable(self, data: Path) -> None:
        """As root the server runs as `postgres`, which must pass through every folder above its
        cluster: say which one stops it, rather than let initdb fail obscurely."""
        if self._owner is None:
            return
        groups = {self._owner.pw_gid, *os.getgrouplist(SYSTEM_USER, self._owner.pw_gid)}
        for folder in reversed(data.resolve().parents):
            if not folder.exists():
                break  # made below, by us
            info = folder.stat()
            if info.st_uid == self._owner.pw_uid:
                allowed = info.st_mode & stat.S_IXUSR
            elif info.st_gid in groups:
                allowed = info.st_mode & stat.S_IXGRP
            else:
                allowed = info.st_mode & stat.S_IXOTH
            if not allowed:
                raise RuntimeError(
                    f"PostgreSQL runs as the `{SYSTEM_USER}` user (it refuses root), which may "
                    f"not enter {folder}: keep the data folder ({data.parent}, LOCAL_DATA_DIR) "
                    f"where it can, or let it pass: chmod o+x {folder}"
                )

    def _own(self, path: Path) -> None:
        """Hand a folder or file we made to the user the server runs as."""
        if self._owner is not None:
            os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
        if path.is_dir():
            path.chmod(0o700)  # PostgreSQL refuses a cluster others can read

    def _as_owner(self) -> dict:
        if self._owner is None:
            return {}
        return {"user": self._owner.pw_uid, "group": self._owner.pw_gid, "extra_groups": []}

    # -- readiness ------------------------------------------------------------------------------

    def _connect(self, database: str, timeout: float = 2):
        import psycopg  # the site's driver: loaded only by the stack and tests that start one

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname=database,
            connect_timeout=max(1, round(timeout)),
            autocommit=True,
        )

    def _wait_ready(self, timeout: float) -> None:
        """Poll with a connection until the server accepts one (it refuses them while it starts
        or recovers), or fail with its last words if it exits."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited: {self._last_words()}")
            try:
                self._connect("postgres").close()
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not accept connections on {self.host}:{self.port} "
                        f"within {timeout}s: {exc}"
                    ) from exc
            time.sleep(0.05)

    def _last_words(self) -> str:
        if self.log is not None:
            return self.log.read_text(errors="replace")[-2000:]
        return self.process.stderr.read().decode(errors="replace")[-2000:]

    def _create_database(self) -> None:
        from psycopg import sql

        with self._connect("postgres") as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                connection.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database))
                )


def _stale_lock_remove(data: Path) -> None:
    """Remove the lock file of a server that was killed (kill -9 of the whole stack) but not yet
    reaped: PostgreSQL takes a zombie's pid for a running server and refuses to start, and some
    inits (a container's) reap orphans seconds late. A live process's lock is left alone, and
    old backends still attached to the cluster's memory are caught by PostgreSQL itself."""
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return  # no lock, or its process is gone: PostgreSQL sees that itself
    if state == "Z":
        (data / "postmaster.pid").unlink(missing_ok=True)


def django_database_use(url: str) -> None:
    """Point this process's Django `default` database at `url`, after the settings loaded.

    For the processes that start the server after Django read DATABASE_URL (runstack, and the
    tests: pytest-django sets Django up before any conftest runs). In place, because
    django.db.connections holds this very dict: its defaults (TEST, ATOMIC_REQUESTS, ...) are
    filled in again when it next reads the settings, and a connection object made from the old
    ones is dropped, so the next one is of the new backend.
    """
    import environ
    from django.conf import settings
    from django.db import connections

    default = settings.DATABASES["default"]
    default.clear()
    default.update(environ.Env.db_url_config(url))
    connections.__dict__.pop("settings", None)
    with contextlib.suppress(AttributeError):
        del connections["default"]
