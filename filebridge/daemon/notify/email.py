"""E-mail notifications through SMTP (``notifications.email`` in settings.yaml).

The password is a secret reference resolved at the moment of sending. The message
carries what a person needs to act (connection, task, outcome, counts, the next
command), never rows or personal data.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from filebridge.config import resolve_secret

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


def start(config: dict[str, Any], summary: dict[str, Any]) -> None:
    """A task started (sent only when ``start`` is among the events)."""
    _send(config, summary)


def finish(config: dict[str, Any], summary: dict[str, Any]) -> None:
    """A task ended well (``success`` or ``idle``)."""
    _send(config, summary)


def fail(config: dict[str, Any], summary: dict[str, Any]) -> None:
    """A task ended badly (``rejected``, ``held``, ``failed``) or a file is missing."""
    _send(config, summary)


def message(config: dict[str, Any], summary: dict[str, Any]) -> EmailMessage:
    """The e-mail for one summary."""
    msg = EmailMessage()
    msg["Subject"] = (f"[filebridge] {summary['connection']} {summary['task']}: "
                      f"{summary['event']}")
    msg["From"] = config["from"]
    msg["To"] = ", ".join(config["to"])
    msg.set_content(body(summary))
    return msg


def body(summary: dict[str, Any]) -> str:
    """Plain-text body: what happened and what to run next."""
    lines = [f"connection: {summary['connection']}", f"task:       {summary['task']}",
             f"outcome:    {summary['event']} (exit code {summary.get('exit_code')})",
             f"started:    {summary.get('started_at')}", f"host:       {summary.get('host')}"]
    report = summary.get("report") or {}
    for f in report.get("files", []):
        counts = ", ".join(f"{k} {v}" for k, v in sorted((f.get("counts") or {}).items()))
        lines.append(f"file {f.get('name')}: {f.get('state')} (run {f.get('run_id')})"
                     + (f": {counts}" if counts else ""))
        if f.get("state") == "held":
            lines.append(f"  held for approval: `filebridge show {f.get('run_id')}`")
    for e in report.get("errors", []):
        lines.append(f"error: {e.get('message')}")
    if error := summary.get("error"):
        lines.append(f"error: {error.get('message')}")
    for alert in summary.get("alerts", []):
        lines.append(f"alert: {alert.get('message')}")
    lines += ["", "More: `filebridge status` on the filebridge host."]
    return "\n".join(lines) + "\n"


def _send(config: dict[str, Any], summary: dict[str, Any]) -> None:
    security = config.get("security", "starttls")
    host, port = config["host"], int(config.get("port", DEFAULT_PORTS[security]))
    timeout = float(config.get("timeout_seconds", 10))
    smtp_class = smtplib.SMTP_SSL if security == "ssl" else smtplib.SMTP
    kwargs: dict[str, Any] = {"timeout": timeout}
    if security == "ssl":
        kwargs["context"] = ssl.create_default_context()
    with smtp_class(host, port, **kwargs) as smtp:
        if security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if config.get("username"):
            password = resolve_secret(config["password"]) if config.get("password") else ""
            smtp.login(config["username"], password)
        smtp.send_message(message(config, summary))
