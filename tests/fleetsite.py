"""A fleet of customers on one store, set up on disk: N connections, each with its own
watched (or scheduled) inbox and one shared mapping, served by one or more daemons
(one settings file and state folder per daemon, as on separate hosts), plus each
night's export file and the ledger queries that say how often a night was applied.

Shared by the fleet tests and ``benchmarks/fleet.py``, so it imports nothing of pytest.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
HEADER = ("Employee ID,Work Email,First Name,Last Name,Job Title,Department,Dept Code,"
          "Location,Country,Phone,Type,Manager ID,Hire Date,Termination Date,Status,"
          "Cost Center\n")
SQLITE_STORE = "sqlite:///{state_dir}/lms.sqlite"  # in the first daemon's state folder


def night_name(night: int) -> str:
    """The file name of night ``night`` (the same in every inbox)."""
    return f"hr_2026-12-{night:02d}.csv"


def night_file(folder: Path, connection: str, night: int, rows: int, *,
               change_every: int = 1, departments: int = 3) -> str:
    """Write night ``night`` of ``connection`` into ``folder`` (temporary name, then rename).

    Every ``change_every``-th person's job title names the night (1: everybody changes
    every night); department codes ``SALES0..`` are the same in every connection.
    """
    name = night_name(night)
    body = "".join(
        f"{connection}-{i:05d},p{i}.{connection}@acme.example,Pat,Doe{i},"
        f"Title {connection} night {night if i % change_every == 0 else 0},Sales,"
        f"SALES{i % departments},Berlin,DE,+49 1,FT,,01/01/2020,,A,CC{i % 5}\n"
        for i in range(rows))
    part = folder / f".{name}.tmp"
    part.write_text(HEADER + body, encoding="utf-8")
    os.replace(part, folder / name)
    return name


def drop_night(root: Path, connections: list[str], night: int, rows: int, *,
               change_every: int = 1) -> str:
    """Drop night ``night`` into every connection's inbox; returns the file name."""
    for c in connections:
        night_file(root / "drop" / c, c, night, rows, change_every=change_every)
    return night_name(night)


def workspace(root: Path, connections: list[str], *, store: str = SQLITE_STORE,
              daemons: int = 1, watch: bool = True, cron: str = "0 22 * * *",
              max_parallel_runs: int | None = None,
              password_env: str | None = None) -> list[Path]:
    """Settings files (``settings-K.yaml`` with state folder ``state-K``, one per daemon),
    the shared mapping, one schedule and one inbox per connection."""
    (root / "mappings").mkdir(parents=True)
    (root / "schedules").mkdir()
    shutil.copy(REPO / "mappings" / "acme.yaml", root / "mappings" / "shared.yaml")
    blocks = []
    for c in connections:
        (root / "drop" / c).mkdir(parents=True)
        blocks.append(f"  {c}:\n    import_mapping: mappings/shared.yaml\n"
                      f"    transport: {{type: local, inbox: drop/{c}, pattern: 'hr_*.csv', "
                      "ready: {stable_seconds: 0}}\n")
        (root / "schedules" / f"{c}.yaml").write_text(
            f"connection: {c}\nwatch: {'true' if watch else 'false'}\n"
            f'tasks: [{{task: import, cron: "{cron}"}}]\n', encoding="utf-8")
    password = f"  password: ${{env:{password_env}}}\n" if password_env else ""
    parallel = f"max_parallel_runs: {max_parallel_runs}\n" if max_parallel_runs else ""
    paths = []
    for k in range(daemons):
        path = root / f"settings-{k}.yaml"
        path.write_text(f"state_dir: state-{k}\n{parallel}lms:\n  url: {store}\n{password}"
                        "connections:\n" + "".join(blocks), encoding="utf-8")
        paths.append(path)
    return paths


def sqlite_engine(root: Path) -> sa.Engine:
    """An engine on the SQLite store (and ledger) of a workspace made with the default."""
    return sa.create_engine(f"sqlite:///{root / 'state-0' / 'lms.sqlite'}")


def applied(engine: sa.Engine, name: str) -> dict[str, list[datetime]]:
    """Per connection, when each run that applied a file called ``name`` finished."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT r.connection, r.finished_at FROM runs r JOIN files f ON f.id = r.file_id "
            "WHERE f.name = :name AND r.state = 'applied'"), {"name": name}).all()
    out: dict[str, list[datetime]] = {}
    for connection, finished in rows:
        if isinstance(finished, str):
            finished = datetime.fromisoformat(finished)
        out.setdefault(connection, []).append(finished)
    return out


def applied_counts(engine: sa.Engine, name: str) -> dict[str, int]:
    """Per connection, how many runs applied a file called ``name``."""
    return {c: len(times) for c, times in applied(engine, name).items()}


def dangling(engine: sa.Engine) -> tuple[int, int, int]:
    """Runs still ``running``, lock rows, task records without an outcome."""
    with engine.connect() as conn:
        return (conn.scalar(sa.text("SELECT count(*) FROM runs WHERE state = 'running'")) or 0,
                conn.scalar(sa.text("SELECT count(*) FROM locks")) or 0,
                conn.scalar(sa.text("SELECT count(*) FROM task_runs "
                                    "WHERE finished_at IS NULL")) or 0)


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """VmRSS (or VmHWM, the peak) of a live process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def thread_count(pid: int) -> int:
    """Threads of a live process."""
    return len(os.listdir(f"/proc/{pid}/task"))
