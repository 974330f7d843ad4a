"""The export side of the ledger: planned files, what they contain, and the watermark.

An export is recorded as ``pending`` (files, sequence numbers, checksums, the items it
carries at which revision, the watermark it will move to) *before* anything is
uploaded. Only ``mark_delivered`` moves the watermark, in the same transaction that
marks the export delivered and its run applied. A restart finds the pending export
and sends the very same files again under the very same names.

Items are opaque keys (``completion:17``); the ledger never learns what they mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.errors import Transient
from filebridge.ledger.errors import LedgerError
from filebridge.ledger.schema import watermarks
from filebridge.sql import reading

WATERMARK = "completions"
ExportKind = Literal["incremental", "range"]
EXPORT_STATES = ("pending", "delivered", "abandoned")

metadata = sa.MetaData()

exports = sa.Table(
    "exports",
    metadata,
    sa.Column("run_id", sa.Integer, primary_key=True),  # runs.id of the run that planned it
    sa.Column("connection", sa.String(200), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    # NULL for an on-demand range export, which never moves the watermark.
    sa.Column("watermark_before", sa.BigInteger, nullable=True),
    sa.Column("watermark_after", sa.BigInteger, nullable=True),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
)

export_files = sa.Table(
    "export_files",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, nullable=False, index=True),
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("local_path", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    # Two planners racing for one connection collide here instead of reusing a number.
    sa.UniqueConstraint("connection", "sequence", name="uq_export_files_sequence"),
    sa.UniqueConstraint("connection", "name", name="uq_export_files_name"),
)

export_items = sa.Table(
    "export_items",
    metadata,
    sa.Column("run_id", sa.Integer, primary_key=True),
    sa.Column("item", sa.String(80), primary_key=True),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Index("ix_export_items_item", "item"),
)


def create_export_tables(conn: Connection) -> None:
    """Ledger migration 0002: the export tables (skipped where they already exist)."""
    metadata.create_all(conn, checkfirst=True)


@dataclass(frozen=True)
class ExportFile:
    """One file of an export: its name at the HR side and the local copy that is sent."""

    sequence: int
    name: str
    local_path: str
    sha256: str
    size: int
    rows: int


@dataclass(frozen=True)
class PendingExport:
    """An export planned but not yet confirmed delivered."""

    run_id: int
    connection: str
    kind: str
    watermark_before: int | None
    watermark_after: int | None
    rows: int
    created_at: datetime
    files: tuple[ExportFile, ...]


class ExportConflict(LedgerError, Transient):
    """Another export of this connection took the same sequence number or file name first."""

    code = "export-conflict"

    def __init__(self, connection: str, detail: str) -> None:
        super().__init__(f"{connection}: {detail}")
        self.connection = connection
        self.detail = detail


class ExportLedger:
    """Pending and delivered exports and the completion watermark of every connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def watermark(self, connection: str) -> int:
        """The highest revision of which everything was delivered (0 before the first export)."""
        with reading(self.engine) as conn:
            value = conn.scalar(sa.select(watermarks.c.value).where(
                watermarks.c.connection == connection, watermarks.c.name == WATERMARK))
        return int(value) if value is not None else 0

    def next_sequence(self, connection: str) -> int:
        """The sequence number the next export file of ``connection`` will carry."""
        with reading(self.engine) as conn:
            top = conn.scalar(sa.select(sa.func.max(export_files.c.sequence))
                              .where(export_files.c.connection == connection))
        return int(top or 0) + 1

    def delivered_revisions(self, connection: str, items: list[str]) -> dict[str, int]:
        """For each item already delivered by ``connection``: the newest revision delivered."""
        out: dict[str, int] = {}
        with reading(self.engine) as conn:
            for start in range(0, len(items), 900):
                stmt = (sa.select(export_items.c.item, sa.func.max(export_items.c.revision))
                        .join(exports, exports.c.run_id == export_items.c.run_id)
                        .where(exports.c.connection == connection,
                               exports.c.state == "delivered",
                               export_items.c.item.in_(items[start:start + 900]))
                        .group_by(export_items.c.item))
                out.update({item: int(rev) for item, rev in conn.execute(stmt)})
        return out

    def record_pending(self, run_id: int, connection: str, kind: ExportKind,
                       watermark: tuple[int | None, int | None], files: list[ExportFile],
                       items: list[tuple[str, int]], now: datetime) -> None:
        """Record a planned export before it is uploaded (one transaction)."""
        before, after = watermark
        try:
            with self.engine.begin() as tx:
                tx.execute(exports.insert().values(
                    run_id=run_id, connection=connection, kind=kind, state="pending",
                    watermark_before=before, watermark_after=after,
                    rows=sum(f.rows for f in files), created_at=now))
                if files:
                    tx.execute(export_files.insert(), [
                        {"run_id": run_id, "connection": connection, **vars(f)} for f in files])
                if items:
                    tx.execute(export_items.insert(), [
                        {"run_id": run_id, "item": i, "revision": r} for i, r in items])
        except sa.exc.IntegrityError as error:
            raise ExportConflict(connection, "another export took the same sequence number "
                                 "or file name; run the export again") from error

    def pending(self, connection: str) -> list[PendingExport]:
        """Exports of ``connection`` planned but not confirmed delivered, oldest first."""
        with reading(self.engine) as conn:
            heads = conn.execute(sa.select(exports).where(
                exports.c.connection == connection, exports.c.state == "pending")
                .order_by(exports.c.run_id)).all()
            out = []
            for h in heads:
                files = conn.execute(sa.select(export_files).where(
                    export_files.c.run_id == h.run_id).order_by(export_files.c.sequence)).all()
                out.append(PendingExport(
                    h.run_id, h.connection, h.kind, h.watermark_before, h.watermark_after,
                    h.rows, h.created_at,
                    tuple(ExportFile(f.sequence, f.name, f.local_path, f.sha256, f.size, f.rows)
                          for f in files)))
        return out

    def mark_delivered(self, tx: Connection, run_id: int, now: datetime) -> None:
        """Mark an export delivered and move the watermark, inside the caller's ``tx``."""
        row = tx.execute(sa.select(exports).where(exports.c.run_id == run_id)).first()
        if row is None or row.state != "pending":
            return  # already confirmed (a second process won): nothing moves twice
        tx.execute(exports.update().where(exports.c.run_id == run_id)
                   .values(state="delivered", delivered_at=now))
        if row.watermark_after is not None:
            self.advance(tx, row.connection, int(row.watermark_after), now)

    def advance(self, tx: Connection, connection: str, value: int, now: datetime) -> None:
        """Move the watermark forward to ``value`` (never backwards), inside ``tx``."""
        where = (watermarks.c.connection == connection, watermarks.c.name == WATERMARK)
        current = tx.scalar(sa.select(watermarks.c.value).where(*where))
        if current is None:
            tx.execute(watermarks.insert().values(connection=connection, name=WATERMARK,
                                                  value=str(value), updated_at=now))
        elif int(current) < value:
            tx.execute(watermarks.update().where(*where).values(value=str(value),
                                                                updated_at=now))

    def abandon(self, connection: str, now: datetime) -> list[int]:
        """Give up the pending exports of ``connection`` (the watermark stays); their run ids."""
        with self.engine.begin() as tx:
            ids = list(tx.scalars(sa.select(exports.c.run_id).where(
                exports.c.connection == connection, exports.c.state == "pending")))
            tx.execute(exports.update().where(exports.c.run_id.in_(ids))
                       .values(state="abandoned", delivered_at=now))
        return ids

    def files_of(self, run_ids: list[int]) -> dict[int, list[str]]:
        """File names of each export run, for history."""
        out: dict[int, list[str]] = {}
        with reading(self.engine) as conn:
            rows = conn.execute(sa.select(export_files.c.run_id, export_files.c.name)
                                .where(export_files.c.run_id.in_(run_ids))
                                .order_by(export_files.c.sequence))
            for run_id, name in rows:
                out.setdefault(int(run_id), []).append(name)
        return out
