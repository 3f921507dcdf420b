"""The server's settings ([server] table). Kept free of heavy imports: every command loads it
to check the environment, including the lean agent."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Annotated, ClassVar

from msgspec import Meta

from fleetscope.config.settings import FleetscopeSettings, Secret


class ServerSettings(FleetscopeSettings, frozen=True):
    TOML_TABLE: ClassVar[str] = "server"

    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8080
    database_url: Annotated[
        str | None,
        Meta(
            description="default: SQLite in data_dir; or postgresql://user@host:5432/db (psycopg 3)"
        ),
    ] = None
    raw_retention_days: (
        Annotated[
            int,
            Meta(ge=1, description="raw metric frames older than this are dropped; none keeps all"),
        ]
        | None
    ) = 30
    rollup_1m_retention_days: (
        Annotated[
            int,
            Meta(
                ge=1,
                description="1-minute rollups (min/max/sum/count) older than this are deleted",
            ),
        ]
        | None
    ) = 90
    rollup_1h_retention_days: (
        Annotated[
            int,
            Meta(ge=1, description="1-hour rollups older than this are deleted; none keeps all"),
        ]
        | None
    ) = 730
    process_rollup_retention_days: (
        Annotated[
            int,
            Meta(
                ge=1,
                description="hourly process-group rollups older than this are deleted; "
                "none keeps all",
            ),
        ]
        | None
    ) = 730
    admin_password: Secret | None = None
    max_body_bytes: Annotated[int, Meta(ge=1024)] = 16 * 1024 * 1024  # after decoding
    remote_write_host_label: Annotated[
        str,
        Meta(
            pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$",
            description="the label of a remote_write series that names its host",
        ),
    ] = "instance"
    max_request_bytes: Annotated[
        int, Meta(ge=1024, description="request body limit of every route but ingest's")
    ] = 1024 * 1024
    clock_skew_seconds: Annotated[
        float,
        Meta(ge=0, description="how far ahead of the server's clock a sample time may be"),
    ] = 600
    embedded_digest: Annotated[
        bool | None,
        Meta(
            description="digest in this process [default: true with the embedded stream, "
            "false with stream_url, where `fleetscope worker` processes digest]"
        ),
    ] = None
    drain_timeout_seconds: Annotated[float, Meta(ge=0)] = 30.0
    stream_url: Annotated[
        str | None,
        Meta(
            description="redis://host:6379/0 for Redis/Valkey Streams [default: SQLite in data_dir]"
        ),
    ] = None
    stream_prefix: Annotated[str, Meta(description="Redis key prefix")] = "fleetscope"
    stream_shards: Annotated[
        int, Meta(ge=1, le=1024, description="Redis streams that hosts are spread over")
    ] = 4
    stream_max_backlog: Annotated[
        int, Meta(ge=1, description="undigested messages at which ingest answers 429")
    ] = 100_000
    stream_max_backlog_bytes: (
        Annotated[
            int,
            Meta(
                ge=1,
                description="undigested body bytes at which ingest answers 429 (embedded "
                "stream); none: no limit",
            ),
        ]
        | None
    ) = 1 << 30
    stream_retry_after_seconds: Annotated[float, Meta(ge=1)] = 10.0
    stream_visibility_timeout_seconds: Annotated[
        float,
        Meta(gt=0, description="a message read but not acknowledged this long is redelivered"),
    ] = 60.0
    # At least 0.5 s: a worker beats every third of it, and a lease shorter than a GC pause or
    # a busy Redis would hand live workers' batches to others (delivered twice, stored once).
    stream_lease_seconds: Annotated[
        float,
        Meta(
            ge=0.5,
            le=3600,
            description="a Redis worker that stops beating this long (killed) has its "
            "batches taken over by the others",
        ),
    ] = 5.0
    stream_wait_replicas: Annotated[
        int,
        Meta(ge=0, description="Redis replicas that must have a message before ingest answers"),
    ] = 0
    stream_wait_aof: Annotated[
        bool, Meta(description="Redis fsyncs its AOF before ingest answers (WAITAOF, 7.2+)")
    ] = False
    worker_concurrency: Annotated[
        int, Meta(ge=1, le=64, description="digest threads per `fleetscope worker` process")
    ] = 1
    digest_batch_size: Annotated[int, Meta(ge=1, le=10_000)] = 256
    analyse_uploads: Annotated[
        bool, Meta(description="analyse every uploaded collection file (docs/analysis.md)")
    ] = True
    alerts_evaluate: Annotated[
        bool,
        Meta(
            description="evaluate alert rules where digest runs (the embedded server, or the "
            "workers, one at a time through a lease)"
        ),
    ] = True
    alert_interval_seconds: Annotated[float, Meta(gt=0, description="between rounds")] = 15.0
    alert_lease_seconds: Annotated[
        float, Meta(gt=0, description="another process takes over evaluation after this")
    ] = 60.0
    alert_external_url: Annotated[
        str, Meta(description="the dashboard's URL, for links in notifications")
    ] = ""
    tls_cert_file: Annotated[
        Path | None,
        Meta(description="PEM certificate (chain) to serve HTTPS with, with tls_key_file"),
    ] = None
    tls_key_file: Annotated[Path | None, Meta(description="PEM private key of tls_cert_file")] = (
        None
    )

    def __post_init__(self) -> None:
        """Both TLS files or neither. A coarser tier is computed from the finer one, so it must
        be kept at least as long: otherwise ranges would read a tier that expired while its
        source still holds data."""
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: give both or neither")
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
        # Process groups are rolled up from raw rows, hour by hour.
        rolled, raw = self.process_rollup_retention_days, self.raw_retention_days
        if rolled is not None and (raw is None or raw > rolled):
            raise ValueError(
                f"process_rollup_retention_days ({rolled}) must be at least "
                f"raw_retention_days ({raw or 'none'})"
            )

    @property
    def digest_in_process(self) -> bool:
        if self.embedded_digest is None:
            return self.stream_url is None
        return self.embedded_digest
