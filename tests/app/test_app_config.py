"""The API takes its settings from the environment only, and has no default password."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from taskapp.config import ConfigError, DatabaseSettings
from taskapp_testing import API_DIR

COMPLETE_ENV = {
    "POSTGRES_HOST": "db",
    "POSTGRES_PORT": "6543",
    "POSTGRES_DB": "tasks",
    "POSTGRES_USER": "taskapp",
    "POSTGRES_PASSWORD": "pw",
}


def env_without(name: str) -> dict[str, str]:
    return {key: value for key, value in COMPLETE_ENV.items() if key != name}


def test_settings_come_from_postgres_variables() -> None:
    assert DatabaseSettings.from_env(COMPLETE_ENV) == DatabaseSettings(
        host="db", port=6543, name="tasks", user="taskapp", password="pw"
    )


def test_port_defaults_to_5432() -> None:
    assert DatabaseSettings.from_env(env_without("POSTGRES_PORT")).port == 5432


@pytest.mark.parametrize(
    "name", ["POSTGRES_HOST", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"]
)
def test_each_required_variable_is_named_when_missing(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        DatabaseSettings.from_env(env_without(name))


def test_empty_password_is_refused() -> None:
    with pytest.raises(ConfigError, match="POSTGRES_PASSWORD"):
        DatabaseSettings.from_env({**COMPLETE_ENV, "POSTGRES_PASSWORD": "  "})


@pytest.mark.parametrize("port", ["abc", "0", "65536", "-1", "54 32"])
def test_invalid_port_is_refused(port: str) -> None:
    with pytest.raises(ConfigError, match="POSTGRES_PORT"):
        DatabaseSettings.from_env({**COMPLETE_ENV, "POSTGRES_PORT": port})


def test_password_never_appears_in_repr() -> None:
    settings = DatabaseSettings.from_env({**COMPLETE_ENV, "POSTGRES_PASSWORD": "hunter2-x"})

    assert "hunter2-x" not in repr(settings)


def test_server_exits_with_a_clear_message_when_the_password_is_missing() -> None:
    # uvicorn would respawn a failing worker forever; the entry point must stop instead.
    env = {key: value for key, value in os.environ.items() if not key.startswith("POSTGRES_")}
    env.update(env_without("POSTGRES_PASSWORD"))

    result = subprocess.run(
        [sys.executable, "-m", "taskapp", "--host", "127.0.0.1", "--port", "1"],
        cwd=API_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert "POSTGRES_PASSWORD must be set" in result.stderr
