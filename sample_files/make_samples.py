"""Regenerate the sample HR exports in this folder (deterministic; run from the repo root).

    python sample_files/make_samples.py

Night 1 (2026-11-24) is the first full export of a ~200-person company; night 2
(2026-11-25) has hires, changes, leavers and a few bad rows; the delta file
(2026-11-26) rehires a leaver; the XML file is night 1 as an XML export.
"""

from __future__ import annotations

import csv
import io
import random
import unicodedata
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HERE = Path(__file__).parent
HEADER = ["Employee ID", "Work Email", "First Name", "Last Name", "Job Title", "Department",
          "Dept Code", "Location", "Country", "Phone", "Type", "Manager ID", "Hire Date",
          "Termination Date", "Status", "Cost Center"]
FIRST = ["Anna", "Zoë", "José", "Liam", "Noah", "Emma", "Mia", "Lucas", "Sofia", "Ahmed",
         "Chen", "Fatima", "Oliver", "Léa", "Mateo", "Ingrid", "Kenji", "Priya", "Tomás", "Eva"]
LAST = ["Berg", "Müller", "García", "O'Brien", "Smith, Jr.", "Dubois", "Rossi", "Nowak",
        "Jansen", "Kowalski", "Nguyen", "Silva", "Larsen", "Moreau", "Fischer", "Costa"]
DEPTS = [("ENG", "Engineering"), ("RD", "Research, Development"), ("SAL", "Sales"),
         ("HR", "People & Culture"), ("FIN", "Finance"), ("OPS", "Operations")]
TITLES = {"ENG": ["Software Engineer", "Senior Engineer"], "RD": ["Scientist", "Lab Lead"],
          "SAL": ["Account Manager", "Manager, Sales"], "HR": ["HR Partner"],
          "FIN": ["Accountant"], "OPS": ["Operator", "Shift Lead"]}
SITES = [("Berlin", "DE"), ("Paris", "FR"), ("London", "GB"), ("Madrid", "ES")]


def people(n: int, rng: random.Random) -> list[dict[str, str]]:
    """A company: a CEO, department heads, then staff reporting to heads."""
    out: list[dict[str, str]] = []
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        code, dept = DEPTS[i % len(DEPTS)] if i else ("OPS", "Operations")
        city, country = rng.choice(SITES)
        local = f"{first}.{last}".lower().replace(", jr.", "").replace("'", "")
        local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
        manager = "" if i == 0 else (f"{1000:06d}" if i <= len(DEPTS) else
                                     f"{1000 + 1 + (i % len(DEPTS)):06d}")
        out.append({
            "Employee ID": f"{1000 + i:06d}", "Work Email": f"{local}{i}@acme.example",
            "First Name": first, "Last Name": last, "Job Title": rng.choice(TITLES[code]),
            "Department": dept, "Dept Code": code.lower() if i % 7 == 0 else code,
            "Location": city, "Country": country,
            "Phone": f"+{rng.randint(30, 49)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            "Type": rng.choice(["FT", "FT", "FT", "PT", "CT"]), "Manager ID": manager,
            "Hire Date": f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/"
                         f"{rng.randint(2010, 2025)}",
            "Termination Date": "", "Status": "A", "Cost Center": f"CC-{rng.randint(100, 999)}",
        })
    out[0].update({"Job Title": "Chief Executive Officer", "Cost Center": "=HYPERLINK(\"x\")"})
    return out


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """UTF-8 with BOM and CRLF, as Excel-minded HR systems write."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, HEADER, lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8-sig"))


def write_xml(path: Path, rows: list[dict[str, str]]) -> None:
    """The same people as a namespaced XML export."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<hr:Export xmlns:hr="urn:example:hr" generated="2026-11-24T02:00:00Z">']
    for r in rows:
        lines.append(f'  <hr:Employee id={quoteattr(r["Employee ID"])} status='
                     f'{quoteattr(r["Status"])}>')
        lines.append(f'    <hr:Name><hr:First>{escape(r["First Name"])}</hr:First>'
                     f'<hr:Last>{escape(r["Last Name"])}</hr:Last></hr:Name>')
        lines.append(f'    <hr:Email>{escape(r["Work Email"])}</hr:Email>')
        lines.append(f'    <hr:Job>{escape(r["Job Title"])}</hr:Job>')
        lines.append(f'    <hr:Org code={quoteattr(r["Dept Code"])}>{escape(r["Department"])}'
                     f'</hr:Org>')
        lines.append(f'    <hr:Manager>{escape(r["Manager ID"])}</hr:Manager>')
        lines.append(f'    <hr:HireDate>{escape(r["Hire Date"])}</hr:HireDate>')
        lines.append("  </hr:Employee>")
    lines.append("</hr:Export>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


COURSES = [("SEC-101", "Security Awareness"), ("GDPR-1", "Data Protection Basics"),
           ("FIRE-2", "Fire Safety"), ("XL-200", "=SUM(A1:A2) Excel formulas")]


def write_completions(path: Path) -> None:
    """Course results and assignments for the LMS (``filebridge lms load-completions``).

    People 001000-001039 only, so the file loads after night 1 alone; one course title
    starts with '=' to show formula neutralisation; some assignments are overdue on
    2026-11-27 (the demo's export day), one is not yet due.
    """
    rng = random.Random(20261127)
    rows = []
    for i in range(30):
        code, title = COURSES[i % len(COURSES)]
        status = rng.choice(["completed", "passed", "passed", "failed"])
        score = "" if status == "completed" else str(rng.randint(35 if status == "failed" else
                                                                  70, 100))
        rows.append([f"{1000 + i:06d}", code, title, status,
                     f"2026-11-{rng.randint(2, 25):02d}T{rng.randint(8, 17):02d}:"
                     f"{rng.randint(0, 59):02d}:00Z", score, str(rng.randint(10, 120)), "1", ""])
    for i, due in ((30, "2026-11-20"), (31, "2026-11-22"), (32, "2026-11-25"),
                   (33, "2026-12-15")):
        rows.append([f"{1000 + i:06d}", "SEC-101", "Security Awareness", "assigned", "", "", "",
                     "", due])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["employee_id", "course_code", "course_title", "status", "completed_at", "score",
                "time_spent_minutes", "attempt", "due_date"])
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def main() -> None:
    """Write night 1, night 2, the delta, the XML export and the completions."""
    rng = random.Random(20261124)
    night1 = people(200, rng)
    # Night 1's bad rows: one without work email, two sharing an email, a manager cycle.
    night1[40]["Work Email"] = ""
    night1[51]["Work Email"] = night1[50]["Work Email"]
    night1[60]["Manager ID"], night1[61]["Manager ID"] = "001061", "001062"
    night1[62]["Manager ID"] = "001060"
    night2 = [dict(r) for r in night1]
    night2[40]["Work Email"] = "late.starter40@acme.example"  # fixed: now created
    night2[51]["Work Email"] = "second.person51@acme.example"  # fixed: now created
    night2[60]["Manager ID"] = night2[61]["Manager ID"] = night2[62]["Manager ID"] = "001001"
    night2[10]["Job Title"] = "Staff Engineer"  # promotion
    night2[11]["Department"], night2[11]["Dept Code"] = "Sales", "SAL"  # transfer
    night2[12]["Manager ID"] = "001003"  # new manager
    night2[13]["Last Name"] = "Berg-Larsen"  # name change
    night2[14]["Work Email"] = ""  # blank email: row skipped, person is NOT a leaver
    night2[20].update({"Status": "T", "Termination Date": "24/11/2026"})  # leaver by status
    for gone in (30, 31):  # leavers by absence
        night2[gone] = {}
    night2 = [r for r in night2 if r]
    hires = people(5, random.Random(7))
    for k, h in enumerate(hires):
        h.update({"Employee ID": f"{2000 + k:06d}", "Manager ID": "001002",
                  "Work Email": f"new.hire{k}@acme.example", "Hire Date": "25/11/2026"})
    night2 += hires
    delta = [dict(night1[20]), dict(night1[10])]
    delta[0].update({"Hire Date": "26/11/2026"})  # rehire: active again, same account
    delta[1]["Job Title"] = "Principal Engineer"
    write_csv(HERE / "acme_employees_2026-11-24.csv", night1)
    write_csv(HERE / "acme_employees_2026-11-25.csv", night2)
    write_csv(HERE / "acme_delta_2026-11-26.csv", delta)
    write_xml(HERE / "acme_employees_2026-11-24.xml", [r for r in night1 if r["Work Email"]])
    write_completions(HERE / "acme_completions.csv")


if __name__ == "__main__":
    main()
