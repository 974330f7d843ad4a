"""Tables of the ledger (portable SQLAlchemy Core) and their migrations.

The ``Table`` objects describe the current schema. Migration ``0001`` creates them;
when a later migration changes a table, freeze ``0001`` as the DDL it ran then.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from filebridge.sql import Migration, rebuild_table

COMPONENT = "ledger"

FILE_STATES = ("received", "planned", "held", "applied", "rejected", "duplicate")
# 0005 added the kinds discard and link, and the state approved (a held run someone
# approved; the approve run that applied it names it in ``about_run``).
RUN_KINDS = ("import", "export", "replay", "approve", "undo", "discard", "link")
RUN_MODES = ("plan", "apply")
RUN_STATES = ("running", "planned", "held", "applied", "rejected", "failed", "noop", "discarded",
              "approved")


def _one_of(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)  # constants from this module, never data
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=name)


metadata = sa.MetaData()

files = sa.Table(
    "files",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("spool_path", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    # The export's own date when the file carries one: staleness uses it, not mtimes.
    sa.Column("export_time", sa.DateTime(timezone=True), nullable=True),
    # The applied file with the same content at the time this one was received.
    sa.Column("duplicate_of", sa.Integer, sa.ForeignKey("files.id"), nullable=True),
    # Where a picked-up original now lives on its transport (archive/... or rejected/...);
    # added by migration 0002. The spool copy stays the source for replays.
    sa.Column("moved_to", sa.Text, nullable=True),
    # When retention removed the file's spool copy (added by 0009): replay and approve
    # then say so, with this date, instead of reporting a changed copy.
    sa.Column("spool_removed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_files_connection_sha256", "connection", "sha256"),
    _one_of("state", FILE_STATES, "ck_files_state"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("connection", sa.String(200), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id"), nullable=True),
    sa.Column("mode", sa.String(8), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    # host:pid of the process running it, so start-up recovery only fails runs
    # whose process is really gone (a CLI start must not fail the daemon's run).
    sa.Column("holder", sa.String(300), nullable=False, server_default=""),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("counts", sa.Text, nullable=False, server_default="{}"),
    sa.Column("report", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    # Added by 0005: the run this one acts on (approve/discard: the held run; undo: the
    # run it reverses). No foreign key, so the table can be rebuilt by a migration.
    sa.Column("about_run", sa.Integer, nullable=True),
    # Added by 0007: who started the run by hand (the operator's user name for approve,
    # discard, undo and replay from the CLI; the signed-in user on the admin pages).
    sa.Column("actor", sa.String(200), nullable=True),
    _one_of("kind", RUN_KINDS, "ck_runs_kind"),
    _one_of("mode", RUN_MODES, "ck_runs_mode"),
    _one_of("state", RUN_STATES, "ck_runs_state"),
)

watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("connection", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

locks = sa.Table(
    "locks",
    metadata,
    sa.Column("connection", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(300), nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
)


def _create_tables(conn: Connection) -> None:
    metadata.create_all(conn)


def _add_files_moved_to(conn: Connection) -> None:
    # 0001 runs create_all on the current tables, so a fresh ledger already has the column.
    if "moved_to" not in {c["name"] for c in sa.inspect(conn).get_columns("files")}:
        conn.execute(sa.text("ALTER TABLE files ADD COLUMN moved_to TEXT"))


def _export_tables(conn: Connection) -> None:
    # Defined beside the export ledger, which imports this module's watermarks table.
    from filebridge.ledger.exports import create_export_tables

    create_export_tables(conn)


def _daemon_tables(conn: Connection) -> None:
    # Task runs, alerts and heartbeats of the daemon, defined beside the code that uses them.
    from filebridge.ledger.daemon_state import create_daemon_tables

    create_daemon_tables(conn)


def _run_approvals(conn: Connection) -> None:
    # New CHECK vocabularies need a table rebuild on SQLite; a fresh ledger has them already.
    checks = " ".join(str(c.get("sqltext", "")) for c in sa.inspect(conn).get_check_constraints(
        "runs"))
    columns = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    if "'approved'" not in checks or "about_run" not in columns:
        rebuild_table(conn, runs)


def _web_tables(conn: Connection) -> None:
    # Users, sessions, failed logins and actions of the admin pages, beside their code.
    from filebridge.ledger.web_accounts import create_web_tables

    create_web_tables(conn)


def _run_actor(conn: Connection) -> None:
    # 0001 and 0005 build runs from the current table, which has the column already.
    if "actor" not in {c["name"] for c in sa.inspect(conn).get_columns("runs")}:
        conn.execute(sa.text("ALTER TABLE runs ADD COLUMN actor VARCHAR(200)"))


def _intent_tables(conn: Connection) -> None:
    # Apply intents of runs whose LMS changes live in another database, beside their code.
    from filebridge.ledger.intents import create_intent_tables

    create_intent_tables(conn)


def _task_run_waits(conn: Connection) -> None:
    # 0004 builds task_runs from the current table, which has the column already.
    if "waits" not in {c["name"] for c in sa.inspect(conn).get_columns("task_runs")}:
        conn.execute(sa.text("ALTER TABLE task_runs ADD COLUMN waits TEXT"))


def _spool_removed_at(conn: Connection) -> None:
    # 0001 builds files from the current table, which has the column already.
    if "spool_removed_at" not in {c["name"] for c in sa.inspect(conn).get_columns("files")}:
        kind = sa.DateTime(timezone=True).compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE files ADD COLUMN spool_removed_at {kind}")


def _person_row_events(conn: Connection) -> None:
    # Rejects, skips, filters and held changes per person, beside the code that uses them.
    from filebridge.ledger.person_events import create_person_event_tables

    create_person_event_tables(conn)


MIGRATIONS: tuple[Migration, ...] = (
    ("0001_create_tables", _create_tables),
    ("0002_files_moved_to", _add_files_moved_to),
    ("0003_export_tables", _export_tables),
    ("0004_daemon_tables", _daemon_tables),
    ("0005_run_approvals", _run_approvals),
    ("0006_web_tables", _web_tables),
    ("0007_run_actor", _run_actor),
    ("0008_run_intents", _intent_tables),
    ("0009_task_run_waits", _task_run_waits),
    ("0010_spool_removed_at", _spool_removed_at),
    ("0011_person_row_events", _person_row_events),
)
