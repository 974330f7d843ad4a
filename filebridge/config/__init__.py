"""Configuration: settings.yaml, mappings/ and schedules/, validated with file:line:key errors.

Knows YAML and JSON Schema, and nothing of SFTP, pandas or the LMS.
"""

from filebridge.config.errors import ConfigError, ConfigProblem, SecretError
from filebridge.config.loader import Document, KeyPath, format_key_path, load_yaml
from filebridge.config.secrets import is_reference, resolve_secret
from filebridge.config.settings import (
    ConnectionConfig,
    LogConfig,
    Settings,
    check,
    database_url,
    load_export_mapping,
    load_mapping,
    load_schedule,
    load_settings,
    problems_in,
)

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "ConnectionConfig",
    "Document",
    "KeyPath",
    "LogConfig",
    "SecretError",
    "Settings",
    "check",
    "database_url",
    "format_key_path",
    "is_reference",
    "load_export_mapping",
    "load_mapping",
    "load_schedule",
    "load_settings",
    "load_yaml",
    "problems_in",
    "resolve_secret",
]
