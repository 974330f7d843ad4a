"""settings.yaml: typed loading, secrets, referenced files, and ``check`` over the whole tree."""

from __future__ import annotations

from pathlib import Path

from filebridge.config import check, database_url, load_settings
from tests.config.conftest import Write, errors_of

MAPPING = """
version: 1
format: {type: csv}
fields:
  employee_id: {column: Employee ID}
  email: {column: Work Email}
"""

SETTINGS = """
state_dir: var
lms:
  url: sqlite:///{state_dir}/lms.sqlite
connections:
  acme:
    import_mapping: mappings/acme.yaml
    transport:
      type: sftp
      inbox: /upload
      pattern: "*.csv"
      host: sftp.example
      username: lms
      known_hosts: /etc/filebridge/known_hosts/acme
      password: ${env:ACME_SFTP_PASSWORD}
"""


def test_load_settings_gives_typed_values(write: Write, tmp_path: Path) -> None:
    write("mappings/acme.yaml", MAPPING)
    settings = load_settings(write("settings.yaml", SETTINGS))
    assert settings.base_dir == tmp_path.resolve()
    assert settings.state_dir == tmp_path.resolve() / "var"
    assert settings.lms_url == f"sqlite:///{tmp_path.resolve()}/var/lms.sqlite"
    assert settings.ledger_url == settings.lms_url
    assert settings.log.format == "plain" and settings.log.level == "INFO"
    acme = settings.connections["acme"]
    assert acme.import_mapping == tmp_path.resolve() / "mappings/acme.yaml"
    assert acme.export_mapping is None and acme.schedule is None
    assert acme.transport["password"] == "${env:ACME_SFTP_PASSWORD}"
    assert acme.policies == {"leavers": "deactivate"}


def test_database_urls() -> None:
    state, base = Path("/srv/fb/var"), Path("/srv/fb")
    assert database_url("sqlite:///{state_dir}/x.db", state, base) == "sqlite:////srv/fb/var/x.db"
    assert database_url("sqlite:///x.db?mode=ro", state, base) == "sqlite:////srv/fb/x.db?mode=ro"
    assert database_url("sqlite:///:memory:", state, base) == "sqlite:///:memory:"
    url = "postgresql+psycopg://filebridge@db/lms"
    assert database_url(url, state, base) == url


def test_a_literal_password_is_refused_without_being_repeated(write: Write) -> None:
    write("mappings/acme.yaml", MAPPING)
    text = SETTINGS.replace("${env:ACME_SFTP_PASSWORD}", "hunter2")
    text = text.replace("{state_dir}/lms.sqlite", "{state_dir}/lms.sqlite\n  password: $DB_PW")
    errors = errors_of(load_settings, write("settings.yaml", text))
    assert errors == [
        "settings.yaml:4: lms.password: secrets never in YAML: write ${env:NAME} or file:/path "
        "instead (did you mean '${env:DB_PW}'?)",
        "settings.yaml:15: connections.acme.transport.password: secrets never in YAML: write "
        "${env:NAME} or file:/path instead",
    ]
    assert not any("hunter2" in e for e in errors)


def test_password_in_a_database_url(write: Write) -> None:
    write("mappings/acme.yaml", MAPPING)
    text = SETTINGS.replace("sqlite:///{state_dir}/lms.sqlite", "postgresql://fb:pw@db/lms")
    assert errors_of(load_settings, write("settings.yaml", text)) == [
        "settings.yaml:3: lms.url: the URL contains a password; secrets never in YAML: write "
        "${env:NAME} or file:/path instead as lms.password"
    ]


def test_missing_mapping_file_and_bad_connection_name(write: Write, tmp_path: Path) -> None:
    text = SETTINGS.replace("  acme:", "  Acme Corp:")
    errors = errors_of(load_settings, write("settings.yaml", text))
    assert errors == [
        "settings.yaml:5: connections.Acme Corp: connection name 'Acme Corp' is not allowed: "
        "use lowercase letters, digits, '-' and '_', starting with a letter or digit "
        "(at most 63 characters)",
        "settings.yaml:6: connections.Acme Corp.import_mapping: file not found: "
        f"{tmp_path.resolve()}/mappings/acme.yaml",
    ]


def test_unknown_and_missing_settings_keys(write: Write) -> None:
    write("mappings/acme.yaml", MAPPING)
    text = SETTINGS.replace("state_dir: var\n", "").replace("connections:", "conections:")
    assert errors_of(load_settings, write("settings.yaml", text)) == [
        "settings.yaml:1: missing required key 'connections'",
        "settings.yaml:1: missing required key 'state_dir'",
        "settings.yaml:3: unknown key 'conections' (did you mean 'connections'?)",
    ]


def test_check_covers_every_file_and_the_links_between_them(write: Write) -> None:
    write("mappings/acme.yaml", MAPPING)
    write("mappings/old.yaml", MAPPING.replace("csv", "tsv"))
    write(
        "schedules/acme.yaml",
        """
        connection: acme
        tasks:
          - task: import
            cron: "0 22 * *"
            timezone: Europe/Berln
        """,
    )
    write("schedules/other.yaml", "connection: acmee\ntasks: [{task: export, cron: '0 5 * * *'}]\n")
    settings = write("settings.yaml", SETTINGS + "    schedule: schedules/other.yaml\n")
    assert [p.render() for p in check(settings)] == [
        "settings.yaml:15: connections.acme.schedule: schedules/other.yaml drives connection "
        "'acmee', not 'acme'",
        "mappings/old.yaml:2: format.type: 'tsv' is not one of ['csv', 'xml', 'json', 'xlsx'] "
        "(did you mean 'csv'?)",
        "schedules/acme.yaml:4: tasks[0].cron: cron '0 22 * *' has 4 field(s), expected 5 "
        "(minute hour day-of-month month day-of-week), e.g. '0 22 * * *'",
        "schedules/acme.yaml:5: tasks[0].timezone: unknown time zone 'Europe/Berln' "
        "(did you mean 'Europe/Berlin'?)",
        "schedules/other.yaml:1: connection: unknown connection 'acmee' (did you mean 'acme'?)",
    ]


def test_check_reports_unreadable_settings_as_problems(write: Write, tmp_path: Path) -> None:
    missing = tmp_path / "settings.yaml"
    assert [p.render() for p in check(missing)] == [f"settings.yaml: file not found: {missing}"]
    broken = write("settings.yaml", "state_dir: [var\n")
    (problem,) = check(broken)
    assert problem.line == 2 and problem.message.startswith("YAML syntax error:")


def test_the_repository_configuration_passes_check() -> None:
    root = Path(__file__).resolve().parents[2]
    assert [p.render() for p in check(root / "settings.yaml")] == []


def test_pgp_keys_and_passphrases_are_references_only(write: Write, tmp_path: Path) -> None:
    write("mappings/acme.yaml", MAPPING)
    settings = write("settings.yaml", SETTINGS.replace(
        "    import_mapping: mappings/acme.yaml\n",
        "    import_mapping: mappings/acme.yaml\n"
        "    pgp:\n"
        "      private_key: '-----BEGIN PGP PRIVATE KEY BLOCK-----'\n"
        "      passphrase: hunter2\n"
        "      require_encryption: yes please\n"))
    rendered = [p.render() for p in check(settings)]
    assert any(".pgp.private_key:" in r and "secrets never in YAML" in r for r in rendered)
    assert any(".pgp.passphrase:" in r and "secrets never in YAML" in r for r in rendered)
    assert any(".pgp.require_encryption:" in r for r in rendered)
    assert not any("hunter2" in r for r in rendered)


def test_the_scim_key_attribute_and_what_contradicts_it(write: Write) -> None:
    from filebridge.lms.scim.target import ENTERPRISE, target_from_config

    write("mappings/acme.yaml", MAPPING)
    block = ('    lms:\n      type: scim\n      url: https://lms.example/scim/v2\n'
             '      token: ${env:ACME_SCIM_TOKEN}\n')
    good = write("settings.yaml", SETTINGS + block + "      key: employeeNumber\n")
    target = target_from_config(load_settings(good).connections["acme"].lms or {})
    assert target.key == "employeeNumber"
    assert target.attributes["employee_id"] == f"{ENTERPRISE}:employeeNumber"
    by_user_name = write("settings.yaml", SETTINGS + block + "      key: userName\n")
    target = target_from_config(load_settings(by_user_name).connections["acme"].lms or {})
    assert (target.key, target.user_name) == ("userName", "employee_id")
    clash = write("settings.yaml", SETTINGS + block + "      key: userName\n"
                  "      user_name: email\n")
    assert errors_of(load_settings, clash) == [
        "settings.yaml:20: connections.acme.lms.user_name: with key: userName the userName "
        "is the employee id; remove user_name (or set it to employee_id)"]
    moved = write("settings.yaml", SETTINGS + block + "      key: employeeNumber\n"
                  "      attributes: {employee_id: title}\n")
    assert errors_of(load_settings, moved) == [
        "settings.yaml:20: connections.acme.lms.attributes.employee_id: with key: "
        f"employeeNumber the employee id goes to {ENTERPRISE}:employeeNumber; remove this line"]
    typo = write("settings.yaml", SETTINGS + block + "      key: externalID\n")
    assert "connections.acme.lms.key: 'externalID' is not one of" in errors_of(
        load_settings, typo)[0]
