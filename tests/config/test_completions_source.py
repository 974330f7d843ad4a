"""settings.yaml: where a connection's completions come from (``lms.completions``)."""

from __future__ import annotations

from filebridge.config import load_settings
from filebridge.lms.moodle.target import target_from_config
from tests.config.conftest import Write, errors_of
from tests.config.test_settings import MAPPING, SETTINGS

MOODLE = ("    lms:\n      type: moodle\n      url: https://moodle.example\n"
          "      token: ${env:ACME_MOODLE_TOKEN}\n")


def test_a_database_source_is_read_with_its_defaults(write: Write) -> None:
    write("mappings/acme.yaml", MAPPING)
    path = write("settings.yaml", SETTINGS + MOODLE + "      completions:\n"
                 "        source: database\n"
                 "        url: postgresql://readonly@moodle-db/moodle\n"
                 "        password: ${env:ACME_MOODLE_DB_PASSWORD}\n")
    source = target_from_config(load_settings(path).connections["acme"].lms or {}).completions
    assert (source.source, source.url, source.table_prefix, source.course_code,
            source.lookback_hours) == ("database", "postgresql://readonly@moodle-db/moodle",
                                       "mdl_", "shortname", 168.0)


def test_completion_source_mistakes_name_file_line_and_key(write: Write) -> None:
    write("mappings/acme.yaml", MAPPING)
    no_url = write("settings.yaml", SETTINGS + MOODLE + "      completions:\n"
                   "        source: database\n")
    assert errors_of(load_settings, no_url) == [
        "settings.yaml:19: connections.acme.lms.completions: missing required key 'url'"]
    literal = write("settings.yaml", SETTINGS + MOODLE + "      completions:\n"
                    "        source: database\n"
                    "        url: postgresql://readonly@moodle-db/moodle\n"
                    "        password: hunter2\n"
                    "        table_prefix: \"mdl; DROP\"\n")
    problems = errors_of(load_settings, literal)
    assert [p.split(": ")[0:2] for p in problems] == [
        ["settings.yaml:22", "connections.acme.lms.completions.password"],
        ["settings.yaml:23", "connections.acme.lms.completions.table_prefix"]]
    assert "hunter2" not in " ".join(problems)
    scim = write("settings.yaml", SETTINGS + "    lms:\n      type: scim\n"
                 "      url: https://lms.example/scim/v2\n      token: ${env:T}\n"
                 "      completions: {source: rest}\n")
    # SCIM has no completions to read: its results always come from files.
    assert errors_of(load_settings, scim) == [
        "settings.yaml:19: connections.acme.lms: key 'completions' is not allowed here"]
