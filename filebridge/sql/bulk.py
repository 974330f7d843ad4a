"""Bulk reads and writes that bypass per-row SQLAlchemy work (a million rows at a time)."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import repeat
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.compiler import SQLCompiler

from filebridge.sql.engine import location
from filebridge.sql.errors import DatabaseUnavailable, sqlite_unavailable


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of tuples.

    Bulk reads and writes allocate one tuple per row and no cycles; each allocation
    burst would otherwise trigger full collections that walk every live object
    (measured: a 1M-row snapshot takes 1.6 s with the collector, 1.0 s without).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def execute_many(
    tx: Connection,
    stmt: sa.ClauseElement,
    columns: Mapping[str, Sequence[Any]],
    constants: Mapping[str, Any] | None = None,
) -> int:
    """Run ``stmt`` once per row of ``columns`` (equal-length lists of DBAPI-ready values).

    The statement is built with Core and compiled once for the engine's dialect, then
    handed to the driver's ``executemany`` with bound parameters: a million rows cost
    no per-row SQLAlchemy processing. ``constants`` (e.g. ``now``) are the same for
    every row and go through their type's bind processor once. Returns the rowcount.
    """
    constants = dict(constants or {})
    if not _row_count(columns):
        return 0
    with gc_paused():
        return _execute_many(tx, stmt, columns, constants)


def _row_count(columns: Mapping[str, Sequence[Any]]) -> int:
    """How many rows ``columns`` holds (0 for none); columns of unequal length are refused."""
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def _execute_many(tx: Connection, stmt: sa.ClauseElement, columns: Mapping[str, Sequence[Any]],
                  constants: dict[str, Any]) -> int:
    dialect = tx.dialect
    compiled = cast(SQLCompiler, stmt.compile(dialect=dialect,
                                              column_keys=[*columns, *constants]))
    fixed = {}
    # Values written into the statement itself (``.values(active=True)``) are binds too.
    for name, value in {**compiled.params, **constants}.items():
        if name in columns:
            continue
        bind = compiled.binds.get(name)
        process = bind.type.dialect_impl(dialect).bind_processor(dialect) \
            if bind is not None else None
        fixed[name] = process(value) if process and value is not None else value
    if compiled.positional:
        order = compiled.positiontup or []
        sources = [repeat(fixed[n]) if n in fixed else iter(columns[n]) for n in order]
        params: list[Any] = list(zip(*sources, strict=False))
    else:
        names = list(columns)
        params = [{**fixed, **dict(zip(names, row, strict=True))}
                  for row in zip(*columns.values(), strict=True)]
    result = tx.exec_driver_sql(compiled.string, params)
    return int(result.rowcount)


def insert_rows(
    tx: Connection,
    table: sa.Table,
    columns: Mapping[str, Sequence[Any]],
    constants: Mapping[str, Any] | None = None,
) -> int:
    """Insert one row per entry of ``columns`` (plus ``constants`` in every row) into ``table``.

    On PostgreSQL through psycopg the rows are streamed with ``COPY ... FROM STDIN``: one
    statement for the whole batch instead of one parse, bind and execute per row, which
    made a million-person initial load take many minutes there. Other databases get
    ``execute_many`` of a plain insert. Returns the number of rows inserted.
    """
    constants = dict(constants or {})
    unknown = [n for n in [*columns, *constants] if n not in table.c]
    if unknown:  # names come from code, never from data: a typo is refused, not dropped
        raise ValueError(f"{table.name} has no columns {unknown}")
    if tx.dialect.name != "postgresql" or tx.dialect.driver != "psycopg":
        return execute_many(tx, table.insert(), columns, constants)
    if not _row_count(columns):
        return 0
    with gc_paused():
        return _copy_rows(tx, table, columns, constants)


def _copy_rows(tx: Connection, table: sa.Table, columns: Mapping[str, Sequence[Any]],
               constants: dict[str, Any]) -> int:
    names = [*columns, *constants]
    quote = tx.dialect.identifier_preparer
    statement = (f"COPY {quote.format_table(table)} "
                 f"({', '.join(quote.quote(n) for n in names)}) FROM STDIN")
    rows = zip(*columns.values(), *(repeat(v) for v in constants.values()), strict=False)
    cursor = tx.connection.driver_connection.cursor()  # type: ignore[union-attr]
    dbapi = tx.dialect.loaded_dbapi
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return int(cursor.rowcount)
    except dbapi.IntegrityError as error:
        # The raw cursor bypasses SQLAlchemy's exception wrapping; callers catch its type.
        raise sa.exc.IntegrityError(statement, None, error) from error
    except dbapi.OperationalError as error:
        raise DatabaseUnavailable(location(tx.engine), str(error).splitlines()[0]) from error
    finally:
        cursor.close()


# SQLite's page cache (KiB) while ``deferred_indexes`` holds a big write (default: 2 MB).
# Measured at 1M creates (single runs, shared machine): apply stage 28.8 s with the
# default, 26.5 s with 128 MB, 26.2 s with 64 MB. 32 MB, and 16 MB while the indexes are
# built again (a build sorts in memory up to the cache's size, on top of the cache),
# keep a million-person initial load's peak resident size under 600 MB: 64 MB with an
# 8 MB build cache peaked at 605 MB, 64 MB throughout at 640 MB.
BULK_CACHE_KIB = 32_768
INDEX_BUILD_CACHE_KIB = 16_384


@contextmanager
def deferred_indexes(tx: Connection, tables: Sequence[str],
                     triggers: Sequence[str] = ()) -> Iterator[None]:
    """On SQLite, drop the secondary indexes of ``tables`` and the ``triggers`` named for
    the block, then create them again from their saved definitions.

    Building an index once from sorted rows is several times cheaper than keeping it in
    step row by row while a big batch goes in; a trigger that only watches for writes
    other than this one costs a program run per row for nothing. Everything happens
    inside the caller's transaction: a crash or a rollback leaves every index and
    trigger as it was. Unique constraints stay (their indexes have no definition of
    their own), so a duplicate is still refused. Other databases: a no-op.
    """
    if tx.dialect.name != "sqlite" or not (tables or triggers):
        yield
        return
    saved = _schema_objects(tx, tables, triggers)
    for kind, name, _ in saved:
        tx.exec_driver_sql(f"DROP {kind.upper()} {_quoted(name)}")
    # A bigger page cache for the block: the index builds read the whole table back and
    # sort it, and a big insert otherwise spills its dirty pages to the WAL early.
    cache = tx.exec_driver_sql("PRAGMA cache_size").scalar()
    tx.exec_driver_sql(f"PRAGMA cache_size={-BULK_CACHE_KIB}")
    try:
        yield
    except BaseException:
        # The caller's transaction rolls back and takes the drops with it; recreating
        # them here first only matters to a caller that would go on regardless.
        _recreate(tx, saved, quiet=True)
        raise
    else:
        # The index builds sort in memory up to the page cache's size, on top of the
        # cache itself: a smaller cache for them keeps a million-row build's peak down.
        tx.exec_driver_sql(f"PRAGMA cache_size={-INDEX_BUILD_CACHE_KIB}")
        _recreate(tx, saved, quiet=False)
    finally:
        tx.exec_driver_sql(f"PRAGMA cache_size={int(cache or -2000)}")


def _schema_objects(tx: Connection, tables: Sequence[str],
                    triggers: Sequence[str]) -> list[tuple[str, str, str]]:
    """(kind, name, definition) of the droppable indexes of ``tables`` and of ``triggers``."""
    marks = ", ".join("?" * len(tables)) or "NULL"
    names = ", ".join("?" * len(triggers)) or "NULL"
    rows = tx.exec_driver_sql(
        f"SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND ("
        f"(type = 'index' AND tbl_name IN ({marks})) OR (type = 'trigger' AND name IN "
        f"({names}))) ORDER BY type, name", (*tables, *triggers)).all()
    return [(str(kind), str(name), str(sql)) for kind, name, sql in rows]


def _recreate(tx: Connection, saved: list[tuple[str, str, str]], quiet: bool) -> None:
    for _, _, sql in saved:
        try:
            tx.exec_driver_sql(sql)
        except sa.exc.DBAPIError:
            if not quiet:
                raise


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def fetch_raw(conn: Connection, stmt: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """All rows of ``stmt`` as plain tuples straight from the driver's cursor (fast, untyped)."""
    return [row for batch in fetch_batches(conn, stmt, None) for row in batch]


def fetch_batches(conn: Connection, stmt: sa.Select[Any], size: int | None
                  ) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of ``stmt`` as lists of at most ``size`` plain tuples (``None``: one list).

    Batches let a caller turn a million rows into columns as they come, so the tuples of
    only one batch are alive at a time.
    """
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    values = compiled.params
    if compiled.positional:
        params: Any = tuple(values[n] for n in compiled.positiontup or [])
    else:
        params = values
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with gc_paused():
            cursor.execute(compiled.string, params)
            if size is None:
                yield list(cursor.fetchall())
                return
            while batch := cursor.fetchmany(size):
                yield batch
    except conn.dialect.loaded_dbapi.OperationalError as error:
        # The raw cursor bypasses SQLAlchemy's handle_error hook; translate here.
        if conn.dialect.name == "sqlite" and not sqlite_unavailable(error):
            raise
        raise DatabaseUnavailable(location(conn.engine), str(error).splitlines()[0]) from error
    finally:
        cursor.close()
