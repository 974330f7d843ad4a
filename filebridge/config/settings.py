"""The public entry points: load settings, mappings and schedules, or check them all.

``load_*`` raise ``ConfigError`` with every problem of the file; ``check`` never
raises and returns every problem of the whole configuration tree, which is what
``filebridge check`` shows and what a daemon runs before it starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from filebridge.config.errors import ConfigError, ConfigProblem
from filebridge.config.exports import export_mapping_problems
from filebridge.config.loader import Document, load_yaml
from filebridge.config.schedule import schedule_problems
from filebridge.config.semantics import mapping_problems, settings_problems
from filebridge.config.validate import Kind, did_you_mean, schema_problems, sort_problems

LogFormat = Literal["plain", "json"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
Leavers = Literal["deactivate", "delete", "ignore"]


@dataclass(frozen=True)
class LogConfig:
    """How the daemon and commands log."""

    format: LogFormat = "plain"
    level: LogLevel = "INFO"


@dataclass(frozen=True)
class ConnectionConfig:
    """One connection of settings.yaml; paths are absolute (resolved against the settings file)."""

    name: str
    description: str
    import_mapping: Path | None
    export_mapping: Path | None
    schedule: Path | None
    transport: dict[str, Any]
    policies: dict[str, Any]
    thresholds: dict[str, Any]
    #: ``pgp`` as written, public key paths made absolute; secrets stay references.
    pgp: dict[str, Any] = field(default_factory=dict)
    # The LMS this connection feeds when not the built-in store (``type: scim``), with
    # ``ca_bundle`` made absolute; None feeds the built-in store.
    lms: dict[str, Any] | None = None


@dataclass(frozen=True)
class Settings:
    """A validated settings.yaml.

    ``lms_url`` and ``ledger_url`` have ``{state_dir}`` substituted and SQLite paths
    made absolute. The ``*_password`` fields hold secret *references*, resolve them
    with ``resolve_secret`` at the moment of use.
    """

    path: Path
    base_dir: Path
    state_dir: Path
    lms_url: str
    ledger_url: str
    log: LogConfig
    connections: dict[str, ConnectionConfig]
    lms_password: str | None = None
    ledger_password: str | None = None
    notifications: dict[str, Any] = field(default_factory=dict)


def _pgp(base_dir: Path, pgp: dict[str, Any]) -> dict[str, Any]:
    return {k: str(_optional_path(base_dir, v)) if k in ("signer_key", "encrypt_to") else v
            for k, v in pgp.items()}


def problems_in(doc: Document, kind: Kind) -> list[ConfigProblem]:
    """Schema and semantic problems of one parsed document, sorted by line."""
    problems = schema_problems(doc, kind)
    if kind == "mapping":
        problems += mapping_problems(doc)
    elif kind == "export-mapping":
        problems += export_mapping_problems(doc)
    elif kind == "schedule":
        problems += schedule_problems(doc)
    else:
        problems += settings_problems(doc)
    return sort_problems(problems)


def _load(path: Path, kind: Kind, name: str) -> Document:
    doc = load_yaml(path, name)
    problems = problems_in(doc, kind)
    if problems:
        raise ConfigError(problems)
    return doc


def display_name(path: Path, base_dir: Path | None = None) -> str:
    """``path`` relative to ``base_dir`` (default: the working directory) when inside it."""
    try:
        return path.resolve().relative_to((base_dir or Path.cwd()).resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)


def load_mapping(path: Path, base_dir: Path | None = None) -> Document:
    """A validated mapping document; problems name the file relative to ``base_dir``."""
    return _load(path, "mapping", display_name(path, base_dir))


def load_export_mapping(path: Path, base_dir: Path | None = None) -> Document:
    """A validated export mapping document; problems name the file relative to ``base_dir``."""
    return _load(path, "export-mapping", display_name(path, base_dir))


def load_schedule(path: Path, base_dir: Path | None = None) -> Document:
    """A validated schedule document; problems name the file relative to ``base_dir``."""
    return _load(path, "schedule", display_name(path, base_dir))


def load_settings(path: Path) -> Settings:
    """A validated settings.yaml as typed values (mappings and schedules are not loaded)."""
    doc = _load(path, "settings", path.name)
    return _settings_from(doc)


def database_url(url: str, state_dir: Path, base_dir: Path) -> str:
    """``url`` with ``{state_dir}`` replaced and a relative SQLite path made absolute."""
    url = url.replace("{state_dir}", state_dir.as_posix())
    scheme, sep, rest = url.partition(":///")
    if sep and scheme.split("+")[0] == "sqlite":
        file, question, query = rest.partition("?")
        # The daemon's working directory is not the settings folder: pin the file down.
        if file and file != ":memory:" and not file.startswith("/"):
            url = f"{scheme}:///{(base_dir / file).as_posix()}{question}{query}"
    return url


def _optional_path(base_dir: Path, value: Any) -> Path | None:
    return base_dir / value if isinstance(value, str) and value else None


def _target(block: Any, base_dir: Path) -> dict[str, Any] | None:
    if not isinstance(block, dict):
        return None
    out = dict(block)
    if out.get("ca_bundle"):
        out["ca_bundle"] = str(base_dir / out["ca_bundle"])
    return out


def _settings_from(doc: Document) -> Settings:
    data: dict[str, Any] = doc.data
    base_dir = doc.path.resolve().parent
    state_dir = (base_dir / data["state_dir"]).resolve()
    lms, ledger = data["lms"], data.get("ledger") or {}
    lms_url = database_url(lms["url"], state_dir, base_dir)
    ledger_url = database_url(ledger["url"], state_dir, base_dir) if "url" in ledger else lms_url
    connections = {
        name: ConnectionConfig(
            name=name,
            description=conn.get("description", ""),
            import_mapping=_optional_path(base_dir, conn.get("import_mapping")),
            export_mapping=_optional_path(base_dir, conn.get("export_mapping")),
            schedule=_optional_path(base_dir, conn.get("schedule")),
            transport=dict(conn["transport"]),
            policies={"leavers": "deactivate", **(conn.get("policies") or {})},
            thresholds=dict(conn.get("thresholds") or {}),
            pgp=_pgp(base_dir, conn.get("pgp") or {}),
            lms=_target(conn.get("lms"), base_dir),
        )
        for name, conn in data["connections"].items()
    }
    return Settings(
        path=doc.path,
        base_dir=base_dir,
        state_dir=state_dir,
        lms_url=lms_url,
        ledger_url=ledger_url,
        log=LogConfig(**(data.get("log") or {})),
        connections=connections,
        lms_password=lms.get("password"),
        # The ledger shares the LMS database (and its password) unless it has its own URL.
        ledger_password=ledger.get("password") if "url" in ledger else lms.get("password"),
        notifications=dict(data.get("notifications") or {}),
    )


def check(settings_path: Path) -> list[ConfigProblem]:
    """Every problem in settings.yaml, the files it names and mappings/ and schedules/ beside it."""
    base_dir = settings_path.resolve().parent
    problems: list[ConfigProblem] = []
    settings_doc = _try_load(settings_path, settings_path.name, problems)
    if settings_doc is not None:
        problems += problems_in(settings_doc, "settings")
    data = settings_doc.data if settings_doc and isinstance(settings_doc.data, dict) else {}
    connections = data.get("connections")
    connections = connections if isinstance(connections, dict) else {}
    files: dict[Path, Kind] = {}
    sources: tuple[tuple[str, Kind], ...] = (
        ("import_mapping", "mapping"),
        ("export_mapping", "export-mapping"),
        ("schedule", "schedule"),
    )
    for conn in connections.values():
        for key, kind in sources:
            value = conn.get(key) if isinstance(conn, dict) else None
            # A missing file was reported above as a settings problem, at its key.
            if isinstance(value, str) and value and (base_dir / value).is_file():
                files.setdefault((base_dir / value).resolve(), kind)
    folders: tuple[tuple[str, Kind], ...] = (("mappings", "mapping"), ("schedules", "schedule"))
    for folder, kind in folders:
        found = [*(base_dir / folder).glob("*.yaml"), *(base_dir / folder).glob("*.yml")]
        for path in sorted(found):
            files.setdefault(path.resolve(), kind)
    schedules: dict[Path, Document] = {}
    names = [settings_path.name]
    for path, kind in files.items():
        names.append(display_name(path, base_dir))
        doc = _try_load(path, names[-1], problems)
        # An export mapping under mappings/ says so itself (top-level `kind: export`).
        if doc is not None and kind == "mapping" and isinstance(doc.data, dict) \
                and doc.data.get("kind") == "export":
            kind = "export-mapping"
        if doc is not None:
            problems += problems_in(doc, kind)
            if kind == "schedule":
                schedules[path] = doc
    problems += _schedule_links(settings_doc, connections, schedules, base_dir)
    # Grouped by file (settings first, the rest by name), each file's problems by line.
    order = {name: i for i, name in enumerate([names[0], *sorted(set(names[1:]))])}
    return sorted(problems, key=lambda p: (order.get(p.file, len(names)), p.line or 0))


def _try_load(path: Path, name: str, problems: list[ConfigProblem]) -> Document | None:
    try:
        return load_yaml(path, name)
    except ConfigError as exc:
        problems += exc.problems
        return None


def _schedule_links(
    settings_doc: Document | None,
    connections: dict[str, Any],
    schedules: dict[Path, Document],
    base_dir: Path,
) -> list[ConfigProblem]:
    """A schedule must drive a defined connection, and the one that names it."""
    problems = []
    names = [n for n in connections if isinstance(n, str)]
    for doc in schedules.values():
        target = doc.data.get("connection") if isinstance(doc.data, dict) else None
        if isinstance(target, str) and target not in connections:
            message = f"unknown connection {target!r}{did_you_mean(target, names)}"
            problems.append(doc.problem(("connection",), message))
    for name, conn in connections.items():
        value = conn.get("schedule") if isinstance(conn, dict) else None
        linked = schedules.get((base_dir / value).resolve()) if isinstance(value, str) else None
        data = linked.data if linked is not None else None
        target = data.get("connection") if isinstance(data, dict) else None
        if settings_doc is not None and isinstance(target, str) and target != name:
            message = f"{value} drives connection {target!r}, not {name!r}"
            problems.append(settings_doc.problem(("connections", name, "schedule"), message))
    return problems
