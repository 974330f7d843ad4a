"""A real Moodle for the tests: the shared Moodle archive, installed once per test run.

``start`` runs the shared ``setup.sh`` (unpack, private PostgreSQL, ``install.php``,
REST web services and a token, ``php -S`` on 127.0.0.1) into a new temporary folder,
never inside the repository, then adds what filebridge's tests need: custom profile
fields (``manager_id``, ``cost_center``), the cohort functions in the main token's
service, and a second token whose service lacks ``core_user_create_users`` (for the
refused-function test). The shared folder is
``../shared/moodle`` beside the repository. Without the archive or PHP the tests skip
on a laptop; under CI=true that is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "moodle"
ARCHIVE = SHARED / "moodle-4.5.tar.xz"
TOKEN_ENV = "FILEBRIDGE_TEST_MOODLE_TOKEN"
# A folder set up earlier by the shared setup.sh: the tests use that running site instead
# of installing one (for quick local iterations; CI always installs its own).
REUSE_ENV = "FILEBRIDGE_TEST_MOODLE_SITE"
# The folder of an install the run started in the background (tests/moodle_background.py).
BACKGROUND_ENV = "FILEBRIDGE_TEST_MOODLE_BACKGROUND"
EXIT_FILE, LOG_FILE = "setup.exit", "setup.log"  # written beside the site by that install
INSTALL_TIMEOUT = 1800
PROFILE_FIELDS = ("manager_id", "cost_center")

# Run by Moodle's own PHP: profile fields and a token for a service without
# core_user_create_users.
EXTRAS_PHP = r"""<?php
define('CLI_SCRIPT', true);
require(getenv('MOODLE_DIR') . '/config.php');
require_once($CFG->dirroot . '/webservice/lib.php');
$category = $DB->get_record('user_info_category', [], '*', IGNORE_MULTIPLE);
$categoryid = $category ? $category->id : $DB->insert_record('user_info_category',
    (object) ['name' => 'HR', 'sortorder' => 1]);
$order = 1;
$fields = ['manager_id' => 'Manager employee id', 'cost_center' => 'Cost center'];
foreach ($fields as $short => $name) {
    if (!$DB->record_exists('user_info_field', ['shortname' => $short])) {
        $DB->insert_record('user_info_field', (object) [
            'shortname' => $short, 'name' => $name, 'datatype' => 'text', 'description' => '',
            'descriptionformat' => 1, 'categoryid' => $categoryid, 'sortorder' => $order++,
            'required' => 0, 'locked' => 0, 'visible' => 2, 'forceunique' => 0,
            'signup' => 0, 'defaultdata' => '', 'defaultdataformat' => 0,
            'param1' => 30, 'param2' => 2048, 'param3' => 0, 'param4' => '', 'param5' => '']);
    }
}
$admin = get_admin();
\core\session\manager::set_user($admin);
$wsman = new webservice();
// Cohorts (the group rules' groups) through the main token's service.
$main = $DB->get_record('external_services', ['shortname' => 'integration_ws'], '*', MUST_EXIST);
foreach (['core_cohort_get_cohorts', 'core_cohort_create_cohorts',
          'core_cohort_get_cohort_members', 'core_cohort_add_cohort_members',
          'core_cohort_delete_cohort_members'] as $fn) {
    if (!$wsman->service_function_exists($fn, $main->id)) {
        $wsman->add_external_function_to_service($fn, $main->id);
    }
}
$service = $DB->get_record('external_services', ['shortname' => 'readonly_ws']);
if (!$service) {
    $service = (object) ['name' => 'Read only', 'shortname' => 'readonly_ws', 'enabled' => 1,
        'restrictedusers' => 0, 'downloadfiles' => 0, 'uploadfiles' => 0,
        'requiredcapability' => ''];
    $service->id = $wsman->add_external_service($service);
    $service = $DB->get_record('external_services', ['id' => $service->id], '*', MUST_EXIST);
    foreach (['core_webservice_get_site_info', 'core_user_get_users_by_field',
              'core_user_update_users'] as $fn) {
        $wsman->add_external_function_to_service($fn, $service->id);
    }
}
echo \core_external\util::generate_token(EXTERNAL_TOKEN_PERMANENT, $service, $admin->id,
    context_system::instance(), 0, '', 'filebridge tests, read only'), "\n";
"""


@dataclass
class MoodleSite:
    """A running Moodle: its URL, tokens, private PostgreSQL and work folder."""

    url: str
    token: str
    limited_token: str  # a service without core_user_create_users
    pg_port: int
    workdir: Path
    moodle_dir: Path

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run SQL on Moodle's own database (to look behind the web services)."""
        import psycopg
        with psycopg.connect(f"host=127.0.0.1 port={self.pg_port} user=moodle "
                             "password=moodle dbname=moodle", autocommit=True) as conn:
            cur = conn.execute(statement, params)  # type: ignore[arg-type]
            return list(cur.fetchall()) if cur.description else []

    def reset(self) -> None:
        """Remove every cohort, and every account but the guest and the admin (ids 1
        and 2)."""
        self.sql("DELETE FROM mdl_cohort_members")
        self.sql("DELETE FROM mdl_cohort")
        self.sql("DELETE FROM mdl_user_info_data WHERE userid > 2")
        self.sql("DELETE FROM mdl_user_preferences WHERE userid > 2")
        self.sql("DELETE FROM mdl_user WHERE id > 2")

    def accounts(self) -> list[dict[str, Any]]:
        """Every account but guest and admin, deleted ones included, by id."""
        rows = self.sql("SELECT id, username, idnumber, email, firstname, lastname, "
                        "suspended, deleted, auth, department, institution, city, country "
                        "FROM mdl_user WHERE id > 2 ORDER BY id")
        names = ("id", "username", "idnumber", "email", "firstname", "lastname",
                 "suspended", "deleted", "auth", "department", "institution", "city",
                 "country")
        return [dict(zip(names, r, strict=True)) for r in rows]

    def cohorts(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """idnumber → (name, members' idnumbers) of every cohort."""
        rows = self.sql("SELECT c.id, c.idnumber, c.name FROM mdl_cohort c")
        members = self.sql("SELECT m.cohortid, u.idnumber FROM mdl_cohort_members m "
                           "JOIN mdl_user u ON u.id = m.userid")
        out = {}
        for cid, idnumber, name in rows:
            held = sorted(str(i) for c, i in members if c == cid)
            out[str(idnumber)] = (str(name), tuple(held))
        return out

    def profile(self, shortname: str) -> dict[str, str]:
        """idnumber → value of one custom profile field."""
        rows = self.sql("SELECT u.idnumber, d.data FROM mdl_user_info_data d "
                        "JOIN mdl_user_info_field f ON f.id = d.fieldid "
                        "JOIN mdl_user u ON u.id = d.userid WHERE f.shortname = %s",
                        (shortname,))
        return {str(i): str(v) for i, v in rows}

    def php(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a Moodle CLI script (``admin/cli/...``) with the site's PHP settings."""
        return subprocess.run(
            ["php", "-d", "max_input_vars=5000", "-d", "memory_limit=1024M", *args],
            cwd=self.moodle_dir, capture_output=True, text=True, check=False, timeout=600)


def missing() -> str | None:
    """Why no Moodle can be installed here, or None."""
    if not ARCHIVE.is_file():
        return f"the Moodle archive is not at {ARCHIVE}"
    if shutil.which("php") is None and os.geteuid() != 0:
        return "PHP is not installed (apt-get install php-cli php-pgsql ...)"
    if not sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return "PostgreSQL is not installed (apt-get install postgresql)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start() -> Iterator[MoodleSite]:
    """Install and serve a Moodle for the whole test run; stop and remove it after.

    When the run started the install in the background (``BACKGROUND_ENV`` names its
    folder), wait for it and use it; the process that started it stops it.
    """
    reason = missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    reuse = os.environ.get(REUSE_ENV)
    if reuse:
        scratch = Path(tempfile.mkdtemp(prefix="filebridge-moodle-"))
        try:
            yield _open(Path(reuse), scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return
    background = os.environ.get(BACKGROUND_ENV)
    if background:
        workdir = Path(background)
        _wait_for_install(workdir)
        yield _open(workdir / "site", workdir)
        return
    workdir = new_workdir()
    try:
        done = subprocess.run(setup_command(workdir), capture_output=True, text=True,
                              check=False, timeout=INSTALL_TIMEOUT, env=setup_env())
        if done.returncode != 0:
            pytest.fail(f"Moodle setup failed:\n{done.stderr[-4000:]}")
        yield _open(workdir / "site", workdir)
    finally:
        remove(workdir)


def new_workdir() -> Path:
    """A new folder for one Moodle install (outside pytest's folders, which are private to
    root: the site's PostgreSQL runs as postgres and must enter it)."""
    workdir = Path(tempfile.mkdtemp(prefix="filebridge-moodle-"))
    workdir.chmod(0o755)
    return workdir


def setup_command(workdir: Path) -> list[str]:
    """The shared setup.sh installing a site into ``workdir/site`` on a free port."""
    return ["bash", str(SHARED / "setup.sh"), str(ARCHIVE), str(workdir / "site"),
            str(_free_port())]


def setup_env() -> dict[str, str]:
    """Our environment without what setup.sh reads (PG_PORT, ADMIN_PASS, FORCE, ...)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PG_PORT", "ADMIN_PASS", "FORCE", "MOODLE_ARCHIVE_SHA256")}


def remove(workdir: Path) -> None:
    """Stop the site installed in ``workdir`` (if it got that far) and delete the folder."""
    stop = workdir / "site" / "stop.sh"
    if stop.exists():
        subprocess.run(["bash", str(stop)], capture_output=True, check=False, timeout=120)
    shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_install(workdir: Path) -> None:
    """Wait until the background install in ``workdir`` wrote its exit status."""
    status = workdir / EXIT_FILE
    deadline = time.monotonic() + INSTALL_TIMEOUT
    while not status.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"the background Moodle install in {workdir} did not finish in time")
        time.sleep(0.2)
    if status.read_text(encoding="utf-8").strip() != "0":
        log = (workdir / LOG_FILE).read_text(encoding="utf-8", errors="replace")
        pytest.fail(f"Moodle setup failed:\n{log[-4000:]}")


def _open(site_dir: Path, workdir: Path) -> MoodleSite:
    """The site set up in ``site_dir``, with the test extras added."""
    env = _env(site_dir / "env.sh")
    moodle_dir = Path(env["MOODLE_DIR"])
    extras = workdir / "extras.php"
    extras.write_text(EXTRAS_PHP, encoding="utf-8")
    made = subprocess.run(["php", str(extras)], capture_output=True, text=True,
                          check=False, timeout=300,
                          env={**os.environ, "MOODLE_DIR": str(moodle_dir)})
    if made.returncode != 0:
        pytest.fail(f"Moodle test extras failed:\n{made.stdout}\n{made.stderr}")
    limited = made.stdout.strip().splitlines()[-1]
    return MoodleSite(env["MOODLE_URL"], env["MOODLE_TOKEN"], limited,
                      int(env["PG_PORT"]), site_dir, moodle_dir)


def _env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            out[name] = value.strip("'")
    return out
