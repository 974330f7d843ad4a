"""Run the demo on the embedded default: Acme's two nightly exports and a delta file from
sample_files/ into a fresh built-in SQLite store under var/demo (wiped at each demo run;
your real state under settings' state_dir is not touched)."""

from __future__ import annotations

import argparse
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from filebridge.cli.common import add_common, emit_json, require_file, settings_file
from filebridge.cli.render import render_report, summary_line
from filebridge.config import load_settings
from filebridge.pipeline.completions_load import load_completions
from filebridge.pipeline.context import Context, open_context
from filebridge.pipeline.exporter import export_connection
from filebridge.pipeline.importer import RunOptions, run_import

NAME = "demo"
HELP = "apply the sample nightly exports to a fresh demo store and show the plans"
FILES = ("acme_employees_2026-11-24.csv", "acme_employees_2026-11-25.csv",
         "acme_delta_2026-11-26.csv")
COMPLETIONS = "acme_completions.csv"
EXPORT_TIME = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)  # the morning after the delta file
EXAMPLES = (
    'filebridge demo',
    'filebridge demo --samples ./sample_files --json',
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``demo``."""
    parser.add_argument("--samples", type=Path, default=Path("sample_files"),
                        help="folder with the sample exports (default: sample_files)")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Night 1 (initial load), night 2 (plan shown, then applied), the delta (a rehire)."""
    path = settings_file(args)
    settings = load_settings(path)
    for name in (*FILES, COMPLETIONS):
        require_file(args.samples / name)  # before the demo store is wiped
    state = settings.state_dir / "demo"
    shutil.rmtree(state, ignore_errors=True)
    demo_settings = write_demo_settings(path, state)
    ctx = open_context(demo_settings)
    reports = []
    try:
        for n, name in enumerate(FILES):
            report = run_import(ctx, "acme", args.samples / name,
                                RunOptions(mode="apply")).to_dict()
            reports.append(report)
            if args.json:
                continue
            title = ("Night 1: first import into an empty LMS", "Night 2: the plan",
                     "Delta file: a rehire and a promotion")[n]
            print(f"\n=== {title} ({name}) ===")
            if n == 0:
                print(summary_line(report))
                if report.get("reject_file"):
                    print(f"rejected rows written to {report['reject_file']}")
            else:
                render_report(report)
        export = demo_export(ctx, args.samples, quiet=args.json)
    finally:
        ctx.close()
    if args.json:
        emit_json({"state_dir": str(state), "runs": reports, "export": export})
    else:
        print(f"\nThe demo has its own state in {state}. Look around with:\n"
              f"  filebridge history --settings {demo_settings}\n"
              f"  filebridge show 2 --settings {demo_settings}\n"
              f"  filebridge users acme --settings {demo_settings}")
    exported = export is None or export["state"] == "delivered"
    return 0 if all(r["state"] == "applied" for r in reports) and exported else 1


def demo_export(ctx: Context, samples: Path, *, quiet: bool) -> dict[str, Any] | None:
    """Load the sample completions and send them back once (as on the morning of 27 Nov)."""
    if ctx.connection("acme").export_mapping is None:
        return None
    loaded = load_completions(ctx, samples / COMPLETIONS, connection="acme", now=EXPORT_TIME)
    report = export_connection(ctx, "acme", now=EXPORT_TIME).to_dict()
    if not quiet:
        c = loaded.counts
        print(f"\n=== Completions back to the HR system ({COMPLETIONS}) ===\n"
              f"recorded {c.get('inserted', 0)} results and {c.get('assigned', 0)} assignments")
        for f in report["files"]:
            print(f"exported {f['rows']} rows to {f['delivered_to']}")
        print(f"watermark {report['watermark_before']} -> {report['watermark_after']}; "
              "a second export sends nothing twice")
    return report


def write_demo_settings(settings_path: Path, state: Path) -> Path:
    """A copy of the settings pointing at the demo state folder (paths made absolute)."""
    settings = load_settings(settings_path)
    with settings_path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    raw["state_dir"] = str(state)
    raw["lms"] = {"url": "sqlite:///{state_dir}/lms.sqlite"}
    raw.pop("ledger", None)
    for name, conn in settings.connections.items():
        entry = raw["connections"][name]
        for key in ("import_mapping", "export_mapping", "schedule"):
            if getattr(conn, key) is not None:
                entry[key] = str(getattr(conn, key))
        if "outbox" in entry.get("transport", {}):
            entry["transport"]["outbox"] = str(state / "outbox" / name)
        if "inbox" in entry.get("transport", {}):
            entry["transport"]["inbox"] = str(settings.base_dir / entry["transport"]["inbox"])
    state.mkdir(parents=True, exist_ok=True)
    target = state / "settings.yaml"
    target.write_text("# Written by `filebridge demo`: the demo's own state.\n"
                      + yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return target
