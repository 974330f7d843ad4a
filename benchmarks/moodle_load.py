"""Benchmark: feeding a real Moodle. A 10,000-person initial load and a night with 1%
changes (0.5% changed departments, 0.25% hires, 0.25% leavers) through `filebridge
apply`, beside Moodle's own bulk upload (admin/tool/uploaduser/cli/uploaduser.php) on
the same people, in the same run, on the same site.

    python benchmarks/moodle_load.py [--people 10000] [--site DIR]

``--site`` names a folder set up by the shared ``setup.sh`` (its env.sh is read);
without it, the script sets a site up in a temporary folder from ``../shared/moodle``
and removes it afterwards. Prints creates per second and seconds for the night of
both, as JSON on the last line.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "moodle"
HEADER = ["Employee ID", "Work Email", "First Name", "Last Name", "Job Title", "Department",
          "Dept Code", "Location", "Country", "Phone", "Type", "Manager ID", "Hire Date",
          "Termination Date", "Status", "Cost Center"]
DEPTS = ["Engineering", "Sales", "Finance", "Operations", "Research"]
FIRST = ["Anna", "Zoë", "José", "Liam", "Noah", "Emma", "Mia", "Lucas", "Sofia", "Chen"]
LAST = ["Berg", "Müller", "García", "OBrien", "Smith", "Dubois", "Rossi", "Nowak"]


def people(prefix: str, n: int) -> list[dict[str, str]]:
    """``n`` people with ids ``<prefix>000001``…, managers ten to a team."""
    out = []
    for i in range(1, n + 1):
        eid = f"{prefix}{i:06d}"
        out.append({"Employee ID": eid, "Work Email": f"{prefix}.{i}@acme.example",
                    "First Name": FIRST[i % len(FIRST)], "Last Name": LAST[i % len(LAST)],
                    "Job Title": "Engineer", "Department": DEPTS[i % len(DEPTS)],
                    "Dept Code": DEPTS[i % len(DEPTS)][:3].upper(), "Location": "Berlin",
                    "Country": "DE", "Phone": f"+49 30 {i:07d}", "Type": "FT",
                    "Manager ID": f"{prefix}{max(1, i // 10):06d}" if i > 1 else "",
                    "Hire Date": "01/01/2020", "Termination Date": "", "Status": "A",
                    "Cost Center": f"CC-{i % 97}"})
    return out


def night(rows: list[dict[str, str]], prefix: str) -> list[dict[str, str]]:
    """The next night: 0.5% move department, 0.25% leave (status T), 0.25% are hired."""
    n = len(rows)
    out = [dict(r) for r in rows]
    for i in range(0, n, 200):
        out[i]["Department"] = "Moved"
    for i in range(7, n, 400):
        out[i]["Status"] = "T"
        out[i]["Termination Date"] = "30/11/2026"
    hires = people(prefix, n + n // 400)[n:]
    return out + hires


def write(path: Path, rows: list[dict[str, str]]) -> None:
    """The HR export as the acme mapping reads it."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=HEADER)
        w.writeheader()
        w.writerows(rows)


def upload_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """The same people in Moodle's bulk upload format."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["username", "firstname", "lastname", "email", "idnumber", "department",
                    "institution", "city", "country", "phone1", "profile_field_manager_id",
                    "suspended"])
        for r in rows:
            w.writerow([r["Work Email"].lower(), r["First Name"], r["Last Name"],
                        r["Work Email"], r["Employee ID"], r["Department"], "", "",
                        r["Country"], r["Phone"].replace(" ", ""), r["Manager ID"],
                        "1" if r["Status"] == "T" else "0"])


def timed(cmd: list[str], **kw: object) -> tuple[float, dict[str, Any]]:
    """Seconds ``cmd`` took and its JSON report, if it printed one; fails loudly when
    it fails."""
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False,  # type: ignore[call-overload]
                          **kw)
    seconds = time.monotonic() - started
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd[:4])} failed ({done.returncode}):\n{done.stdout[-3000:]}"
                 f"\n{done.stderr[-3000:]}")
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = {}
    return seconds, report if isinstance(report, dict) else {}


def site_env(folder: Path) -> dict[str, str]:
    """The variables of a site's env.sh."""
    out = {}
    for line in (folder / "env.sh").read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            k, _, v = line[7:].partition("=")
            out[k] = v.strip("'")
    return out


def setup_site(work: Path) -> Path:
    """A fresh site from the shared archive, with a manager_id profile field."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site = work / "site"
    subprocess.run(["bash", str(SHARED / "setup.sh"), str(SHARED / "moodle-4.5.tar.xz"),
                    str(site), str(port)], check=True, capture_output=True)
    return site


def main() -> None:
    """Run both loads and both nights; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--site", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="filebridge-moodle-bench-"))
    work.chmod(0o755)
    site = args.site or setup_site(work)
    env = site_env(site)
    moodle_dir = Path(env["MOODLE_DIR"])
    php = ["php", "-d", "max_input_vars=5000", "-d", "memory_limit=2048M"]
    try:
        ws = work / "ws"
        (ws / "mappings").mkdir(parents=True)
        shutil.copy(REPO / "mappings" / "acme.yaml", ws / "mappings" / "acme.yaml")
        (ws / "settings.yaml").write_text(
            "state_dir: state\nlms:\n  url: sqlite:///{state_dir}/lms.sqlite\n"
            "connections:\n  acme:\n    import_mapping: mappings/acme.yaml\n"
            "    transport: {type: local, inbox: drop, pattern: '*.csv'}\n"
            f"    lms: {{type: moodle, url: '{env['MOODLE_URL']}', "
            "token: '${env:BENCH_MOODLE_TOKEN}', profile_fields: {manager_id: manager_id}}\n",
            encoding="utf-8")
        fb = [sys.executable, "-m", "filebridge.cli.main"]
        fb_env = {**os.environ, "BENCH_MOODLE_TOKEN": env["MOODLE_TOKEN"]}
        ours = people("F", args.people)
        write(ws / "acme_employees_2026-11-24.csv", ours)
        write(ws / "acme_employees_2026-11-25.csv", night(ours, "F"))
        theirs = people("U", args.people)
        upload_csv(work / "upload1.csv", theirs)
        upload_csv(work / "upload2.csv", night(theirs, "U"))
        def apply(name: str) -> float:
            seconds, report = timed([*fb, "apply", "acme", str(ws / name), "--settings",
                                     str(ws / "settings.yaml"), "--force", "--json"],
                                    env=fb_env)
            if report.get("state") != "applied":
                sys.exit(f"{name} was not applied: {report.get('state')} "
                         f"{report.get('problems', [])[:3]}")
            print(f"{name}: {report['counts']}", file=sys.stderr)
            return seconds

        load = apply("acme_employees_2026-11-24.csv")
        nightly = apply("acme_employees_2026-11-25.csv")
        tool = [*php, "admin/tool/uploaduser/cli/uploaduser.php", "--delimiter_name=comma"]
        up_load, _ = timed([*tool, f"--file={work / 'upload1.csv'}", "--uutype=0"],
                           cwd=moodle_dir)
        up_night, _ = timed([*tool, f"--file={work / 'upload2.csv'}", "--uutype=2",
                             "--uuupdatetype=1"], cwd=moodle_dir)
        figures = {
            "people": args.people,
            "filebridge_initial_load_s": round(load, 1),
            "filebridge_creates_per_s": round(args.people / load, 1),
            "filebridge_night_s": round(nightly, 1),
            "uploaduser_initial_load_s": round(up_load, 1),
            "uploaduser_creates_per_s": round(args.people / up_load, 1),
            "uploaduser_night_s": round(up_night, 1),
        }
        print(json.dumps(figures))
    finally:
        if args.site is None and (site / "stop.sh").exists():
            subprocess.run(["bash", str(site / "stop.sh")], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
