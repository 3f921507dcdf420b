"""The server's settings ([server] table). Kept free of heavy imports: every command loads it
to check the environment, including the lean agent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field, SecretStr

from fleetscope.model.settings import FleetscopeSettings


class ServerSettings(FleetscopeSettings):
    TOML_TABLE: ClassVar[str] = "server"

    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    database_url: str | None = Field(
        default=None,
        description="default: SQLite in data_dir; or postgresql://user@host:5432/db (psycopg 3)",
    )
    raw_retention_days: Annotated[int, Field(ge=1)] | None = Field(
        default=30, description="raw metric frames older than this are dropped; none keeps all"
    )
    admin_password: SecretStr | None = None
    max_body_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024 * 1024  # after decoding
    embedded_digest: bool = Field(
        default=True, description="digest in this process; false when separate workers digest"
    )
    drain_timeout_seconds: Annotated[float, Field(ge=0)] = 30.0
