"""The agent's settings ([agent] table, FLEETSCOPE_* variables, PCC_* aliases, options)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

import msgspec
from msgspec import Meta

from fleetscope.agent.collectors.disk import DiskSettings
from fleetscope.agent.collectors.exporter_targets import ExportersSettings, ExporterTarget
from fleetscope.agent.collectors.filesystem import FilesystemSettings
from fleetscope.agent.collectors.network import NetworkSettings
from fleetscope.agent.collectors.processes import ProcessesSettings
from fleetscope.config.duration import Seconds
from fleetscope.config.settings import Before, FleetscopeSettings, HttpUrl, Secret, SettingsStruct


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _log_level(value: Any) -> Any:
    value = _lower(value)
    if isinstance(value, str) and "=" in value:
        value = _pcc_level(value)
    # "warn" is how Go loggers (perfcollector's PCC_LOGLEVEL among them) spell it.
    return "warning" if value == "warn" else value


def _pcc_level(value: str) -> str:
    """perfcollector's PCC_LOGLEVEL names a level per component ("pcc=INFO;hoarder=INFO");
    pcc is the agent's part, so its level is the one that applies here."""
    levels = dict(part.strip().partition("=")[::2] for part in value.split(";") if part.strip())
    if "pcc" not in levels:
        raise ValueError(f"{value!r} names no level for pcc (e.g. pcc=INFO;hoarder=INFO)")
    return levels["pcc"].strip()


AgentMode = Annotated[Literal["trickle", "local"], Before(_lower)]
LogLevelName = Annotated[Literal["debug", "info", "warning", "error"], Before(_log_level)]

# perfcollector's defaults for what PCC_MODE=local needs (its README): an existing deployment
# that sets only PCC_MODE=local runs as it did under pcc.
PCC_LOCAL_DEFAULTS = {
    "output": Path("/tmp/pcc.json"),  # noqa: S108 (pcc's documented default, kept on purpose)
    "duration_seconds": 24 * 3600.0,
}

# perfcollector's variable names, so an existing deployment keeps its environment. They rank
# below FLEETSCOPE_* and above the file. PCC_IDENTIFIER overrides the hostname reported; the
# machine id stays the host's own, so renaming a host never splits its history.
PCC_ALIASES = {
    "PCC_APIKEY": "api_key",
    "PCC_COLLECTION": "output",
    "PCC_DURATION": "duration_seconds",
    "PCC_FREQUENCY": "interval_seconds",
    "PCC_IDENTIFIER": "hostname",
    "PCC_LOGLEVEL": "log_level",
    "PCC_MODE": "mode",
}


class SpoolSettings(SettingsStruct, frozen=True):
    """[agent.spool]: the on-disk queue of snapshots not yet delivered (data_dir/spool.db)."""

    max_bytes: Annotated[
        int,
        Meta(
            ge=1,
            description="bound on the spooled snapshots (compressed, about 5 kB each: 256 MiB "
            "holds about 6 days at 10 s); past it the oldest are dropped and counted",
        ),
    ] = 256 * 1024 * 1024
    max_age_seconds: Annotated[
        Seconds,
        Meta(
            gt=0,
            description="snapshots older than this are dropped and counted (10s, 5m, 24h, 7d)",
        ),
    ] = 7 * 86400.0


class AgentSettings(FleetscopeSettings, frozen=True):
    TOML_TABLE: ClassVar[str] = "agent"
    ENV_ALIASES: ClassVar[dict[str, str]] = PCC_ALIASES
    ENV_ALIAS_PREFIX: ClassVar[str | None] = "PCC_"

    data_dir: Path = Path("data")
    mode: Annotated[
        AgentMode,
        Meta(
            description="trickle: upload to server_url; local: append payloads to the output file"
        ),
    ] = "trickle"
    server_url: HttpUrl | None = None
    api_key: Secret | None = None
    ca_file: Annotated[
        Path | None,
        Meta(description="PEM CA certificates to verify an https server_url by; default: system's"),
    ] = None
    insecure: Annotated[
        bool,
        Meta(description="do not verify the server's certificate (tests only; logged loudly)"),
    ] = False
    output: Annotated[
        Path | None, Meta(description="local mode: the collection file (JSON Lines of payloads)")
    ] = None
    duration_seconds: (
        Annotated[
            Seconds,
            Meta(gt=0, description="stop after this long (10s, 5m, 24h, 1d); default: run on"),
        ]
        | None
    ) = None
    interval_seconds: Annotated[Seconds, Meta(gt=0, le=86400)] = 10.0
    hostname: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=255,
                description="the name reported for this host; default: its hostname",
            ),
        ]
        | None
    ) = None
    log_level: LogLevelName = "info"
    procfs: Path = Path("/proc")
    sysfs: Path = Path("/sys")
    rootfs: Path = Path("/")
    collectors: Annotated[
        list[str] | None,
        Meta(description="collector names to run; default: those enabled by default"),
    ] = None
    collector_timeout_seconds: Annotated[float, Meta(gt=0)] = 5.0
    upload_timeout_seconds: Annotated[float, Meta(gt=0)] = 10.0
    max_snapshots_per_upload: Annotated[int, Meta(ge=1, le=10_000)] = 100
    max_upload_bytes: Annotated[
        int,
        Meta(
            ge=1024,
            le=16 * 1024 * 1024,
            description="bound on a batch's snapshot JSON before compression (ingest takes 16 MiB)",
        ),
    ] = 4 * 1024 * 1024
    upload_backoff_max_seconds: Annotated[
        Seconds, Meta(gt=0, description="longest wait between retries while the server is away")
    ] = 300.0
    spool: SpoolSettings = msgspec.field(default_factory=SpoolSettings)
    network: NetworkSettings = msgspec.field(default_factory=NetworkSettings)
    disk: DiskSettings = msgspec.field(default_factory=DiskSettings)
    processes: ProcessesSettings = msgspec.field(default_factory=ProcessesSettings)
    filesystem: FilesystemSettings = msgspec.field(default_factory=FilesystemSettings)
    exporters: Annotated[
        list[ExporterTarget],
        Meta(
            description="Prometheus exporters to scrape, as [[agent.exporters]] tables "
            "(name, url, timeout_seconds, include, exclude, max_samples, kind)"
        ),
    ] = msgspec.field(default_factory=list)

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Self:
        settings = super().load(config_file, **overrides)
        if settings.mode != "local" or _lower(os.environ.get("PCC_MODE")) != "local":
            return settings
        unset = {k: v for k, v in PCC_LOCAL_DEFAULTS.items() if getattr(settings, k) is None}
        return msgspec.structs.replace(settings, **unset)

    def collector_settings(self) -> dict[str, SettingsStruct]:
        """The per-collector settings, by collector name, for CollectorContext."""
        return {
            "network": self.network,
            "disk": self.disk,
            "processes": self.processes,
            "filesystem": self.filesystem,
            "exporters": ExportersSettings(targets=tuple(self.exporters)),
        }

    def __post_init__(self) -> None:
        names = [target.name for target in self.exporters]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"exporter names must be unique; repeated: {', '.join(repeated)}")
        # The exporters collector scrapes all targets at once inside the collector deadline,
        # so a target allowed to take longer than that would be cut off with the others.
        slow = [
            t.name for t in self.exporters if t.timeout_seconds >= self.collector_timeout_seconds
        ]
        if slow:
            raise ValueError(
                f"exporter timeout_seconds must be below collector_timeout_seconds "
                f"({self.collector_timeout_seconds:g}); too long for: {', '.join(slow)}"
            )
