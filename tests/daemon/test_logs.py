"""Log lines: plain or JSON, each with connection and run id; no e-mail addresses at INFO."""

from __future__ import annotations

import io
import json
import logging

from filebridge.daemon.logs import log_context, setup_logging


def test_json_lines_carry_connection_and_run_id() -> None:
    out = io.StringIO()
    handler = setup_logging("json", "INFO", out)
    try:
        log = logging.getLogger("filebridge.test")
        with log_context("acme", "task-3"):
            log.info("import started")
        log.info("outside")
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert (first["connection"], first["run_id"], first["message"]) == (
        "acme", "task-3", "import started")
    assert (second["connection"], second["run_id"]) == ("-", "-")
    assert first["level"] == "INFO" and first["time"].endswith("+00:00")


def test_plain_lines_and_no_email_addresses_above_debug() -> None:
    out = io.StringIO()
    handler = setup_logging("plain", "DEBUG", out)
    try:
        log = logging.getLogger("filebridge.test")
        with log_context("acme", "task-4"):
            log.warning("row for %s rejected", "anna.berg@acme.example")
            log.debug("row for %s rejected", "anna.berg@acme.example")
    finally:
        logging.getLogger().removeHandler(handler)
    warning, debug = out.getvalue().splitlines()
    assert "[acme task-4]" in warning and "row for <email> rejected" in warning
    assert "anna.berg@acme.example" in debug  # DEBUG is for people debugging, on purpose
