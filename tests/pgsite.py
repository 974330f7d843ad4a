"""A throw-away PostgreSQL cluster on loopback (password auth), started from the Debian
binaries: the ``postgres`` test fixture and the benchmarks both use it, so it imports
nothing of pytest."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PG_PASSWORD_ENV = "FILEBRIDGE_TEST_PG_PASSWORD"


def pg_bin() -> Path | None:
    """The folder of the newest installed ``pg_ctl``, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running throw-away PostgreSQL cluster (password auth, loopback only)."""

    port: int
    user: str
    password: str
    databases: list[str] = field(default_factory=list)

    def url(self, database: str, *, with_password: bool = True) -> str:
        """SQLAlchemy URL of ``database`` on this server."""
        login = f"{self.user}:{self.password}" if with_password else self.user
        return f"postgresql+psycopg://{login}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its name."""
        import psycopg
        name = f"t{len(self.databases)}_{os.getpid()}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} "
                             f"password={self.password} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # our own generated name, not data
        self.databases.append(name)
        return name


@contextmanager
def running_postgres(bin_dir: Path, folder: Path | None = None, *,
                     max_connections: int = 100) -> Iterator[PostgresServer]:
    """Start a cluster (in ``folder``, else a new temporary one), stop it at the end.

    The server refuses to run as root: run as root (CI containers), the cluster belongs
    to Debian's postgres account, in a folder it can reach.
    """
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="filebridge-pg-")) if as_user or folder is None \
        else folder
    if as_user:
        shutil.chown(root, "postgres")
    data, port, user = root / "data", free_port(), "filebridge"
    password = f"pw-{uuid.uuid4().hex}"  # a real login: the password setting is exercised
    (root / "pwfile").write_text(password + "\n", encoding="utf-8")
    if as_user:
        shutil.chown(root / "pwfile", "postgres")

    def pg(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")

    pg(str(bin_dir / "initdb"), "-D", str(data), "-A", "scram-sha-256", "-U", user,
       f"--pwfile={root / 'pwfile'}", "-E", "UTF8", "--no-sync")
    pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-o",
       f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
       f"-c max_connections={max_connections}", "start")
    try:
        yield PostgresServer(port, user, password)
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        if as_user or folder is None:
            shutil.rmtree(root, ignore_errors=True)
