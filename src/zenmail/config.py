"""The one settings object.

Values come, last one winning, from: the defaults below, `STATE/zenmail.toml`, and the
environment (`ZENMAIL_<FIELD>`, e.g. `ZENMAIL_DATABASE_URL`). The state directory itself comes
from `--state DIR`, then `ZENMAIL_STATE`, then `./.zenmail`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from zenmail.errors import InvalidInput

CONFIG_FILE = "zenmail.toml"
DEFAULT_STATE = Path(".zenmail")


class Settings(BaseSettings):
    """Everything zenmail can be told; every field documents itself (`zenmail config`)."""

    model_config = SettingsConfigDict(env_prefix="ZENMAIL_", extra="forbid")

    state_dir: Path = Field(DEFAULT_STATE, description="Where zenmail keeps its database, "
                            "daemon configuration, mail store and logs.")
    database_url: str = Field("", description="SQLAlchemy URL of the directory database. Empty: "
                              "a SQLite file in the state directory. Production: "
                              "postgresql://user:pass@host/db")
    ports: Literal["dev", "standard"] = Field("dev", description="dev: high loopback ports; "
                                              "standard: 25/587/143/993 on all interfaces.")
    bind_host: str = Field("127.0.0.1", description="Address the daemons listen on.")
    hostname: str = Field("mail.zenmail.test", description="The mail host name announced in "
                          "SMTP banners and the TLS certificate.")
    api_host: str = Field("127.0.0.1", description="Address of the REST API and console.")
    api_port: int = Field(0, description="Port of the REST API; 0 chooses from the port plan.")
    argon2_memory_kib: int = Field(19456, description="Memory cost of password hashes (KiB). "
                                   "19 MiB, 2 passes is the OWASP minimum for Argon2id.")
    argon2_time_cost: int = Field(2, description="Passes of the Argon2id password hash.")

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        if v and not v.startswith(("sqlite", "postgresql")):
            raise ValueError("database_url must start with sqlite:// or postgresql://")
        return v

    @property
    def db_url(self) -> str:
        """The effective database URL, with psycopg 3 as the PostgreSQL driver."""
        url = self.database_url or f"sqlite:///{(self.state_dir / 'db' / 'directory.db').resolve()}"
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url


def load_settings(state_dir: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings for one state directory; raises InvalidInput on a bad file or value."""
    state = Path(state_dir or os.environ.get("ZENMAIL_STATE") or DEFAULT_STATE)
    values: dict[str, Any] = {}
    config_file = state / CONFIG_FILE
    if config_file.exists():
        try:
            values.update(tomllib.loads(config_file.read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"{config_file} is not valid TOML ({exc}); fix or remove it"
                               ) from exc
    # Environment beats the file: pydantic-settings reads the environment only for fields
    # not passed explicitly, so drop file values that the environment overrides.
    for key in list(values):
        if f"ZENMAIL_{key.upper()}" in os.environ:
            values.pop(key)
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["state_dir"] = state
    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"setting {where}: {first['msg']} (check {config_file} and "
                           "ZENMAIL_* variables)") from exc


def init_state(settings: Settings) -> Path:
    """Create the state directory and its settings file, keeping any that exist (safe to run
    again); returns the settings file. The database schema is `Database.migrate`'s job."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    config_file = settings.state_dir / CONFIG_FILE
    if not config_file.exists():
        config_file.write_text("# zenmail settings; see `zenmail config` for every field.\n")
    return config_file
