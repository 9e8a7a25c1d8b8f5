"""devstack/postgres.py: a real PostgreSQL server from the machine's packages, its database made,
reachable on loopback only, kept across restarts, and gone when its parent dies."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from devstack.postgres import SYSTEM_USER, PostgreSQL, postgres_bin_dir
from tests.helpers import DEADLINE, ROOT


def owner_of(path: Path) -> int:
    return path.stat().st_uid


@pytest.mark.server
def test_a_kept_cluster_has_its_database_and_keeps_it_across_restarts(stack_tmp_path):
    """initdb makes the cluster once; the database exists; rows written survive a clean stop
    and a start on the same folder, which initdb leaves alone."""
    path = stack_tmp_path / "postgres"
    with PostgreSQL(path=path) as server:
        assert server.url == f"postgres://dynamowave@127.0.0.1:{server.port}/dynamowave"
        with psycopg.connect(server.url, autocommit=True) as connection:
            connection.execute("CREATE TABLE kept (word text)")
            connection.execute("INSERT INTO kept VALUES ('still here')")
            settings = dict(
                connection.execute(
                    "SELECT name, setting FROM pg_settings WHERE name IN "
                    "('listen_addresses', 'fsync', 'server_encoding')"
                ).fetchall()
            )
        # Only loopback, and a kept cluster is written safely (throwaway ones skip fsync).
        assert settings == {
            "listen_addresses": "127.0.0.1",
            "fsync": "on",
            "server_encoding": "UTF8",
        }
        if os.geteuid() == 0:  # it refuses root: the packages' user runs it and owns its files
            import pwd

            assert owner_of(path) == pwd.getpwnam(SYSTEM_USER).pw_uid
    assert not (path / "postmaster.pid").exists()  # a clean shutdown

    made = (path / "PG_VERSION").stat().st_mtime_ns
    with PostgreSQL(path=path) as again, psycopg.connect(again.url) as connection:
        assert connection.execute("SELECT word FROM kept").fetchall() == [("still here",)]
    assert (path / "PG_VERSION").stat().st_mtime_ns == made


@pytest.mark.server
def test_a_temporary_cluster_is_removed_and_trusts_loopback_only():
    """Without a folder, the cluster lives in a temporary one that stop() removes; its
    pg_hba.conf trusts the socket folder and 127.0.0.1, nothing else."""
    server = PostgreSQL().start()
    try:
        with psycopg.connect(server.url) as connection:
            hba = connection.execute(
                "SELECT type, address FROM pg_hba_file_rules ORDER BY line_number"
            ).fetchall()
            data = Path(connection.execute("SHOW data_directory").fetchone()[0])
        assert hba == [("local", None), ("host", "127.0.0.1")]
        assert data.exists()
        # A process group of its own: the terminal's Ctrl-C leaves it to stop(), in order.
        assert os.getpgid(server.process.pid) == server.process.pid != os.getpgid(0)
    finally:
        server.stop()
    assert not data.exists()
    assert server.process is None


@pytest.mark.server
def test_the_server_stops_when_its_parent_is_killed(stack_tmp_path):
    """A parent that dies without stopping it (SIGKILL) takes the server down: nothing keeps
    its port or its folder, and the next start on the folder succeeds."""
    path = stack_tmp_path / "postgres"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\n"
            "from pathlib import Path\n"
            "from devstack.postgres import PostgreSQL\n"
            f"server = PostgreSQL(path=Path({str(path)!r})).start()\n"
            "print(server.process.pid, server.port, flush=True)\n"
            "time.sleep(600)\n",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        pid, port = map(int, parent.stdout.readline().split())
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + DEADLINE
    while Path(f"/proc/{pid}").exists() and _not_zombie(pid):
        assert time.monotonic() < deadline, "PostgreSQL outlived its parent"
        time.sleep(0.05)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=port, user="dynamowave", connect_timeout=2)
    with PostgreSQL(path=path) as again, psycopg.connect(again.url) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


def _not_zombie(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_cluster_of_another_major_version_is_refused(stack_tmp_path):
    """A folder made by another PostgreSQL is never handed to this one's server."""
    path = stack_tmp_path / "postgres"
    path.mkdir()
    (path / "PG_VERSION").write_text("9\n")
    with pytest.raises(RuntimeError, match="holds a PostgreSQL 9 cluster"):
        PostgreSQL(path=path).start()


@pytest.mark.skipif(os.geteuid() != 0, reason="as root only: the server runs as `postgres`")
def test_a_folder_the_server_user_cannot_enter_is_named(stack_tmp_path):
    """As root, a data folder under one that `postgres` may not enter (pytest's own tmp_path
    is under a 0700 folder) fails at once, naming that folder and the way out."""
    closed = stack_tmp_path / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(RuntimeError, match=f"may not enter {closed}.*chmod o\\+x {closed}"):
        PostgreSQL(path=closed / "data" / "postgres").start()


def test_the_newest_installed_version_is_used():
    """Debian's packages: /usr/lib/postgresql/<newest>/bin, whatever versions are there."""
    bin_dir = postgres_bin_dir()
    assert (bin_dir / "postgres").exists() and (bin_dir / "initdb").exists()
    installed = [p.parent.parent.name for p in Path("/usr/lib/postgresql").glob("*/bin/postgres")]
    if installed:
        assert bin_dir.parent.name == max(installed, key=float)


@pytest.mark.server
def test_the_lock_of_a_killed_server_that_is_not_yet_reaped_is_no_obstacle(stack_tmp_path):
    """A kill -9 of the whole stack leaves postmaster.pid naming a zombie until init reaps it
    (seconds late in some containers): the next start goes ahead."""
    path = stack_tmp_path / "postgres"
    PostgreSQL(path=path).start().stop()
    # Given: a lock naming a process of the server's user (PostgreSQL takes another user's
    # for no server of its own) that has exited and that nobody has waited for yet.
    dead = subprocess.Popen(["true"], user=SYSTEM_USER if os.geteuid() == 0 else None)
    deadline = time.monotonic() + DEADLINE
    while _not_zombie(dead.pid):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    lock = path / "postmaster.pid"
    try:
        lock.write_text(f"{dead.pid}\n{path}\n")
        with PostgreSQL(path=path) as server, psycopg.connect(server.url) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
    finally:
        dead.wait()
