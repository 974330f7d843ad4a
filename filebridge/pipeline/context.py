"""Everything a run needs, opened once from settings.yaml: stores, ledger, folders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from filebridge.config import ConnectionConfig, Settings, load_settings
from filebridge.config.secrets import resolve_secret
from filebridge.formats.memory import use_batch_memory_pool
from filebridge.ledger import Ledger
from filebridge.lms import SqlStore
from filebridge.pipeline.errors import UnknownConnection
from filebridge.sql import check_state_location, open_engine


@dataclass
class Context:
    """Open stores and folders for one settings file."""

    settings: Settings
    store_engine: Engine
    ledger_engine: Engine
    store: SqlStore
    ledger: Ledger

    @property
    def shared_database(self) -> bool:
        """True when the LMS store and the ledger live in one database (one transaction)."""
        return self.store_engine is self.ledger_engine

    def connection(self, name: str) -> ConnectionConfig:
        """The named connection, or an error listing the configured ones."""
        try:
            return self.settings.connections[name]
        except KeyError:
            raise UnknownConnection(name=name,
                                    known=sorted(self.settings.connections)) from None

    def spool_dir(self, connection: str) -> Path:
        """Where verified copies of this connection's input files are kept."""
        return self.settings.state_dir / "spool" / connection

    def reports_dir(self, connection: str) -> Path:
        """Where reject files and run reports of this connection are written."""
        return self.settings.state_dir / "reports" / connection

    def close(self) -> None:
        """Release database connections."""
        self.store_engine.dispose()
        if not self.shared_database:
            self.ledger_engine.dispose()


def _secret(reference: str | None) -> str | None:
    return None if reference is None else resolve_secret(reference)


def open_context(settings_path: Path) -> Context:
    """Load settings, check the state folder is safe, open and migrate the stores."""
    return open_settings(load_settings(settings_path))


def open_settings(settings: Settings) -> Context:
    """Open and migrate the stores of already loaded settings."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    check_state_location(settings.state_dir)
    use_batch_memory_pool()  # every run of this process works on big Arrow columns
    store_engine = open_engine(settings.lms_url, password=_secret(settings.lms_password))
    same = (settings.ledger_url, settings.ledger_password) == (settings.lms_url,
                                                                settings.lms_password)
    ledger_engine = store_engine if same else open_engine(
        settings.ledger_url, password=_secret(settings.ledger_password))
    store, ledger = SqlStore(store_engine), Ledger(ledger_engine)
    store.migrate()
    ledger.migrate()
    # Runs left "running" by a process that died are marked failed (interrupted); their
    # transaction never committed, so the next run of the file simply applies it.
    ledger.recover(datetime.now(UTC))
    return Context(settings, store_engine, ledger_engine, store, ledger)
