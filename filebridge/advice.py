"""Every stable code filebridge reports, in words: what it means, what to do, the exit code.

The one place that turns codes into words: ``filebridge/cli/errors.py`` and the run
renderers print from it (and so will the web page). Three kinds of code have entries:
errors (exceptions deriving from ``FilebridgeError``), problems in input files
(``filebridge.problems.ProblemCode``) and reasons a run is held
(``filebridge.plan.guard.HoldCode``). Exceptions and problems carry fields only; the
advice here is a template filled from them (``{connection}``, ``{run_id}``, ...). A field
the value does not carry is shown as its upper-case name (``CONNECTION``), which is also how
the generated reference shows it.

``python -m filebridge.advice > docs/errors.md`` writes that reference;
``tests/cli/test_advice.py`` fails when a code has no entry or the reference is stale.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from filebridge.errors import FilebridgeError, Transient
from filebridge.pipeline.report import (
    EXIT_REJECTED_OR_HELD,
    EXIT_UNAVAILABLE,
    EXIT_UNUSABLE,
)

# A row problem rejects its row (exit 1); a file problem rejects the whole file (exit 2).
ROW, FILE = EXIT_REJECTED_OR_HELD, EXIT_UNUSABLE


@dataclass(frozen=True)
class Entry:
    """What one code means, what to do about it and the exit code it leads to."""

    meaning: str
    advice: str
    exit_code: int


def _error(meaning: str, advice: str, *, transient: bool = False) -> Entry:
    return Entry(meaning, advice, EXIT_UNAVAILABLE if transient else EXIT_UNUSABLE)


_RETRY = "nothing to fix: the next scheduled run retries; or run the command again later"

ERRORS: dict[str, Entry] = {
    "unknown-user": _error("no user of the admin pages has this name",
                           "`filebridge web users` lists them"),
    "user-exists": _error("a user of the admin pages already has this name",
                          "pick another name, or `filebridge web passwd NAME` to change the "
                          "password"),
    "bad-user-name": _error("the user name is not allowed (letters, digits, . _ - @ only)",
                            "choose a name of those characters"),
    "weak-password": _error("the password is too short or too common",
                            "choose a longer password (a passphrase of several words)"),
    "unknown-role": _error("the role is not one of admin, support, viewer",
                           "`--role admin`, `--role support` or `--role viewer`"),
    "password-mismatch": _error("the two passwords typed do not match",
                                "run the command again and type the same password twice"),
    "scim-error": _error("the SCIM server answered in a way filebridge cannot use",
                         "read the message; run again with --debug for the details"),
    "scim-unavailable": _error(
        "the SCIM server did not answer in time, or answered with a server error or "
        "rate limit past the retries; what was done is recorded", _RETRY, transient=True),
    "scim-token-refused": _error(
        "the SCIM server refused the connection's token (401/403)",
        "check the token the connection's `lms.token` names (an expired or revoked token, "
        "or one without provisioning rights), then run again"),
    "scim-protocol-error": _error(
        "the SCIM server's answer does not follow SCIM 2.0 as filebridge needs it",
        "check `lms.url` points at the server's SCIM base (…/scim/v2); report the message "
        "to the LMS vendor if it does"),
    "scim-not-configured": _error(
        "the connection's `lms` block of type scim lacks something it needs",
        "complete the `lms` block in settings.yaml (`filebridge check` lists what is wrong)"),
    "lock-holder-alive": _error(
        "`unlock` refused: the process holding the connection's lock is still running",
        "wait for its run to finish (`filebridge status` shows it); the lock frees itself",
        transient=True),
    "settings-not-found": _error(
        "no settings file where filebridge looked",
        "run the command in the folder of your settings.yaml, or pass `--settings FILE` "
        "or set `FILEBRIDGE_SETTINGS=FILE`"),
    "spool-changed": _error(
        "the spooled copy of a file no longer has the sha256 the ledger recorded (changed "
        "or removed since it was received); nothing was applied",
        "find out who changed the state folder; drop the original file again to apply it"),
    "spool-expired": _error(
        "the file's stored copy was removed by retention (its archive_days passed), so "
        "it cannot be replayed or approved; the message says when; nothing was applied",
        "drop the original file again to apply it, or raise `retention.archive_days` in "
        "settings.yaml to keep copies longer"),
    "unsafe-spool": _error(
        "the spool folder is writable by other users, so its copies cannot be trusted",
        "`chmod go-w` the folder named in the message, then run the command again"),
    "stale-approval": Entry(
        "approving this held run now would apply older data over a newer applied file; "
        "nothing was applied and the run stays held",
        "`filebridge discard {run_id}`, or `filebridge approve {run_id} --stale-ok` to "
        "apply it anyway", EXIT_REJECTED_OR_HELD),
    "state-not-writable": _error(
        "this user cannot write the state folder (database, spool, reports)",
        "run filebridge as the user that owns the state folder, or give this user write "
        "access to it"),
    "filebridge-error": _error(
        "something filebridge checks for went wrong", "read the message; "
        "run the command again with --debug for the traceback"),
    "interrupted": _error(
        "the process running this run died (killed, power loss) before it finished; the "
        "database rolled back whatever was not committed",
        "run the file again (`filebridge replay FILE_ID`) or let the next sync take it up: "
        "a rerun applies only what is left", transient=True),
    "internal-error": _error(
        "a task of the daemon failed in a way filebridge does not check for",
        "look at the daemon's log for the traceback and report it", transient=True),
    # configuration
    "config-error": _error(
        "the configuration is not usable; every problem is listed with file, line and key",
        "fix the lines above (`filebridge check` lists every problem)"),
    "secret-unavailable": _error(
        "a secret reference (`${env:NAME}` or `file:/path`) could not be resolved",
        "set the environment variable or create the file named by {reference}, readable "
        "by the user filebridge runs as"),
    "unknown-connection": _error(
        "a command named a connection that settings.yaml does not define",
        "use one of the configured connections, or add {name} under `connections:` in "
        "settings.yaml"),
    "no-import-mapping": _error(
        "the connection has no import mapping, so it cannot read HR files",
        "set `connections.{connection}.import_mapping` in settings.yaml"),
    "no-export-mapping": _error(
        "the connection has no export mapping, so it cannot send completions back",
        "set `connections.{connection}.export_mapping` in settings.yaml"),
    "transport-config-error": _error(
        "the transport block of a connection is unusable",
        "fix `transport.{key}` of the connection in settings.yaml; for host keys, "
        "`filebridge trust CONNECTION` shows the server's fingerprint; check it with the "
        "server's admin, then pin it"),
    "no-such-file": _error("a command was given a file path that does not exist",
                           "check the path {path}"),
    # state: ledger and store databases
    "database-unavailable": _error(
        "the state database is locked, busy or unreachable", _RETRY, transient=True),
    "injected-transient": _error(
        "a crash test asked for a transient failure here (`FILEBRIDGE_FAILPOINT`); never "
        "seen in production", "unset `FILEBRIDGE_FAILPOINT`; " + _RETRY, transient=True),
    "unsafe-state-location": _error(
        "the state folder is on a network filesystem or writable by everyone, where "
        "SQLite cannot keep its promises",
        "move `state_dir` to a local folder only the filebridge user can write, or use "
        "PostgreSQL (`lms.url` and `ledger.url`)"),
    "schema-too-new": _error(
        "the state database was written by a newer filebridge (it has migrations this "
        "version does not know)", "run the newer filebridge version, or restore a backup "
        "made before the upgrade"),
    "ledger-error": _error("the ledger could not do what was asked", "read the message"),
    "unknown-file": _error(
        "the ledger knows no file with that id or path",
        "`filebridge history` lists the files the ledger knows"),
    "no-run-log": _error(
        "the run's change list or log file is not there: the run stopped before it was "
        "planned, ran before filebridge kept them, or retention removed it",
        "`filebridge show {run_id}` still shows the run's counts and report; "
        "`filebridge cleanup --dry-run` shows what retention removes"),
    "unknown-group": _error(
        "the connection owns no group of that name",
        "`filebridge groups {connection}` lists the groups its rules made"),
    "unknown-run": _error(
        "the ledger knows no run with that id",
        "`filebridge history` lists the runs the ledger knows"),
    "invalid-state": _error(
        "a state, kind or mode outside the ledger's closed vocabulary (a bug or a hand "
        "edit of the ledger)", "report it with the message; do not edit the ledger by hand"),
    "lock-lost": _error(
        "the run's connection lock was lost before the run committed (the database "
        "session holding it ended: a restarted server, a terminated backend, a cut "
        "network), so another run may hold the connection now; nothing was applied",
        _RETRY, transient=True),
    "injected-failure": _error(
        "a test asked this process to fail at a named step (`FILEBRIDGE_FAILPOINT`)",
        "unset `FILEBRIDGE_FAILPOINT`: it is for crash tests only", transient=True),
    "connection-busy": _error(
        "another run holds this connection's lock (one run per connection at a time)",
        "wait for it to finish and run the command again (`filebridge status` shows the "
        "daemon; `sync` takes `--wait SECONDS`)", transient=True),
    "export-conflict": _error(
        "another export of this connection took the same sequence number or file name "
        "first", _RETRY, transient=True),
    "not-held": _error(
        "approve or discard named a run that is not waiting for approval",
        "`filebridge history` shows which runs are held"),
    "not-undoable": _error(
        "undo named a run that changed nothing in the LMS",
        "undo takes an applied import, replay, approve or undo run; `filebridge history` "
        "lists them"),
    # LMS stores
    "unsupported-by-target": _error(
        "the command needs something the connection's LMS target does not offer",
        "use a connection whose LMS supports `{command}`, or do it in the LMS itself"),
    "store-error": _error("the LMS store could not do what was asked", "read the message"),
    "moodle-error": _error("Moodle could not do what was asked", "read the message"),
    "moodle-unavailable": _error(
        "Moodle did not answer in time, failed, or is in maintenance mode",
        "nothing more was sent; the next run (or the daemon's retry) converges",
        transient=True),
    "moodle-access-denied": _error(
        "Moodle refused the token, a function or a capability",
        "add the function named to the token's external service, or the capability to "
        "its user's role (README: Feeding Moodle)"),
    "moodle-rejected": _error("Moodle refused a call as a whole",
                              "read Moodle's words in the message; check lms.url"),
    "moodle-truncated": _error(
        "Moodle answered for fewer people than were sent (PHP max_input_vars)",
        "remove or lower the connection's lms.max_input_vars (without it the limit is "
        "found from the site)"),
    "moodle-database-refused": _error(
        "Moodle's database refused the completions query (a table or a grant is missing)",
        "check lms.completions.table_prefix and grant the read-only user SELECT on "
        "course_completions, user and course (README: Completions)"),
    "moodle-not-configured": _error("the connection has no Moodle lms block",
                                    "add an lms block with type moodle, url and token to it"),
    "invalid-field-name": _error(
        "a plan names a field that is neither canonical nor `custom.*`",
        "fix the mapping's field names (`filebridge check` validates them)"),
    "stale-plan": _error(
        "the LMS changed between planning and applying; nothing was applied",
        "run the same command again: it plans from the LMS as it is now", transient=True),
    # transports
    "transport-error": _error("a transport could not do what was asked", "read the message"),
    "transport-unavailable": _error(
        "the server could not be reached, timed out or dropped the connection",
        _RETRY, transient=True),
    "host-key-rejected": _error(
        "the SFTP server offered a host key that is not pinned for this connection; "
        "nothing was sent to it",
        "`filebridge trust CONNECTION` shows the server's fingerprint ({fingerprint}); "
        "check it with the server's admin, then pin it"),
    "pinned-key-differs": _error(
        "the server's host key CHANGED: a different key is pinned for it. This can be an "
        "attack", "check with the server's admin before replacing it "
        "(`filebridge trust CONNECTION --replace`)"),
    "authentication-failed": _error(
        "the server refused the key or password, or the key file could not be used",
        "check the connection's username, key file and passphrase or password "
        "(`${{env:NAME}}` or `file:/path`)"),
    "remote-path-error": _error(
        "an operation on one file or folder failed for a reason retrying will not fix",
        "check that {path} exists and the transport's folders are right in settings.yaml"),
    "permission-denied": _error(
        "the server or the local filesystem refused access to a path",
        "give the filebridge user access to {path}"),
    "target-exists": _error(
        "a move or delivery would overwrite an existing file; filebridge never overwrites",
        "ask who put {path} there; move it away if it is stale, then run again"),
    "hostile-name": _error(
        "a remote file name that could escape a folder or mislead a reader; refused, "
        "never cleaned", "ask the HR side to name its files plainly; the file was left "
        "where it is"),
    "file-too-large": _error(
        "the remote file is larger than the transport's `max_file_bytes`; refused before "
        "download", "raise `max_file_bytes` in the connection's transport if the file is "
        "genuine"),
    "file-changed-during-fetch": _error(
        "the file's size or time changed while it was downloaded; the copy was discarded",
        "nothing to fix: the HR side was still writing it; the next run takes it up",
        transient=True),
    "spool-write-failed": _error(
        "writing the local copy of a file failed (disk full, I/O error); nothing was kept",
        "free space in or fix {spool_dir}; the next run retries", transient=True),
    # files and exports
    "file-rejected": _error(
        "the whole file is unusable; its problems are listed above",
        "fix the file at the source and send it again"),
    "missing-column": _error(
        "the file lacks columns the mapping reads (the header changed); the file is rejected",
        "ask the HR side about the change, or update the mapping's `columns`"),
    "cannot-encode": _error(
        "a value cannot be written in the export's encoding",
        "choose an encoding that can hold it (`format.encoding: utf-8` in the export "
        "mapping)"),
    "pgp-encrypt-failed": _error(
        "an export could not be encrypted to the HR side's key",
        "check the connection's `pgp.encrypt_to` key in settings.yaml"),
    "pgp-setup": _error(
        "gpg's keyring for the connection cannot be set up safely (its sockets need a "
        "private folder of this user in the temporary directory)",
        "read the message: remove the named folder, or use a shorter `state_dir`"),
    "export-target-differs": _error(
        "a pending export's file is already in the outbox with other content; it is never "
        "overwritten", "ask the HR side what that file is, then run "
        "`filebridge export {connection} --abandon-pending` to plan run {run_id}'s rows "
        "again under a new name"),
    "export-file-missing": _error(
        "the local copy of a pending export is gone, so it cannot be sent again unchanged",
        "run `filebridge export {connection} --abandon-pending` to plan its rows again"),
}

PROBLEMS: dict[str, Entry] = {
    # the file as a whole
    "file-too-large": Entry(
        "the file is larger than the mapping's `limits.max_file_bytes`",
        "raise `limits.max_file_bytes` in the mapping if the file is genuine", FILE),
    "empty-file": Entry("the file is empty or has no header",
                        "ask the HR side to send the export again", FILE),
    "undecodable-byte": Entry(
        "a byte cannot be decoded in the mapping's encoding",
        "set `format.encoding` in the mapping to the encoding the HR system writes", FILE),
    "truncated-file": Entry(
        "the file ends in the middle of a record: it was cut off during transfer",
        "ask the HR side to send the export again", FILE),
    "delimiter-mismatch": Entry(
        "the file uses another delimiter than the mapping declares",
        "set `format.delimiter` in the mapping to the file's delimiter", FILE),
    "malformed-csv": Entry("the file is not valid CSV at the line given",
                           "fix the file at the source and send it again", FILE),
    "empty-header": Entry("a header column has no name, or the header line is blank",
                          "fix the export's header at the source", FILE),
    "duplicate-header": Entry("two header columns have the same name",
                              "fix the export's header at the source", FILE),
    "field-too-large": Entry(
        "a value is longer than the mapping's `limits.max_field_chars`",
        "raise `limits.max_field_chars` in the mapping if the value is genuine", FILE),
    "xml-too-deep": Entry("XML elements nest deeper than filebridge reads",
                          "fix the export at the source", FILE),
    "xml-forbidden": Entry(
        "the XML file declares a DTD or entities; they are refused so nothing is read from "
        "disk or network", "ask the HR side to export without a DTD", FILE),
    "xml-malformed": Entry("the file is not well-formed XML",
                           "fix the file at the source and send it again", FILE),
    "xml-no-records": Entry(
        "no records were found at the mapping's record path",
        "check `format.record_path` and `format.namespaces` in the mapping", FILE),
    "missing-column": Entry(
        "the file lacks columns the mapping reads (the header changed)",
        "ask the HR side about the change, or update the mapping's `columns`", FILE),
    "unknown-column": Entry(
        "the file has columns the mapping does not read (a warning unless the mapping "
        "says `unknown_columns: reject`)",
        "map the new columns or set `unknown_columns: ignore` in the mapping", FILE),
    "groups-unsupported": Entry(
        "the mapping has group rules but the connection's LMS has no groups (for SCIM: "
        "the server does not list Groups in /ResourceTypes); no group was changed",
        "remove `groups` from the mapping, or use an LMS that keeps groups", FILE),
    "encoding-mismatch": Entry(
        "the mapping declares a legacy encoding but the file is UTF-8",
        "check the file, then set `format.encoding: utf-8` in the mapping", FILE),
    "repeated-header": Entry(
        "the header appears again inside the file: two exports seem joined into one",
        "ask the HR side to send each export as a file of its own", FILE),
    "hdl-file": Entry(
        "an Oracle HCM Data Loader file: a list of operations, not a table of people",
        "export the workers as a delimited report instead", FILE),
    "json-malformed": Entry("the file is not valid JSON (or JSON Lines) at the line given",
                            "fix the file at the source and send it again", FILE),
    "json-too-deep": Entry("the JSON nests too deeply to be a record",
                           "fix the export at the source", FILE),
    "json-no-records": Entry(
        "no array of records was found at the mapping's record path",
        "check `format.record_path` in the mapping", FILE),
    "xlsx-unreadable": Entry("the workbook cannot be read",
                             "ask the HR side to send the export again", FILE),
    "xlsx-no-sheet": Entry("the workbook has no sheet of the name the mapping reads",
                           "set `format.sheet` in the mapping to one of the sheets listed",
                           FILE),
    "archive-truncated": Entry("the compressed file ends early: cut off in transfer",
                               "ask the HR side to send the export again", FILE),
    "archive-several-files": Entry(
        "the archive holds more than one data file",
        "ask the HR side to send one data file per archive", FILE),
    "archive-empty": Entry("the archive holds no data file",
                           "ask the HR side to send the export again", FILE),
    "archive-corrupt": Entry("the archive cannot be read",
                             "ask the HR side to send the export again", FILE),
    "archive-unsafe-name": Entry(
        "a name inside the zip file points outside the archive; refused",
        "ask the HR side to name the file inside the archive plainly", FILE),
    "archive-symlink": Entry("a member of the zip file is a symbolic link; never followed",
                             "ask the HR side to put the file itself in the archive", FILE),
    "archive-encrypted": Entry(
        "a member of the zip file is password-protected",
        "ask the HR side to send it unencrypted inside the archive, or to encrypt the whole "
        "file with PGP", FILE),
    "archive-bomb": Entry("the archive expands far beyond its packed size; refused",
                          "ask the HR side what the file is before anything else", FILE),
    "archive-nested": Entry("an archive inside the archive",
                            "ask the HR side to send one level of archive", FILE),
    "pgp-not-configured": Entry(
        "the file is PGP-encrypted but the connection has no `pgp` settings",
        "set `pgp.private_key` of the connection in settings.yaml", FILE),
    "pgp-bad-key": Entry("a PGP key of the connection could not be imported",
                         "check the connection's `pgp` keys in settings.yaml", FILE),
    "pgp-key-unreadable": Entry("the connection's PGP keys cannot be loaded",
                                "check the connection's `pgp` key files and their rights",
                                FILE),
    "pgp-required": Entry(
        "the file is not PGP-encrypted but the connection requires it",
        "ask the HR side to encrypt the export, or unset `pgp.require_encryption`", FILE),
    "pgp-no-key": Entry("the file is PGP-encrypted but the connection has no private key",
                        "set `pgp.private_key` of the connection in settings.yaml", FILE),
    "pgp-undecryptable": Entry(
        "the file cannot be decrypted with the connection's private key",
        "check with the HR side which public key they encrypt to", FILE),
    "pgp-bad-signature": Entry(
        "the file lacks a valid signature by the connection's signer key",
        "check with the HR side which key signs the export (`pgp.signer_key`)", FILE),
    # one row
    "ragged-row": Entry(
        "the record has more or fewer fields than the header; no value is shifted",
        "fix the row at the source (often an unquoted delimiter in a value)", ROW),
    "control-character": Entry(
        "a value contains a control or invisible character that has no place in it",
        "fix the value in the source system", ROW),
    "too-many-problems": Entry(
        "more row problems than the mapping's `limits.max_problems`; the rest are counted",
        "fix the first problems; the next run lists the rest", ROW),
    "unmapped-value": Entry(
        "a value that the field's `map:` does not list",
        "add {value} to the field's `map:` in the mapping, or fix the row at the source",
        ROW),
    "invalid-date": Entry("a date that does not match the field's date format",
                          "fix the value at the source, or the field's `date_format`", ROW),
    "invalid-email": Entry("a value that is not an e-mail address",
                           "fix the value in the source system", ROW),
    "not-allowed": Entry("a value the field's `allowed:` list does not contain",
                         "fix the value at the source, or extend `allowed:`", ROW),
    "invalid-status": Entry("a status that does not map to active or inactive",
                            "add it to the status field's `map:` in the mapping", ROW),
    "invalid-number": Entry("a value that must be a number is not one",
                            "fix the value in the file", ROW),
    "missing-key": Entry("the employee id is blank", "fix the row at the source", ROW),
    "missing-email": Entry("the required work e-mail is blank",
                           "fix the row at the source", ROW),
    "missing-value": Entry("a required field is blank", "fix the row at the source", ROW),
    "duplicate-key": Entry(
        "the same employee id is on several rows; all of them are rejected",
        "fix the export at the source so each person is on one row", ROW),
    "duplicate-email": Entry(
        "the same work e-mail is on several rows; all of them are rejected",
        "fix the e-mail addresses at the source", ROW),
    "unknown-manager": Entry(
        "the manager is neither in the file nor in the LMS",
        "fix the manager at the source, or send the manager's row first", ROW),
    "self-manager": Entry("a person is their own manager", "fix the manager at the source",
                          ROW),
    "manager-cycle": Entry("managers form a cycle", "fix the managers at the source", ROW),
    "email-in-use": Entry(
        "the work e-mail belongs to another active LMS user; accounts are never merged",
        "if it is the same person, adopt the account with `filebridge link CONNECTION "
        "FILE`; otherwise fix the e-mail at the source", ROW),
    "department-cycle": Entry("departments form a cycle of parents",
                              "fix the department parents at the source", ROW),
    "lms-refused": Entry(
        "the LMS refused one change of this person (its own words follow); the rest of the "
        "run was applied",
        "fix what the LMS says (often a value it holds unique, such as the user name) in the "
        "HR system or in the LMS; the next run sends the change again", ROW),
    "unknown-person": Entry("no person with this employee id in the LMS",
                            "import the person first, or fix the employee id", ROW),
    "json-not-an-object": Entry("a JSON record that is not an object",
                                "fix the record at the source", ROW),
    "json-not-a-value": Entry(
        "a mapped path holds an object or a list, not one value",
        "point the field's path in the mapping at one value", ROW),
    "ambiguous-person": Entry(
        "several connections have a person with this employee id",
        "pass `--connection NAME` to say whose people the file is about", ROW),
}

_SEE = ("see the plan with `filebridge show {run_id}`, then `filebridge approve {run_id}` "
        "(re-plans against the LMS now and applies) or `filebridge discard {run_id}`")

HOLDS: dict[str, Entry] = {
    "empty-snapshot": Entry(
        "a snapshot with no rows against a connection that manages people", _SEE,
        EXIT_REJECTED_OR_HELD),
    "too-many-rejected": Entry(
        "more rows were rejected than `thresholds.rejected_percent` allows", _SEE,
        EXIT_REJECTED_OR_HELD),
    "stale-file": Entry(
        "the file was exported before a file that is already applied; applying it would "
        "undo newer changes", _SEE + "; `--force` applies it if you mean it",
        EXIT_REJECTED_OR_HELD),
    "row-count-drop": Entry(
        "the snapshot has many fewer rows than the last applied one "
        "(`thresholds.row_drop_percent`)", _SEE, EXIT_REJECTED_OR_HELD),
    "repeated-content": Entry(
        "the file has the same content as a file applied earlier, with files of other "
        "content applied since, and no export date or one that says it is newer: applying "
        "it again would undo their changes", _SEE,
        EXIT_REJECTED_OR_HELD),
    **{f"too-many-{action}": Entry(
        f"more {action}s than the connection's `thresholds.{action}` allow", _SEE,
        EXIT_REJECTED_OR_HELD)
       for action in ("create", "update", "deactivate", "reactivate", "delete")},
    "too-many-group-remove": Entry(
        "more group memberships would be removed than the connection's "
        "`thresholds.group_remove` allow (a rule removed or narrowed, or a file that lost "
        "the field a rule reads)", _SEE, EXIT_REJECTED_OR_HELD),
}


class _Fields(dict[str, Any]):
    """Template fields; one that is missing shows as its upper-case name."""

    def __missing__(self, key: str) -> str:
        return key.upper()


def advise(template: str, fields: Mapping[str, Any] | None = None) -> str:
    """``template`` filled from ``fields``."""
    return string.Formatter().vformat(template, (), _Fields(fields or {}))


def error_entry(exc: FilebridgeError) -> Entry:
    """The entry of ``exc``'s code (the generic one for a code without its own)."""
    return ERRORS.get(exc.code) or ERRORS["filebridge-error"]


def error_exit_code(exc: FilebridgeError) -> int:
    """3 when retrying later may help, 2 when the input or configuration must change, or
    what the code's entry says (1 for a refusal that leaves a run held)."""
    entry = ERRORS.get(exc.code)
    if entry is not None:
        return entry.exit_code
    return EXIT_UNAVAILABLE if isinstance(exc, Transient) else EXIT_UNUSABLE


def error_advice(exc: FilebridgeError) -> str:
    """What to do about ``exc``, filled from its fields."""
    return advise(error_entry(exc).advice, exc.fields())


def code_advice(code: str, fields: Mapping[str, Any] | None = None) -> str:
    """What to do about an error known only by its code and fields (from a report)."""
    entry = ERRORS.get(code)
    return advise(entry.advice, fields) if entry else ""


def problem_advice(code: str, fields: Mapping[str, Any] | None = None) -> str:
    """What to do about a problem in an input file."""
    entry = PROBLEMS.get(code)
    return advise(entry.advice, fields) if entry else ""


def hold_advice(code: str, run_id: int | None) -> str:
    """What to do about a held run."""
    entry = HOLDS.get(code)
    return advise(entry.advice, {"run_id": run_id}) if entry else ""


def held_advice(codes: list[str], run_id: int | None) -> str:
    """What to do about a run held for these reasons (each piece of advice once)."""
    found = [hold_advice(c, run_id) for c in codes] or [advise(_SEE, {"run_id": run_id})]
    kept = [a for a in dict.fromkeys(found)
            if a and not any(b != a and b.startswith(a) for b in found)]
    return "; ".join(kept)


def _table(title: str, intro: str, entries: Mapping[str, Entry]) -> list[str]:
    lines = [f"## {title}", "", intro, "", "| code | exit | meaning | what to do |",
             "|---|---|---|---|"]
    for code in sorted(entries):
        e = entries[code]
        cells = (f"`{code}`", str(e.exit_code), e.meaning, advise(e.advice))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return [*lines, ""]


def render_reference() -> str:
    """docs/errors.md: every error, problem and hold code with its meaning and advice."""
    lines = [
        "# Errors, problems and holds", "",
        "Generated by `python -m filebridge.advice > docs/errors.md` from the words the "
        "CLI prints; do not edit by hand. Every code filebridge reports is here. Upper-case "
        "words (`CONNECTION`, `RUN_ID`) stand for the values of the error at hand. Exit "
        "codes: 0 ok, 1 rows rejected or run held, 2 unusable input or configuration, "
        "3 a transport or the LMS unavailable (retry later).", "",
    ]
    lines += _table("Errors", "A command stops with `error: <message>` and `next: <what to "
                    "do>`; `--json` reports and the ledger keep the code and its fields.",
                    ERRORS)
    lines += _table("Problems in input files", "Listed in a run report's `problems` and "
                    "`warnings` with file, line, column and value. A row problem rejects "
                    "its row (exit 1; the rest of the file goes on); a file problem rejects "
                    "the whole file (exit 2).", PROBLEMS)
    lines += _table("Why a run is held", "Listed in a run report's `holds`; nothing is "
                    "applied until someone approves the run (a hold with reaction `warn` "
                    "only flags).", HOLDS)
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_reference())
