"""Benchmark: feeding a real Moodle. An initial load (10,000 people by default) and a
night with 1% changes (0.5% changed departments, 0.25% hires, 0.25% leavers) through
`filebridge apply`, beside Moodle's own bulk upload
(admin/tool/uploaduser/cli/uploaduser.php) on the same number of people, interleaved in
the same run on the same site: each round runs one initial load of each, then one night
of each, the tool that goes first alternating between rounds, each round with people of
its own (and a state folder of its own for filebridge).

    python benchmarks/moodle_load.py [--people 10000] [--rounds 1] [--site DIR]

``--site`` names a folder set up by the shared ``setup.sh`` (its env.sh is read);
without it, the script sets a site up in a temporary folder from ``../shared/moodle``
and removes it afterwards. The ``manager_id`` custom profile field both tools write is
created when the site lacks it. Prints each round's figures, then the medians as JSON
on the last line (seconds, creates per second, and the ratios filebridge/uploaduser).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import socket
import statistics
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


PROFILE_FIELD_PHP = r"""<?php
define('CLI_SCRIPT', true);
require(getenv('MOODLE_DIR') . '/config.php');
if (!$DB->record_exists('user_info_field', ['shortname' => 'manager_id'])) {
    $category = $DB->get_record('user_info_category', [], '*', IGNORE_MULTIPLE);
    $categoryid = $category ? $category->id : $DB->insert_record('user_info_category',
        (object) ['name' => 'HR', 'sortorder' => 1]);
    $DB->insert_record('user_info_field', (object) [
        'shortname' => 'manager_id', 'name' => 'Manager employee id', 'datatype' => 'text',
        'description' => '', 'descriptionformat' => 1, 'categoryid' => $categoryid,
        'sortorder' => 1, 'required' => 0, 'locked' => 0, 'visible' => 2,
        'forceunique' => 0, 'signup' => 0, 'defaultdata' => '', 'defaultdataformat' => 0,
        'param1' => 30, 'param2' => 2048, 'param3' => 0, 'param4' => '', 'param5' => '']);
}
"""


def setup_site(work: Path) -> Path:
    """A fresh site from the shared archive."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site = work / "site"
    subprocess.run(["bash", str(SHARED / "setup.sh"), str(SHARED / "moodle-4.5.tar.xz"),
                    str(site), str(port)], check=True, capture_output=True)
    return site


def ensure_profile_field(work: Path, moodle_dir: Path) -> None:
    """Create the ``manager_id`` custom profile field when the site lacks it."""
    script = work / "profile_field.php"
    script.write_text(PROFILE_FIELD_PHP, encoding="utf-8")
    subprocess.run(["php", str(script)], check=True, capture_output=True,
                   env={**os.environ, "MOODLE_DIR": str(moodle_dir)})


def workspace(root: Path, url: str) -> Path:
    """A filebridge workspace whose acme connection feeds the Moodle at ``url``."""
    (root / "mappings").mkdir(parents=True)
    shutil.copy(REPO / "mappings" / "acme.yaml", root / "mappings" / "acme.yaml")
    settings = root / "settings.yaml"
    settings.write_text(
        "state_dir: state\nlms:\n  url: sqlite:///{state_dir}/lms.sqlite\n"
        "connections:\n  acme:\n    import_mapping: mappings/acme.yaml\n"
        "    transport: {type: local, inbox: drop, pattern: '*.csv'}\n"
        f"    lms: {{type: moodle, url: '{url}', "
        "token: '${env:BENCH_MOODLE_TOKEN}', profile_fields: {manager_id: manager_id}}\n",
        encoding="utf-8")
    return settings


def one_round(n: int, people_count: int, work: Path, env: dict[str, str]
              ) -> dict[str, float]:
    """One interleaved round: both initial loads, then both nights; seconds of each."""
    root = work / f"round{n}"
    settings = workspace(root / "ws", env["MOODLE_URL"])
    fb = [sys.executable, "-m", "filebridge.cli.main"]
    fb_env = {**os.environ, "BENCH_MOODLE_TOKEN": env["MOODLE_TOKEN"]}
    ours = people(f"F{n}", people_count)
    write(root / "acme_employees_2026-11-24.csv", ours)
    write(root / "acme_employees_2026-11-25.csv", night(ours, f"F{n}"))
    theirs = people(f"U{n}", people_count)
    upload_csv(root / "upload1.csv", theirs)
    upload_csv(root / "upload2.csv", night(theirs, f"U{n}"))
    php = ["php", "-d", "max_input_vars=5000", "-d", "memory_limit=2048M"]
    tool = [*php, "admin/tool/uploaduser/cli/uploaduser.php", "--delimiter_name=comma"]

    def apply(name: str) -> float:
        seconds, report = timed([*fb, "apply", "acme", str(root / name), "--settings",
                                 str(settings), "--force", "--json"], env=fb_env)
        if report.get("state") != "applied":
            sys.exit(f"{name} was not applied: {report.get('state')} "
                     f"{report.get('problems', [])[:3]}")
        print(f"round {n} {name}: {report['counts']}", file=sys.stderr)
        return seconds

    def upload(name: str, *options: str) -> float:
        return timed([*tool, f"--file={root / name}", *options],
                     cwd=Path(env["MOODLE_DIR"]))[0]

    steps = {
        "filebridge_initial_load_s": lambda: apply("acme_employees_2026-11-24.csv"),
        "uploaduser_initial_load_s": lambda: upload("upload1.csv", "--uutype=0"),
        "filebridge_night_s": lambda: apply("acme_employees_2026-11-25.csv"),
        "uploaduser_night_s": lambda: upload("upload2.csv", "--uutype=2",
                                             "--uuupdatetype=1"),
    }
    order = list(steps)
    if n % 2:  # the tool that goes first alternates between rounds
        order = [order[1], order[0], order[3], order[2]]
    figures = {name: round(steps[name](), 1) for name in order}
    print(f"round {n}: {json.dumps(figures)}", file=sys.stderr)
    return figures


def main() -> None:
    """Run the rounds; print each round's figures and the medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--site", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="filebridge-moodle-bench-"))
    work.chmod(0o755)
    site = args.site or setup_site(work)
    env = site_env(site)
    try:
        ensure_profile_field(work, Path(env["MOODLE_DIR"]))
        rounds = [one_round(n, args.people, work, env) for n in range(args.rounds)]
        median = {k: round(statistics.median(r[k] for r in rounds), 1) for k in rounds[0]}
        figures = {
            "people": args.people, "rounds": args.rounds, **median,
            "filebridge_creates_per_s": round(args.people / median["filebridge_initial_load_s"], 1),
            "uploaduser_creates_per_s": round(args.people / median["uploaduser_initial_load_s"], 1),
            "initial_load_ratio_filebridge_to_uploaduser": round(
                median["filebridge_initial_load_s"] / median["uploaduser_initial_load_s"], 2),
            "night_ratio_filebridge_to_uploaduser": round(
                median["filebridge_night_s"] / median["uploaduser_night_s"], 2),
        }
        print(json.dumps(figures))
    finally:
        if args.site is None and (site / "stop.sh").exists():
            subprocess.run(["bash", str(site / "stop.sh")], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
