"""The server's settings ([server] table). Kept free of heavy imports: every command loads it
to check the environment, including the lean agent."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field, SecretStr, model_validator

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
    rollup_1m_retention_days: Annotated[int, Field(ge=1)] | None = Field(
        default=90,
        description="1-minute rollups (min/max/sum/count) older than this are deleted",
    )
    rollup_1h_retention_days: Annotated[int, Field(ge=1)] | None = Field(
        default=730,
        description="1-hour rollups older than this are deleted; none keeps all",
    )
    admin_password: SecretStr | None = None
    max_body_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024 * 1024  # after decoding
    embedded_digest: bool | None = Field(
        default=None,
        description="digest in this process [default: true with the embedded stream, "
        "false with stream_url, where `fleetscope worker` processes digest]",
    )
    drain_timeout_seconds: Annotated[float, Field(ge=0)] = 30.0
    stream_url: str | None = Field(
        default=None,
        description="redis://host:6379/0 for Redis/Valkey Streams [default: SQLite in data_dir]",
    )
    stream_prefix: str = Field(default="fleetscope", description="Redis key prefix")
    stream_shards: Annotated[int, Field(ge=1, le=1024)] = Field(
        default=4, description="Redis streams that hosts are spread over"
    )
    stream_max_backlog: Annotated[int, Field(ge=1)] = Field(
        default=100_000,
        description="undigested messages at which ingest answers 429 (Redis stream)",
    )
    stream_retry_after_seconds: Annotated[float, Field(ge=1)] = 10.0
    stream_visibility_timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        default=60.0, description="a message read but not acknowledged this long is redelivered"
    )
    stream_wait_replicas: Annotated[int, Field(ge=0)] = Field(
        default=0, description="Redis replicas that must have a message before ingest answers"
    )
    stream_wait_aof: bool = Field(
        default=False, description="Redis fsyncs its AOF before ingest answers (WAITAOF, 7.2+)"
    )
    worker_concurrency: Annotated[int, Field(ge=1, le=64)] = Field(
        default=1, description="digest threads per `fleetscope worker` process"
    )
    digest_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 256

    @model_validator(mode="after")
    def _tiers_outlive_their_sources(self) -> ServerSettings:
        """A coarser tier is computed from the finer one, so it must be kept at least as long:
        otherwise ranges would read a tier that expired while its source still holds data."""
        days = [
            self.raw_retention_days,
            self.rollup_1m_retention_days,
            self.rollup_1h_retention_days,
        ]
        names = ["raw_retention_days", "rollup_1m_retention_days", "rollup_1h_retention_days"]
        for (finer, finer_name), (coarser, coarser_name) in pairwise(zip(days, names, strict=True)):
            if coarser is not None and (finer is None or finer > coarser):
                raise ValueError(
                    f"{coarser_name} ({coarser}) must be at least {finer_name} ({finer or 'none'})"
                )
        return self

    @property
    def digest_in_process(self) -> bool:
        if self.embedded_digest is None:
            return self.stream_url is None
        return self.embedded_digest
