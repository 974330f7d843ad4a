"""Courses, enrolments and completions made by Moodle itself, for the completion tests.

A PHP script run with the site's own code creates courses with completion tracking and
one self-completion criterion (``create_course``, ``completion_criteria_self``), enrols
people with the manual enrolment plugin, and marks their criterion met at a given time
(``completion_criteria_completion::mark_complete``, what the self-completion block
does). Moodle's own cron task ``completion_regular_task`` then aggregates the course
completions into ``course_completions``, as on a real site.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

from tests.moodlesite import MoodleSite

COURSES_PHP = r"""<?php
define('CLI_SCRIPT', true);
require(getenv('MOODLE_DIR') . '/config.php');
require_once($CFG->dirroot . '/course/lib.php');
require_once($CFG->dirroot . '/webservice/lib.php');
require_once($CFG->libdir . '/completionlib.php');
require_once($CFG->dirroot . '/completion/criteria/completion_criteria_self.php');
$args = json_decode(stream_get_contents(STDIN), true);
\core\session\manager::set_user(get_admin());
set_config('enablecompletion', 1);
$wsman = new webservice();
$service = $DB->get_record('external_services', ['shortname' => 'integration_ws'], '*',
    MUST_EXIST);
foreach ($args['functions'] as $fn) {
    if (!$wsman->service_function_exists($fn, $service->id)) {
        $wsman->add_external_function_to_service($fn, $service->id);
    }
}
require_once($CFG->dirroot . '/user/lib.php');
foreach ($args['users'] as [$username, $idnumber, $email]) {
    if (!$DB->record_exists('user', ['username' => $username])) {
        user_create_user((object) ['username' => $username, 'idnumber' => $idnumber,
            'email' => $email, 'firstname' => 'Made', 'lastname' => 'By hand',
            'auth' => 'manual', 'password' => 'Hand-made-1', 'confirmed' => 1,
            'mnethostid' => $CFG->mnet_localhost_id]);
    }
}
$ids = [];
foreach ($args['courses'] as $c) {
    $course = $DB->get_record('course', ['shortname' => $c['shortname']]);
    if (!$course) {
        $course = create_course((object) ['fullname' => $c['fullname'],
            'shortname' => $c['shortname'], 'idnumber' => $c['idnumber'], 'category' => 1,
            'enablecompletion' => $c['completion']]);
        if ($c['completion']) {
            $criterion = new completion_criteria_self();
            $config = (object) ['id' => $course->id, 'criteria_self' => 1];
            $criterion->update_config($config);
        }
    }
    $ids[$c['shortname']] = (int) $course->id;
}
foreach (array_merge($args['enrol'], $args['complete']) as $pair) {
    if (!isset($ids[$pair[0]])) {
        $ids[$pair[0]] = (int) $DB->get_field('course', 'id', ['shortname' => $pair[0]],
            MUST_EXIST);
    }
}
$manual = enrol_get_plugin('manual');
$student = $DB->get_field('role', 'id', ['shortname' => 'student'], MUST_EXIST);
foreach ($args['enrol'] as [$shortname, $idnumber]) {
    $instance = $DB->get_record('enrol', ['courseid' => $ids[$shortname],
        'enrol' => 'manual'], '*', MUST_EXIST);
    $user = $DB->get_record('user', ['idnumber' => $idnumber, 'deleted' => 0], '*',
        MUST_EXIST);
    $manual->enrol_user($instance, $user->id, $student);
}
foreach ($args['complete'] as [$shortname, $idnumber, $when]) {
    $criterion = $DB->get_record('course_completion_criteria', ['course' => $ids[$shortname],
        'criteriatype' => COMPLETION_CRITERIA_TYPE_SELF], '*', MUST_EXIST);
    $user = $DB->get_record('user', ['idnumber' => $idnumber, 'deleted' => 0], '*',
        MUST_EXIST);
    $done = new completion_criteria_completion(['course' => $ids[$shortname],
        'userid' => $user->id, 'criteriaid' => $criterion->id]);
    $done->mark_complete($when);
}
echo json_encode($ids), "\n";
"""
REST_FUNCTIONS = ("core_course_get_courses_by_field", "core_enrol_get_enrolled_users",
                  "core_completion_get_course_completion_status")


def prepare(site: MoodleSite, *, courses: list[dict[str, Any]] | None = None,
            users: list[tuple[str, str, str]] | None = None,
            enrol: list[tuple[str, str]] | None = None,
            complete: list[tuple[str, str, int]] | None = None) -> dict[str, int]:
    """Create accounts by hand (``users``: username, idnumber, e-mail), ``courses``
    (shortname, fullname, idnumber, completion), enrol
    ``(shortname, idnumber)`` pairs, mark ``(shortname, idnumber, unix time)`` criteria
    met, and let Moodle's cron aggregate them; returns course ids by shortname."""
    script = site.workdir / "filebridge-courses.php"
    script.write_text(COURSES_PHP, encoding="utf-8")
    payload = {"functions": list(REST_FUNCTIONS), "users": users or [],
               "courses": courses or [],
               "enrol": enrol or [], "complete": complete or []}
    done = subprocess.run(["php", str(script)], input=json.dumps(payload),
                          capture_output=True, text=True, check=False, timeout=600,
                          env={**os.environ, "MOODLE_DIR": str(site.moodle_dir)})
    assert done.returncode == 0, done.stdout + done.stderr
    ids: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1] or "{}")
    if complete:
        aggregate(site)
    return ids


def aggregate(site: MoodleSite) -> None:
    """Run Moodle's completion aggregation task (it takes what was marked before it
    started, so wait for the next second first)."""
    time.sleep(1.1)
    done = site.php("admin/cli/scheduled_task.php",
                    "--execute=\\core\\task\\completion_regular_task")
    assert done.returncode == 0, done.stdout + done.stderr


def reset_courses(site: MoodleSite) -> None:
    """Forget the completions and enrolments of earlier tests (courses stay)."""
    for table in ("course_completion_crit_compl", "course_completions", "user_enrolments"):
        site.sql(f"DELETE FROM mdl_{table}")
