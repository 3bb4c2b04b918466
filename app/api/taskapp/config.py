"""Settings read from the environment, the only configuration source of the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_PORT = 5432


class ConfigError(ValueError):
    """The environment does not describe a usable database."""


@dataclass(frozen=True)
class DatabaseSettings:
    host: str
    name: str
    user: str
    # Kept out of repr so that a logged settings object never leaks it.
    password: str = field(repr=False)
    port: int = DEFAULT_PORT

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DatabaseSettings:
        """Build settings from POSTGRES_* variables, the names the postgres image uses too."""
        return cls(
            host=_required(env, "POSTGRES_HOST"),
            name=_required(env, "POSTGRES_DB"),
            user=_required(env, "POSTGRES_USER"),
            password=_required(env, "POSTGRES_PASSWORD"),
            port=_port(env.get("POSTGRES_PORT", "").strip() or str(DEFAULT_PORT)),
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value.strip():
        raise ConfigError(f"environment variable {name} must be set and not empty")
    return value


def _port(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"POSTGRES_PORT must be a TCP port number, got {raw!r}")
    return int(raw)
