"""The package's boxes keep their boundaries: checked on the import graph and on real imports.

A box is a folder of ``filebridge/`` (``plan``, ``lms``, ...) or a top-level module
(``person``, ``columnar``, ...). The graph is read from every ``import`` statement of
the package, including imports inside functions, so a lazy import cannot hide an arrow.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "filebridge"

# Libraries that do I/O: sockets, databases, files on remote hosts, HTTP, folder watching.
IO_LIBRARIES = ("sqlalchemy", "psycopg", "paramiko", "watchdog", "httpx", "requests",
                "socket", "apscheduler", "starlette", "uvicorn", "smtplib", "urllib.request")

# box -> boxes it must never import (the domain never imports I/O; upper boxes stay up).
FORBIDDEN_BOXES = {
    "config": {"lms", "ledger", "sql", "transports", "pipeline", "daemon", "cli", "web",
               "plan", "formats"},
    "formats": {"mapping", "plan", "lms", "ledger", "sql", "transports", "pipeline", "daemon",
                "cli", "web"},
    "mapping": {"formats", "plan", "lms", "ledger", "sql", "transports", "pipeline", "daemon",
                "cli", "web"},
    "plan": {"formats", "lms", "ledger", "sql", "transports", "pipeline", "daemon", "cli",
             "web"},
    "transports": {"formats", "mapping", "plan", "lms", "ledger", "sql", "pipeline", "daemon",
                   "cli", "web"},
    "lms": {"formats", "transports", "ledger", "pipeline", "daemon", "cli", "web"},
    "ledger": {"lms", "plan", "mapping", "formats", "transports", "pipeline", "daemon", "cli",
               "web"},
    "sql": {"lms", "ledger", "plan", "mapping", "formats", "transports", "pipeline", "daemon",
            "cli", "web", "person"},
    "pipeline": {"daemon", "cli", "web", "sql"},
    "daemon": {"cli", "web", "sql"},
    "cli": {"sql"},
    "web": {"sql", "cli"},
}

# box -> third-party libraries it must never import directly.
FORBIDDEN_LIBRARIES = {
    "config": ("pandas", "pyarrow", "numpy", *IO_LIBRARIES),
    "formats": IO_LIBRARIES,
    "mapping": IO_LIBRARIES,
    "plan": IO_LIBRARIES,
    "person": ("pandas", *IO_LIBRARIES),
    "columnar": IO_LIBRARIES,
    "problems": ("pandas", *IO_LIBRARIES),
    # Nothing above the stores sees an engine, a connection or a transaction.
    "pipeline": ("sqlalchemy", "psycopg"),
    "daemon": ("sqlalchemy", "psycopg"),
    "cli": ("sqlalchemy", "psycopg"),
    "web": ("sqlalchemy", "psycopg"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _box(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "filebridge"


def _imports(path: Path) -> list[str]:
    """Every absolute module name ``path`` imports, at top level or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
            # ``from filebridge import x`` names a module as often as an attribute.
            if node.module == "filebridge":
                found += [f"filebridge.{alias.name}" for alias in node.names]
    return found


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _arrows() -> dict[str, set[str]]:
    arrows: dict[str, set[str]] = defaultdict(set)
    for module, imported in GRAPH.items():
        for target in imported:
            if target.startswith("filebridge.") and _box(target) != _box(module):
                arrows[_box(module)].add(_box(target))
    return arrows


@pytest.mark.parametrize("box", sorted(FORBIDDEN_BOXES))
def test_box_imports_no_forbidden_box(box):
    wrong = [f"{module} imports {target}" for module, imported in GRAPH.items()
             if _box(module) == box for target in imported
             if target.startswith("filebridge.") and _box(target) in FORBIDDEN_BOXES[box]]
    assert wrong == []


@pytest.mark.parametrize("box", sorted(FORBIDDEN_LIBRARIES))
def test_box_imports_no_forbidden_library(box):
    banned = FORBIDDEN_LIBRARIES[box]
    wrong = [f"{module} imports {target}" for module, imported in GRAPH.items()
             if _box(module) == box for target in imported
             if any(target == lib or target.startswith(lib + ".") for lib in banned)]
    assert wrong == []


def test_no_circular_imports_between_boxes():
    arrows = _arrows()
    cycles = []
    for start in arrows:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in arrows.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in path:
                    stack.append((nxt, [*path, nxt]))
    assert cycles == []


def test_the_forbidden_arrows_name_real_boxes():
    """A rule about a box that does not exist would check nothing."""
    boxes = {_box(m) for m in MODULES} | {"web"}
    named = set(FORBIDDEN_BOXES) | {b for bs in FORBIDDEN_BOXES.values() for b in bs}
    assert named - boxes == set()


def test_every_module_imports_on_its_own():
    """Import each module first, in a fresh set of filebridge modules: an import cycle that
    only works in one order fails here."""
    code = (
        "import importlib, sys, traceback\n"
        f"names = {sorted(MODULES)!r}\n"
        "failed = []\n"
        "for name in names:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'filebridge']:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as error:\n"
        "        failed.append(f'{name}: {error!r}')\n"
        "print('\\n'.join(failed))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


def test_numpy_is_declared_when_the_package_imports_it():
    used = {t.split(".")[0] for imported in GRAPH.values() for t in imported}
    declared = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    for library in ("numpy", "pandas", "pyarrow"):
        if library in used:
            assert f'"{library}' in declared, f"{library} is imported but not a dependency"


# box -> libraries it must never load at run time (directly or through another box).
LOADED = {
    "filebridge.config": ["pandas", "paramiko", "sqlalchemy", "pyarrow"],
    "filebridge.mapping.apply": ["paramiko", "sqlalchemy", "watchdog"],
    "filebridge.plan": ["paramiko", "sqlalchemy", "watchdog"],
    "filebridge.plan.build": ["paramiko", "sqlalchemy", "watchdog"],
    "filebridge.formats": ["paramiko", "sqlalchemy", "watchdog"],
    "filebridge.transports": ["pandas", "sqlalchemy"],
    # The PostgreSQL dialect costs 0.1 s to import: only loaded when a PostgreSQL URL is used.
    "filebridge.lms": ["paramiko", "watchdog", "sqlalchemy.dialects.postgresql"],
    # An import run loads what it uses: not the SSH client, the scheduler or PostgreSQL
    # (each is a tenth of a second of start-up on every nightly file).
    "filebridge.cli.apply": ["paramiko", "apscheduler", "sqlalchemy.dialects.postgresql"],
    "filebridge.cli.replay": ["paramiko", "apscheduler", "sqlalchemy.dialects.postgresql"],
    "filebridge.cli.errors": ["paramiko", "pandas"],
    # The pages read through the stores; the PostgreSQL dialect only where a URL asks for it.
    "filebridge.web.app": ["sqlalchemy.dialects.postgresql"],
}


@pytest.mark.parametrize("module, forbidden", LOADED.items())
def test_box_does_not_load(module, forbidden):
    code = (f"import sys, {module}; "
            f"print(sorted(m for m in {forbidden!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", f"{module} loads {out}"

