"""Everything a run needs, opened once from settings.yaml: stores, ledger, folders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from filebridge.config import ConnectionConfig, Settings, load_settings
from filebridge.config.secrets import resolve_secret
from filebridge.formats.memory import use_batch_memory_pool
from filebridge.ledger import Ledger
from filebridge.lms import Lms, SqlStore
from filebridge.lms.factory import open_learning, open_target
from filebridge.lms.interface import LearningRecords
from filebridge.pipeline.errors import UnknownConnection
from filebridge.pipeline.settle import settle_quietly
from filebridge.state_dir import check_state_location


@dataclass
class Context:
    """Open stores and folders for one settings file."""

    settings: Settings
    store: SqlStore  # the built-in store: learning records, and people unless a target says
    ledger: Ledger
    targets: dict[str, Lms] = field(default_factory=dict)

    def target(self, connection: str) -> Lms:
        """The LMS ``connection`` feeds (the built-in store unless its settings name another)."""
        if connection not in self.targets:
            self.targets[connection] = open_target(self.connection(connection), self.store,
                                                   self.settings.connections)
        return self.targets[connection]

    def learning(self, connection: str) -> LearningRecords:
        """Where the export reads ``connection``'s course results (see ``open_learning``)."""
        return open_learning(self.connection(connection), self.store, self.target(connection))

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
        for target in self.targets.values():
            if target is not self.store:
                target.close()
        self.store.close()
        self.ledger.close()


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
    store = SqlStore.open(settings.lms_url, _secret(settings.lms_password))
    same = (settings.ledger_url, settings.ledger_password) == (settings.lms_url,
                                                                settings.lms_password)
    ledger = Ledger.open(settings.ledger_url, _secret(settings.ledger_password),
                         beside=store if same else None)
    store.prepare()
    ledger.migrate()
    # Runs left "running" by a process that died are marked failed (interrupted); their
    # transaction never committed, so the next run of the file simply applies it.
    ledger.recover(datetime.now(UTC))
    ctx = Context(settings, store, ledger)
    # Runs whose outcome never reached a ledger in another database than the store:
    # the store's own mark says whether they were applied.
    settle_quietly(ctx)
    return ctx
