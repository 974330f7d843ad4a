"""Canonical records to Moodle user structures and back."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from typing import Any

from filebridge.lms.moodle.target import MoodleTarget

# Moodle refuses a blank first or last name; ``name_placeholder`` fills them when set.
NAME_FIELDS = ("firstname", "lastname")


def username_of(record: Mapping[str, str], target: MoodleTarget) -> str:
    """The Moodle username of ``record``: its username field, trimmed and lower-cased."""
    return str(record.get(target.username, "") or "").strip().lower()


def idnumber_of(record: Mapping[str, str], target: MoodleTarget) -> str:
    """The value Moodle keeps in ``idnumber`` for ``record``."""
    return str(record.get(target.idnumber, "") or "")


def moodle_user(record: Mapping[str, str], target: MoodleTarget, *,
                create: bool) -> dict[str, Any]:
    """The ``users[i]`` structure of ``core_user_create_users`` / ``update_users``
    (without ``id``): every mapped field, blanks included so that a cleared value is
    cleared in Moodle too."""
    user: dict[str, Any] = {"username": username_of(record, target),
                            "idnumber": idnumber_of(record, target)}
    auth = (record.get(target.auth_field, "") if target.auth_field else "") or target.auth
    user["auth"] = auth
    for name, canonical in target.fields.items():
        value = str(record.get(canonical, "") or "")
        if name in NAME_FIELDS and not value.strip() and target.name_placeholder:
            value = target.name_placeholder
        user[name] = value
    if target.profile_fields:
        user["customfields"] = [{"type": short, "value": str(record.get(c, "") or "")}
                                for short, c in target.profile_fields.items()]
    if create:
        if auth == "manual":
            user["createpassword"] = 1  # Moodle makes one and mails it on its next cron
        else:
            # The site's own auth plugin (SSO, LDAP) signs people in; Moodle still wants
            # a password, so it gets one nobody knows.
            user["password"] = _unknown_password()
    return user


def vars_per_user(target: MoodleTarget) -> int:
    """Request variables one person takes in a create call (the largest kind)."""
    return 5 + len(target.fields) + 2 * len(target.profile_fields)


def canonical_from(user: Mapping[str, Any], target: MoodleTarget) -> dict[str, str]:
    """The canonical fields a Moodle account holds, as far as the mapping reaches."""
    out: dict[str, str] = {}
    for name, canonical in target.fields.items():
        value = str(user.get(name, "") or "")
        if name in NAME_FIELDS and value == target.name_placeholder:
            value = ""
        out[canonical] = value
    custom = {str(f.get("shortname", "")): str(f.get("value", "") or "")
              for f in user.get("customfields") or [] if isinstance(f, Mapping)}
    for short, canonical in target.profile_fields.items():
        out[canonical] = custom.get(short, "")
    out[target.idnumber] = str(user.get("idnumber", "") or "")
    return out


def _unknown_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return ("Aa1!" + "".join(secrets.choice(alphabet) for _ in range(28)))


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_USERNAME = re.compile(r"^[a-z0-9_.@+-]+$")


def refusal_of(user: dict[str, Any], target: MoodleTarget) -> str | None:
    """Why Moodle would refuse this ``users[i]`` structure, found before sending (Moodle's
    own answer names no field), or None."""
    if not user.get("username"):
        return f"the username ({target.username}) is blank"
    if not _USERNAME.match(str(user["username"])):
        return (f"the username {user['username']!r} has characters Moodle does not allow "
                "in usernames (letters, digits and _ . @ + - only)")
    if "email" in user and not _EMAIL.match(str(user["email"])):
        return f"the e-mail address {user['email']!r} is not one Moodle accepts"
    for name in NAME_FIELDS:
        if name in user and not str(user[name]).strip():
            return (f"Moodle needs a {name} and {target.fields.get(name, name)} is blank "
                    "(lms.name_placeholder can stand in for blank names)")
    return None
